"""Secrets in notify URLs never reach logs, run summaries, artifacts, the database or exports."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from newsmon.store.archive import iter_alerts, iter_articles
from newsmon.store.db import make_engine, upgrade
from tests.factories import NOW
from tests.localserver import LocalServer
from tests.pages import WIRE_PARAGRAPHS, article_page, rss_feed

PASSWORD = "S3cr3tPassw0rd"
TOKEN = "T0pS3cr3tT0kenValue"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_notify_url_secrets_are_redacted_everywhere(
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
    secret_url = f"json://admin:{PASSWORD}@127.0.0.1:{closed_port()}/hook?token={TOKEN}"
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        f"sources:\n  - {{name: wire, url: '{server.url('/feed.xml')}'}}\n", encoding="utf-8"
    )
    (config / "alerts.yaml").write_text(
        f"alerts:\n  - name: anbar\n    query: Anbar\n    notify: ['{secret_url}']\n",
        encoding="utf-8",
    )
    database = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    upgrade(make_engine(database))

    collected = Collect()
    watched = [logging.getLogger(), logging.getLogger("prefect"), logging.getLogger("apprise")]
    for logger in watched:
        logger.addHandler(collected)
    try:
        summary = ingest(config_dir=str(config), force=True)
    finally:
        for logger in watched:
            logger.removeHandler(collected)

    assert summary["alerts"] == 1 and summary["alerts_failed"] == 1  # the channel is down
    seen = {
        "logs": "\n".join(collected.lines),
        "summary": json.dumps(summary),
    }
    assert "not delivered" in seen["logs"] or "anbar" in seen["summary"]
    engine = make_engine(database)
    with Session(engine) as session:
        seen["exports"] = json.dumps([*iter_articles(session), *iter_alerts(session)])
        rows = []
        for table in ("alert", "alert_delivery", "source", "entry_queue"):
            rows += [str(tuple(r)) for r in session.execute(sa.text(f"SELECT * FROM {table}"))]
        seen["database"] = "\n".join(rows)
    engine.dispose()

    async def read_artifacts() -> list[Any]:
        # The REST call itself: this Prefect client sends nulls its server refuses for filters.
        async with get_client() as client:
            response = await client._client.post(
                "/artifacts/filter", json={"limit": 200, "offset": 0, "sort": "CREATED_DESC"}
            )
            response.raise_for_status()
            return [SimpleNamespace(**a) for a in response.json()]

    artifacts = asyncio.run(read_artifacts())
    assert artifacts
    seen["artifacts"] = "\n".join(
        json.dumps(a.data, default=str) + str(a.description) for a in artifacts
    )

    assert (
        "127.0.0.1" in seen["database"]
    )  # the redacted label is there, so the check looks at real text
    for where, text in seen.items():
        assert PASSWORD not in text, where
        assert TOKEN not in text, where
