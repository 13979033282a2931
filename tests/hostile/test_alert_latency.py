"""An alert raised in the first batch of a 10,000-entry run is delivered within 60 s of being
stored, long before the run ends.

Issue 12, item 2: delivery ran only after the last batch, so alerts raised in a run's first
minute were still undelivered 3 minutes later.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from newsmon.app.demo.server import AlertReceiver
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import Alert, Article
from tests.localserver import LocalServer, RecordedRequest
from tests.pages import ECONOMY_PARAGRAPHS, WIRE_PARAGRAPHS, article_page, rss_feed

ENTRIES = 10_000
PAGES_PER_RUN = 1000  # NEWSMON_MAX_PAGES_PER_RUN's default: ten batches of 100
DELIVERY_BOUND_S = 60
WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class TimedReceiver(AlertReceiver):
    """Notes when each alert arrived."""

    def __init__(self) -> None:
        self.arrivals: list[datetime] = []
        super().__init__()

    def add(self, payload: dict[str, Any]) -> None:
        self.arrivals.append(datetime.now(UTC))
        super().add(payload)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_first_batch_alert_is_delivered_within_60_s_of_being_stored(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsmon.flows.ingest import ingest
    from newsmon.tasks.runtime import close_extractors, reset_network

    database = f"sqlite:///{tmp_path / 'latency.db'}"
    upgrade(make_engine(database))
    for name, value in {
        "NEWSMON_DATABASE_URL": database,
        "NEWSMON_ALLOW_PRIVATE_HOSTS": "true",
        "NEWSMON_HOST_RPS": "500",
        "NEWSMON_MAX_PER_HOST": "8",
        "NEWSMON_MAX_NEW_ENTRIES_PER_FEED": str(ENTRIES),
    }.items():
        monkeypatch.setenv(name, value)

    def page(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        number = int(request.route.rsplit("/", 1)[1])
        if number == 0:
            body = article_page("Four IS militants killed in Anbar air strike", WIRE_PARAGRAPHS)
        else:
            body = article_page(f"Council session {number} on the dinar", ECONOMY_PARAGRAPHS)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()

    with LocalServer() as server, TimedReceiver() as receiver:
        items = [
            (f"Story {i}", server.url(f"/p/{i}"), WHEN + timedelta(minutes=i))
            for i in range(ENTRIES)
        ]
        server.route("/rss.xml", rss_feed("Big", items), content_type="application/rss+xml")
        for i in range(ENTRIES):
            server.route_handler(f"/p/{i}", page)
        config = tmp_path / "config"
        config.mkdir()
        (config / "sources.yaml").write_text(
            f"sources:\n  - {{name: big, url: '{server.url('/rss.xml')}'}}\n", encoding="utf-8"
        )
        (config / "alerts.yaml").write_text(
            "alerts:\n  - name: anbar\n    query: Anbar\n"
            f"    notify: ['json://127.0.0.1:{receiver.port}/alerts']\n",
            encoding="utf-8",
        )
        reset_network()
        started = time.monotonic()
        try:
            summary = ingest(config_dir=str(config), force=True)
        finally:
            close_extractors()
        elapsed = time.monotonic() - started
        arrivals = list(receiver.arrivals)

    engine = make_engine(database)
    with Session(engine) as session:
        created = session.scalars(sa.select(Alert.created_at)).all()
        last_fetch = session.scalar(sa.select(sa.func.max(Article.fetched_at)))
        stored = session.scalar(sa.select(sa.func.count()).select_from(Article))
    engine.dispose()
    assert summary["new"] == ENTRIES
    assert stored == PAGES_PER_RUN  # the rest stays queued for the next runs
    assert len(created) == 1 and len(arrivals) == 1
    stored_at = created[0].replace(tzinfo=UTC) if created[0].tzinfo is None else created[0]
    last = last_fetch.replace(tzinfo=UTC) if last_fetch.tzinfo is None else last_fetch
    delay = (arrivals[0] - stored_at).total_seconds()
    print(f"run {elapsed:.0f} s; alert delivered {delay:.1f} s after it was stored; "
          f"last page fetched {(last - arrivals[0]).total_seconds():.0f} s after the delivery")  # fmt: skip
    assert delay < DELIVERY_BOUND_S
    assert arrivals[0] < last  # delivered while the run was still fetching, not at its end
