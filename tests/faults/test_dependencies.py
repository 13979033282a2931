"""Dependencies failing during a run: the run fails cleanly, keeps what it committed, and the next
run catches up with nothing lost and nothing doubled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite
from newsmon.store.db import make_engine, upgrade
from tests.faults.kill_loop import EXPECTED_ALERTS, EXPECTED_ARTICLES


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[StaticSite, AlertReceiver, Path]]:
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            tmp_path / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        yield site, receiver, config


def counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        articles = connection.execute(sa.text("SELECT COUNT(*) FROM article")).scalar_one()
        alerts = connection.execute(sa.text("SELECT COUNT(*) FROM alert")).scalar_one()
        delivered = connection.execute(
            sa.text("SELECT COUNT(*) FROM alert WHERE delivered_at IS NOT NULL")
        ).scalar_one()
    engine.dispose()
    return int(articles), int(alerts), int(delivered)


@pytest.mark.postgres
def test_database_lost_mid_run_fails_the_run_and_the_next_run_catches_up(
    prefect_harness: None,
    demo: tuple[StaticSite, AlertReceiver, Path],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest

    site, receiver, config = demo
    monkeypatch.setenv("NEWSMON_DATABASE_URL", postgres_url)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    upgrade(make_engine(postgres_url))
    name = make_url(postgres_url).database
    admin = sa.create_engine(
        make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    lost = threading.Event()

    def lose_database(path: str) -> None:
        # When the first article page is requested, the feeds are polled and their entries queued
        # (committed); now the database goes away until the test brings it back.
        if path.endswith(".html") and not lost.is_set():
            lost.set()
            with admin.connect() as connection:
                connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    site.on_request = lose_database
    with pytest.raises(Exception) as failed:
        ingest(config_dir=str(config), force=True)
    assert lost.is_set()
    assert (
        "connection" in str(failed.value).lower()
        or "terminat" in str(failed.value).lower()
        or "allow" in str(failed.value).lower()
    )
    site.on_request = None
    with admin.connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    admin.dispose()
    assert counts(postgres_url) == (0, 0, 0)  # the batch was not half-written

    summary = ingest(config_dir=str(config), force=True)
    # The feeds did not change since their new validators were saved: the queue brings the work back.
    assert summary["new"] == 0 and summary["stored"] == EXPECTED_ARTICLES
    assert counts(postgres_url) == (EXPECTED_ARTICLES, EXPECTED_ALERTS, EXPECTED_ALERTS)
    assert len(receiver.received) == EXPECTED_ALERTS


def test_disk_full_while_writing_leaves_no_corrupt_state(
    prefect_harness: None,
    demo: tuple[StaticSite, AlertReceiver, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsmon.flows.ingest import ingest
    from newsmon.tasks.runtime import engine_for

    _site, receiver, config = demo
    url = f"sqlite:///{tmp_path / 'full.db'}"
    monkeypatch.setenv("NEWSMON_DATABASE_URL", url)
    monkeypatch.setenv("NEWSMON_ALLOW_PRIVATE_HOSTS", "true")
    upgrade(make_engine(url))
    engine = engine_for(url)
    disk: dict[str, Any] = {"full": True}

    # SQLite's page-count cap fails writes with SQLITE_FULL ("database or disk is full"): the
    # same error, and the same code path, as a full disk.
    @event.listens_for(engine, "connect")
    def cap(dbapi_connection: Any, _record: Any) -> None:
        if disk["full"]:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    engine.dispose()
    with pytest.raises(Exception) as failed:
        ingest(config_dir=str(config), force=True)
    assert "full" in str(failed.value).lower()
    disk["full"] = False
    engine.dispose()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    assert counts(url)[0] < EXPECTED_ARTICLES

    ingest(config_dir=str(config), force=True)
    assert counts(url) == (EXPECTED_ARTICLES, EXPECTED_ALERTS, EXPECTED_ALERTS)
    assert len(receiver.received) == EXPECTED_ALERTS
