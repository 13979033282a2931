"""A `${VAR}` secret in a notify URL never reaches Prefect's own log and event rows (read back
from its API).

Issue 12, items 6 and 9: the reliability table claimed this without a test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsmon.store.db import make_engine, upgrade
from tests.factories import NOW
from tests.flows.test_alert_channels_flow import read_alert_events, wait_for
from tests.localserver import LocalServer
from tests.pages import WIRE_PARAGRAPHS, article_page, rss_feed

TOKEN = "Xy9PathTokenFromTheEnvironment"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def all_events_since(since: datetime) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventOccurredFilter

    with get_client(sync_client=True) as client:
        page = client.read_events(
            filter=EventFilter(occurred=EventOccurredFilter(since=since)), limit=50
        )
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(str(page.next_page))
            events += page.events
    return events


def test_env_secret_is_not_in_prefect_log_and_event_rows(
    prefect_harness: None,
    local_server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client.orchestration import get_client

    from newsmon.flows.ingest import ingest

    server = local_server
    server.route(
        "/feed.xml",
        rss_feed("Wire", [("Anbar strike", server.url("/a"), NOW)]),
        content_type="application/rss+xml",
    )
    server.route(
        "/a",
        article_page("Four Islamic State militants killed in Anbar", WIRE_PARAGRAPHS),
        content_type="text/html; charset=utf-8",
    )
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        f"sources:\n  - {{name: wire, url: '{server.url('/feed.xml')}'}}\n", encoding="utf-8"
    )
    (config / "alerts.yaml").write_text(
        "alerts:\n  - name: anbar\n    query: Anbar\n"
        f"    notify: ['json://127.0.0.1:{closed_port()}/${{HOOK_TOKEN}}/hook']\n",
        encoding="utf-8",
    )
    database = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    upgrade(make_engine(database))

    # Apprise's DEBUG lines go to Prefect's API too, as with PREFECT_LOGGING_EXTRA_LOGGERS=apprise.
    from prefect.logging.handlers import APILogHandler

    api_handler = APILogHandler()
    apprise_logger = logging.getLogger("apprise")
    old_level = apprise_logger.level
    apprise_logger.setLevel(logging.DEBUG)
    apprise_logger.addHandler(api_handler)
    started = datetime.now(UTC) - timedelta(seconds=5)
    try:
        summary = ingest(config_dir=str(config), force=True)
    finally:
        apprise_logger.removeHandler(api_handler)
        apprise_logger.setLevel(old_level)
        api_handler.flush()
    assert summary["alerts"] == 1 and summary["alerts_failed"] == 1  # the channel is down

    async def read_logs() -> list[Any]:
        async with get_client() as client:
            response = await client._client.post("/logs/filter", json={"limit": 200, "offset": 0})
            response.raise_for_status()
            return list(response.json())

    logs = asyncio.run(read_logs())
    text = "\n".join(json.dumps(row) for row in logs)
    assert "127.0.0.1" in text  # the delivery failure was logged: the check sees real rows
    assert TOKEN not in text

    # Events are written asynchronously: wait (bounded) for this run's alert event, then read all.
    article = server.url("/a")
    wait_for(
        lambda: [e for e in read_alert_events(started) if e.payload.get("url") == article],
        what="the run's newsmon.alert.raised event",
    )
    events = all_events_since(started)
    assert any(e.event == "newsmon.alert.raised" for e in events)
    assert TOKEN not in "\n".join(e.model_dump_json() for e in events)
