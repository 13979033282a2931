"""Two ingest runs at once on one SQLite database: the second waits for the first, nothing fails,
nothing is stored, alerted or delivered twice. (PostgreSQL: tests/flows/ and tests/db/.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite
from tests.faults.kill_loop import EXPECTED_ALERTS, EXPECTED_ARTICLES

NEWSMON = str(Path(sys.executable).parent / "newsmon")


@pytest.mark.slow
def test_two_ingest_processes_at_once_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        {"NEWSMON_DATABASE_URL": f"sqlite:///{database}", "NEWSMON_ALLOW_PRIVATE_HOSTS": "true"}
    )
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            tmp_path / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        command = [NEWSMON, "ingest", "--force", "--config", str(config)]
        runs = [
            subprocess.Popen(
                command,
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=400) for run in runs]
        received = [m.get("title") for m in receiver.received]
        pages = Counter(path for path in site.hits if path.endswith(".html"))
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
        assert "database is locked" not in err
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        articles, distinct = connection.execute(
            sa.text("SELECT COUNT(*), COUNT(DISTINCT canonical_url) FROM article")
        ).one()
        alerts, delivered = connection.execute(
            sa.text("SELECT COUNT(*), SUM(delivered_at IS NOT NULL) FROM alert")
        ).one()
    engine.dispose()
    assert (articles, distinct) == (EXPECTED_ARTICLES, EXPECTED_ARTICLES)
    assert alerts == EXPECTED_ALERTS
    assert delivered == EXPECTED_ALERTS
    assert len(received) == EXPECTED_ALERTS and max(Counter(received).values()) == 1
    # Issue 15: each run fetched every page (72 requests for 36 pages); now each page once.
    assert pages and max(pages.values()) == 1, pages.most_common(3)
