"""Near-duplicate lookup cost as the archive grows: 10k, 100k and 1M stored articles.

What is timed is what `store_articles` does for every new article before inserting it: the
store's candidate query (`newsmon.store.clusters.copy_candidates`: stored articles sharing one of the 40 band
keys or the exact hash, with their signatures) followed by `dedup.choose_cluster`. Also measured
at each size: the time to load the archive, the database size, the cost of storing a batch
(`store_articles`, rolled back), what PostgreSQL itself spends on the query (median "Execution
Time" of EXPLAIN ANALYZE: "server p50"), reading clusters (one `export articles` batch of 500,
`list_clusters` for the last day) and, at the largest size, the plan of one lookup.

PostgreSQL runs in its own database (default `newsmon_bench_dedup`), created, migrated with the
real migrations and dropped at the end (`--keep` keeps it). The archive grows in place: 10k,
then 100k, then 1M articles. SQLite (a file in a temporary folder) is measured at 10k and 100k
for reference.

The archive is synthetic: signatures and band keys are generated with numpy and loaded with a
binary COPY (indexes dropped during the load and rebuilt after, as for a bulk restore), so 1M
articles (40M band rows) load in minutes rather than the hours that fingerprinting real texts
would take. Band keys are a numpy hash of the signature's band rows, not dedup's blake2b: the
store only compares keys for equality, so the lookup does the same work. The model, chosen to
look like the labelled evaluation set (benchmarks/dedup_eval.py):
- 30% of articles are copies of an earlier article (90% of a recent one, 10% of any: a
  republication), a fifth of them exact; the rest of the copies keep 65-100% of the signature
  (estimated similarity 0.65-1.0), so they share several band keys with their story.
- Unrelated articles share band keys by chance at the rate measured on the evaluation set's
  unrelated pairs (`unrelated_candidates_per_1m_archive`, ~15): with probability 1% a band of a new
  story takes one of 267 common values, so two unrelated articles share a key with probability
  40 x 0.01^2 / 267 = 1.5e-5 and a lookup meets ~0.15 unrelated candidates at 10k, ~1.5 at 100k,
  ~15 at 1M. This growth is real (a per-pair probability times the archive size) and is what
  makes the lookup cost grow at all.
- Lookups are half copies of random stored articles (any age), half new stories; the copies must
  be put in their story's cluster and the new stories in none (checked, as "correct").
- Article rows carry a short placeholder text: real texts (2-6 KB) are stored out of line (TOAST) by
  PostgreSQL and are never read by the lookup; they add to the database size, not to the lookup.

Times are on a warm operating-system cache (the archive was just loaded) with PostgreSQL's own
buffers warmed by 300 lookups that are not counted. Each size runs 3 rounds of 1,000 lookups,
each round other articles, and reports every percentile from its best round: on a small shared
machine another process taking the core for a scheduler slice adds ~4 ms to a lookup, which is
the machine, not the query (every round's median and the load average are in the JSON line).

    .venv/bin/python benchmarks/dedup_lookup.py [--quick] [--sizes 10000,100000,1000000]
        [--postgres-url URL] [--database NAME] [--lookups N] [--no-sqlite] [--keep]

`--quick` measures 10k and 100k only. The PostgreSQL URL defaults to NEWSMON_BENCH_POSTGRES_URL,
then NEWSMON_TEST_POSTGRES_URL, then postgresql+psycopg://postgres@127.0.0.1:5432/postgres; it
is only used to create and drop the benchmark database.
"""

from __future__ import annotations

import argparse
import binascii
import itertools
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from harness import default_postgres_url, libpq_url, scratch_database
from newsmon.records import ArticleDraft
from newsmon.rules.prepare import ReadyArticle
from newsmon.store.archive import iter_articles
from newsmon.store.articles import store_articles
from newsmon.store.clusters import candidate_statement, copy_candidates, list_clusters
from newsmon.store.db import make_engine, upgrade
from newsmon.stories import copies as dedup
from newsmon.stories.copies import Fingerprint, choose_cluster
from report import format_table

