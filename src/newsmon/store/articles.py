"""Storing a batch of articles: each with its copy cluster, story, band keys, topics and alerts
(plus their outbox rows), in the caller's transaction, and out of the entry queue.

Which copy cluster an article joins is decided by `newsmon.stories.copies.choose_cluster` (pure)
given the candidates read by `store/clusters.py`; which story, by `newsmon.stories.assign` through
`store/stories.py`. On PostgreSQL the batch holds an advisory lock while it assigns, so two runs
storing copies of one story at once cannot both start a cluster (SQLite serialises writers).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from newsmon.config.models import StoryUpdates
from newsmon.rules.prepare import ReadyArticle
from newsmon.store.clusters import copy_candidates
from newsmon.store.dialect import insert_on_conflict, no_nul, sqlite_driver
from newsmon.store.models import Article, ArticleBand, ArticleTopic, QueuedEntry, table_of
from newsmon.store.outbox import raise_alert
from newsmon.store.stories import assign_story, plan_story, story_updates
from newsmon.stories.copies import NEAR_DUPLICATE_THRESHOLD, Candidate, choose_cluster
from newsmon.stories.features import story_features
from newsmon.stories.gazetteer import packaged_gazetteer

# Serialises cluster assignment between concurrent runs on PostgreSQL (SQLite serialises writers
# already): two runs storing copies of one story at once must not both start a new cluster.
_CLUSTER_LOCK_KEY = 0x6E65_7773  # "news"


@dataclass
class StoreOutcome:
    """What one store transaction did."""

    stored: int = 0
    duplicates: int = 0
    already_stored: int = 0
    alerts: int = 0
    stored_ids: tuple[int, ...] = ()
    alert_ids: tuple[int, ...] = ()  # alerts raised (for events, sent once committed)
    per_source: dict[str, StoreOutcome] = field(default_factory=dict)

    def count(self, source: str, **increments: int) -> None:
        """Add to the totals and to `source`'s own counts."""
        row = self.per_source.setdefault(source, StoreOutcome())
        for name, value in increments.items():
            setattr(self, name, getattr(self, name) + value)
            setattr(row, name, getattr(row, name) + value)


