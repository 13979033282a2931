"""`newsmon ingest` with nothing to do answers from the database, without starting Prefect.

Issue 15: a pass with nothing due took ~20 s (Prefect's temporary API server starting) to say so.
Whether Prefect started is read from PREFECT_HOME: its temporary server keeps its database there
(prefect.db), created on start.
"""

from __future__ import annotations

import re
from pathlib import Path

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite
from tests.e2e.test_cli import run


def test_nothing_due_answers_without_prefect_but_queued_pages_still_run_the_flow(
    tmp_path: Path,
) -> None:
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            tmp_path / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )

        def ingest(home: str, **env: str) -> tuple[str, bool]:
            prefect_home = tmp_path / home
            result = run(
                "ingest",
                "--config",
                str(config),
                cwd=tmp_path,
                env={"PREFECT_HOME": str(prefect_home), **env},
            )
            assert result.returncode == 0, result.stderr
            return result.stdout, (prefect_home / "prefect.db").exists()

        # Every feed polled; pages beyond the cap of the run stay queued.
        first, started = ingest("ph1", NEWSMON_MAX_PAGES_PER_RUN="20")
        assert started and "5 sources polled" in first, first
        assert int(re.search(r"(\d+) articles? stored", first).group(1)) <= 20  # type: ignore[union-attr]

        # No feed is due, but pages are queued: the flow runs and fetches them.
        second, started = ingest("ph2")
        assert started, "queued pages wait: the flow must run"
        assert "0 sources polled" in second
        assert int(re.search(r"(\d+) articles? stored", second).group(1)) > 0  # type: ignore[union-attr]
        hits = len(site.hits)

        # Nothing due, queued or to send: answered at once, Prefect never started.
        third, started = ingest("ph3")
    assert not started and not (tmp_path / "ph3").exists()
    assert len(site.hits) == hits  # nothing fetched
    assert third.splitlines()[0] == "0 sources polled; no page queued, no alert to send"
    assert "no source was due: the next poll is at 20" in third
    assert "`newsmon ingest --force` polls every enabled source now" in third


def test_no_enabled_source_answers_without_prefect(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: wire, url: 'https://wire.example/feed', enabled: false}\n",
        encoding="utf-8",
    )
    result = run("ingest", cwd=tmp_path, env={"PREFECT_HOME": str(tmp_path / "ph")})
    assert result.returncode == 0, result.stderr
    assert "no source is enabled in config/sources.yaml (enabled: true)" in result.stdout
    assert not (tmp_path / "ph").exists()