SEED = 20261121
BLOCK = 2_000  # articles generated at a time; copies point at articles of earlier blocks
COPY_FRACTION = 0.3
EXACT_FRACTION = 0.2
RECENT_WINDOW = 20_000  # a copy of a recent story points at one of the last 20k articles
RECENT_SHARE = 0.9
MAX_EDIT = 0.35  # a near copy has up to 35% of its signature values changed
COMMON_BAND_P = 0.01
COMMON_POOL = 267
SOURCES = 60
TEXT = (
    "Synthetic text for the lookup benchmark; real texts (2-6 KB) are stored out of line (TOAST)."
)
START = datetime(2024, 1, 1, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
WARMUP = 300
STORE_BATCH = 200
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
SQLITE_MAX = 100_000

_BAND_WEIGHTS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64
)
_BAND_SALT = np.uint64(0x27D4EB2F165667C5)


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """(n, BANDS) signed 64-bit band keys of (n, NUM_PERM) signatures, band index in the top bits."""
    n = len(signatures)
    rows = signatures[:, : dedup.BANDS * dedup.ROWS].reshape(n, dedup.BANDS, dedup.ROWS)
    with np.errstate(over="ignore"):
        mixed = (rows.astype(np.uint64) * _BAND_WEIGHTS).sum(axis=2, dtype=np.uint64)
        mixed += np.arange(dedup.BANDS, dtype=np.uint64) * _BAND_SALT
        hashed = dedup._fmix64(mixed)
    band = np.arange(dedup.BANDS, dtype=np.uint64) << np.uint64(58)
    return ((hashed >> np.uint64(6)) | band).view(np.int64)


# --- the synthetic archive ---------------------------------------------------------------------


