"""Alerts meet Prefect: a `newsmon.alert.raised` event per new alert, and Secret blocks in notify URLs.

Events let Prefect Automations route alerts too (deploy/automations/ has an example). They are
emitted after the store transaction commits, so an event never announces an alert that was rolled
back; a failure to emit is logged, never fails the run (the outbox still delivers the alert).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast

from prefect.events import emit_event
from prefect.logging import get_run_logger
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.alerts.channels import SecretResolver
from newsmon.store.outbox import RaisedAlert, raised_alerts

EVENT_NAME = "newsmon.alert.raised"


def alert_event(alert: RaisedAlert) -> dict[str, Any]:
    """The keyword arguments of `emit_event` for one alert: itself, its rule, cluster and article."""
    title = alert.title or alert.url
    return {
        "event": EVENT_NAME,
        "occurred": alert.created_at,
        "resource": {
            "prefect.resource.id": f"newsmon.alert.{alert.alert_id}",
            "prefect.resource.name": f"{alert.rule}: {title}"[:200],
            "newsmon.rule": alert.rule,
        },
        "related": [
            {
                "prefect.resource.id": f"newsmon.rule.{alert.rule}",
                "prefect.resource.role": "rule",
                "prefect.resource.name": alert.rule,
            },
            {
                "prefect.resource.id": f"newsmon.cluster.{alert.cluster_id}",
                "prefect.resource.role": "cluster",
            },
            {
                "prefect.resource.id": f"newsmon.article.{alert.article_id}",
                "prefect.resource.role": "article",
                "prefect.resource.name": title[:200],
            },
        ],
        "payload": {
            "alert_id": alert.alert_id,
            "rule": alert.rule,
            "title": alert.title,
            "url": alert.url,
            "source": alert.source,
            "outlets": list(alert.outlets),
            "published_at": alert.published_at.isoformat() if alert.published_at else None,
            "matched": list(alert.matched),
            "cluster_id": alert.cluster_id,
            "article_id": alert.article_id,
        },
    }


def emit_alert_events(engine: Engine, alert_ids: Sequence[int]) -> int:
    """Emit one event per alert (call after the alerts are committed); how many were emitted."""
    if not alert_ids:
        return 0
    logger = _logger()
    emitted = 0
    try:
        with Session(engine) as session:
            alerts = raised_alerts(session, alert_ids)
        for alert in alerts:
            if emit_event(**alert_event(alert)) is not None:
                emitted += 1
    except Exception as err:  # events are a convenience on top of the outbox, never a failure
        logger.warning("could not emit %s events: %s", EVENT_NAME, err)
    return emitted


def prefect_secret_resolver() -> SecretResolver:
    """Reads `${prefect-secret:NAME}` from the Prefect Secret block NAME (each name once per call)."""

    @lru_cache(maxsize=64)
    def resolve(name: str) -> str:
        from prefect.blocks.system import Secret

        # `_sync=True`: a plain call even when the caller runs inside an event loop.
        block = Secret.load(name, _sync=True)  # type: ignore[call-arg]
        value = cast(Secret, block).get()
        if not isinstance(value, str):
            raise ValueError(f"Secret block {name!r} holds a {type(value).__name__}, not text")
        return value

    return resolve


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a flow or task run
        return logging.getLogger(__name__)
