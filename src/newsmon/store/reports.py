"""Reports for people: counts over the whole archive (`newsmon report`, the demo) and a run's
digest of the stories it touched and the alerts it raised (the run's Markdown artifact).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.alerts.digest import AlertLine, StoryLine
from newsmon.store.clusters import cluster_sources, list_clusters
from newsmon.store.dialect import CHUNK, chunks
from newsmon.store.models import Alert, AlertDelivery, Article, ArticleTopic


def archive_report(session: Session) -> dict[str, Any]:
    """Counts for a person: articles and duplicates per source, topics, multi-outlet stories."""
    per_source = [
        {"source": source, "articles": total, "duplicates": int(dups or 0)}
        for source, total, dups in session.execute(
            sa.select(
                col(Article.source),
                sa.func.count(),
                sa.func.sum(sa.case((col(Article.duplicate_of).is_not(None), 1), else_=0)),
            )
            .group_by(Article.source)
            .order_by(Article.source)
        )
    ]
    topics = [
        {"topic": topic, "articles": count}
        for topic, count in session.execute(
            sa.select(col(ArticleTopic.topic), sa.func.count())
            .group_by(ArticleTopic.topic)
            .order_by(sa.func.count().desc(), ArticleTopic.topic)
        )
    ]
    stories = [
        {
            "cluster_id": cluster.cluster_id,
            "title": cluster.title,
            "articles": cluster.size,
            "outlets": list(cluster.outlets),
        }
        for cluster in list_clusters(session, min_size=2)
    ]
    return {"sources": per_source, "topics": topics, "stories": stories}


def story_digest(
    session: Session, article_ids: Sequence[int], *, limit: int = 10
) -> list[StoryLine]:
    """The story clusters these articles belong to, most widely carried first (top `limit`)."""
    cluster_of = sa.func.coalesce(Article.duplicate_of, Article.id)
    new: Counter[int] = Counter()
    for chunk in chunks(list(article_ids)):
        new.update(
            dict(
                session.execute(
                    sa.select(cluster_of, sa.func.count())
                    .where(col(Article.id).in_(chunk))
                    .group_by(cluster_of)
                )
                .tuples()
                .all()
            )
        )
    sizes: dict[int, tuple[int, int]] = {}
    # Half a chunk: each id is bound twice below, and a statement binds at most CHUNK values.
    for chunk in chunks(list(new), CHUNK // 2):
        # `cluster_of IN chunk` spelled so each side has its index (duplicate_of's, the id):
        # the expression itself has none, and each chunk scanned the whole archive.
        in_chunk = sa.or_(
            col(Article.duplicate_of).in_(chunk),
            sa.and_(col(Article.duplicate_of).is_(None), col(Article.id).in_(chunk)),
        )
        for cluster_id, articles, outlets in session.execute(
            sa.select(cluster_of, sa.func.count(), sa.func.count(sa.distinct(col(Article.source))))
            .where(in_chunk)
            .group_by(cluster_of)
        ):
            sizes[cluster_id] = (outlets, articles)
    ranked = sorted(new, key=lambda c: (-sizes[c][0], -sizes[c][1], -new[c], c))[:limit]
    lines = []
    for cluster_id in ranked:
        root = session.get(Article, cluster_id)
        if root is None:
            continue
        lines.append(
            StoryLine(
                cluster_id=cluster_id,
                title=root.title,
                url=root.url,
                published_at=root.published_at,
                outlets=cluster_sources(session, cluster_id),
                articles=sizes[cluster_id][1],
                new_articles=new[cluster_id],
            )
        )
    return lines


def alert_digest(
    session: Session,
    *,
    article_ids: Sequence[int] = (),
    alert_ids: Sequence[int] = (),
) -> list[AlertLine]:
    """Alerts raised on these articles, or with these ids, oldest first."""
    found: dict[int, AlertLine] = {}
    channels = (
        sa.select(sa.func.count())
        .select_from(AlertDelivery)
        .where(col(AlertDelivery.alert_id) == col(Alert.id))
        .scalar_subquery()
    )
    for column, ids in ((col(Alert.article_id), article_ids), (col(Alert.id), alert_ids)):
        for chunk in chunks(list(ids)):
            for alert, url, title, count in session.execute(
                sa.select(Alert, col(Article.url), col(Article.title), channels)
                .join(Article, col(Article.id) == col(Alert.article_id))
                .where(column.in_(chunk))
            ):
                found[alert.id] = AlertLine(
                    rule=alert.rule,
                    title=title,
                    url=url,
                    matched=tuple(alert.matched),
                    delivered=alert.delivered_at is not None,
                    channels=int(count or 0),
                )
    return [found[key] for key in sorted(found)]
