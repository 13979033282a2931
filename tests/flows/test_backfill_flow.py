"""The backfill flow against the demo site on loopback (sitemaps, feed archives), with a real Prefect
API and real databases: what it finds, what it stores, what it leaves for a resumed run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.app.demo.server import AlertReceiver
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import Alert, AlertDelivery, Article, ArticleTopic, BackfillProgress
from tests.backfill_site import (
    IN_WINDOW,
    OUTLETS,
    WINDOW,
    backfill_site,
    feed_page,
    fixture,
    write_backfill_config,
)
from tests.localserver import RecordedRequest, StaticSite


@pytest.fixture
def site() -> Iterator[StaticSite]:
    """The demo site with sitemaps and feed archives; the process's robots.txt cache and rate
    history are reset around it (another test's site may have had the same port)."""
    from newsmon.tasks.runtime import reset_network

    reset_network()
    with backfill_site() as server:
        yield server
    reset_network()


@pytest.fixture
def store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated database (SQLite and PostgreSQL) the flows use through NEWSMON_DATABASE_URL."""
    yield from _store(database_url, monkeypatch)


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The same on SQLite only, for tests where the engine makes no difference."""
    yield from _store(f"sqlite:///{tmp_path / 'backfill.db'}", monkeypatch)


def _store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database_url)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    # Every outlet of the demo site shares one host: without this, politeness (1 request/s per
    # host) would make each test take a minute.
    monkeypatch.setenv("NEWSMON_HOST_RPS", "1000")
    monkeypatch.setenv("NEWSMON_MAX_PER_HOST", "8")
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def run_flow(**parameters: Any) -> tuple[dict[str, Any], UUID]:
    """Run the backfill flow; its result and its flow run id. A finished backfill ends Completed,
    an unfinished one Failed, saying what is left, with its summary as the state's data."""
    from newsmon.flows.backfill import backfill

    state = backfill(**parameters, return_state=True)
    result = state.result(raise_on_failure=False)
    assert isinstance(result, dict), result
    if result["complete"]:
        assert state.is_completed(), state.message
    else:
        assert state.is_failed() and state.message == result["left_to_resume"], state
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return result, flow_run_id


def article_paths(requests: list[RecordedRequest]) -> list[str]:
    return [r.path for r in requests if r.route.endswith(".html")]


def stored_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return dict(
            session.execute(
                sa.select(Article.source, sa.func.count()).group_by(Article.source)
            ).all()
        )


