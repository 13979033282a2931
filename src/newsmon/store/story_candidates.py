"""The story candidate lookup: the stored articles sharing an index key with a new one, per key
the nearest in time on each side within the story window, with their features and story (what
`decide_story` scores); the same articles on SQLite and PostgreSQL. Also what it reads, written
for each article that is not a copy (`write_story_index`: its features and index keys).

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

from newsmon.store.dialect import sqlite_driver
from newsmon.store.models import Article, StoryFeatureRow, StoryKey, UTCDateTime, table_of
from newsmon.stories.assign import WINDOW, StoryCandidate
from newsmon.stories.features import StoryFeatures

# Earlier articles compared per lookup, per index key: the nearest in time on either side. Bounds
# the work when a key (ISIS, a busy province) is named by thousands of articles in the window;
# articles of one story are close in time, and its rarer keys (a town) still reach further back.
PER_KEY_EACH_SIDE = 25


# SQLite allows 500 terms in a compound SELECT (SQLITE_MAX_COMPOUND_SELECT), two per key: a
# lookup with more keys runs in chunks of this many (the candidates per key do not change).
SQLITE_KEYS_PER_STATEMENT = 100


# The nearest articles of each key (`_nearest_after`, `_nearest_before`), the same on both engines:
# per key, the PER_KEY_EACH_SIDE first at or after `seen` up to `hi` and the PER_KEY_EACH_SIDE
# last before it down to `lo`, each a range scan of story_key's primary key (key, seen_at,
# article_id), forward or backward; article_id orders articles seen at the same time, so which
# ones a side takes never depends on the engine or on the order rows were stored in.
def _nearest_after(key: str) -> str:
    return (
        f"SELECT article_id FROM story_key WHERE key = {key} AND seen_at >= :seen"
        " AND seen_at <= :hi ORDER BY seen_at ASC, article_id ASC LIMIT :per_side"
    )


def _nearest_before(key: str) -> str:
    return (
        f"SELECT article_id FROM story_key WHERE key = {key} AND seen_at < :seen"
        " AND seen_at >= :lo ORDER BY seen_at DESC, article_id DESC LIMIT :per_side"
    )


@functools.cache
def _postgresql_statement() -> sa.Select[Any]:
    """The candidates (article id, features as JSON text, seen_at, story) of the keys in the
    array :keys: per key (LATERAL), both sides' nearest (`_nearest_after`)."""
    features, article = table_of(StoryFeatureRow), table_of(Article)
    nearest = (
        sa.text(
            "SELECT DISTINCT n.article_id FROM unnest(CAST(:keys AS bigint[])) AS k(key)"
            f" CROSS JOIN LATERAL (({_nearest_after('k.key')}) UNION ALL"
            f" ({_nearest_before('k.key')})) AS n"
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
    return (
        sa.select(
            features.c.article_id,
            # The features as the JSON text stored, parsed by `_parsed_features` (cached by it).
            sa.cast(features.c.features, sa.Text).label("features"),
            features.c.seen_at,
            article.c.story_id,
        )
        .join(article, article.c.id == features.c.article_id)
        .where(features.c.article_id.in_(sa.select(nearest.c.article_id)))
        .where(article.c.story_id.is_not(None))
    )


@functools.cache
def _sqlite_statement(keys: int) -> str:
    """The same candidates as `_postgresql_statement` on SQLite, for keys :k0..:k{keys-1}.

    SQLite has no LATERAL: one small ordered SELECT per key and side, all in one UNION ALL (each
    term wrapped: a compound's own terms take no ORDER BY or LIMIT). Run as the driver's own SQL
    with named parameters: SQLAlchemy's positional binding processed the times once per use
    (four per key), more than SQLite took to run the scans; features and times come back as the
    text stored, parsed once per text (`_parsed_features`, `_sqlite_seen_at`). Each candidate's
    story is read from ix_article_story_of, which SQLite's planner passes over for the table's
    rowid: there story_id lies past the text's overflow pages (half the statement's time).
    """
    nearest = " UNION ALL ".join(
        f"SELECT article_id FROM ({side(f':k{i}')})"
        for i in range(keys)
        for side in (_nearest_after, _nearest_before)
    )
    return (
        "SELECT f.article_id, f.features, f.seen_at, a.story_id"
        " FROM story_features AS f JOIN article AS a INDEXED BY ix_article_story_of"
        " ON a.id = f.article_id"
        f" WHERE f.article_id IN ({nearest}) AND a.story_id IS NOT NULL"
    )


@functools.cache
def _key_names(keys: int) -> tuple[str, ...]:
    return tuple(f"k{i}" for i in range(keys))


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


def story_keys(features: StoryFeatures) -> list[int]:
    """An article's index keys, each once: what it is looked up by, and found by later."""
    return list(dict.fromkeys(features.index_keys()))


def story_candidates(
    session: Session,
    features: StoryFeatures,
    seen_at: datetime,
    keys: list[int] | None = None,
) -> list[StoryCandidate]:
    """Stored articles that share an index key with `features` within the story window: per
    key, the PER_KEY_EACH_SIDE nearest in time on each side of `seen_at` (`_nearest_after`).
    `keys`: `story_keys(features)`, when the caller has them already."""
    keys = story_keys(features) if keys is None else keys
    if not keys:
        return []
    dialect = session.get_bind().dialect
    connection = session.connection()
    if dialect.name == "postgresql":
        rows = connection.execute(
            _postgresql_statement(),
            {
                "keys": keys,
                "lo": seen_at - WINDOW,
                "hi": seen_at + WINDOW,
                "seen": seen_at,
                "per_side": PER_KEY_EACH_SIDE,
            },
        )
        return _candidates([rows], _as_is)
    stored = sqlite_time_text(dialect)
    times = {
        "lo": stored(seen_at - WINDOW),
        "hi": stored(seen_at + WINDOW),
        "seen": stored(seen_at),
        "per_side": PER_KEY_EACH_SIDE,
    }
    # The driver's own cursor, in the session's transaction: ~100 rows per lookup, and
    # SQLAlchemy's result (a fetch and a Row per row) cost a seventh of the lookup.
    driver = sqlite_driver(connection)
    chunks = [
        driver.execute(
            _sqlite_statement(len(chunk)),
            {**times, **dict(zip(_key_names(len(chunk)), chunk, strict=True))},
        ).fetchall()
        for chunk in _chunks(keys, SQLITE_KEYS_PER_STATEMENT)
    ]
    return _candidates(chunks, _sqlite_seen_at(dialect))


def write_story_index(
    session: Session, article_id: int, seen_at: datetime, features: StoryFeatures, keys: list[int]
) -> None:
    """Store an article's features and index keys (`story_keys`): what later lookups read."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(
            _index_inserts()[0],
            {"article_id": article_id, "seen_at": seen_at, "features": features.to_json()},
        )
        if keys:
            connection.execute(
                _index_inserts()[1],
                [{"key": k, "seen_at": seen_at, "article_id": article_id} for k in keys],
            )
        return
    # SQLite: through the driver's own cursor, in the session's transaction, values as the
    # column types write them (SQLAlchemy's statement path cost as much as SQLite's insert).
    driver = sqlite_driver(connection)
    seen = sqlite_time_text(connection.dialect)(seen_at)
    driver.execute(
        "INSERT INTO story_features (article_id, seen_at, features) VALUES (?, ?, ?)",
        (article_id, seen, _sqlite_json(connection.dialect)(features.to_json())),
    )
    if keys:
        driver.executemany(
            "INSERT INTO story_key (key, seen_at, article_id) VALUES (?, ?, ?)",
            [(key, seen, article_id) for key in keys],
        )


@functools.cache
def _sqlite_json(dialect: sa.Dialect) -> Callable[[Any], str]:
    """story_features.features as the column type writes it on SQLite (its JSON text)."""
    column_type = table_of(StoryFeatureRow).c.features.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None  # JSON is written as text

    def text(value: Any) -> str:
        written: str = process(value)
        return written

    return text


@functools.cache
def _index_inserts() -> tuple[sa.Insert, sa.Insert]:
    return sa.insert(table_of(StoryFeatureRow)), sa.insert(table_of(StoryKey))


def _candidates(chunks: list[Any], seen_at_of: Callable[[Any], datetime]) -> list[StoryCandidate]:
    # Unpacked by position (the statements' column order): ~100 rows per lookup, and reading
    # each column by name cost more than the caches' lookups. Chunks may repeat an article (it
    # names keys of two chunks): `decide_story` keeps the best score of each story, so a repeat
    # changes nothing.
    return [
        StoryCandidate(article_id, story_id, _parsed_features(text), seen_at_of(seen))
        for rows in chunks
        for article_id, text, seen, story_id in rows
    ]


def _chunks(keys: list[int], size: int) -> list[list[int]]:
    return [keys[start : start + size] for start in range(0, len(keys), size)]


@functools.cache
def sqlite_time_text(dialect: sa.Dialect) -> Callable[[datetime], str]:
    """A time as SQLite stores it in story_key.seen_at (the column type's own bind processing):
    the lookup compares it with the stored text, and `store.stories` writes it so."""
    column_type = table_of(StoryKey).c.seen_at.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None  # UTCDateTime writes naive UTC text on SQLite

    def text(value: datetime) -> str:
        stored: str = process(value)
        return stored

    return text


def _as_is(value: datetime) -> datetime:
    return value


@functools.cache
def _sqlite_seen_at(dialect: sa.Dialect) -> Callable[[str], datetime]:
    """A candidate's `seen_at` from the text SQLite stores, as the column type reads it (its own
    result processor), cached by the text: a candidate recurs in ~100 lookups, and parsing it
    again each time (a regular expression, then the time zone) cost a tenth of the lookup."""
    column_type = table_of(StoryFeatureRow).c.seen_at.type
    process = column_type.dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None  # UTCDateTime processes every value it reads

    @functools.lru_cache(maxsize=8192)
    def read(text: str) -> datetime:
        value: datetime | None = process(text)
        assert value is not None  # the column is NOT NULL
        return value

    return read
