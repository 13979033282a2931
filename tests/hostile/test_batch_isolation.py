"""One batch's failure never fails the run: the other batches are stored, its pages stay queued.

Issue 12, item 1: a batch whose extraction outlived the task's timeout failed the whole flow, and
nothing of any batch after it was stored. The failure here is injected at the extraction task's
one seam (the process's extractor), the only fake in this test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from newsmon.store.archive import iter_articles
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import QueuedEntry
from tests.localserver import LocalServer
from tests.pages import ECONOMY_PARAGRAPHS, WIRE_PARAGRAPHS, article_page, rss_feed

WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_a_failing_batch_leaves_the_others_stored_and_its_pages_queued(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsmon.tasks.pages as pages_task
    from newsmon.flows.ingest import ingest
    from newsmon.tasks.runtime import close_extractors, reset_network

    real_extractor = pages_task.extractor

    class Failing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def extract_then(self, pages: list[Any], hints: Any, then: Any) -> Any:
            if any(p.final_url.endswith("/boom") for p in pages):
                raise RuntimeError("the extraction task failed")
            return self.inner.extract_then(pages, hints, then)

    monkeypatch.setattr(pages_task, "extractor", lambda settings: Failing(real_extractor(settings)))
    database = f"sqlite:///{tmp_path / 'iso.db'}"
    upgrade(make_engine(database))
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("NEWSMON_BATCH_SIZE", "1")
    monkeypatch.setenv("NEWSMON_HOST_RPS", "50")
    with LocalServer() as server:
        server.route(
            "/rss.xml",
            rss_feed(
                "Wire",
                [
                    ("Anbar", server.url("/a"), WHEN),
                    ("Boom", server.url("/boom"), WHEN + timedelta(minutes=1)),
                    ("Dinar", server.url("/b"), WHEN + timedelta(minutes=2)),
                ],
            ),
            content_type="application/rss+xml",
        )
        server.route("/a", article_page("Four IS militants killed in Anbar", WIRE_PARAGRAPHS))
        server.route("/boom", article_page("Boom", ECONOMY_PARAGRAPHS))
        server.route(
            "/b", article_page("Central bank tightens dollar auctions", ECONOMY_PARAGRAPHS)
        )
        config = tmp_path / "config"
        config.mkdir()
        (config / "sources.yaml").write_text(
            f"sources:\n  - {{name: wire, url: '{server.url('/rss.xml')}'}}\n", encoding="utf-8"
        )
        reset_network()
        try:
            summary = ingest(config_dir=str(config), force=True)
        finally:
            close_extractors()
        engine = make_engine(database)
        with Session(engine) as session:
            stored = {a["url"] for a in iter_articles(session)}
            queued = {q.url: q.attempts for q in session.scalars(sa.select(QueuedEntry))}
        engine.dispose()
        assert stored == {server.url("/a"), server.url("/b")}  # the batch after it too
        assert queued == {server.url("/boom"): 0}  # left for the next run, not counted against it
        assert any("the extraction task failed" in e for e in summary["errors"])