def flow_run_record(flow_run_id: UUID) -> tuple[str, list[str], dict[str, Any]]:
    """The flow run's name, its task run names, and its artifacts by key (from the Prefect API)."""
    import asyncio

    from prefect.client.orchestration import get_client

    # Through the REST API: the 3.8 client's filter calls send nulls this server refuses.
    async def read() -> tuple[str, list[str], dict[str, Any]]:
        async with get_client() as client:
            name = (await client.read_flow_run(flow_run_id)).name
            page = {"limit": 200, "offset": 0}
            tasks = await client._client.post(
                "/task_runs/filter",
                json={"flow_runs": {"id": {"any_": [str(flow_run_id)]}}, **page},
            )
            artifacts = await client._client.post(
                "/artifacts/filter",
                json={"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, **page},
            )
        return (
            name,
            [t["name"] for t in tasks.json()],
            {a["key"]: a for a in artifacts.json()},
        )

    return asyncio.run(read())


def test_discover_finds_older_articles_in_sitemaps_and_feed_archives(
    prefect_harness: None, site: StaticSite, store: Engine, tmp_path: Path
) -> None:
    config = write_backfill_config(tmp_path / "config", site)
    since, until = WINDOW

    result, flow_run_id = run_flow(since=since, until=until, config_dir=str(config))

    assert result["complete"] and not result["resumed"] and result["units_pending"] == 0
    assert {name: row["stored"] for name, row in result["sources"].items()} == IN_WINDOW
    assert stored_counts(store) == IN_WINDOW
    assert result["failed"] == 0 and result["errors"] == []
    # Alerts are recorded, not delivered (deliver_alerts defaults to off): no outbox rows.
    with Session(store) as session:
        alerts = session.scalar(sa.select(sa.func.count()).select_from(Alert))
        deliveries = session.scalar(sa.select(sa.func.count()).select_from(AlertDelivery))
        dates = session.scalars(sa.select(Article.published_at)).all()
        titles = set(session.scalars(sa.select(Article.title)))
    assert alerts == result["alerts"] and alerts > 0 and deliveries == 0
    assert all(d is not None and WINDOW[0] <= d.date() <= WINDOW[1] for d in dates)
    assert "مقتل ثلاثة من عناصر داعش بضربة جوية في صحراء الانبار" in titles  # news sitemap

    paths = [r.path for r in site.requests]
    # Every route to older articles was taken...
    for path in (
        "/sitemap_index.xml",
        "/news-sitemap.xml",
        "/sitemaps/tigris-herald-2026-11.xml.gz",
        "/sitemaps/sham-post-2026-11.xml",
        "/levant-wire/feed.xml?page=3",
        "/euphrates-monitor/archive/2026-11-a.xml",
        "/sham-post/feed.xml?paged=3",
    ):
        assert path in paths, path
    # ... but a sitemap changed before the window, undated URLs, pages outside the window and
    # pages already fetched once are never requested.
    assert "/sitemaps/tigris-herald-2026-10.xml.gz" not in paths
    assert not any("about.html" in p or "electoral-commission" in p for p in paths)
    pages = article_paths(site.requests)
    assert len(pages) == len(set(pages)) == sum(IN_WINDOW.values())

    name, tasks, artifacts = flow_run_record(flow_run_id)
    assert name == "backfill discover 2026-11-05..2026-11-17 (all sources)"
    assert "feed levant-wire page 2" in tasks
    assert f"sitemap tigris-herald-2026-11.xml.gz ({site.base_url[7:]})" in tasks
    assert f"robots.txt {site.base_url[7:]}" in tasks
    assert "fetch + extract 5 pages (alrafidain-news)" in tasks  # the news sitemap's, in one batch
    table = artifacts["backfill-summary"]
    rows = {row["source"]: row for row in json.loads(table["data"])}
    assert rows["TOTAL"]["stored"] == sum(IN_WINDOW.values())
    assert rows["sham-post"]["discovered"] >= rows["sham-post"]["in_window"] >= 5
    assert artifacts["backfill-progress"]["data"] == 100.0
    digest = artifacts["backfill-stories"]["data"]
    assert digest.startswith("# backfill discover 2026-11-05..2026-11-17 (all sources): 26 new")
    assert "## Top new stories" in digest and "## Alerts raised" in digest
    assert "recorded, not delivered" in digest
    # The most widely carried story comes first, with its outlets.
    first_story = next(line for line in digest.splitlines() if line.startswith("1. "))
    assert "levant-wire" in first_story and "3 articles" in first_story

    # The same backfill again: everything was done, nothing is requested or stored.
    before = len(site.requests)
    again, _ = run_flow(since=since, until=until, config_dir=str(config))
    assert site.requests[before:] == []
    assert again["resumed"] and again["units_skipped"] == result["units_done"]
    assert again["stored"] == 0 and again["units_done"] == 0 and again["complete"]


def test_discover_resumes_where_a_failing_host_stopped_it(
    prefect_harness: None, site: StaticSite, store: Engine, tmp_path: Path
) -> None:
    """A run during which some documents fail (HTTP 500) leaves them to do; the next run reads
    only those: no finished sitemap, feed page or stored article is requested again."""
    config = write_backfill_config(tmp_path / "config", site)
    archive = "/euphrates-monitor/archive/2026-11-a.xml"
    for path in ("/news-sitemap.xml", archive):
        site.route(path, "server error\n", status=500, content_type="text/plain")

    first, _ = run_flow(since=WINDOW[0], until=WINDOW[1], config_dir=str(config))

    assert not first["complete"] and first["units_pending"] == 2
    assert first["left_to_resume"] == (
        "incomplete: 2 feed pages or sitemaps could not be read; "
        "run the same backfill again to resume"
    )
    assert any("news-sitemap.xml" in e and "500" in e for e in first["errors"])
    partial = stored_counts(store)
    assert partial["alrafidain-news"] == 1  # only the one its feed still shows
    assert partial["euphrates-monitor"] == 4  # the two in the failed archive page are missing
    assert partial["tigris-herald"] == IN_WINDOW["tigris-herald"]
    with Session(store) as session:
        pending = session.scalars(
            sa.select(BackfillProgress.unit).where(BackfillProgress.done.is_(False))
        ).all()
    assert sorted(pending) == sorted(
        [
            "backfill",
            f"sitemap:{site.base_url}/news-sitemap.xml",
            f"feed:euphrates-monitor:{site.base_url}/euphrates-monitor/archive/2026-11-a.xml",
        ]
    )
    stored_pages = set(article_paths(site.requests))

    # The host recovers; the same backfill runs again.
    site.route("/news-sitemap.xml", fixture("news-sitemap.xml", site.base_url))
    site.route(
        archive,
        feed_page("euphrates-monitor", site.base_url, 6, 8),
        content_type="application/atom+xml",
    )
    before = len(site.requests)
    second, _ = run_flow(since=WINDOW[0], until=WINDOW[1], config_dir=str(config))

    assert second["complete"] and second["resumed"]
    assert stored_counts(store) == IN_WINDOW
    requested = [r.path for r in site.requests[before:] if r.route != "/robots.txt"]
    documents = [p for p in requested if not p.endswith(".html")]
    assert sorted(documents) == ["/euphrates-monitor/archive/2026-11-a.xml", "/news-sitemap.xml"]
    again = set(article_paths(site.requests[before:]))
    assert again and not again & stored_pages
    assert len(again) == (IN_WINDOW["alrafidain-news"] - 1) + 2
    assert second["stored"] == len(again)


def test_backfill_of_one_source_takes_only_its_urls_from_shared_sitemaps(
    prefect_harness: None, site: StaticSite, sqlite_store: Engine, tmp_path: Path
) -> None:
    config = write_backfill_config(tmp_path / "config", site)

    result, flow_run_id = run_flow(
        since=date(2026, 11, 1),
        until=date(2026, 11, 12),
        sources=["tigris-herald"],
        config_dir=str(config),
    )

    # 4, 7, 9 and 12 November; the sitemaps list every outlet, only tigris-herald's are taken.
    assert stored_counts(sqlite_store) == {"tigris-herald": 4}
    assert set(result["sources"]) == {"tigris-herald"}
    assert not any(
        p.startswith("/sham-post/") and p.endswith(".html") for p in article_paths(site.requests)
    )
    name, _, _ = flow_run_record(flow_run_id)
    assert name == "backfill discover 2026-11-01..2026-11-12 (tigris-herald)"


def test_an_article_page_that_failed_leaves_the_run_failed_and_says_so(
    prefect_harness: None, site: StaticSite, sqlite_store: Engine, tmp_path: Path
) -> None:
    """Issue 15: an unfinished backfill ended Completed, blaming "feed page(s) or sitemap(s)"
    when an article page had failed. It ends Failed and names the article page."""
    config = write_backfill_config(tmp_path / "config", site)
    page = "/tigris-herald/2026/11/four-soldiers-killed-is-militants-strike-army-post-anbar.html"
    site.route(page, "server error\n", status=500, content_type="text/plain")

    result, flow_run_id = run_flow(
        since=date(2026, 11, 1),
        until=date(2026, 11, 12),
        sources=["tigris-herald"],
        config_dir=str(config),
    )

    assert not result["complete"] and result["units_unread"] == 0
    assert result["pages_to_retry"] == 1
    assert result["left_to_resume"] == (
        "incomplete: 1 article page failed (fetched again on resume); "
        "run the same backfill again to resume"
    )
    _, _, artifacts = flow_run_record(flow_run_id)
    assert "1 article page failed" in artifacts["backfill-summary"]["description"]


def test_backfill_refuses_unknown_sources_and_empty_windows(
    prefect_harness: None, site: StaticSite, sqlite_store: Engine, tmp_path: Path
) -> None:
    from newsmon.flows.backfill import backfill

    config = write_backfill_config(tmp_path / "config", site)
    with pytest.raises(ValueError, match=r"unknown source.*nope"):
        backfill(since=WINDOW[0], sources=["nope"], config_dir=str(config))
    with pytest.raises(ValueError, match="is after until"):
        backfill(since=date(2026, 11, 10), until=date(2026, 11, 1), config_dir=str(config))
    assert site.requests == []


# --- reprocess --------------------------------------------------------------------------------


def _ingest_window(config: Path) -> dict[str, Any]:
    result, _ = run_flow(since=WINDOW[0], until=WINDOW[1], config_dir=str(config))
    assert result["complete"]
    return result


def _topics(engine: Engine) -> dict[int, set[str]]:
    with Session(engine) as session:
        rows = session.execute(sa.select(ArticleTopic.article_id, ArticleTopic.topic)).all()
    topics: dict[int, set[str]] = {}
    for article_id, topic in rows:
        topics.setdefault(article_id, set()).add(topic)
    return topics


def _alerts(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        return sorted(
            (rule, cluster)
            for rule, cluster in session.execute(sa.select(Alert.rule, Alert.cluster_id))
        )


def test_reprocess_retags_and_raises_new_alerts_once(
    prefect_harness: None,
    site: StaticSite,
    store: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_backfill_config(tmp_path / "config", site)
    _ingest_window(config)
    alerts_before = _alerts(store)
    with Session(store) as session:
        ids = session.scalars(sa.select(Article.id).order_by(Article.id)).all()

    # The analyst adds a topic, drops one, and adds an alert rule.
    (config / "topics.yaml").write_text(
        (config / "topics.yaml")
        .read_text(encoding="utf-8")
        .replace("  - name: economy", "  - name: money")
        + "\n  - name: wheat\n    query: 'wheat OR bread OR القمح OR الخبز'\n",
        encoding="utf-8",
    )
    (config / "alerts.yaml").write_text(
        (config / "alerts.yaml").read_text(encoding="utf-8")
        + "\n  - name: food-prices\n    query: 'topic:wheat'\n    notify: ['json://127.0.0.1:9/x']\n",
        encoding="utf-8",
    )
    # Resumability: a first run is cut short after one batch (the task the flow runs, called as
    # the flow would), then the flow runs and finishes from there.
    monkeypatch.setenv("NEWSMON_BATCH_SIZE", "10")
    from newsmon.backfill.window import backfill_key, make_window, rules_digest
    from newsmon.config.loading import load_config
    from newsmon.settings import Settings
    from newsmon.tasks.backfill import retag_articles

    window = make_window(*WINDOW, today=WINDOW[1])
    loaded = load_config(config)
    key = backfill_key("reprocess", window, None, rules_digest(loaded))
    first = retag_articles.fn(
        Settings(), loaded, key, window, None, 0, max(ids), False, label="first batch"
    )
    assert first.count == 10 and first.last_id == ids[9]

    result, flow_run_id = run_flow(
        since=WINDOW[0], until=WINDOW[1], mode="reprocess", config_dir=str(config)
    )

    assert result["resumed"] and result["articles"] == len(ids) - 10
    topics = _topics(store)
    assert not any("economy" in t for t in topics.values())
    assert sum("money" in t for t in topics.values()) >= 3
    wheat = {i for i, t in topics.items() if "wheat" in t}
    assert wheat  # the Raqqa wheat farmers and the Damascus bread prices stories
    alerts = _alerts(store)
    new = [a for a in alerts if a not in alerts_before]
    assert new and all(rule == "food-prices" for rule, _ in new)
    assert len(new) == len({cluster for _, cluster in new})  # once per cluster
    assert set(alerts_before) <= set(alerts) and len(alerts) == len(set(alerts))
    with Session(store) as session:  # recorded, not delivered: no outbox rows for them
        queued = session.scalars(
            sa.select(Alert.rule).join(AlertDelivery, AlertDelivery.alert_id == Alert.id)
        ).all()
    assert "food-prices" not in queued
    assert result["alerts"] == len(new) - first.outcome.alerts.total()
    assert result["topics_added"]["wheat"] + first.outcome.topics_added["wheat"] == len(wheat)
    name, tasks, artifacts = flow_run_record(flow_run_id)
    assert name == "backfill reprocess 2026-11-05..2026-11-17 (all sources)"
    assert f"retag articles after #{ids[9]}" in tasks
    digest = artifacts["backfill-stories"]["data"]
    assert "## Topics added" in digest and "wheat:" in digest and "## Topics removed" in digest
    assert "Top new stories" not in digest

    # Finished: the same reprocess again does nothing; after the rules change again, it runs.
    again, _ = run_flow(since=WINDOW[0], until=WINDOW[1], mode="reprocess", config_dir=str(config))
    assert again["articles"] == 0 and again["units_skipped"] == 1
    (config / "topics.yaml").write_text(
        (config / "topics.yaml").read_text(encoding="utf-8")
        + "  - name: bread\n    query: bread\n",
        encoding="utf-8",
    )
    changed, _ = run_flow(
        since=WINDOW[0], until=WINDOW[1], mode="reprocess", config_dir=str(config)
    )
    assert changed["articles"] == len(ids) and changed["alerts"] == 0


def test_reprocess_delivers_its_alerts_when_asked(
    prefect_harness: None, site: StaticSite, sqlite_store: Engine, tmp_path: Path
) -> None:
    with AlertReceiver() as receiver:
        config = write_backfill_config(tmp_path / "config", site, receiver_port=receiver.port)
        _ingest_window(config)
        assert receiver.received == []
        (config / "alerts.yaml").write_text(
            (config / "alerts.yaml").read_text(encoding="utf-8")
            + "\n  - name: raqqa\n    query: Raqqa OR الرقة\n"
            f"    notify: ['json://127.0.0.1:{receiver.port}/alerts']\n",
            encoding="utf-8",
        )
        requests_before = len(site.requests)
        result, _ = run_flow(
            since=WINDOW[0],
            until=WINDOW[1],
            sources=list(OUTLETS),
            mode="reprocess",
            deliver_alerts=True,
            config_dir=str(config),
        )
        assert result["alerts"] >= 1 and result["alerts_delivered"] == result["alerts"]
        assert {m["path"] for m in receiver.received} == {"/alerts"}
        assert all("raqqa" in m["title"] for m in receiver.received)
        assert len(receiver.received) == result["alerts"]
        assert len(site.requests) == requests_before  # reprocess reads only the database
