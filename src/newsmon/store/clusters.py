"""Copy clusters in the database: the candidates a new article is compared with, and reading
clusters back (size, outlets, dates).

A cluster is its root (the earliest stored article of the story, `duplicate_of` NULL) and every
article whose `duplicate_of` is the root's id; its id is the root's. Clusters are flat: a copy of
a copy points at the root too, so a cluster is read with two indexed lookups per batch of roots
(the primary key and ix_article_duplicate_of), never by scanning the archive. Which cluster a new
article joins is decided by `newsmon.stories.copies.choose_cluster` (pure), given
`copy_candidates`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.store.dialect import as_utc, chunks, sqlite_driver
from newsmon.store.models import Article, ArticleBand, table_of
from newsmon.stories.copies import Candidate


@functools.cache
def candidate_statement(dialect: str) -> sa.Select[Any]:
    """Stored articles sharing a band key or the exact hash, each once, with what choose_cluster needs.

    Built once per dialect and run with parameters `band_keys` and `exact_hash`: building and
    compiling the statement for every article cost more than running it (measured: 0.97 ms vs
    0.30 ms per lookup on a 10k archive, benchmarks/dedup_lookup.py). Core columns, executed on
    the session's connection, skip the ORM's per-statement work. On PostgreSQL the band keys are
    one array parameter (`band_key = ANY(:band_keys)`), answered by an index-only scan of
    article_band's primary key (band_key, article_id).
    """
    article, band = table_of(Article), table_of(ArticleBand)
    if dialect == "postgresql":
        keys = sa.bindparam("band_keys", type_=postgresql.ARRAY(sa.BigInteger))
        band_match = band.c.band_key == sa.any_(keys)
    else:
        band_match = band.c.band_key.in_(sa.bindparam("band_keys", expanding=True))
    by_band = sa.select(band.c.article_id).where(band_match)
    by_hash = sa.select(article.c.id).where(article.c.exact_hash == sa.bindparam("exact_hash"))
    ids = sa.union(by_band, by_hash).subquery()
    return sa.select(
        article.c.id, article.c.duplicate_of, article.c.signature, article.c.exact_hash
    ).where(article.c.id.in_(sa.select(ids.c[0])))


def copy_candidates(session: Session, exact_hash: str, band_keys: Sequence[int]) -> list[Candidate]:
    """The stored articles a new one may be a copy of (sharing a band key or its exact hash)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # The driver's own cursor, in the session's transaction (SQLAlchemy's result is for
        # rows read by name and typed: these are plain).
        rows: Any = (
            sqlite_driver(connection)
            .execute(_sqlite_candidate_sql(len(band_keys)), (*band_keys, exact_hash))
            .fetchall()
        )
    else:
        rows = connection.execute(
            candidate_statement(connection.dialect.name),
            {"band_keys": list(band_keys), "exact_hash": exact_hash},
        )
    # By position (the statements' column order): reading ~15 rows per article by name cost
    # a tenth of the lookup.
    return [
        Candidate(
            article_id=article_id,
            cluster_id=article_id if duplicate_of is None else duplicate_of,
            signature=signature,
            exact_hash=stored_hash,
        )
        for article_id, duplicate_of, signature, stored_hash in rows
    ]


@functools.cache
def _sqlite_candidate_sql(keys: int) -> str:
    """`candidate_statement` on SQLite for `keys` band keys, as the driver's own SQL: its
    expanding IN list was rendered into the statement again for every article (~0.1 ms)."""
    marks = ", ".join("?" * keys)
    return (
        "SELECT id, duplicate_of, signature, exact_hash FROM article WHERE id IN ("
        f"SELECT article_id FROM article_band WHERE band_key IN ({marks})"
        " UNION SELECT id FROM article WHERE exact_hash = ?)"
    )


