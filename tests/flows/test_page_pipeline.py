"""The page pipeline both flows share (flows/pages.py), seen through a backfill: the pages it finds
are batched as ingest's are, spread over hosts and each host's earliest published first.

Issue 13: backfill wrote its own fetch -> extract -> store loop, which took a feed's entries in the
feed's order (newest first, one site after the other), so a batch kept one host busy and copies
could reach the store before their originals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session

from newsmon.app.demo.run import SITE
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import Article
from tests.backfill_site import feed_page, write_backfill_config
from tests.localserver import StaticSite

SINCE, UNTIL = date(2026, 11, 5), date(2026, 11, 17)


@pytest.fixture
def sites() -> Iterator[tuple[StaticSite, StaticSite]]:
    """Two copies of the demo site on two ports: two hosts as far as politeness goes."""
    from newsmon.tasks.runtime import reset_network

    reset_network()
    with StaticSite(SITE) as a, StaticSite(SITE) as b:
        yield a, b
    reset_network()


def mixed_feed(a: StaticSite, b: StaticSite) -> bytes:
    """One RSS feed listing levant-wire's articles on host A, then tigris-herald's on host B, each
    newest first (an aggregator's feed, or a site with a CDN host for part of its pages)."""
    root = etree.fromstring(feed_page("levant-wire", a.base_url, 0, 7))
    channel = root.find("channel")
    other = etree.fromstring(feed_page("tigris-herald", b.base_url, 0, 8))
    for item in other.find("channel").findall("item"):
        channel.append(item)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def mixed_backfill(
    sites: tuple[StaticSite, StaticSite], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> tuple[Path, str]:
    """The mixed feed on host A, a backfill config of it and a new database `name` (batches of
    two, loopback allowed, no politeness wait): (config directory, database URL)."""
    a, b = sites
    a.route("/mixed/feed.xml", mixed_feed(a, b), content_type="application/rss+xml")
    config = write_backfill_config(tmp_path / "config", a, sources=("mixed",))
    database = f"sqlite:///{tmp_path / name}"
    upgrade(make_engine(database))
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("NEWSMON_HOST_RPS", "1000")
    monkeypatch.setenv("NEWSMON_BATCH_SIZE", "2")
    return config, database


def test_backfill_batches_spread_over_hosts_and_earliest_first(
    prefect_harness: None,
    sites: tuple[StaticSite, StaticSite],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.backfill import backfill

    a, b = sites
    config, database = mixed_backfill(sites, tmp_path, monkeypatch, "pipeline.db")
    engine = make_engine(database)

    state = backfill(since=SINCE, until=UNTIL, config_dir=str(config), return_state=True)
    result = state.result(raise_on_failure=False)

    assert result["complete"] and result["failed"] == 0, result["errors"]
    with Session(engine) as session:
        rows = session.execute(
            sa.select(Article.url, Article.published_at).order_by(Article.id)
        ).all()
    engine.dispose()
    hosts = [urlsplit(url).port for url, _ in rows]
    assert set(hosts) == {a.port, b.port}
    assert result["stored"] == len(rows) >= 8
    # Each host's pages were stored earliest published first, across batches...
    for port in (a.port, b.port):
        dates = [
            published for (_, published), host in zip(rows, hosts, strict=True) if host == port
        ]
        assert dates == sorted(dates), port
    # ... and each batch of two took one page of each host while both had pages left.
    pairs = min(hosts.count(a.port), hosts.count(b.port))
    assert [set(hosts[i : i + 2]) for i in range(0, 2 * pairs, 2)] == [{a.port, b.port}] * pairs


def test_a_backfill_batch_that_fails_is_an_error_line_and_the_run_goes_on(
    prefect_harness: None,
    sites: tuple[StaticSite, StaticSite],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in ingest: the other batches are stored; the failed batch's pages hold the unit open, so
    the run ends Failed saying so, and running the same backfill again fetches them. (The old
    backfill loop let the exception end the whole run.) The failure is injected at the extraction
    task's one seam, the process's extractor."""
    import newsmon.tasks.pages as pages_task
    from newsmon.flows.backfill import backfill

    real_extractor = pages_task.extractor

    class Failing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def extract_then(self, pages: list[Any], hints: Any, then: Any) -> Any:
            if any("wadi-horan" in p.final_url for p in pages):
                raise RuntimeError("the extraction task failed")
            return self.inner.extract_then(pages, hints, then)

    monkeypatch.setattr(pages_task, "extractor", lambda settings: Failing(real_extractor(settings)))
    config, _ = mixed_backfill(sites, tmp_path, monkeypatch, "failing.db")

    until = date(2026, 11, 20)  # takes in Wadi Horan (19 November)
    state = backfill(since=SINCE, until=until, config_dir=str(config), return_state=True)
    first = state.result(raise_on_failure=False)

    assert state.is_failed() and not first["complete"]
    # Wadi Horan is host B's latest page, alone in the last batch (6 pages on A, 7 on B).
    assert first["pages_to_retry"] == 1
    assert [e for e in first["errors"] if e.startswith("batch ")] == [
        "batch 1 pages (mixed): RuntimeError: the extraction task failed"
    ]
    assert first["stored"] >= 8  # every other batch

    monkeypatch.setattr(pages_task, "extractor", real_extractor)
    again = backfill(since=SINCE, until=until, config_dir=str(config), return_state=True)
    second = again.result(raise_on_failure=False)
    assert second["complete"] and second["stored"] == 1


def test_no_page_html_outlives_its_batch(
    prefect_harness: None,
    sites: tuple[StaticSite, StaticSite],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 16: once a batch is extracted, nothing holds its HTML. Prefect's futures are reference
    cycles, so what a task returned (the fetched pages) lived until the cyclic GC's next full pass,
    which a long run reaches rarely: the flow process grew by a batch's HTML per batch. With the
    cyclic GC off, such garbage stays visible to `gc.get_objects()` after the run."""
    import gc

    from newsmon.flows.backfill import backfill
    from newsmon.records import Page

    config, _ = mixed_backfill(sites, tmp_path, monkeypatch, "held.db")

    gc.collect()
    gc.disable()
    try:
        state = backfill(since=SINCE, until=UNTIL, config_dir=str(config), return_state=True)
        result = state.result(raise_on_failure=False)
        held = [o for o in gc.get_objects() if isinstance(o, Page) and o.html]
    finally:
        gc.enable()

    assert result["stored"] >= 8, result["errors"]
    assert held == []


def test_a_batch_extraction_is_under_way_while_the_one_before_it_runs(
    prefect_harness: None,
    sites: tuple[StaticSite, StaticSite],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next batch's extraction task is submitted as soon as its pages are fetched, so it
    starts the moment the batch before it leaves the pool (called after it, each extraction
    waited for a task run to start and for the flow to hand the batch before it to the store,
    with the extraction processes idle). The first batch's extraction here waits until the second
    one has been called: on the old loop it never is (it is called only after the first returns),
    and the first gives up after 30 s and says so."""
    import threading

    import newsmon.tasks.pages as pages_task
    from newsmon.flows.backfill import backfill

    real_extractor = pages_task.extractor
    calls: list[int] = []
    second_called = threading.Event()
    waited_for_second: list[bool] = []
    lock = threading.Lock()

    class Watching:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def extract_then(self, pages: list[Any], hints: Any, then: Any) -> Any:
            with lock:
                calls.append(len(calls))
                number = len(calls)
            if number == 2:
                second_called.set()
            if number == 1:
                waited_for_second.append(second_called.wait(30))
            return self.inner.extract_then(pages, hints, then)

    monkeypatch.setattr(
        pages_task, "extractor", lambda settings: Watching(real_extractor(settings))
    )
    config, database = mixed_backfill(sites, tmp_path, monkeypatch, "overlap.db")

    state = backfill(since=SINCE, until=UNTIL, config_dir=str(config), return_state=True)
    result = state.result(raise_on_failure=False)

    assert waited_for_second == [True]  # batch 2 was handed over while batch 1 was extracting
    assert result["complete"] and result["failed"] == 0, result["errors"]
    engine = make_engine(database)
    with Session(engine) as session:
        stored = session.scalar(sa.select(sa.func.count()).select_from(Article))
    engine.dispose()
    assert stored == result["stored"] >= 8 and len(calls) >= 4
