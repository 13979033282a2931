"""Story lookup cost as the archive grows: 10k, 100k and 1M stored articles on PostgreSQL.

What is timed is what `store_articles` does for every new article that is not a copy: the story
candidate query (`newsmon.store.stories.story_candidates`: per index key, the nearest articles in
time on either side within the 7-day window, with their features and story) followed by the pure
decision (`newsmon.stories.assign.decide_story`). Also printed: the load time and PostgreSQL's own
execution time of one lookup (EXPLAIN ANALYZE) at each size.

The archive is synthetic and generated with SQL (generate_series), growing in place: articles
arrive at a constant rate (one every 31.5 s, ~2,700 a day: 1M articles span a year), in stories
of 5 articles; each story names one of 150 places and one of 10 actors (so an actor key is named by
~10% of the articles in any window, a place by ~0.7%), and has 6 key terms. Lookups are new
articles at random times inside the archive, half continuing a stored story, half about a new
one. The time per lookup stays flat once the 7-day window is full (~19k articles): the window,
not the archive, bounds the work.

    .venv/bin/python benchmarks/story_lookup.py [--sizes 10000 100000 1000000] [--lookups 300]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from harness import default_postgres_url, libpq_url, scratch_database
from newsmon.store.db import make_engine, upgrade
from newsmon.store.stories import story_candidates
from newsmon.stories.assign import decide_story
from newsmon.stories.features import ACTOR_WEIGHT, PLACE_WEIGHT, StoryFeatures, key_hash

START = datetime(2026, 1, 1, tzinfo=UTC)
EVERY_S = 31.5
STORY_SIZE = 5
PLACES, ACTORS, TERMS = 150, 10, 4000


def key_names() -> list[tuple[str, int]]:
    names = [f"e:place{p}" for p in range(PLACES)] + [f"e:actor{a}" for a in range(ACTORS)]
    return [(name, key_hash(name)) for name in names]


def features_of(story: int, language: str = "en") -> StoryFeatures:
    """The features the generator gives every article of story `story` (story = its first id)."""
    place, actor = f"place{story * 7 % PLACES}", f"actor{story % ACTORS}"
    terms = frozenset(f"t{(story * 13 + k) % TERMS}" for k in range(6))
    entities = {f"e:{place}": PLACE_WEIGHT, f"e:{actor}": ACTOR_WEIGHT}
    return StoryFeatures(
        entities=entities,
        terms=terms,
        places=frozenset({place}),
        headline=frozenset({f"e:{place}", *sorted(terms)[:2]}),
        language=language,
    )


GROW = """
INSERT INTO article (id, url, canonical_url, final_url, source, text, exact_hash, signature,
                     fetched_at, published_at, language, story_id)
SELECT i, 'https://x.example/' || i, 'https://x.example/' || i, 'https://x.example/' || i,
       'source' || (i %% 40), 'x', md5(i::text), '\\x00'::bytea,
       %(start)s + i * interval '31.5 seconds', %(start)s + i * interval '31.5 seconds',
       'en', i - ((i - 1) %% 5)
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i;
INSERT INTO story_features (article_id, seen_at, features)
SELECT i, %(start)s + i * interval '31.5 seconds',
       json_build_object(
         'e', json_build_object('e:place' || (s * 7 %% 150), 3.0, 'e:actor' || (s %% 10), 1.5),
         't', (SELECT json_agg('t' || ((s * 13 + k) %% 4000)) FROM generate_series(0, 5) k),
         'p', json_build_array('place' || (s * 7 %% 150)), 'r', json_build_array(),
         'h', json_build_array('e:place' || (s * 7 %% 150)), 'l', 'en')
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i, LATERAL (SELECT i - ((i - 1) %% 5) AS s) AS st;
INSERT INTO story_key (key, seen_at, article_id)
SELECT k.hash, %(start)s + i * interval '31.5 seconds', i
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i, LATERAL (SELECT i - ((i - 1) %% 5) AS s) AS st
JOIN bench_key k ON k.name IN ('e:place' || (s * 7 %% 150), 'e:actor' || (s %% 10));
"""


def grow(url: str, lo: int, hi: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for chunk in range(lo, hi + 1, 100_000):
            params = {"start": START, "lo": chunk, "hi": min(hi, chunk + 99_999)}
            for statement in GROW.split(";\n"):
                if statement.strip():
                    conn.execute(statement, params)  # type: ignore[arg-type]
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def lookups(size: int, count: int, seed: int) -> list[tuple[StoryFeatures, datetime]]:
    rng = random.Random(seed)
    found = []
    for n in range(count):
        i = rng.randint(size // 2, size)
        story = i - ((i - 1) % STORY_SIZE) if n % 2 else size + 10 + n * STORY_SIZE
        found.append((features_of(story), START + timedelta(seconds=i * EVERY_S + 60)))
    return found


def measure(url: str, size: int, count: int) -> dict[str, Any]:
    engine = make_engine(url)
    times = []
    joined = 0
    with Session(engine) as session:
        for features, seen in lookups(size, 50, seed=size + 1):  # warm-up, not counted
            decide_story(features, seen, story_candidates(session, features, seen))
        candidates = []
        for features, seen in lookups(size, count, seed=size):
            started = time.perf_counter()
            found = story_candidates(session, features, seen)
            decision = decide_story(features, seen, found)
            times.append(1000 * (time.perf_counter() - started))
            candidates.append(len(found))
            joined += decision.story_id is not None
        features, seen = lookups(size, 1, seed=7)[0]
        plan = (
            session.connection()
            .exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) "
                + str(
                    sa.text(
                        "WITH near AS (SELECT DISTINCT n.article_id FROM unnest(%(keys)s::bigint[]) AS k(key) "
                        "CROSS JOIN LATERAL ((SELECT article_id FROM story_key WHERE key = k.key AND "
                        "seen_at >= %(seen)s AND seen_at <= %(hi)s ORDER BY seen_at LIMIT 25) UNION ALL "
                        "(SELECT article_id FROM story_key WHERE key = k.key AND seen_at < %(seen)s AND "
                        "seen_at >= %(lo)s ORDER BY seen_at DESC LIMIT 25)) AS n) SELECT f.article_id, "
                        "f.features, f.seen_at, a.story_id FROM near JOIN story_features f ON "
                        "f.article_id = near.article_id JOIN article a ON a.id = f.article_id"
                    )
                ),
                {
                    "keys": features.index_keys(),
                    "seen": seen,
                    "lo": seen - timedelta(days=7),
                    "hi": seen + timedelta(days=7),
                },
            )
            .scalar_one()
        )
    engine.dispose()
    times.sort()
    return {
        "articles": size,
        "lookup_ms_p50": round(statistics.median(times), 3),
        "lookup_ms_p95": round(times[int(0.95 * (len(times) - 1))], 3),
        "server_ms": round(plan[0]["Execution Time"], 3),
        "candidates_mean": round(statistics.fmean(candidates), 1),
        "joined_share": round(joined / count, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--postgres-url", default=default_postgres_url())
    parser.add_argument("--database", default="newsmon_bench_stories")
    args = parser.parse_args(argv)
    with scratch_database(args.postgres_url, args.database) as url:
        upgrade(make_engine(url))
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_key (name text PRIMARY KEY, hash bigint)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO bench_key VALUES (%s, %s)", key_names())
        done = 0
        for size in sorted(args.sizes):
            load_s = grow(url, done + 1, size)
            done = size
            row = measure(url, size, args.lookups)
            row["load_s"] = round(load_s, 1)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