@dataclass(frozen=True, slots=True)
class StoryCluster:
    """One story cluster: its size, the outlets carrying it and when it ran."""

    cluster_id: int  # the root's id
    title: str | None  # the root's title
    url: str  # the root's URL, as linked from its feed
    size: int  # articles, the root included
    outlets: tuple[str, ...]  # distinct sources, by each one's first stored article
    first_seen: datetime  # earliest publication time of its articles (fetch time when unknown)
    last_seen: datetime  # latest one: a republication days later moves it


def story_clusters(session: Session, cluster_ids: Iterable[int]) -> dict[int, StoryCluster]:
    """The clusters with these ids (ids of root articles; others are ignored), two queries per 500."""
    cluster_of = sa.func.coalesce(Article.duplicate_of, Article.id)
    seen = sa.func.coalesce(Article.published_at, Article.fetched_at)
    found: dict[int, StoryCluster] = {}
    for chunk in chunks(sorted(set(cluster_ids))):
        roots = {
            row.id: row
            for row in session.execute(
                sa.select(col(Article.id), col(Article.title), col(Article.url)).where(
                    col(Article.id).in_(chunk), col(Article.duplicate_of).is_(None)
                )
            )
        }
        if not roots:
            continue
        parts: dict[int, list[tuple[str, int, datetime, datetime]]] = {}
        for cluster_id, source, count, first, last in session.execute(
            sa.select(
                cluster_of,
                col(Article.source),
                sa.func.count(),
                sa.func.min(seen),
                sa.func.max(seen),
            )
            .where(
                sa.or_(col(Article.id).in_(list(roots)), col(Article.duplicate_of).in_(list(roots)))
            )
            .group_by(cluster_of, Article.source)
            .order_by(cluster_of, sa.func.min(Article.id))
        ):
            parts.setdefault(cluster_id, []).append((source, count, as_utc(first), as_utc(last)))
        for cluster_id, root in roots.items():
            rows = parts[cluster_id]
            found[cluster_id] = StoryCluster(
                cluster_id=cluster_id,
                title=root.title,
                url=root.url,
                size=sum(count for _, count, _, _ in rows),
                outlets=tuple(source for source, _, _, _ in rows),
                first_seen=min(first for _, _, first, _ in rows),
                last_seen=max(last for _, _, _, last in rows),
            )
    return found


def cluster_sources(session: Session, cluster_id: int) -> tuple[str, ...]:
    """Distinct outlets carrying a story cluster, earliest first."""
    cluster = story_clusters(session, [cluster_id]).get(cluster_id)
    return cluster.outlets if cluster is not None else ()


def list_clusters(
    session: Session, *, min_size: int = 2, since: datetime | None = None, limit: int | None = None
) -> list[StoryCluster]:
    """Story clusters of at least `min_size` articles, largest first, then the most recently seen.

    With `since`, only clusters with an article published since then (fetched, when its date is
    unknown): found through the date indexes, so a daily report does not scan the archive.
    """
    cluster_of = sa.func.coalesce(Article.duplicate_of, Article.id)
    if since is not None:
        recent = sa.or_(
            col(Article.published_at) >= since,
            sa.and_(col(Article.published_at).is_(None), col(Article.fetched_at) >= since),
        )
        ids = list(session.scalars(sa.select(cluster_of).where(recent).distinct()))
    else:
        seen = sa.func.coalesce(Article.published_at, Article.fetched_at)
        ids = list(
            session.scalars(
                sa.select(cluster_of)
                .group_by(cluster_of)
                .having(sa.func.count() >= min_size)
                .order_by(sa.func.count().desc(), sa.func.max(seen).desc(), cluster_of)
                .limit(limit)
            )
        )
    clusters = [
        c
        for c in story_clusters(session, ids).values()
        if c.size >= min_size and (since is None or c.last_seen >= since)
    ]
    clusters.sort(key=lambda c: (-c.size, -c.last_seen.timestamp(), c.cluster_id))
    return clusters[:limit] if limit is not None else clusters
