"""`newsmon sources` as a user runs it: health table, parked sources, `--unpark`, `--json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from newsmon.config.loading import load_config
from newsmon.fetch.schedule import PARK_AFTER_FAILURES
from newsmon.records import FeedPoll, FeedState
from newsmon.store.db import make_engine, upgrade
from newsmon.store.models import Source
from newsmon.store.sources import PollOutcome, store_polls, sync_sources

NEWSMON = str(Path(sys.executable).parent / "newsmon")


def run(
    *args: str, cwd: Path, database_url: str, columns: int = 240
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSMON_DATABASE_URL": database_url, "COLUMNS": str(columns)}
    return subprocess.run(
        [NEWSMON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def parked_setup(tmp_path: Path) -> tuple[Path, str]:
    """A config with a healthy source and one that failed often enough to be parked."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n"
        "  - {name: fine, url: 'https://fine.example/rss'}\n"
        "  - {name: dead, url: 'https://dead.example/rss'}\n",
        encoding="utf-8",
    )
    database_url = f"sqlite:///{tmp_path / 'newsmon.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    sources = load_config(config).sources
    fine, dead = sources
    now = datetime.now(UTC) - timedelta(hours=1)
    ok = FeedPoll(source="fine", status="not_modified", state=FeedState(etag='"1"'))
    failed = FeedPoll(
        source="dead",
        status="error",
        state=FeedState(),
        error="https://dead.example/rss: HTTP 410 Gone",
    )
    with Session(engine) as session, session.begin():
        sync_sources(session, sources)
        store_polls(session, [PollOutcome(ok, fine)], now=now)
        for _ in range(PARK_AFTER_FAILURES):
            store_polls(session, [PollOutcome(failed, dead)], now=now)
    engine.dispose()
    return config, database_url


def test_parked_source_is_shown_and_unparked_by_the_command(
    parked_setup: tuple[Path, str], tmp_path: Path
) -> None:
    config, database_url = parked_setup
    shown = run("sources", "--config", str(config), cwd=tmp_path, database_url=database_url)
    assert shown.returncode == 0, shown.stderr
    dead_line = next(
        line for line in shown.stdout.splitlines() if "dead" in line and "parked" in line
    )
    assert str(PARK_AFTER_FAILURES) in dead_line
    assert "last error dead: https://dead.example/rss: HTTP 410 Gone" in shown.stdout
    assert "1 parked" in shown.stdout and "--unpark NAME" in shown.stdout

    unparked = run(
        "sources",
        "--config",
        str(config),
        "--unpark",
        "dead",
        cwd=tmp_path,
        database_url=database_url,
    )
    assert unparked.returncode == 0, unparked.stderr
    assert "dead: un-parked; the next ingest polls it" in unparked.stderr
    assert "parked" not in unparked.stdout.replace("un-parked", "")
    engine = make_engine(database_url)
    with Session(engine) as session:
        row = session.get(Source, "dead")
        assert row is not None
        assert (row.status, row.consecutive_failures, row.next_poll_at) == ("new", 0, None)
    engine.dispose()


def test_unpark_of_an_unknown_source_is_refused(
    parked_setup: tuple[Path, str], tmp_path: Path
) -> None:
    config, database_url = parked_setup
    result = run(
        "sources",
        "--config",
        str(config),
        "--unpark",
        "nope",
        cwd=tmp_path,
        database_url=database_url,
    )
    assert result.returncode == 2
    assert "--unpark: no source named nope" in result.stderr


def test_sources_json_lines(parked_setup: tuple[Path, str], tmp_path: Path) -> None:
    config, database_url = parked_setup
    result = run(
        "sources", "--config", str(config), "--json", cwd=tmp_path, database_url=database_url
    )
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["dead"]["status"] == "parked" and rows["dead"]["next_poll_at"] is None
    assert rows["fine"]["status"] == "ok" and rows["fine"]["consecutive_failures"] == 0
    assert datetime.fromisoformat(rows["fine"]["next_poll_at"]) > datetime.fromisoformat(
        rows["fine"]["last_success_at"]
    )
    assert set(rows["fine"]) >= {
        "status",
        "last_success_at",
        "last_new_entry_at",
        "consecutive_failures",
        "next_poll_at",
        "entries_per_day",
        "last_error",
    }


def test_the_table_fits_80_columns_without_breaking_words(
    parked_setup: tuple[Path, str], tmp_path: Path
) -> None:
    """Issue 15: at 80 columns names were broken (`tigris / -heral / d`)."""
    config, database_url = parked_setup
    text = (config / "sources.yaml").read_text(encoding="utf-8")
    (config / "sources.yaml").write_text(
        text + "  - {name: euphrates-monitor-ar, url: 'https://e.example/rss'}\n", encoding="utf-8"
    )
    shown = run(
        "sources", "--config", str(config), cwd=tmp_path, database_url=database_url, columns=80
    )
    assert shown.returncode == 0, shown.stderr
    table = shown.stdout.split("\nlast error")[0].splitlines()
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    assert "…" not in "\n".join(table)
    for name in ("fine", "dead", "euphrates-monitor-ar"):
        assert any(line.startswith(name + " ") for line in table), name
