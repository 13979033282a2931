"""The story candidate lookup: the stored articles sharing an index key with a new one, nearest
in time within the story window, with their features and story (what `decide_story` scores).

Split from `store/stories.py` (assignment, merges, updates), which calls it for each article it
stores. The features and, on SQLite, the times of the candidates are read as the stored text and
parsed once per text (LRU caches): an article is a candidate of ~100 later lookups.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from newsmon.store.models import Article, StoryFeatureRow, StoryKey, UTCDateTime, table_of
from newsmon.stories.assign import WINDOW, StoryCandidate
from newsmon.stories.features import StoryFeatures

# Earlier articles compared per lookup, per index key: the nearest in time on either side. Bounds
# the work when a key (ISIS, a busy province) is named by thousands of articles in the window;
# articles of one story are close in time, and its rarer keys (a town) still reach further back.
PER_KEY_EACH_SIDE = 25


@functools.cache
def _candidate_statement(dialect: str) -> sa.Select[Any]:
    """Articles sharing an index key with the new one within the window, with features and story:
    one statement on both engines, around the nearest articles of each key (`_nearest`)."""
    features, article = table_of(StoryFeatureRow), table_of(Article)
    # The features as the JSON text stored, parsed by `_parsed_features` (cached by that text).
    text: sa.ColumnElement[str] = (
        sa.cast(features.c.features, sa.Text)
        if dialect == "postgresql"
        else sa.type_coerce(features.c.features, sa.Text)
    )
    # SQLite: the time as the text stored, read by `_seen_at_reader` (cached by that text).
    seen: sa.ColumnElement[Any] = (
        features.c.seen_at
        if dialect == "postgresql"
        else sa.type_coerce(features.c.seen_at, sa.Text)
    )
    return (
        sa.select(
            features.c.article_id,
            text.label("features"),
            seen.label("seen_at"),
            article.c.story_id,
        )
        .join(article, article.c.id == features.c.article_id)
        .where(features.c.article_id.in_(_nearest(dialect)))
        .where(article.c.story_id.is_not(None))
    )


def _nearest(dialect: str) -> sa.Select[Any]:
    """Ids of the articles named by the keys (`keys`) nearest in time to `seen`, in [lo, hi].

    PostgreSQL: per key, the PER_KEY_EACH_SIDE nearest articles before and after, two index range
    scans of story_key's primary key (key, seen_at, article_id) each. SQLite (one machine, a
    smaller archive) takes the `limit` nearest overall.
    """
    if dialect == "postgresql":
        near = (
            sa.text(
                """
            SELECT DISTINCT n.article_id FROM unnest(CAST(:keys AS bigint[])) AS k(key)
            CROSS JOIN LATERAL (
              (SELECT article_id FROM story_key
                WHERE key = k.key AND seen_at >= :seen AND seen_at <= :hi
                ORDER BY seen_at ASC LIMIT :per_side)
              UNION ALL
              (SELECT article_id FROM story_key
                WHERE key = k.key AND seen_at < :seen AND seen_at >= :lo
                ORDER BY seen_at DESC LIMIT :per_side)
            ) AS n
            """
            )
            .bindparams(
                sa.bindparam("keys", type_=postgresql.ARRAY(sa.BigInteger)),
                sa.bindparam("seen", type_=UTCDateTime()),
                sa.bindparam("lo", type_=UTCDateTime()),
                sa.bindparam("hi", type_=UTCDateTime()),
            )
            .columns(article_id=sa.Integer)
            .subquery("near")
        )
        return sa.select(near.c.article_id)
    key = table_of(StoryKey)
    lo = sa.bindparam("lo", type_=key.c.seen_at.type)
    hi = sa.bindparam("hi", type_=key.c.seen_at.type)
    seen = sa.bindparam("seen", type_=key.c.seen_at.type)
    nearest = (
        sa.select(key.c.article_id)
        .where(
            key.c.key.in_(sa.bindparam("keys", expanding=True)),
            key.c.seen_at >= lo,
            key.c.seen_at <= hi,
        )
        .order_by(sa.func.abs(sa.func.julianday(key.c.seen_at) - sa.func.julianday(seen)))
        .limit(sa.bindparam("limit"))
    ).subquery()
    return sa.select(nearest.c.article_id)


@functools.lru_cache(maxsize=8192)
def _parsed_features(text: str) -> StoryFeatures:
    """Stored features from their JSON text, cached by the text (a pure function of it).

    An article is a candidate of every later article naming its keys in the window (~100 per
    lookup on run.py's full archive): parsing the same JSON again for each took a quarter of
    the store's time. Keyed by the text, not the article id, so a rolled-back batch whose ids
    are reused, or another database in the same process, cannot be served stale features.
    Candidates share the parsed object: `decide_story` only reads it.
    """
    return StoryFeatures.from_json(json.loads(text))


def story_candidates(
    session: Session, features: StoryFeatures, seen_at: datetime
) -> list[StoryCandidate]:
    """Stored articles that share an index key with `features` within the story window."""
    keys = features.index_keys()
    if not keys:
        return []
    dialect = session.get_bind().dialect
    seen_at_of = _seen_at_reader(dialect)
    rows = session.connection().execute(
        _candidate_statement(dialect.name),
        {
            "keys": keys,
            "lo": seen_at - WINDOW,
            "hi": seen_at + WINDOW,
            "seen": seen_at,
            "per_side": PER_KEY_EACH_SIDE,
            "limit": 2 * PER_KEY_EACH_SIDE * len(keys),
        },
    )
    # Unpacked by position (the statement's column order): ~100 rows per lookup, and reading
    # each column by name cost more than the caches' lookups.
    return [
        StoryCandidate(article_id, story_id, _parsed_features(text), seen_at_of(seen))
        for article_id, text, seen, story_id in rows
    ]


def _seen_at_reader(dialect: sa.Dialect) -> Callable[[Any], datetime]:
    """How `story_candidates` reads a candidate's `seen_at` as the column type would.

    SQLite returns the stored text, parsed here by the column type's own result processor,
    cached by the text: a candidate recurs in ~100 lookups, and parsing it again each time (a
    regular expression, then the time zone) cost a tenth of the lookup. PostgreSQL returns it
    typed already.
    """
    if dialect.name == "postgresql":
        return _as_is
    return _sqlite_seen_at(dialect)


def _as_is(value: datetime) -> datetime:
    return value


@functools.cache
def _sqlite_seen_at(dialect: sa.Dialect) -> Callable[[str], datetime]:
    column_type = table_of(StoryFeatureRow).c.seen_at.type
    process = column_type.dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None  # UTCDateTime processes every value it reads

    @functools.lru_cache(maxsize=8192)
    def read(text: str) -> datetime:
        value: datetime | None = process(text)
        assert value is not None  # the column is NOT NULL
        return value

    return read
