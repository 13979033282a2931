"""The story candidate lookup on both engines: per index key, the PER_KEY_EACH_SIDE nearest stored
articles at or after the new one's time and the PER_KEY_EACH_SIDE nearest before it, within the
window, ties in time broken by article id; the same articles on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.store import story_candidates as lookup
from newsmon.store.models import Article, StoryFeatureRow, StoryKey, table_of
from newsmon.stories.assign import WINDOW
from newsmon.stories.features import ACTOR_WEIGHT, PLACE_WEIGHT, StoryFeatures, key_hash
from tests.factories import NOW

SEEN = NOW - timedelta(days=30)
BUSY, RARE = "e:isis", "e:rutba"
EACH = lookup.PER_KEY_EACH_SIDE


def features(*names: str) -> StoryFeatures:
    weights = {BUSY: ACTOR_WEIGHT, RARE: PLACE_WEIGHT}
    return StoryFeatures(
        entities={name: weights[name] for name in names},
        terms=frozenset({"attack"}),
        places=frozenset({RARE}) if RARE in names else frozenset(),
        headline=frozenset(names),
        language="en",
    )


def add(engine: Engine, rows: Sequence[tuple[int, datetime, tuple[str, ...], int | None]]) -> None:
    """Stored articles (id, seen_at, entity names, story id), with their features and keys."""
    url = "https://x.example/{}".format
    with engine.begin() as connection:
        connection.execute(
            sa.insert(table_of(Article)),
            [
                {
                    "id": i,
                    "url": url(i),
                    "canonical_url": url(i),
                    "final_url": url(i),
                    "source": "x",
                    "text": "x",
                    "exact_hash": str(i),
                    "signature": b"\0",
                    "fetched_at": seen,
                    "story_id": story,
                }
                for i, seen, _, story in rows
            ],
        )
        connection.execute(
            sa.insert(table_of(StoryFeatureRow)),
            [
                {"article_id": i, "seen_at": seen, "features": features(*names).to_json()}
                for i, seen, names, _ in rows
            ],
        )
        connection.execute(
            sa.insert(table_of(StoryKey)),
            [
                {"key": key_hash(name), "seen_at": seen, "article_id": i}
                for i, seen, names, _ in rows
                for name in names
            ],
        )


def candidates(engine: Engine, *names: str) -> set[int]:
    with Session(engine) as session:
        found = lookup.story_candidates(session, features(*names), SEEN)
    return {c.article_id for c in found}


def test_each_key_takes_its_nearest_on_each_side_not_the_nearest_overall(engine: Engine) -> None:
    # A busy key named by 3x as many articles before the new one as one side takes, and by a
    # few more than one side after it: the nearest 2 x EACH x keys overall (what SQLite took
    # before) would be most of those before; per side it is EACH before and EACH after. A rare
    # key reaches back past them.
    before = [(i, SEEN - timedelta(hours=i), (BUSY,), i) for i in range(1, 3 * EACH + 1)]
    after = [(100 + i, SEEN + timedelta(hours=i), (BUSY,), 100) for i in range(EACH + 5)]
    rare = [(200 + i, SEEN - timedelta(days=6, hours=i), (RARE,), 200) for i in range(3)]
    at_edges = [
        (300, SEEN - WINDOW, (BUSY, RARE), 300),  # the window's first instant: a rare key's
        (301, SEEN - WINDOW - timedelta(seconds=1), (RARE,), 301),  # outside
        (302, SEEN + WINDOW + timedelta(seconds=1), (RARE,), 302),  # outside
        (303, SEEN - timedelta(days=1), (RARE,), None),  # in no story (stored before stories)
    ]
    add(engine, before + after + rare + at_edges)

    assert candidates(engine, BUSY, RARE) == {
        *range(1, EACH + 1),  # the busy key's EACH nearest before
        *range(100, 100 + EACH),  # and after, the new article's own time included
        200,
        201,
        202,
        300,  # the rare key's, to the window's edge
    }
    assert candidates(engine, BUSY) == {*range(1, EACH + 1), *range(100, 100 + EACH)}


@pytest.mark.parametrize("side", [1, -1])
def test_articles_seen_at_the_same_time_are_taken_by_id_nearest_first(
    engine: Engine, side: int
) -> None:
    # Ten articles at one time straddle a side's limit: after the new one the smallest ids are
    # taken (the primary key's order), before it the largest (its order backwards), whatever
    # order they were stored in.
    near = [(i, SEEN + side * timedelta(hours=i), (BUSY,), 1) for i in range(1, EACH - 4)]
    tied_at = SEEN + side * timedelta(days=2)
    tied = [(i, tied_at, (BUSY,), 1) for i in (57, 51, 59, 53, 55, 52, 58, 50, 54, 56)]
    add(engine, near + tied)

    taken = {i for i in candidates(engine, BUSY) if i >= 50}
    assert taken == ({50, 51, 52, 53, 54} if side == 1 else {55, 56, 57, 58, 59})


def test_a_lookup_with_more_keys_than_one_sqlite_statement_takes_is_chunked(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup, "SQLITE_KEYS_PER_STATEMENT", 1)
    before = [(i, SEEN - timedelta(hours=i), (BUSY,), 1) for i in range(1, EACH + 3)]
    rare = [(100, SEEN - timedelta(hours=1), (RARE,), 100), (101, SEEN, (BUSY, RARE), 100)]
    add(engine, before + rare)

    with Session(engine) as session:
        found = lookup.story_candidates(session, features(BUSY, RARE), SEEN)
    assert {c.article_id for c in found} == {*range(1, EACH + 1), 100, 101}