def store_articles(
    session: Session,
    articles: Sequence[ReadyArticle],
    *,
    notify_urls: Mapping[str, Sequence[str]],
    deliver_alerts: bool = True,
    now: datetime,
    near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD,
    story_alerts: Mapping[str, StoryUpdates | None] | None = None,
) -> StoreOutcome:
    """Insert articles with cluster, story, bands, topics and alerts (plus outbox rows), in the caller's transaction.

    Articles are stored in the order given, and the first stored of a story heads its cluster:
    the caller passes them earliest-published first (the store batch task sorts them, fetch time
    when the date is unknown), so that within a batch the original of a syndicated story, not
    whichever copy was fetched first, heads it. Across runs the earliest *stored* article heads
    it: an original stored after its copy joins the copy's cluster (clusters are never re-rooted,
    so alerts and exported cluster ids stay stable).

    `notify_urls` maps each alert rule to its notify URLs as written in the config; each new alert
    gets one pending delivery per URL unless `deliver_alerts` is false (backfills).
    `story_alerts` names the rules alerting once per story (`once_per: story`), with their update
    policy: their alerts are keyed by story id, and updates are raised as the story grows.
    """
    story_alerts = story_alerts or {}
    outcome = StoreOutcome()
    stored_ids: list[int] = []
    alert_ids: list[int] = []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLUSTER_LOCK_KEY)))
    # Rows written once for the whole batch, after its last article (one statement each instead
    # of one per article): nothing the batch reads depends on them, except the band keys, which
    # `batch_bands` stands in for until then.
    bands: list[tuple[int, list[int]]] = []
    topics: list[dict[str, Any]] = []
    batch_bands = _BatchBands()
    for ready in articles:
        draft, fp = ready.draft, ready.fingerprint
        # Its copy cluster: the store reads the stored articles it may copy (a shared band key or
        # the exact hash), the pure decision picks one (None: it starts a cluster). An empty
        # fingerprint (no words) would "match" every other empty page by its hash: not looked up.
        candidates = (
            batch_bands.add_to(copy_candidates(session, fp.exact_hash, fp.band_keys), fp.band_keys)
            if fp.shingle_count
            else []
        )
        cluster = choose_cluster(fp, candidates, threshold=near_duplicate_threshold)
        features = ready.story or story_features(
            title=draft.title,
            text=draft.text,
            language=draft.language,
            gazetteer=packaged_gazetteer(),
        )
        seen_at = draft.published_at or draft.fetched_at
        # Its story decided before the insert, which writes it: an UPDATE after it would cost
        # each article joining a story as much as its insert (an index entry moved).
        plan = plan_story(session, cluster_id=cluster, features=features, seen_at=seen_at)
        row = no_nul(
            {
                "url": draft.url,
                "canonical_url": draft.canonical_url,
                "final_url": draft.final_url,
                "source": draft.source,
                "title": draft.title,
                "text": draft.text,
                "published_at": draft.published_at,
                "author": draft.author,
                "language": draft.language,
                "exact_hash": fp.exact_hash,
                "signature": fp.signature,
                "duplicate_of": cluster,
                "fetched_at": draft.fetched_at,
                "story_id": plan.story_id,
            }
        )
        inserted = _insert_article(session.connection(), dialect, row)
        if inserted is None:
            outcome.count(draft.source, already_stored=1)
            continue
        article_id = int(inserted)
        stored_ids.append(article_id)
        outcome.count(draft.source, stored=1, duplicates=int(cluster is not None))
        cluster_id = cluster if cluster is not None else article_id
        if fp.band_keys:
            keys = list(dict.fromkeys(fp.band_keys))
            bands.append((article_id, keys))
            batch_bands.remember(
                keys,
                Candidate(
                    article_id=article_id,
                    cluster_id=cluster_id,
                    signature=row["signature"],
                    exact_hash=row["exact_hash"],
                ),
            )
        # Plain INSERT: the article was inserted just now, so none of its tags can exist yet.
        topics.extend({"article_id": article_id, "topic": t} for t in dict.fromkeys(ready.topics))
        story = assign_story(
            session, plan, article_id=article_id, features=features, seen_at=seen_at, now=now
        )
        just_alerted = set()
        for rule, terms in ready.alert_matches.items():
            urls = notify_urls.get(rule, ()) if deliver_alerts else ()
            key = story.story_id if rule in story_alerts else cluster_id
            raised = raise_alert(session, rule, key, article_id, terms, urls, now)
            if raised is not None:
                just_alerted.add(rule)
                outcome.count(draft.source, alerts=1)
                alert_ids.append(raised)
        if not story.new:
            # A rule whose alert this very article raised has nothing to update yet.
            policies = {r: p for r, p in story_alerts.items() if r not in just_alerted}
            for updated_rule, story_update in story_updates(
                session, story, article_id, draft, policies
            ):
                urls = notify_urls.get(updated_rule, ()) if deliver_alerts else ()
                update = raise_alert(
                    session, updated_rule, article_id, article_id, (), urls, now, story_update
                )
                if update is not None:
                    outcome.count(draft.source, alerts=1)
                    alert_ids.append(update)
    _write_batch_rows(session, dialect, [ready.draft.url for ready in articles], bands, topics)
    outcome.stored_ids = tuple(stored_ids)
    outcome.alert_ids = tuple(alert_ids)
    return outcome


class _BatchBands:
    """The band keys of the batch's articles stored so far, not yet in article_band: a later
    article of the batch finds them here as it would find them there (a shared key)."""

    def __init__(self) -> None:
        self._by_key: dict[int, list[Candidate]] = {}

    def remember(self, keys: Sequence[int], candidate: Candidate) -> None:
        for key in keys:
            self._by_key.setdefault(key, []).append(candidate)

    def add_to(self, stored: list[Candidate], keys: Sequence[int]) -> list[Candidate]:
        """`stored` (read from the database) with the batch's articles sharing a key, each once
        (an article of the batch may already be there, found by its exact hash)."""
        seen = {candidate.article_id for candidate in stored}
        for key in keys:
            for candidate in self._by_key.get(key, ()):
                if candidate.article_id not in seen:
                    seen.add(candidate.article_id)
                    stored.append(candidate)
        return stored