@dataclass
class Archive:
    """Every generated article's signature, cluster and exact hash, indexed by article id."""

    capacity: int
    signatures: np.ndarray = field(init=False)
    cluster: np.ndarray = field(init=False)
    exact: np.ndarray = field(init=False)
    size: int = 0

    def __post_init__(self) -> None:
        self.signatures = np.zeros((self.capacity + 1, dedup.NUM_PERM), dtype=np.uint32)
        self.cluster = np.zeros(self.capacity + 1, dtype=np.int64)
        self.exact = np.zeros(self.capacity + 1, dtype="S64")
        pool_rng = np.random.default_rng([SEED, 0])
        self.common = pool_rng.integers(
            0, 2**32, size=(dedup.BANDS, COMMON_POOL, dedup.ROWS), dtype=np.uint32
        )

    def fresh(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Signatures of new stories, a few bands taking common values (chance band matches)."""
        sig = rng.integers(0, 2**32, size=(n, dedup.NUM_PERM), dtype=np.uint32)
        bands = sig[:, : dedup.BANDS * dedup.ROWS].reshape(n, dedup.BANDS, dedup.ROWS)
        common = rng.random((n, dedup.BANDS)) < COMMON_BAND_P
        rows, cols = np.nonzero(common)
        bands[rows, cols] = self.common[cols, rng.integers(0, COMMON_POOL, len(rows))]
        return sig

    @staticmethod
    def edited(rng: np.random.Generator, signatures: np.ndarray, edit: np.ndarray) -> np.ndarray:
        """Copies of `signatures` with each value replaced with probability `edit` (per row)."""
        out = signatures.copy()
        changed = rng.random(out.shape) < edit[:, None]
        out[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint32)
        return out

    def grow(self, size: int) -> Iterator[tuple[int, int]]:
        """Generate articles up to `size`, yielding each new block's (first id, end id)."""
        while self.size < size:
            lo = self.size + 1
            hi = min(lo + BLOCK, size + 1)
            n = hi - lo
            rng = np.random.default_rng([SEED, lo])
            ids = np.arange(lo, hi)
            sig = self.fresh(rng, n)
            cluster = ids.copy()
            exact = np.frombuffer(binascii.hexlify(rng.bytes(32 * n)), dtype="S64").copy()
            if lo > 1:
                copies = np.flatnonzero(rng.random(n) < COPY_FRACTION)
                recent = rng.random(len(copies)) < RECENT_SHARE
                target = np.where(
                    recent,
                    rng.integers(max(1, lo - RECENT_WINDOW), lo, len(copies)),
                    rng.integers(1, lo, len(copies)),
                )
                is_exact = rng.random(len(copies)) < EXACT_FRACTION
                edit = np.where(is_exact, 0.0, rng.uniform(0.0, MAX_EDIT, len(copies)))
                sig[copies] = self.edited(rng, self.signatures[target], edit)
                cluster[copies] = self.cluster[target]
                exact[copies[is_exact]] = self.exact[target[is_exact]]
            self.signatures[lo:hi] = sig
            self.cluster[lo:hi] = cluster
            self.exact[lo:hi] = exact
            self.size = hi - 1
            yield lo, hi

    def lookups(self, count: int, seed: int) -> list[tuple[Fingerprint, int | None]]:
        """(fingerprint, expected cluster) pairs: half copies of stored articles, half new stories."""
        rng = np.random.default_rng([SEED, seed, self.size])
        copies = count // 2
        target = rng.integers(1, self.size + 1, copies)
        is_exact = rng.random(copies) < EXACT_FRACTION
        edit = np.where(is_exact, 0.0, rng.uniform(0.0, MAX_EDIT, copies))
        sig = np.concatenate(
            [self.edited(rng, self.signatures[target], edit), self.fresh(rng, count - copies)]
        )
        keys = band_keys(sig)
        hashes = np.frombuffer(binascii.hexlify(rng.bytes(32 * count)), dtype="S64").copy()
        hashes[:copies][is_exact] = self.exact[target[is_exact]]
        expected: list[int | None] = [int(c) for c in self.cluster[target]]
        expected += [None] * (count - copies)
        result = []
        for k in range(count):
            fp = Fingerprint(
                exact_hash=hashes[k].decode(),
                signature=sig[k].astype("<u4").tobytes(),
                band_keys=tuple(int(x) for x in keys[k]),
                shingle_count=200,
            )
            result.append((fp, expected[k]))
        order = rng.permutation(count)
        return [result[i] for i in order]


def _texts(prefix: str, ids: np.ndarray, sources: np.ndarray) -> np.ndarray:
    return np.array(
        [
            f"https://outlet-{s:03d}.example/{prefix}/{i:09d}"
            for s, i in zip(sources, ids, strict=True)
        ],
        dtype="S",
    )


def article_columns(archive: Archive, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Column values of the article rows for ids [lo, hi)."""
    ids = np.arange(lo, hi)
    sources = (ids * 2654435761) % SOURCES
    url = _texts("story", ids, sources)
    minutes = ids.astype(np.int64)  # one article a minute: 1M articles span ~2 years
    published = (START - PG_EPOCH) // timedelta(microseconds=1) + minutes * 60_000_000
    return {
        "id": ids.astype(">i4"),
        "url": url,
        "canonical_url": url,
        "final_url": url,
        "source": np.array([f"outlet-{s:03d}" for s in sources], dtype="S"),
        "title": np.array([f"Synthetic story {i:09d}" for i in ids], dtype="S"),
        "text": np.full(len(ids), TEXT.encode(), dtype=f"S{len(TEXT)}"),
        "published_at": published.astype(">i8"),
        "language": np.full(len(ids), b"en", dtype="S2"),
        "exact_hash": archive.exact[lo:hi],
        "signature": archive.signatures[lo:hi].astype("<u4").view(np.uint8),
        "duplicate_of": archive.cluster[lo:hi].astype(">i4"),
        "fetched_at": (published + 600_000_000).astype(">i8"),
    }


# --- PostgreSQL --------------------------------------------------------------------------------

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


def binary_rows(values: Sequence[np.ndarray | None], count: int) -> bytes:
    """Rows in PostgreSQL's binary COPY format from fixed-width big-endian columns (None: NULL)."""
    dtype: list[Any] = [("fields", ">i2")]
    for k, column in enumerate(values):
        dtype.append((f"len{k}", ">i4"))
        if column is not None:
            shape = column.shape[1:]
            dtype.append((f"val{k}", column.dtype, shape) if shape else (f"val{k}", column.dtype))
    rows = np.empty(count, dtype=dtype)
    rows["fields"] = len(values)
    for k, column in enumerate(values):
        if column is None:
            rows[f"len{k}"] = -1
        else:
            rows[f"len{k}"] = column.dtype.itemsize * int(np.prod(column.shape[1:]))
            rows[f"val{k}"] = column
    return rows.tobytes()


@dataclass
class Rebuild:
    """Index and constraint definitions dropped for a bulk load and recreated after it."""

    indexes: list[tuple[str, str]]
    constraints: list[tuple[str, str, str]]


def drop_indexes(conn: psycopg.Connection[Any]) -> Rebuild:
    """Drop every index and unique/primary constraint of article_band and article but article's key."""
    tables = "('article', 'article_band')"
    constraints = conn.execute(
        f"""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid::regclass::text IN {tables} AND contype IN ('p', 'u')
            AND conname <> 'article_pkey'"""
    ).fetchall()
    indexes = conn.execute(
        f"""SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN {tables}
            AND indexname NOT IN (SELECT conname FROM pg_constraint)"""
    ).fetchall()
    for table, name, _definition in constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return Rebuild(indexes=list(indexes), constraints=list(constraints))


def rebuild_indexes(conn: psycopg.Connection[Any], rebuild: Rebuild) -> None:
    for table, name, definition in rebuild.constraints:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _name, definition in rebuild.indexes:
        conn.execute(definition)


ARTICLE_COLUMNS = (
    "id",
    "url",
    "canonical_url",
    "final_url",
    "source",
    "title",
    "text",
    "published_at",
    "language",
    "exact_hash",
    "signature",
    "duplicate_of",
    "fetched_at",
)


def load_postgres(conn: psycopg.Connection[Any], archive: Archive, size: int) -> dict[str, float]:
    """Grow the stored archive to `size` articles; seconds per phase."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
    conn.execute("SET maintenance_work_mem = '1GB'")
    rebuild = drop_indexes(conn)
    timings["drop_indexes_s"] = time.perf_counter() - start
    generate = copy_articles = copy_bands = 0.0
    columns = ", ".join(ARTICLE_COLUMNS)
    cursor = conn.cursor()
    article_chunks: list[bytes] = []
    band_chunks: list[bytes] = []
    for lo, hi in archive.grow(size):
        t0 = time.perf_counter()
        cols = article_columns(archive, lo, hi)
        is_copy = archive.cluster[lo:hi] != np.arange(lo, hi)
        # A root's duplicate_of is NULL: roots and copies have different binary row layouts.
        for copies, mask in ((False, ~is_copy), (True, is_copy)):
            if not mask.any():
                continue
            values: list[np.ndarray | None] = [cols[c][mask] for c in ARTICLE_COLUMNS]
            if not copies:
                values[ARTICLE_COLUMNS.index("duplicate_of")] = None
            article_chunks.append(binary_rows(values, int(mask.sum())))
        keys = band_keys(archive.signatures[lo:hi])
        ids = np.repeat(np.arange(lo, hi), dedup.BANDS)
        band_chunks.append(
            binary_rows([keys.reshape(-1).astype(">i8"), ids.astype(">i4")], len(ids))
        )
        generate += time.perf_counter() - t0
        if sum(len(c) for c in band_chunks) > 200 * 2**20 or hi == size + 1:
            t0 = time.perf_counter()
            with cursor.copy(f"COPY article ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_COPY_HEADER)
                for chunk in article_chunks:
                    copy.write(chunk)
                copy.write(_COPY_TRAILER)
            t1 = time.perf_counter()
            with cursor.copy(
                "COPY article_band (band_key, article_id) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(_COPY_HEADER)
                for chunk in band_chunks:
                    copy.write(chunk)
                copy.write(_COPY_TRAILER)
            copy_articles += t1 - t0
            copy_bands += time.perf_counter() - t1
            article_chunks, band_chunks = [], []
    timings["generate_s"] = generate
    timings["copy_articles_s"] = copy_articles
    timings["copy_bands_s"] = copy_bands
    t0 = time.perf_counter()
    rebuild_indexes(conn, rebuild)
    conn.execute("SELECT setval(pg_get_serial_sequence('article', 'id'), %s)", (size,))
    conn.execute("SET session_replication_role = DEFAULT")
    timings["build_indexes_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) article")
    conn.execute("VACUUM (ANALYZE) article_band")
    timings["vacuum_analyze_s"] = time.perf_counter() - t0
    timings["load_s"] = time.perf_counter() - start
    return timings


def postgres_sizes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    row = conn.execute(
        """SELECT pg_database_size(current_database()), pg_total_relation_size('article'),
                  pg_relation_size('article_band'), pg_indexes_size('article_band')"""
    ).fetchone()
    assert row is not None
    return dict(
        zip(("database", "article_total", "band_heap", "band_index"), map(int, row), strict=True)
    )


# --- SQLite ------------------------------------------------------------------------------------


def load_sqlite(path: Path, archive: Archive, size: int) -> dict[str, float]:
    """Grow the SQLite archive to `size` articles (rows sorted by key so index inserts append)."""
    start = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    placeholders = ", ".join("?" for _ in ARTICLE_COLUMNS)
    insert = f"INSERT INTO article ({', '.join(ARTICLE_COLUMNS)}) VALUES ({placeholders})"
    bands: list[tuple[int, int]] = []
    for lo, hi in archive.grow(size):
        cols = article_columns(archive, lo, hi)
        rows = []
        for k, article_id in enumerate(range(lo, hi)):
            published = PG_EPOCH + timedelta(microseconds=int(cols["published_at"][k]))
            fetched = PG_EPOCH + timedelta(microseconds=int(cols["fetched_at"][k]))
            cluster = int(cols["duplicate_of"][k])
            rows.append(
                (
                    article_id,
                    cols["url"][k].decode(),
                    cols["canonical_url"][k].decode(),
                    cols["final_url"][k].decode(),
                    cols["source"][k].decode(),
                    cols["title"][k].decode(),
                    TEXT,
                    published.replace(tzinfo=None).isoformat(sep=" "),
                    "en",
                    cols["exact_hash"][k].decode(),
                    cols["signature"][k].tobytes(),
                    cluster if cluster != article_id else None,
                    fetched.replace(tzinfo=None).isoformat(sep=" "),
                )
            )
        conn.executemany(insert, rows)
        keys = band_keys(archive.signatures[lo:hi])
        bands.extend(
            zip(
                keys.reshape(-1).tolist(),
                np.repeat(np.arange(lo, hi), dedup.BANDS).tolist(),
                strict=True,
            )
        )
    bands.sort()
    conn.executemany("INSERT INTO article_band (band_key, article_id) VALUES (?, ?)", bands)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return {"load_s": time.perf_counter() - start}


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Lookups:
    times_ms: list[float]
    candidates: list[int]
    correct: int

    def summary(self) -> dict[str, float]:
        times = np.array(self.times_ms)
        return {
            "lookup_p50_ms": round(float(np.percentile(times, 50)), 3),
            "lookup_p95_ms": round(float(np.percentile(times, 95)), 3),
            "lookup_p99_ms": round(float(np.percentile(times, 99)), 3),
            "lookup_mean_ms": round(float(times.mean()), 3),
            "candidates_mean": round(statistics.fmean(self.candidates), 2),
            "candidates_max": max(self.candidates),
            "correct": round(self.correct / len(self.times_ms), 4),
        }


def time_lookups(engine: Engine, lookups: Sequence[tuple[Fingerprint, int | None]]) -> Lookups:
    """Candidate query + choose_cluster per article, as store_articles runs them."""
    result = Lookups([], [], 0)
    with Session(engine) as session, session.begin():
        for fp, expected in lookups:
            t0 = time.perf_counter_ns()
            candidates = copy_candidates(session, fp.exact_hash, fp.band_keys)
            chosen = choose_cluster(fp, candidates)
            result.times_ms.append((time.perf_counter_ns() - t0) / 1e6)
            result.candidates.append(len(candidates))
            result.correct += chosen == expected
    return result


def time_store(engine: Engine, lookups: Sequence[tuple[Fingerprint, int | None]]) -> float:
    """Milliseconds per article for store_articles on a batch (rolled back: the archive stays)."""
    now = datetime.now(UTC)
    ready = []
    for n, (fp, _) in enumerate(lookups):
        url = f"https://bench.example/new/{n}"
        draft = ArticleDraft(
            source="bench",
            url=url,
            final_url=url,
            canonical_url=url,
            title="Synthetic new story",
            text=TEXT,
            published_at=now,
            author=None,
            language="en",
            fetched_at=now,
        )
        ready.append(ReadyArticle(draft=draft, fingerprint=fp, topics=()))
    with Session(engine) as session:
        transaction = session.begin()
        t0 = time.perf_counter()
        outcome = store_articles(session, ready, notify_urls={}, now=now)
        session.flush()
        elapsed = time.perf_counter() - t0
        transaction.rollback()
    assert outcome.stored == len(ready)
    return elapsed * 1000 / len(ready)


def explain(engine: Engine, fp: Fingerprint) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the store's candidate query for one article."""
    compiled = candidate_statement("postgresql").compile(dialect=engine.dialect)
    params = {"band_keys": list(fp.band_keys), "exact_hash": fp.exact_hash}
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), params)
        return "\n".join(row[0] for row in rows)


