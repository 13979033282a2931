"""The alert outbox: alerts raised with one pending delivery per channel, worked through by
`newsmon.alerts.notify` (what is due, each attempt's outcome, the messages sent for pacing).

An alert is raised once per rule and cluster (or story), by a constraint, in the transaction that
stores its article (`store/articles.py`) or re-tags it (`store/backfill.py`). A channel is known
by `channel_key` (a hash: notify URLs may hold secrets) and shown by its redacted URL.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.alerts.pacing import ChannelHistory
from newsmon.alerts.redaction import redact_url
from newsmon.store.clusters import cluster_sources, story_clusters
from newsmon.store.dialect import as_utc, chunks, insert_on_conflict
from newsmon.store.models import Alert, AlertDelivery, AlertMessage, Article, table_of


def channel_key(notify_url: str) -> str:
    """Identity of a notify URL as written in alerts.yaml, without storing the URL (it may hold secrets)."""
    return hashlib.sha256(notify_url.encode()).hexdigest()


def raise_alert(
    session: Session,
    rule: str,
    cluster_id: int,
    article_id: int,
    terms: Sequence[str],
    notify_urls: Sequence[str],
    now: datetime,
    story_update: str | None = None,
) -> int | None:
    """Insert the rule's alert on the cluster (or story) unless it has one; the new alert's id, or None."""
    connection = session.connection()
    alert_id = connection.execute(
        _alert_upsert(),
        {
            "rule": rule,
            "cluster_id": cluster_id,
            "article_id": article_id,
            "matched": list(terms),
            "created_at": now,
            "attempts": 0,
            "story_update": story_update,
        },
    ).scalar_one_or_none()
    if alert_id is None:
        return None
    if notify_urls:
        connection.execute(
            _delivery_insert(),
            [
                {
                    "alert_id": alert_id,
                    "channel": channel_key(url),
                    "channel_label": redact_url(url),
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for url in dict.fromkeys(notify_urls)
            ],
        )
    return int(alert_id)


@functools.cache
def _alert_upsert() -> sa.TextualSelect:
    # Cached text: raising an alert cost more than storing its article with the dialects'
    # ON CONFLICT constructs (~6 ms vs ~3 ms per article, benchmarks/store_replay.py).
    columns = (
        "rule", "cluster_id", "article_id", "matched", "created_at", "attempts", "story_update"
    )  # fmt: skip
    statement = insert_on_conflict(
        table_of(Alert), columns, "(rule, cluster_id) DO NOTHING RETURNING id"
    )
    return statement.columns(id=sa.Integer)


@functools.cache
def _delivery_insert() -> sa.TextClause:
    columns = ("alert_id", "channel", "channel_label", "attempts", "next_attempt_at")
    return insert_on_conflict(table_of(AlertDelivery), columns, "DO NOTHING")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PendingDelivery:
    """One alert to send to one channel, with what the message needs."""

    delivery_id: int
    alert_id: int
    rule: str
    channel: str
    matched: tuple[str, ...]
    article_id: int
    title: str | None
    url: str
    source: str
    published_at: datetime | None
    text: str
    cluster_id: int
    cluster_sources: tuple[str, ...]
    attempts: int
    created_at: datetime = _EPOCH  # when the alert was raised
    next_attempt_at: datetime | None = None
    channel_label: str = ""
    story_update: str | None = None  # an update message about a story (newsmon.stories.updates)


def pending_deliveries(
    session: Session,
    *,
    now: datetime,
    limit: int = 1000,
    due_only: bool = True,
    channels: Iterable[str] | None = None,
) -> list[PendingDelivery]:
    """Deliveries not yet made whose retry time has come (all of them without `due_only`), oldest first.

    `channels` (channel keys) leaves out deliveries to URLs no longer configured, so that they
    cannot crowd out the rest within `limit`.
    """
    conditions: list[sa.ColumnElement[bool]] = [col(AlertDelivery.delivered_at).is_(None)]
    if channels is not None:
        conditions.append(col(AlertDelivery.channel).in_(list(channels)))
    if due_only:
        conditions.append(
            sa.or_(
                col(AlertDelivery.next_attempt_at).is_(None),
                col(AlertDelivery.next_attempt_at) <= now,
            )
        )
    rows = session.execute(
        sa.select(AlertDelivery, Alert, Article)
        .join(Alert, col(Alert.id) == col(AlertDelivery.alert_id))
        .join(Article, col(Article.id) == col(Alert.article_id))
        .where(*conditions)
        .order_by(col(AlertDelivery.id))
        .limit(limit)
    ).all()
    # Read now, not when the alert was raised: copies stored since count ("on 3 outlets").
    clusters = story_clusters(session, {alert.cluster_id for _, alert, _ in rows})
    result = []
    for delivery, alert, article in rows:
        cluster = clusters.get(alert.cluster_id)
        result.append(
            PendingDelivery(
                delivery_id=delivery.id or 0,
                alert_id=alert.id or 0,
                rule=alert.rule,
                channel=delivery.channel,
                matched=tuple(alert.matched),
                article_id=article.id or 0,
                title=article.title,
                url=article.url,
                source=article.source,
                published_at=article.published_at,
                text=article.text,
                cluster_id=alert.cluster_id,
                cluster_sources=cluster.outlets if cluster else (article.source,),
                attempts=delivery.attempts,
                created_at=alert.created_at,
                next_attempt_at=delivery.next_attempt_at,
                channel_label=delivery.channel_label,
                story_update=alert.story_update,
            )
        )
    return result


def record_delivery(
    session: Session,
    delivery_id: int,
    *,
    ok: bool,
    error: str | None,
    now: datetime,
    retry_at: datetime | None = None,
) -> None:
    """Mark one delivery attempt; the alert counts as delivered once every channel has it."""
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None or delivery.delivered_at is not None:
        return
    delivery.attempts += 1
    if ok:
        delivery.delivered_at, delivery.last_error = now, None
    else:
        delivery.last_error, delivery.next_attempt_at = (error or "failed")[:2000], retry_at
    alert = session.get(Alert, delivery.alert_id)
    assert alert is not None
    alert.attempts = max(alert.attempts, delivery.attempts)
    session.flush()
    undelivered = session.scalar(
        sa.select(sa.func.count())
        .select_from(AlertDelivery)
        .where(col(AlertDelivery.alert_id) == alert.id, col(AlertDelivery.delivered_at).is_(None))
    )
    if ok and not undelivered:
        alert.delivered_at = now


def record_message(
    session: Session,
    *,
    rule: str,
    channel: str,
    kind: str,
    delivery_ids: Sequence[int],
    ok: bool,
    error: str | None,
    now: datetime,
    retry_at: datetime | None = None,
) -> None:
    """Record one message (an alert or a digest) and the outcome for every delivery it carried."""
    if ok:
        session.add(
            AlertMessage(
                rule=rule, channel=channel, kind=kind, alerts=len(delivery_ids), sent_at=now
            )
        )
    for delivery_id in delivery_ids:
        record_delivery(session, delivery_id, ok=ok, error=error, now=now, retry_at=retry_at)


def defer_deliveries(
    session: Session, delivery_ids: Sequence[int], *, error: str, retry_at: datetime
) -> None:
    """Deliveries not tried in this round (their channel had just failed): no attempt counted,
    the error kept, the next try at `retry_at`."""
    for chunk in chunks(list(delivery_ids)):
        session.execute(
            sa.update(AlertDelivery)
            .where(col(AlertDelivery.id).in_(chunk), col(AlertDelivery.delivered_at).is_(None))
            .values(last_error=error[:2000], next_attempt_at=retry_at)
        )


def message_history(session: Session, *, now: datetime) -> dict[tuple[str, str], ChannelHistory]:
    """Per (rule, channel): when a message was last sent, and the send times of the last hour."""
    history: dict[tuple[str, str], ChannelHistory] = {}
    for rule, channel, last in session.execute(
        sa.select(
            col(AlertMessage.rule),
            col(AlertMessage.channel),
            sa.func.max(col(AlertMessage.sent_at)),
        ).group_by(col(AlertMessage.rule), col(AlertMessage.channel))
    ):
        history[(rule, channel)] = ChannelHistory(last_sent=None if last is None else as_utc(last))
    recent: dict[tuple[str, str], list[datetime]] = {}
    for rule, channel, sent_at in session.execute(
        sa.select(
            col(AlertMessage.rule), col(AlertMessage.channel), col(AlertMessage.sent_at)
        ).where(col(AlertMessage.sent_at) > now - timedelta(hours=1))
    ):
        recent.setdefault((rule, channel), []).append(sent_at)
    for key, times in recent.items():
        history[key] = ChannelHistory(history[key].last_sent, tuple(sorted(times)))
    return history


@dataclass(frozen=True)
class RaisedAlert:
    """A new alert with what a Prefect event about it carries."""

    alert_id: int
    rule: str
    cluster_id: int
    article_id: int
    matched: tuple[str, ...]
    title: str | None
    url: str
    source: str
    published_at: datetime | None
    outlets: tuple[str, ...]
    created_at: datetime


def raised_alerts(session: Session, alert_ids: Sequence[int]) -> list[RaisedAlert]:
    """The alerts with these ids, with their article and the outlets of their cluster."""
    found = []
    for chunk in chunks(list(alert_ids)):
        for alert, article in session.execute(
            sa.select(Alert, Article)
            .join(Article, col(Article.id) == col(Alert.article_id))
            .where(col(Alert.id).in_(chunk))
            .order_by(col(Alert.id))
        ):
            found.append(
                RaisedAlert(
                    alert_id=alert.id or 0,
                    rule=alert.rule,
                    cluster_id=alert.cluster_id,
                    article_id=article.id or 0,
                    matched=tuple(alert.matched),
                    title=article.title,
                    url=article.url,
                    source=article.source,
                    published_at=article.published_at,
                    outlets=cluster_sources(session, alert.cluster_id),
                    created_at=alert.created_at,
                )
            )
    return found
