"""Ingest with shards (several workers sharing the sources) and overlapping runs, on PostgreSQL;
and the Markdown digest every ingest run leaves."""

from __future__ import annotations

import contextvars
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver
from newsmon.config.loading import load_config
from newsmon.fetch.shards import parse_shard
from newsmon.store.db import make_engine, upgrade
from tests.flows.test_backfill_flow import flow_run_record
from tests.localserver import StaticSite


@pytest.fixture
def demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StaticSite, AlertReceiver, Path]]:
    """The demo site and an alert receiver on loopback, and a config folder pointing at them."""
    from newsmon.tasks.runtime import reset_network

    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("NEWSMON_HOST_RPS", "1000")  # five outlets on one host: no 1 request/s
    monkeypatch.setenv("NEWSMON_MAX_PER_HOST", "8")
    reset_network()
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            tmp_path / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        yield site, receiver, config
    reset_network()


def _database(url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("NEWSMON_DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    return engine


def at_once(*runs: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """Start the runs in threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(runs))
    results: list[dict[str, Any] | BaseException] = [RuntimeError("did not run")] * len(runs)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = runs[index]()
        except BaseException as err:
            results[index] = err

    # Each thread gets a copy of this context: the Prefect test API's settings live there.
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(run, i))
        for i in range(len(runs))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def check_store(engine: Engine) -> dict[str, Any]:
    """Invariants after concurrent runs, and the counts to compare."""
    with engine.connect() as connection:
        articles = connection.execute(
            sa.text("SELECT id, canonical_url, source, exact_hash, duplicate_of FROM article")
        ).all()
        alerts = connection.execute(sa.text("SELECT rule, cluster_id FROM alert")).all()
        deliveries = connection.execute(
            sa.text("SELECT alert_id, channel, delivered_at FROM alert_delivery")
        ).all()
    assert len({a.canonical_url for a in articles}) == len(articles)
    # Copies of one text (syndication) landed in one cluster, whichever run stored them.
    clusters: dict[str, set[int]] = {}
    for article in articles:
        clusters.setdefault(article.exact_hash, set()).add(article.duplicate_of or article.id)
    assert all(len(roots) == 1 for roots in clusters.values()), clusters
    roots = {a.id for a in articles if a.duplicate_of is None}
    assert len(alerts) == len(set(alerts)) and all(cluster in roots for _, cluster in alerts)
    assert len(deliveries) == len({(d.alert_id, d.channel) for d in deliveries})
    return {
        "articles": len(articles),
        "by_source": {
            s: sum(1 for a in articles if a.source == s) for s in {a.source for a in articles}
        },
        "alerts": len(alerts),
        "delivered": sum(1 for d in deliveries if d.delivered_at is not None),
    }


@pytest.mark.postgres
def test_two_sharded_ingest_runs_at_once_share_the_sources(
    prefect_harness: None,
    demo: tuple[StaticSite, AlertReceiver, Path],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest

    site, receiver, config = demo
    engine = _database(postgres_url, monkeypatch)
    names = [s.name for s in load_config(config).sources]
    first, second = parse_shard("1/2").select(names), parse_shard("2/2").select(names)
    assert first and second, "the demo's five outlets fall in both shards"

    one, two = at_once(
        lambda: ingest(config_dir=str(config), force=True, shard="1/2"),
        lambda: ingest(config_dir=str(config), force=True, shard="2/2"),
    )

    polled = [
        {name for name, row in result["sources"].items() if row["poll"] != "skipped"}
        for result in (one, two)
    ]
    assert polled == [set(first), set(second)]  # a partition: each source polled by one shard
    feeds = [r.route for r in site.requests if r.route.endswith("/feed.xml")]
    assert sorted(feeds) == sorted(f"/{name}/feed.xml" for name in names)
    stored = check_store(engine)
    assert stored["articles"] == one["stored"] + two["stored"] > 25
    assert set(stored["by_source"]) == set(names)
    assert stored["alerts"] == one["alerts"] + two["alerts"] >= 3
    # Every alert reached the receiver once, whichever run delivered it.
    assert len(receiver.received) == stored["alerts"] == stored["delivered"]
    engine.dispose()


@pytest.mark.postgres
def test_two_overlapping_unsharded_runs_store_everything_once(
    prefect_harness: None,
    demo: tuple[StaticSite, AlertReceiver, Path],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest

    _site, receiver, config = demo
    engine = _database(postgres_url, monkeypatch)

    one, two = at_once(
        lambda: ingest(config_dir=str(config), force=True),
        lambda: ingest(config_dir=str(config), force=True),
    )

    stored = check_store(engine)
    assert stored["articles"] == one["stored"] + two["stored"] > 25
    assert stored["alerts"] == one["alerts"] + two["alerts"] >= 3
    assert len(receiver.received) == stored["alerts"] == stored["delivered"]
    engine.dispose()


def test_ingest_refuses_a_malformed_shard(
    prefect_harness: None,
    demo: tuple[StaticSite, AlertReceiver, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest

    site, _receiver, config = demo
    _database(f"sqlite:///{tmp_path / 'shard.db'}", monkeypatch)
    with pytest.raises(ValueError, match=r"invalid shard '3/2'.*1 <= K <= N"):
        ingest(config_dir=str(config), force=True, shard="3/2")
    assert site.requests == []


def test_ingest_leaves_a_digest_of_new_stories_and_alerts(
    prefect_harness: None,
    demo: tuple[StaticSite, AlertReceiver, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest

    _site, receiver, config = demo
    _database(f"sqlite:///{tmp_path / 'digest.db'}", monkeypatch)
    state = ingest(config_dir=str(config), force=True, shard="1/1", return_state=True)
    result = state.result()
    assert state.state_details.flow_run_id is not None

    name, _tasks, artifacts = flow_run_record(state.state_details.flow_run_id)
    assert name == "ingest forced shard 1/1"
    digest = artifacts["ingest-stories"]["data"]
    assert digest.startswith(
        f"# Ingest: {result['stored']} new articles, {result['alerts']} alerts"
    )
    stories = [line for line in digest.splitlines() if re.match(r"\d+\. \[", line)]
    assert len(stories) == 10  # the top ten of more
    # The wire story three outlets carried leads, with its outlets.
    assert (
        "levant-wire" in stories[0] and "tigris-herald" in stories[0] and "3 articles" in stories[0]
    )
    alert_lines = [line for line in digest.splitlines() if line.startswith("- **")]
    assert len(alert_lines) == result["alerts"] == len(receiver.received)
    assert all(line.endswith("; delivered") for line in alert_lines)
    assert json.loads(artifacts["ingest-summary"]["data"])[-1]["stored"] == result["stored"]
