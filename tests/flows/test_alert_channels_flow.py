"""Alerts through the ingest flow with a real Prefect API: webhook and email channels, a password
from a Prefect Secret block, `newsmon.alert.raised` events, and the example automation."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsmon.app.demo.server import AlertReceiver
from newsmon.store.archive import iter_alerts
from newsmon.store.articles import store_articles
from newsmon.store.db import make_engine, upgrade
from tests.factories import NOW, draft, make_config, ready
from tests.localserver import LocalServer
from tests.pages import (
    ARABIC_PARAGRAPHS,
    ECONOMY_PARAGRAPHS,
    WIRE_PARAGRAPHS,
    article_page,
    rss_feed,
)
from tests.smtpserver import LocalSMTPServer, parts

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DEPLOY = Path(__file__).parents[2] / "deploy" / "automations"


def wait_for(condition: Any, *, timeout_s: float = 60, what: str = "condition") -> Any:
    """Poll `condition()` until it returns something truthy (events and automations are async)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def read_alert_events(since: datetime) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(name=["newsmon.alert.raised"]),
        resource=EventResourceFilter(id_prefix=["newsmon.alert."]),
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=event_filter, limit=50)
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(str(page.next_page))
            events += page.events
    return events


@pytest.fixture
def site() -> Iterator[LocalServer]:
    """Two outlets: a wire story and its copy (one story), an Arabic story, an economy story."""
    with LocalServer() as news:
        news.route(
            "/wire/rss.xml",
            rss_feed(
                "Wire",
                [
                    ("Four IS militants killed in Anbar", news.url("/wire/anbar"), WHEN),
                    ("Central bank tightens dollar auctions", news.url("/wire/dinar"), WHEN),
                ],
            ),
            content_type="application/rss+xml",
        )
        news.route(
            "/herald/rss.xml",
            rss_feed(
                "Herald",
                [
                    # An hour after the wire: the copy, so the wire story heads the cluster.
                    (
                        "Air strike in Anbar desert kills four",
                        news.url("/herald/anbar"),
                        WHEN + timedelta(hours=1),
                    ),
                    ("مقتل ثلاثة من داعش في الأنبار", news.url("/herald/ar/anbar"), WHEN),
                ],
            ),
            content_type="application/rss+xml",
        )
        pages = {
            "/wire/anbar": article_page(
                "Four IS militants killed in Anbar air strike", WIRE_PARAGRAPHS
            ),
            "/wire/dinar": article_page(
                "Central bank tightens dollar auctions", ECONOMY_PARAGRAPHS
            ),
            "/herald/anbar": article_page("Air strike in Anbar desert kills four", WIRE_PARAGRAPHS),
            "/herald/ar/anbar": article_page(
                "مقتل ثلاثة من داعش في الأنبار", ARABIC_PARAGRAPHS, lang="ar"
            ),
        }
        for path, page in pages.items():
            news.route(path, page, content_type="text/html; charset=utf-8")
        yield news


