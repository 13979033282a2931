"""Alert delivery: work through the outbox, pace it (newsmon.alerts.pacing), write and send the messages.

Each run reads every undelivered (alert, channel) row, decides what goes out now (single alerts,
digests; quiet hours and rate caps hold the rest), renders each message in the channel's format
(newsmon.alerts.messages, newsmon.alerts.channels) and records every outcome at once, message by message: a
channel that succeeded is never sent the same alert again, and a failed one is retried with
backoff on later runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.alerts.channels import Rendered, SecretResolver, Sender, TextFormat, send_apprise
from newsmon.alerts.messages import AlertItem, make_excerpt, render_alert, render_digest
from newsmon.alerts.pacing import DeliveryPolicy, Held, Outgoing, Plan, plan_deliveries
from newsmon.config.models import Config
from newsmon.store.leases import acquire_lease, release_lease
from newsmon.store.outbox import (
    PendingDelivery,
    channel_key,
    defer_deliveries,
    message_history,
    pending_deliveries,
    record_message,
)
from newsmon.stories.updates import describe_update

log = logging.getLogger(__name__)

# Retry backoff for a failing channel: 1 min, 2, 4, ... capped at 1 h, so a channel that comes
# back is caught up within the hour and a dead one costs little.
_FIRST_RETRY = timedelta(minutes=1)
_MAX_RETRY = timedelta(hours=1)


@dataclass
class DeliveryOutcome:
    """What one delivery pass did: deliveries are (alert, channel) pairs, messages what was sent."""

    delivered: int = 0
    failed: int = 0
    messages: int = 0
    held: int = 0  # alerts waiting for a digest, the end of quiet hours or a rate-cap slot
    errors: list[str] = field(default_factory=list)
    holds: list[Held] = field(default_factory=list)


def retry_delay(attempts: int) -> timedelta:
    return min(_FIRST_RETRY * (2 ** max(0, attempts - 1)), _MAX_RETRY)


def alert_item(pending: PendingDelivery) -> AlertItem:
    """What a message says about one outbox row."""
    title = pending.title
    if pending.story_update:  # say why the story is news again
        title = f"Story update, {describe_update(pending.story_update)}: {title or pending.url}"
    return AlertItem(
        rule=pending.rule,
        title=title,
        url=pending.url,
        source=pending.source,
        outlets=pending.cluster_sources or (pending.source,),
        published_at=pending.published_at,
        matched=pending.matched,
        excerpt=make_excerpt(pending.text, pending.matched),
    )


def compose(
    message: Outgoing[PendingDelivery], policy: DeliveryPolicy
) -> Callable[[TextFormat], Rendered]:
    """The message as a function of the format its channel takes."""
    items = [alert_item(p) for p in message.items]
    if message.kind == "alert":
        return lambda fmt: render_alert(items[0], fmt, zone=policy.zone)
    since = min(p.created_at for p in message.items)
    return lambda fmt: render_digest(
        message.rule, items, fmt, reason=message.reason, since=since, zone=policy.zone
    )


def _plan(
    engine: Engine, config: Config, *, now: datetime
) -> tuple[dict[tuple[str, str], str], dict[str, DeliveryPolicy], Plan[PendingDelivery]]:
    """The configured URLs by (rule, channel key), each rule's pacing, and what goes out now."""
    urls: dict[tuple[str, str], str] = {}
    policies: dict[str, DeliveryPolicy] = {}
    for rule in config.alerts:
        policies[rule.name] = DeliveryPolicy.of(rule)
        for url in rule.notify:
            urls[(rule.name, channel_key(url))] = url
    with Session(engine) as session:
        channels = {channel for _, channel in urls}
        pending = pending_deliveries(session, now=now, due_only=False, channels=channels)
        history = message_history(session, now=now)
    # A URL removed from a rule (or a removed rule) is no longer sent to: its rows stay undelivered.
    pending = [p for p in pending if (p.rule, p.channel) in urls]
    return urls, policies, plan_deliveries(pending, policies, history, now=now)


def deliveries_due(engine: Engine, config: Config, *, now: datetime) -> bool:
    """Whether a delivery pass at `now` would send anything (read only: nothing is sent)."""
    return bool(config.alerts) and bool(_plan(engine, config, now=now)[2].send)


