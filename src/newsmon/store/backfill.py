"""Backfills in the database: the progress of each unit of work (resumable runs), the articles
of a window to re-tag, and the re-tagging itself (topics replaced, alerts raised as ingest would).

What a unit is and what re-tagging changes are decided in `newsmon.backfill` (pure); fetched
pages are stored by `store/articles.py`, like ingest's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.backfill.plan import Retag, StoredArticle, Unit, UnitKind
from newsmon.store.dialect import chunks, insert
from newsmon.store.models import Article, ArticleTopic, BackfillProgress, UTCDateTime
from newsmon.store.outbox import raise_alert

_UNIT_KINDS: frozenset[str] = frozenset(get_args(UnitKind))


def _is_unit_kind(value: str) -> TypeGuard[UnitKind]:
    return value in _UNIT_KINDS


def _unit_kind(value: str) -> UnitKind:
    """A stored unit's kind: the column is free text, `Unit.kind` one of the `UnitKind`s."""
    if _is_unit_kind(value):
        return value
    raise ValueError(f"unknown backfill unit kind {value!r}")


def backfill_units(session: Session, backfill: str) -> list[Unit]:
    """Every unit recorded for a backfill, in the order they were discovered."""
    rows = session.scalars(
        sa.select(BackfillProgress)
        .where(col(BackfillProgress.backfill) == backfill)
        .order_by(col(BackfillProgress.id))
    )
    return [
        Unit(
            name=row.unit,
            kind=_unit_kind(row.kind),
            done=row.done,
            cursor=row.cursor,
            detail=dict(row.detail or {}),
        )
        for row in rows
    ]


def add_backfill_units(
    session: Session, backfill: str, units: Sequence[Unit], *, now: datetime
) -> None:
    """Record units still to do; units already recorded (done or not) are left as they are."""
    for chunk in chunks(units, 200):
        session.execute(
            insert(session, BackfillProgress)
            .values(
                [
                    {
                        "backfill": backfill,
                        "unit": unit.name,
                        "kind": unit.kind,
                        "done": False,
                        "cursor": unit.cursor,
                        "detail": dict(unit.detail),
                        "updated_at": now,
                    }
                    for unit in chunk
                ]
            )
            .on_conflict_do_nothing(index_elements=["backfill", "unit"])
        )


def save_backfill_unit(session: Session, backfill: str, unit: Unit, *, now: datetime) -> None:
    """Record a unit's state (done, cursor, detail), whether it was recorded before or not."""
    values = {
        "backfill": backfill,
        "unit": unit.name,
        "kind": unit.kind,
        "done": unit.done,
        "cursor": unit.cursor,
        "detail": dict(unit.detail),
        "updated_at": now,
    }
    statement = insert(session, BackfillProgress).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["backfill", "unit"],
            set_={k: statement.excluded[k] for k in ("done", "cursor", "detail", "updated_at")},
        )
    )


def _in_window(start: datetime, end: datetime, sources: Sequence[str] | None) -> list[Any]:
    # An article without a publication date is placed by when it was fetched.
    when = sa.func.coalesce(Article.published_at, Article.fetched_at, type_=UTCDateTime())
    conditions: list[Any] = [when >= start, when < end]
    if sources is not None:
        conditions.append(col(Article.source).in_(list(sources)))
    return conditions


def count_articles_in_window(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    sources: Sequence[str] | None,
    after_id: int = 0,
) -> tuple[int, int]:
    """(articles in the window with ids above `after_id`, their highest id).

    The highest id bounds a reprocess run: articles stored while it runs are tagged by ingest.
    """
    count, highest = session.execute(
        sa.select(sa.func.count(), sa.func.max(Article.id)).where(
            col(Article.id) > after_id, *_in_window(start, end, sources)
        )
    ).one()
    return int(count or 0), int(highest or 0)


def articles_in_window(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    sources: Sequence[str] | None,
    after_id: int,
    through_id: int,
    limit: int,
) -> list[StoredArticle]:
    """The next `limit` articles of the window with ids in (after_id, through_id], in id order."""
    rows = session.scalars(
        sa.select(Article)
        .where(
            col(Article.id) > after_id,
            col(Article.id) <= through_id,
            *_in_window(start, end, sources),
        )
        .order_by(col(Article.id))
        .limit(limit)
    ).all()
    ids = [row.id for row in rows]
    topics: dict[int, list[str]] = {}
    for article_id, topic in session.execute(
        sa.select(col(ArticleTopic.article_id), col(ArticleTopic.topic))
        .where(col(ArticleTopic.article_id).in_(ids))
        .order_by(ArticleTopic.topic)
    ):
        topics.setdefault(article_id, []).append(topic)
    return [
        StoredArticle(
            id=row.id or 0,
            cluster_id=row.duplicate_of if row.duplicate_of is not None else row.id or 0,
            source=row.source,
            url=row.url,
            title=row.title,
            text=row.text,
            language=row.language,
            fetched_at=row.fetched_at,
            topics=tuple(topics.get(row.id or 0, ())),
        )
        for row in rows
    ]


@dataclass
class RetagOutcome:
    """What re-tagging one batch changed."""

    articles: Counter[str] = field(default_factory=Counter)  # per source
    retagged: Counter[str] = field(default_factory=Counter)  # per source: topics changed
    alerts: Counter[str] = field(default_factory=Counter)  # per source: new alerts
    alert_ids: list[int] = field(default_factory=list)
    topics_added: Counter[str] = field(default_factory=Counter)
    topics_removed: Counter[str] = field(default_factory=Counter)


def apply_retags(
    session: Session,
    retags: Sequence[Retag],
    *,
    notify_urls: Mapping[str, Sequence[str]],
    deliver_alerts: bool,
    now: datetime,
    story_rules: Collection[str] = (),
) -> RetagOutcome:
    """Replace each article's topics and raise the alerts it now matches, in the caller's transaction.

    Alerts stay once per (rule, cluster): a cluster that already has the rule's alert gets no new
    one; rules in `story_rules` (`once_per: story`) once per story. Without `deliver_alerts` new
    alerts are recorded with no delivery queued.
    """
    outcome = RetagOutcome()
    for item in retags:
        article = item.article
        outcome.articles[article.source] += 1
        if item.removed:
            session.execute(
                sa.delete(ArticleTopic).where(
                    col(ArticleTopic.article_id) == article.id,
                    col(ArticleTopic.topic).in_(sorted(item.removed)),
                )
            )
        if item.added:
            session.execute(
                insert(session, ArticleTopic)
                .values([{"article_id": article.id, "topic": t} for t in sorted(item.added)])
                .on_conflict_do_nothing()
            )
        if item.added or item.removed:
            outcome.retagged[article.source] += 1
            outcome.topics_added.update(item.added)
            outcome.topics_removed.update(item.removed)
        for rule, terms in item.alert_matches.items():
            urls = notify_urls.get(rule, ()) if deliver_alerts else ()
            key = article.cluster_id
            if rule in story_rules:  # an article stored before stories has none: its cluster
                key = (
                    session.scalar(
                        sa.select(col(Article.story_id)).where(col(Article.id) == article.id)
                    )
                    or key
                )
            alert_id = raise_alert(session, rule, key, article.id, terms, urls, now)
            if alert_id:
                outcome.alerts[article.source] += 1
                outcome.alert_ids.append(alert_id)
    return outcome