def test_ingest_delivers_to_webhook_and_email_with_a_secret_block_and_emits_events(
    prefect_harness: None,
    site: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    from newsmon.flows.ingest import ingest

    database_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    monkeypatch.setenv("NEWSMON_DATABASE_URL", database_url)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    engine = make_engine(database_url)
    upgrade(engine)
    Secret(value="block-held password").save("newsmon-test-smtp-password", overwrite=True)
    started = datetime.now(UTC) - timedelta(seconds=5)

    with AlertReceiver() as receiver, LocalSMTPServer(password="block-held password") as smtp:
        config = tmp_path / "config"
        config.mkdir()
        (config / "sources.yaml").write_text(
            "sources:\n"
            f"  - {{name: wire, url: '{site.url('/wire/rss.xml')}', language: en}}\n"
            f"  - {{name: herald, url: '{site.url('/herald/rss.xml')}'}}\n",
            encoding="utf-8",
        )
        (config / "alerts.yaml").write_text(
            "alerts:\n"
            "  - name: isis-anbar\n"
            "    query: '(\"Islamic State\" OR IS OR داعش) AND (Anbar OR الأنبار)'\n"
            "    notify:\n"
            f"      - json://127.0.0.1:{receiver.port}/alerts\n"
            "      - 'mailto://desk:${prefect-secret:newsmon-test-smtp-password}@example.org"
            f"?smtp=127.0.0.1&port={smtp.port}&from=newsmon@example.org&to=analyst@example.org'\n",
            encoding="utf-8",
        )
        summary = ingest(config_dir=str(config), force=True)

    assert summary["alerts"] == 2 and summary["alerts_delivered"] == 4, summary["errors"]
    assert sorted(m["title"] for m in receiver.received) == [
        "[isis-anbar] Four IS militants killed in Anbar air strike",
        "[isis-anbar] مقتل ثلاثة من داعش في الأنبار",
    ]
    wire = next(m for m in receiver.received if "Four IS" in m["title"])
    assert "Outlet: wire, on 2 outlets: wire, herald" in wire["message"]
    assert f"Link: <{site.url('/wire/anbar')}>" in wire["message"]
    assert "**Islamic State**" in wire["message"] and "**Anbar**" in wire["message"]

    assert set(smtp.logins) == {("desk", "block-held password")}
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert subjects == sorted(m["title"] for m in receiver.received)
    arabic = next(m for m in smtp.messages if "داعش" in m["Subject"])
    html = parts(arabic)["text/html"]
    assert "<mark><strong>الأنبار</strong></mark>" in html and 'dir="auto"' in html
    assert f'href="{site.url("/herald/ar/anbar")}"' in html

    with Session(engine) as session:
        alerts = {a["id"]: a for a in iter_alerts(session)}
    engine.dispose()
    ours = {site.url("/wire/anbar"), site.url("/herald/ar/anbar")}

    def our_events() -> list[Any]:
        found = [e for e in read_alert_events(started) if e.payload.get("url") in ours]
        return found if len(found) == 2 else []

    events = wait_for(our_events, what="two newsmon.alert.raised events")
    for event in events:
        alert_id = int(event.resource.id.removeprefix("newsmon.alert."))
        alert = alerts[alert_id]
        assert (
            event.payload["rule"] == "isis-anbar" and event.payload["url"] == alert["article_url"]
        )
        assert event.payload["matched"] == alert["matched"]
        roles = {r.role: r.id for r in event.related if r.role in ("rule", "cluster", "article")}
        assert roles["rule"] == "newsmon.rule.isis-anbar"
        assert roles["article"] == f"newsmon.article.{alert['article_id']}"
        assert roles["cluster"].startswith("newsmon.cluster.")
    wire_event = next(e for e in events if e.payload["url"] == site.url("/wire/anbar"))
    assert wire_event.payload["outlets"] == ["wire", "herald"]


def test_a_failure_to_emit_events_never_fails_the_run(
    prefect_harness: None, tmp_path: Path
) -> None:
    from newsmon.tasks.alerts import emit_alert_events

    engine = make_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")  # no tables: reading fails
    assert emit_alert_events(engine, [1, 2]) == 0
    assert emit_alert_events(engine, []) == 0
    engine.dispose()


def test_example_automation_is_applied_idempotently_and_forwards_alerts(
    prefect_harness: None, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from newsmon.tasks.alerts import emit_alert_events

    spec = importlib.util.spec_from_file_location("apply_automations", DEPLOY / "apply.py")
    assert spec is not None and spec.loader is not None
    apply_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(apply_module)

    engine = make_engine(f"sqlite:///{tmp_path / 'automation.db'}")
    upgrade(engine)
    config = make_config()
    with Session(engine) as session, session.begin():
        outcome = store_articles(
            session,
            ready(config, draft("wire", "https://wire.example/automation-test")),
            notify_urls={},
            now=NOW,
        )
    [alert_id] = outcome.alert_ids

    with AlertReceiver() as receiver:
        hook = f"{receiver.base_url}/prefect"
        first = apply_module.apply(DEPLOY / "alert-webhook.yaml", webhook_url=hook)
        second = apply_module.apply(DEPLOY / "alert-webhook.yaml", webhook_url=hook)
        assert [what for _, what, _ in first] == ["created"]
        assert [what for _, what, _ in second] == ["updated"] and second[0][2] == first[0][2]
        with get_client(sync_client=True) as client:
            assert len(client.read_automations_by_name("newsmon-alert-webhook")) == 1
        try:
            assert emit_alert_events(engine, [alert_id]) == 1
            posts = wait_for(lambda: receiver.received, what="the automation's webhook call")
        finally:
            with get_client(sync_client=True) as client:
                for automation in client.read_automations_by_name("newsmon-alert-webhook"):
                    client.delete_automation(automation.id)
    engine.dispose()
    [post] = posts
    assert post["path"] == "/prefect"
    assert post["subject"] == "[isis-anbar] Four Islamic State militants killed in Anbar air strike"
    assert "https://wire.example/automation-test" in post["body"]
    assert "Matched: Islamic State, Daesh, Anbar" in post["body"]