def server_times(engine: Engine, lookups: Sequence[tuple[Fingerprint, int | None]]) -> float:
    """Median execution time PostgreSQL reports for the candidate query (EXPLAIN ANALYZE), in ms:
    the database's share of a lookup, apart from the client and from waiting for a core."""
    compiled = str(candidate_statement("postgresql").compile(dialect=engine.dialect))
    times = []
    with engine.connect() as connection:
        for fp, _ in lookups:
            params = {"band_keys": list(fp.band_keys), "exact_hash": fp.exact_hash}
            plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, TIMING OFF) " + compiled, params)
            line = [row[0] for row in plan][-1]  # "Execution Time: 0.123 ms"
            times.append(float(line.split(":")[1].split()[0]))
    return round(statistics.median(times), 3)


def measure(engine: Engine, archive: Archive, count: int, rounds: int) -> dict[str, Any]:
    """Lookup times (best of `rounds` rounds, each with other lookups), store and report costs."""
    time_lookups(engine, archive.lookups(WARMUP, seed=1))
    summaries = [
        time_lookups(engine, archive.lookups(count, seed=10 + r)).summary() for r in range(rounds)
    ]
    # Other processes competing for the two cores stretch some lookups by a scheduler slice
    # (~4 ms); each figure is its best round, every round's median is kept, and so is the load.
    result: dict[str, Any] = {
        key: min(s[key] for s in summaries) if key.startswith("lookup_") else summaries[0][key]
        for key in summaries[0]
    }
    result["correct"] = min(s["correct"] for s in summaries)
    result["candidates_max"] = max(s["candidates_max"] for s in summaries)
    result["lookup_p50_ms_rounds"] = [s["lookup_p50_ms"] for s in summaries]
    result["load_average"] = round(os.getloadavg()[0], 1)
    if engine.dialect.name == "postgresql":
        result["server_p50_ms"] = server_times(engine, archive.lookups(300, seed=5))
    store_times = [time_store(engine, archive.lookups(STORE_BATCH, seed=3)) for _ in range(rounds)]
    result["store_ms_per_article"] = round(min(store_times), 3)
    result.update(time_reports(engine, archive.size))
    return result


