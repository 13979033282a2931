"""Reading the archive: articles for rule backtests (`newsmon rules test`), and every article,
alert and copy cluster as export records (`newsmon export`, docs/CONTRACT-EXTENSIONS.md).

All of it streams in id order, in batches, so an export or a backtest of a large archive holds
one batch in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.store.clusters import list_clusters, story_clusters
from newsmon.store.dialect import iso
from newsmon.store.models import Alert, Article, ArticleTopic


@dataclass(frozen=True, slots=True)
class ArchivedArticle:
    """What matching a rule needs of a stored article."""

    id: int
    source: str
    title: str | None
    text: str
    url: str
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    cluster_id: int
    topics: tuple[str, ...] = ()


def count_archive(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sources: Sequence[str] = (),
) -> int:
    """How many articles `iter_archive` would yield."""
    query = sa.select(sa.func.count()).select_from(Article)
    return int(session.scalar(query.where(*_archive_filter(since, until, sources))) or 0)


def iter_archive(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sources: Sequence[str] = (),
    with_topics: bool = False,
    batch: int = 500,
) -> Iterator[ArchivedArticle]:
    """Stored articles published (or, undated, fetched) in [since, until), in id order, in batches."""
    columns = (
        col(Article.id),
        col(Article.source),
        col(Article.title),
        col(Article.text),
        col(Article.url),
        col(Article.language),
        col(Article.published_at),
        col(Article.fetched_at),
        col(Article.duplicate_of),
    )
    conditions = _archive_filter(since, until, sources)
    last_id = 0
    while True:
        rows = session.execute(
            sa.select(*columns)
            .where(col(Article.id) > last_id, *conditions)
            .order_by(col(Article.id))
            .limit(batch)
        ).all()
        if not rows:
            return
        topics: dict[int, list[str]] = {}
        if with_topics:
            for article_id, topic in session.execute(
                sa.select(col(ArticleTopic.article_id), col(ArticleTopic.topic)).where(
                    col(ArticleTopic.article_id).in_([row.id for row in rows])
                )
            ):
                topics.setdefault(article_id, []).append(topic)
        for row in rows:
            yield ArchivedArticle(
                id=row.id,
                source=row.source,
                title=row.title,
                text=row.text,
                url=row.url,
                language=row.language,
                published_at=row.published_at,
                fetched_at=row.fetched_at,
                cluster_id=row.duplicate_of if row.duplicate_of is not None else row.id,
                topics=tuple(topics.get(row.id, ())),
            )
        last_id = rows[-1].id


def _archive_filter(
    since: datetime | None, until: datetime | None, sources: Sequence[str]
) -> list[Any]:
    when = sa.func.coalesce(Article.published_at, Article.fetched_at)
    conditions: list[Any] = []
    if since is not None:  # coalesce takes its type from its arguments: binds as UTCDateTime
        conditions.append(when >= since)
    if until is not None:
        conditions.append(when < until)
    if sources:
        conditions.append(col(Article.source).in_(list(sources)))
    return conditions


def iter_articles(session: Session, *, batch: int = 500) -> Iterator[dict[str, Any]]:
    """Every article as an export record, in id order, streamed in batches."""
    last_id = 0
    while True:
        rows = session.scalars(
            sa.select(Article)
            .where(col(Article.id) > last_id)
            .order_by(col(Article.id))
            .limit(batch)
        ).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        topics: dict[int, list[str]] = {}
        for article_id, topic in session.execute(
            sa.select(col(ArticleTopic.article_id), col(ArticleTopic.topic))
            .where(col(ArticleTopic.article_id).in_(ids))
            .order_by(col(ArticleTopic.article_id), col(ArticleTopic.topic))
        ):
            topics.setdefault(article_id, []).append(topic)
        clusters = story_clusters(session, {row.duplicate_of or row.id or 0 for row in rows})
        for row in rows:
            cluster = clusters[row.duplicate_of or row.id or 0]
            yield {
                "id": row.id,
                "url": row.url,
                "canonical_url": row.canonical_url,
                "source": row.source,
                "title": row.title,
                "text": row.text,
                "published_at": iso(row.published_at),
                "language": row.language,
                "topics": topics.get(row.id or 0, []),
                "duplicate_of": row.duplicate_of,
                "fetched_at": iso(row.fetched_at),
                # Extensions (docs/CONTRACT-EXTENSIONS.md): the story cluster, as of the export.
                "cluster_id": cluster.cluster_id,
                "cluster_size": cluster.size,
                "cluster_outlets": list(cluster.outlets),
                "story_id": row.story_id,  # newsmon.stories (null: stored before stories)
            }
        last_id = rows[-1].id or last_id
        session.expunge_all()


def iter_alerts(session: Session) -> Iterator[dict[str, Any]]:
    """Every alert as an export record, in id order."""
    rows = session.execute(
        sa.select(Alert, col(Article.url), col(Article.title))
        .join(Article, col(Article.id) == col(Alert.article_id))
        .order_by(col(Alert.id))
    )
    for alert, url, title in rows:
        yield {
            "id": alert.id,
            "rule": alert.rule,
            "article_id": alert.article_id,
            "article_url": url,
            "title": title,
            "matched": list(alert.matched),
            "created_at": iso(alert.created_at),
            "delivered_at": iso(alert.delivered_at),
            "attempts": alert.attempts,
            "story_update": alert.story_update,  # newsmon.stories: why an update message was sent
        }


def iter_clusters(session: Session) -> Iterator[dict[str, Any]]:
    """Every story cluster of two or more articles as an export record, largest first."""
    for cluster in list_clusters(session, min_size=2):
        yield {
            "cluster_id": cluster.cluster_id,
            "title": cluster.title,
            "url": cluster.url,
            "size": cluster.size,
            "outlets": list(cluster.outlets),
            "first_seen": iso(cluster.first_seen),
            "last_seen": iso(cluster.last_seen),
        }