def _write_batch_rows(
    session: Session,
    dialect: str,
    urls: list[str],
    bands: list[tuple[int, list[int]]],
    topics: list[dict[str, Any]],
) -> None:
    """The batch's rows that nothing in it reads back: queue removals, band keys, topic tags."""
    connection = session.connection()
    # Stored now or before: either way the entries leave the queue.
    if urls:
        connection.execute(_dequeue_statement(), [{"url": url} for url in urls])
    if bands:
        # A cached statement: a 40-row VALUES statement built for each article took ~2 ms to
        # compile, more than the rest of the insert (benchmarks/dedup_lookup.py, "store ms/art").
        # Plain INSERTs: the articles were inserted just now, their keys are distinct.
        if dialect == "postgresql":
            connection.execute(
                _band_insert(dialect),
                [{"band_keys": keys, "article_id": article_id} for article_id, keys in bands],
            )
        else:
            # The driver's own executemany, in the session's transaction: ~40 rows an article,
            # and SQLAlchemy built a parameter dict and processed it for each (~0.1 ms an
            # article, benchmarks/store_replay.py); the values are plain integers.
            sqlite_driver(connection).executemany(
                "INSERT INTO article_band (band_key, article_id) VALUES (?, ?)",
                [(key, article_id) for article_id, keys in bands for key in keys],
            )
    if topics:
        if dialect == "sqlite":
            sqlite_driver(connection).executemany(
                "INSERT INTO article_topic (article_id, topic) VALUES (?, ?)",
                [(row["article_id"], row["topic"]) for row in topics],
            )
        else:
            connection.execute(sa.insert(table_of(ArticleTopic)), topics)


def _insert_article(connection: sa.Connection, dialect: str, row: dict[str, Any]) -> int | None:
    """The new article's id, or None when its canonical URL is stored already."""
    if dialect != "sqlite":
        found = connection.execute(_article_upsert(tuple(row)), row).scalar_one_or_none()
        return None if found is None else int(found)
    # SQLite: through the driver's own cursor, in the session's transaction, each value as its
    # column type writes it: SQLAlchemy's statement and result path for this one row cost about
    # as much as SQLite's insert (benchmarks/store_replay.py).
    sql, processors = _sqlite_article_upsert(connection.dialect, tuple(row))
    values = [
        value if process is None else process(value)
        for value, process in zip(row.values(), processors, strict=True)
    ]
    # fetchall: the statement runs to its end (RETURNING gives one row or none).
    returned = sqlite_driver(connection).execute(sql, values).fetchall()
    return int(returned[0][0]) if returned else None


@functools.cache
def _sqlite_article_upsert(
    dialect: sa.Dialect, columns: tuple[str, ...]
) -> tuple[str, tuple[Any, ...]]:
    """`_article_upsert` as the SQLite driver's own SQL, with each column's bind processor."""
    table = table_of(Article)
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    sql = (
        f"INSERT INTO article ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        " ON CONFLICT (canonical_url) DO NOTHING RETURNING id"
    )
    return sql, processors


@functools.cache
def _article_upsert(columns: tuple[str, ...]) -> sa.TextualSelect:
    """INSERT ... ON CONFLICT (canonical_url) DO NOTHING RETURNING id of these article columns,
    one cached statement per column set (the row built in `store_articles` names them): the
    dialects' ON CONFLICT constructs cost ~1 ms per article, a quarter of storing it."""
    statement = insert_on_conflict(
        table_of(Article), columns, "(canonical_url) DO NOTHING RETURNING id"
    )
    return statement.columns(id=sa.Integer)


@functools.cache
def _dequeue_statement() -> sa.Delete:
    table = table_of(QueuedEntry)
    return sa.delete(table).where(table.c.url == sa.bindparam("url"))


@functools.cache
def _band_insert(dialect: str) -> Any:
    """Insert an article's band keys on PostgreSQL: one statement with an array (SQLite: the
    driver's executemany, in `_write_batch_rows`).

    A plain INSERT (the article was just inserted, its keys are distinct: nothing can conflict),
    because SQLAlchemy 2.0 cannot cache the dialects' INSERT ... ON CONFLICT statements.
    """
    table = table_of(ArticleBand)
    keys = sa.bindparam("band_keys", type_=postgresql.ARRAY(sa.BigInteger))
    rows = sa.select(sa.func.unnest(keys), sa.bindparam("article_id", type_=sa.Integer))
    return sa.insert(table).from_select(["band_key", "article_id"], rows)
