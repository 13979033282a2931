"""The ingest flow as a good citizen, on loopback sites, with a real Prefect API, on both engines:
one per-host budget across polling and page fetching, robots.txt, server hints, bad feeds."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import QueuedEntry, Source
from tests.localserver import LocalServer, RecordedRequest
from tests.pages import WIRE_PARAGRAPHS, article_page, rss_feed

WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SITE_RPS = 4


@dataclass
class TimedSite:
    """Every response of a site through one handler that notes when each request arrived."""

    server: LocalServer
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, path: str, body: str, content_type: str, status: int = 200, **headers: str
    ) -> None:
        self.routes[path] = (status, {"Content-Type": content_type, **headers}, body.encode())
        self.server.route_handler(path, self.answer)

    def answer(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.arrivals.append((time.monotonic(), request.route))
        return self.routes[request.route]

    def times(self) -> list[float]:
        with self.lock:
            return sorted(t for t, _ in self.arrivals)

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, route in self.arrivals if route == path)


def max_in_any_window(times: list[float], window_s: float = 1.0) -> int:
    return max(
        (bisect.bisect_right(times, t + window_s) - i for i, t in enumerate(times)), default=0
    )


@pytest.fixture
def sites() -> Iterator[tuple[TimedSite, TimedSite]]:
    """A news site (feeds, pages, robots.txt) and a busy host that answers 429."""
    with LocalServer() as news_server, LocalServer() as busy_server:
        news, busy = TimedSite(news_server), TimedSite(busy_server)
        items = [
            (f"Story {n}", news_server.url(f"/wire/{n}"), WHEN - timedelta(hours=n))
            for n in range(5)
        ]
        items.append(("Members only", news_server.url("/private/dossier"), WHEN))
        news.add("/wire/rss.xml", rss_feed("Wire", items), "application/rss+xml")
        for n in range(5):
            page = article_page(f"Story {n} from Anbar", [f"Report number {n}.", *WIRE_PARAGRAPHS])
            news.add(f"/wire/{n}", page, "text/html; charset=utf-8")
        news.add("/private/dossier", article_page("Dossier", WIRE_PARAGRAPHS), "text/html")
        news.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
        news.add(
            "/html-feed", "<!DOCTYPE html><html><body><h1>Home</h1></body></html>", "text/html"
        )
        busy.add("/feed", "slow down", "text/plain", status=429, **{"Retry-After": "5400"})
        yield news, busy


@pytest.fixture
def fresh_network() -> Iterator[None]:
    """Forget robots.txt rules and rate history of earlier tests (their ports may be reused)."""
    from newsmon.tasks.runtime import reset_network

    reset_network()
    yield
    reset_network()


def write_config(directory: Path, news: LocalServer, busy: LocalServer) -> Path:
    directory.mkdir()
    (directory / "sources.yaml").write_text(
        "sources:\n"
        f"  - {{name: wire, url: '{news.url('/wire/rss.xml')}', max_rps: {SITE_RPS}}}\n"
        f"  - {{name: broken, url: '{news.url('/html-feed')}'}}\n"
        f"  - {{name: busy, url: '{busy.url('/feed')}'}}\n",
        encoding="utf-8",
    )
    return directory


def test_ingest_is_polite_across_stages_and_honours_robots_and_hints(
    prefect_harness: None,
    fresh_network: None,
    sites: tuple[TimedSite, TimedSite],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest

    news, busy = sites
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database_url)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("NEWSMON_HOST_RPS", "50")  # the default; the news host has max_rps: 4
    engine = make_engine(database_url)
    upgrade(engine)
    config_dir = write_config(tmp_path / "config", news.server, busy.server)

    started = datetime.now(UTC)
    first = ingest(config_dir=str(config_dir), force=True)
    finished = datetime.now(UTC)

    # One budget for the news host across polling, robots.txt and page fetching.
    assert len(news.times()) == 2 + 1 + 5  # two feeds, robots.txt, five pages
    assert max_in_any_window(news.times()) <= SITE_RPS
    assert news.hits("/robots.txt") == 1
    # robots.txt: the disallowed page is never requested, and is a clear per-page failure.
    assert news.hits("/private/dossier") == 0
    assert first["sources"]["wire"]["stored"] == 5
    assert first["sources"]["wire"]["failed"] == 1
    assert any("/private/dossier: disallowed by robots.txt" in e for e in first["errors"])
    # An HTML page where a feed should be: a per-source error, not a crash.
    assert first["sources"]["broken"]["poll"] == "error"
    assert "is an HTML page, not an RSS/Atom feed" in first["sources"]["broken"]["error"]
    # 429 with Retry-After: the next poll waits as long as the server asked.
    assert first["sources"]["busy"]["poll"] == "error"

    with Session(engine) as session:
        given_up = session.get(QueuedEntry, news.server.url("/private/dossier"))
        busy_row = session.get(Source, "busy")
        broken_row = session.get(Source, "broken")
    assert given_up is not None and given_up.attempts >= 3  # NEWSMON_MAX_PAGE_ATTEMPTS: given up
    assert busy_row is not None and busy_row.next_poll_at is not None
    assert started + timedelta(seconds=5400) <= busy_row.next_poll_at
    assert busy_row.next_poll_at <= finished + timedelta(seconds=5400)
    assert broken_row is not None and broken_row.status == "failing"

    # Only due sources are polled: nothing is due right after the first pass.
    second = ingest(config_dir=str(config_dir))
    assert second["sources_polled"] == 0
    assert busy.hits("/feed") == 1

    # Forced: everything polled again, the given-up page is not asked for, robots.txt is cached.
    third = ingest(config_dir=str(config_dir), force=True)
    assert third["sources"]["wire"]["poll"] in ("unchanged", "not_modified")
    assert third["stored"] == 0
    assert news.hits("/private/dossier") == 0
    assert news.hits("/robots.txt") == 1
    assert max_in_any_window(news.times()) <= SITE_RPS
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(QueuedEntry)) == 1
    engine.dispose()