def time_reports(engine: Engine, size: int) -> dict[str, float]:
    """Reading clusters: one export batch (500 articles with their clusters), and a day's clusters."""
    newest = START + timedelta(minutes=size)
    with Session(engine) as session:
        for _ in range(2):  # the first run of each pays for compiling and planning
            t0 = time.perf_counter()
            records = list(itertools.islice(iter_articles(session), 500))
            export_ms = (time.perf_counter() - t0) * 1000
            assert len(records) == 500 and all(r["cluster_size"] >= 1 for r in records)
            t0 = time.perf_counter()
            clusters = list_clusters(session, since=newest - timedelta(days=1), min_size=1)
            day_ms = (time.perf_counter() - t0) * 1000
    return {
        "export_500_ms": round(export_ms, 1),
        "clusters_last_day_ms": round(day_ms, 1),
        "clusters_last_day": len(clusters),
    }


# --- running -----------------------------------------------------------------------------------


def run_postgres(args: argparse.Namespace, sizes: Sequence[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    archive = Archive(max(sizes))
    with scratch_database(args.postgres_url, args.database, keep=args.keep) as url:
        engine = make_engine(url)
        upgrade(engine)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            print(
                f"PostgreSQL {version[0] if version else '?'}, database {args.database}",
                file=sys.stderr,
            )
            for size in sizes:
                print(f"postgresql: loading {size:,} articles ...", file=sys.stderr, flush=True)
                load = load_postgres(conn, archive, size)
                row: dict[str, Any] = {"engine": "postgresql", "articles": size}
                row["band_rows"] = size * dedup.BANDS
                row.update({k: round(v, 1) for k, v in load.items()})
                row.update(
                    {f"size_{k}_mb": round(v / 2**20) for k, v in postgres_sizes(conn).items()}
                )
                print(f"postgresql: measuring at {size:,} ...", file=sys.stderr, flush=True)
                row.update(measure(engine, archive, args.lookups, args.rounds))
                rows.append(row)
            plan_fp = next(fp for fp, expected in archive.lookups(20, seed=4) if expected)
        row["plan"] = explain(engine, plan_fp)
        engine.dispose()
    return rows


def run_sqlite(args: argparse.Namespace, sizes: Sequence[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sizes = [s for s in sizes if s <= SQLITE_MAX]
    if not sizes:
        return rows
    archive = Archive(max(sizes))
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder:
        path = Path(folder) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        for size in sizes:
            print(f"sqlite: loading {size:,} articles ...", file=sys.stderr, flush=True)
            load = load_sqlite(path, archive, size)
            engine = make_engine(f"sqlite:///{path}")
            row: dict[str, Any] = {
                "engine": "sqlite",
                "articles": size,
                "band_rows": size * dedup.BANDS,
            }
            row.update({k: round(v, 1) for k, v in load.items()})
            row["size_database_mb"] = round(path.stat().st_size / 2**20)
            row.update(measure(engine, archive, args.lookups, args.rounds))
            engine.dispose()
            rows.append(row)
    return rows


COLUMNS = (
    ("engine", "engine"),
    ("articles", "articles"),
    ("band_rows", "band rows"),
    ("load_s", "load s"),
    ("size_database_mb", "DB MB"),
    ("lookup_p50_ms", "p50 ms"),
    ("lookup_p95_ms", "p95 ms"),
    ("lookup_p99_ms", "p99 ms"),
    ("lookup_mean_ms", "mean ms"),
    ("server_p50_ms", "server p50"),
    ("candidates_mean", "cands"),
    ("candidates_max", "max"),
    ("correct", "correct"),
    ("store_ms_per_article", "store ms/art"),
    ("export_500_ms", "export 500 ms"),
    ("clusters_last_day_ms", "day clusters ms"),
    ("load_average", "loadavg"),
)


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    cells = [
        [f"{v:,}" if isinstance(v := r.get(key, ""), int) else str(v) for key, _ in COLUMNS]
        for r in rows
    ]
    print(format_table([title for _, title in COLUMNS], cells))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k only")
    parser.add_argument("--sizes", help="comma-separated archive sizes (default 10k,100k,1M)")
    parser.add_argument("--postgres-url", default=default_postgres_url())
    parser.add_argument("--database", default="newsmon_bench_dedup")
    parser.add_argument("--lookups", type=int, default=1000, help="timed lookups per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (best is kept)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",")})
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if not args.no_postgres:
        rows += run_postgres(args, sizes)
    if not args.no_sqlite:
        rows += run_sqlite(args, sizes)
    print(
        f"near-duplicate lookup per article (candidate query + choose_cluster): {args.lookups}"
        f" lookups per round, best of {args.rounds} rounds; {os.cpu_count()} cores,"
        f" {platform.system()}\n"
    )
    print_table(rows)
    plans = [r.pop("plan") for r in rows if "plan" in r]
    for r in rows:
        if r["engine"] == "postgresql":
            print(
                f"\npostgresql {r['articles']:,}: load {r['load_s']} s (generate {r['generate_s']},"
                f" COPY articles {r['copy_articles_s']}, COPY bands {r['copy_bands_s']}, indexes"
                f" {r['build_indexes_s']}, vacuum+analyze {r['vacuum_analyze_s']}); sizes MB:"
                f" database {r['size_database_mb']}, article (with indexes and TOAST)"
                f" {r['size_article_total_mb']}, article_band heap {r['size_band_heap_mb']},"
                f" article_band index {r['size_band_index_mb']}"
            )
    if plans:
        print(f"\nplan of one lookup at {max(sizes):,} articles (PostgreSQL):\n{plans[-1]}")
    largest = max(
        (r for r in rows if r["engine"] == "postgresql"), key=lambda r: r["articles"], default=None
    )
    summary = {
        "benchmark": "dedup_lookup",
        "runtime_s": round(time.perf_counter() - started, 1),
        "results": rows,
        "postgres_largest_p50_ms": largest["lookup_p50_ms"] if largest else None,
        "postgres_largest_p99_ms": largest["lookup_p99_ms"] if largest else None,
        "index_only_scan": ("Index Only Scan" in plans[-1]) if plans else None,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