def deliver_pending(
    engine: Engine,
    config: Config,
    *,
    now: datetime,
    send: Sender | None = None,
    secret: SecretResolver | None = None,
    timeout_s: float | None = None,
) -> DeliveryOutcome:
    """Send what is due from the outbox and record each result (see the module docstring).

    `secret` resolves `${prefect-secret:NAME}` references (the tasks layer passes one that reads
    Prefect Secret blocks); `send` replaces Apprise (the default) for one URL and one message.
    """
    sender = send or partial(send_apprise, secret=secret, timeout_s=timeout_s)
    urls, policies, plan = _plan(engine, config, now=now)
    held = sum(h.alerts for h in plan.held if h.paced)
    outcome = DeliveryOutcome(holds=plan.held, held=held)
    # A channel that failed once in this round is not tried again in it (one unreachable webhook
    # would otherwise cost a timeout per alert): its other messages are not sent, so they count no
    # attempt; they wait with the same error until the failed one's retry time. Its failure is
    # reported once, with the alerts it held up.
    failed: dict[str, tuple[str, datetime]] = {}
    held_up: dict[str, list[tuple[str, int]]] = {}
    error: str | None  # why this message's channel failed (None: sent)
    for message in plan.send:
        policy = policies[message.rule]
        ids = [item.delivery_id for item in message.items]
        if message.channel in failed:
            error, retry_at = failed[message.channel]
            with Session(engine) as session, session.begin():
                defer_deliveries(session, ids, error=f"not tried: {error}", retry_at=retry_at)
        else:
            error = sender(urls[(message.rule, message.channel)], compose(message, policy))
            attempts = max(item.attempts for item in message.items) + 1
            retry_at = now + retry_delay(attempts)
            with Session(engine) as session, session.begin():
                record_message(
                    session,
                    rule=message.rule,
                    channel=message.channel,
                    kind=message.kind,
                    delivery_ids=ids,
                    ok=error is None,
                    error=error,
                    now=now,
                    retry_at=retry_at,
                )
        if error is None:
            outcome.messages += 1
            outcome.delivered += len(message.items)
        else:
            outcome.failed += len(message.items)
            failed.setdefault(message.channel, (error, retry_at))
            held_up.setdefault(message.channel, []).extend(
                (message.rule, item.alert_id) for item in message.items
            )
    outcome.errors = [channel_failure(failed[c][0], alerts) for c, alerts in held_up.items()]
    for error in outcome.errors:
        log.debug("%s", error)  # the tasks layer logs it once, to the run
    return outcome


def channel_failure(error: str, alerts: list[tuple[str, int]]) -> str:
    """One line for a channel that failed: its error and the alerts it did not deliver."""
    rules = ", ".join(dict.fromkeys(rule for rule, _ in alerts))
    ids = ", ".join(str(alert_id) for _, alert_id in alerts[:10])
    more = f" and {len(alerts) - 10} more" if len(alerts) > 10 else ""
    noun = "alert" if len(alerts) == 1 else "alerts"
    return f"{error} ({len(alerts)} {noun} not delivered, retried later: {rules}: {ids}{more})"


# Longer than any delivery round takes; a run that dies holding the lease delays delivery this much.
DELIVERY_LEASE = timedelta(minutes=10)


def deliver_pending_exclusively(
    engine: Engine, config: Config, *, now: datetime, **options: Any
) -> DeliveryOutcome:
    """`deliver_pending` by one run at a time: two runs at once would both read and send the same
    pending alerts. A run that finds the lease taken leaves delivery to the run that holds it."""
    holder = uuid.uuid4().hex
    with Session(engine) as session, session.begin():
        if not acquire_lease(session, "deliver-alerts", holder, now=now, ttl=DELIVERY_LEASE):
            log.info("another run is delivering alerts; leaving them to it")
            return DeliveryOutcome()
    try:
        return deliver_pending(engine, config, now=now, **options)
    finally:
        with Session(engine) as session, session.begin():
            release_lease(session, "deliver-alerts", holder, now=now)
