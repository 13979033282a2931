"""The ingest flow against feeds and pages served on loopback, with a real Prefect API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from newsmon.app.demo.server import AlertReceiver
from newsmon.store.archive import iter_alerts, iter_articles
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import QueuedEntry, Source
from tests.localserver import LocalServer
from tests.pages import (
    ARABIC_PARAGRAPHS,
    ECONOMY_PARAGRAPHS,
    WIRE_PARAGRAPHS,
    article_page,
    rss_feed,
)

WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def site() -> Iterator[tuple[LocalServer, LocalServer]]:
    """Two hosts: a good news site, and a slow host whose one page never answers."""
    with LocalServer() as news, LocalServer() as slow:
        news.route(
            "/wire/rss.xml",
            rss_feed(
                "Wire",
                [
                    ("Four IS militants killed in Anbar", news.url("/wire/anbar-strike"), WHEN),
                    ("Central bank tightens dollar auctions", news.url("/wire/dinar"), WHEN),
                    ("Missing story", news.url("/wire/gone"), WHEN),
                ],
            ),
            content_type="application/rss+xml",
        )
        news.route(
            "/wire/anbar-strike",
            article_page("Four IS militants killed in Anbar air strike", WIRE_PARAGRAPHS),
            content_type="text/html; charset=utf-8",
        )
        news.route(
            "/wire/dinar",
            article_page("Central bank tightens dollar auctions", ECONOMY_PARAGRAPHS),
            content_type="text/html; charset=utf-8",
        )
        news.route(
            "/herald/rss.xml",
            rss_feed(
                "Herald",
                [
                    (
                        "Air strike in Anbar desert kills four",
                        news.url("/herald/2026/anbar?utm_source=rss"),
                        WHEN + timedelta(hours=1),  # a later copy: the wire story heads the cluster
                    ),
                    ("مقتل ثلاثة من داعش في الأنبار", news.url("/herald/ar/anbar"), WHEN),
                    ("Slow story", slow.url("/never"), WHEN),
                ],
            ),
            content_type="application/rss+xml",
        )
        news.route(
            "/herald/2026/anbar",
            article_page(
                "Air strike in Anbar desert kills four",
                WIRE_PARAGRAPHS,
                canonical=news.url("/herald/2026/anbar"),
            ),
            content_type="text/html; charset=utf-8",
        )
        news.route(
            "/herald/ar/anbar",
            article_page("مقتل ثلاثة من داعش في الأنبار", ARABIC_PARAGRAPHS, lang="ar"),
            content_type="text/html; charset=utf-8",
        )
        news.route(
            "/broken/rss.xml",
            "<html><body><h1>Welcome</h1><p>This is not a feed.</p></body></html>",
            content_type="text/html",
        )
        slow.hang("/never")
        yield news, slow


def write_config(directory: Path, news: LocalServer, receiver: AlertReceiver) -> Path:
    directory.mkdir()
    (directory / "sources.yaml").write_text(
        "sources:\n"
        f"  - {{name: wire, url: '{news.url('/wire/rss.xml')}', language: en}}\n"
        f"  - {{name: herald, url: '{news.url('/herald/rss.xml')}'}}\n"
        f"  - {{name: broken, url: '{news.url('/broken/rss.xml')}'}}\n",
        encoding="utf-8",
    )
    (directory / "topics.yaml").write_text(
        "topics:\n"
        "  - {name: counter-terrorism, query: 'ISIS OR \"Islamic State\" OR Daesh OR داعش'}\n"
        "  - {name: economy, query: 'dinar OR \"central bank\"'}\n",
        encoding="utf-8",
    )
    (directory / "alerts.yaml").write_text(
        "alerts:\n"
        "  - name: isis-anbar\n"
        "    query: '(\"Islamic State\" OR Daesh OR داعش) AND (Anbar OR الأنبار)'\n"
        f"    notify: ['json://127.0.0.1:{receiver.port}/alerts']\n",
        encoding="utf-8",
    )
    return directory


# One batch, and one page per batch: the pipeline (fetch i+1, extract i, store i-1, each store
# waiting for the one before it, at most two pending) must store, cluster and alert the same.
@pytest.mark.parametrize("batch_size", [100, 1], ids=["one-batch", "batch-per-page"])
def test_ingest_twice_against_loopback_site(
    prefect_harness: None,
    site: tuple[LocalServer, LocalServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
) -> None:
    from newsmon.flows.ingest import ingest

    monkeypatch.setenv("NEWSMON_BATCH_SIZE", str(batch_size))
    news, _slow = site
    database_url = f"sqlite:///{tmp_path / 'flow.db'}"
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database_url)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("NEWSMON_TOTAL_TIMEOUT_S", "2")
    monkeypatch.setenv("NEWSMON_READ_TIMEOUT_S", "1")
    engine = make_engine(database_url)
    upgrade(engine)

    with AlertReceiver() as receiver:
        config_dir = write_config(tmp_path / "config", news, receiver)
        first = ingest(config_dir=str(config_dir), force=True)

        assert first["sources_polled"] == 3
        assert first["sources"]["broken"]["poll"] == "error"
        assert "not an RSS/Atom feed" in first["sources"]["broken"]["error"]
        assert first["sources"]["wire"]["stored"] == 2 and first["sources"]["wire"]["failed"] == 1
        assert (
            first["sources"]["herald"]["stored"] == 2 and first["sources"]["herald"]["failed"] == 1
        )
        assert first["duplicates"] == 1
        assert (
            first["alerts"] == 2
        )  # the Anbar wire story (once, not per outlet) and the Arabic story
        assert first["alerts_delivered"] == 2
        assert len(receiver.received) == 2
        errors = "\n".join(first["errors"])
        assert "/wire/gone" in errors and "404" in errors
        assert (
            "/never" in errors and "no data for 1 s" in errors
        )  # the hanging host hit the read timeout

        with Session(engine) as session:
            articles = {a["url"]: a for a in iter_articles(session)}
            alerts = list(iter_alerts(session))
            failures = {f.url: f for f in session.scalars(sa.select(QueuedEntry))}
            broken = session.get(Source, "broken")
        wire = articles[news.url("/wire/anbar-strike")]
        copy = articles[news.url("/herald/2026/anbar?utm_source=rss")]
        assert copy["canonical_url"] == news.url("/herald/2026/anbar")
        assert copy["duplicate_of"] == wire["id"]
        assert wire["topics"] == ["counter-terrorism"]
        assert "Reader42" not in wire["text"] and "Related stories" not in wire["text"]
        assert "Joint Operations Command" in wire["text"]
        assert articles[news.url("/herald/ar/anbar")]["language"] == "ar"
        assert articles[news.url("/wire/dinar")]["topics"] == ["economy"]
        assert all(a["delivered_at"] for a in alerts)
        assert set(failures) == {news.url("/wire/gone"), _slow.url("/never")}
        assert failures[news.url("/wire/gone")].error.endswith("HTTP 404 Not Found")
        # A 404 cannot succeed later: given up at once; the hanging host may come back.
        gone, never = failures[news.url("/wire/gone")], failures[_slow.url("/never")]
        assert (gone.failure, gone.attempts) == ("permanent", 3)
        assert (never.failure, never.attempts) == ("transient", 1)
        assert first["gave_up"] == 1
        assert (
            broken is not None and broken.status == "failing" and broken.consecutive_failures == 1
        )

        message = next(m for m in receiver.received if "Anbar" in m.get("title", ""))
        assert "isis-anbar" in message["title"]
        assert "wire" in message["message"]
        # Alerts go out as each batch is stored: the message names the copies stored with the
        # original or before it; with a page per batch, the herald copy comes a batch later.
        assert ("herald" in message["message"]) == (batch_size > 1)

        second = ingest(config_dir=str(config_dir), force=True)
        assert second["stored"] == 0 and second["alerts"] == 0
        assert second["sources"]["wire"]["poll"] in ("unchanged", "not_modified")
        assert len(receiver.received) == 2
        # The feeds did not change, but the transiently failed page is retried from the queue.
        assert second["failed"] == 2  # the hanging page again, and the broken feed
        with Session(engine) as session:
            attempts = {f.url: f.attempts for f in session.scalars(sa.select(QueuedEntry))}
            assert attempts == {news.url("/wire/gone"): 3, _slow.url("/never"): 2}
    engine.dispose()
