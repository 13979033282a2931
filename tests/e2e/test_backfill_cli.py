"""`newsmon backfill` as a user runs it: interrupted with Ctrl-C half-way, then run again, it
resumes without fetching again what the first run finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsmon.store.db import make_engine
from tests.backfill_site import IN_WINDOW, WINDOW, backfill_site, fixture, write_backfill_config
from tests.localserver import RecordedRequest

NEWSMON = str(Path(sys.executable).parent / "newsmon")


def environment(tmp_path: Path) -> dict[str, str]:
    """The user's environment plus the test database, loopback allowed, and the test Prefect API
    (started once for the session: a subprocess need not start its own temporary one)."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        NEWSMON_DATABASE_URL=f"sqlite:///{tmp_path / 'backfill.db'}",
        NEWSMON_ALLOW_PRIVATE_HOSTS="true",
        NEWSMON_HOST_RPS="1000",
        NEWSMON_MAX_PER_HOST="8",
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        COLUMNS="200",
    )
    return env


def stored(tmp_path: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'backfill.db'}")
    with engine.connect() as connection:
        urls = set(connection.scalars(sa.text("SELECT url FROM article")))
        by_source = dict(
            connection.execute(
                sa.text("SELECT source, count(*) FROM article GROUP BY source")
            ).all()
        )
        done = set(connection.scalars(sa.text("SELECT unit FROM backfill_progress WHERE done")))
    engine.dispose()
    return {"urls": urls, "by_source": by_source, "done": done}


def test_backfill_interrupted_with_ctrl_c_resumes(prefect_harness: None, tmp_path: Path) -> None:
    command = [
        NEWSMON,
        "backfill",
        "--since",
        WINDOW[0].isoformat(),
        "--until",
        WINDOW[1].isoformat(),
        "--config",
        str(tmp_path / "config"),
    ]
    env = environment(tmp_path)
    with backfill_site() as site:
        write_backfill_config(tmp_path / "config", site)
        running: dict[str, subprocess.Popen[str]] = {}
        index = site.url("/sitemap_index.xml")
        healthy = fixture("sitemap_index.xml", site.base_url)

        def interrupt(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
            """Ctrl-C while the sitemap index is being fetched; answer once the process is gone."""
            process = running.get("backfill")
            if process is not None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=120)
                return 503, {"Content-Type": "text/plain"}, b"gone\n"
            return 200, {"Content-Type": "application/xml"}, healthy

        site.route_handler("/sitemap_index.xml", interrupt)
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running["backfill"] = process
        out, err = process.communicate(timeout=300)
        assert process.returncode == 130, out + err
        assert "interrupted: run the same command again to resume" in err
        assert index in [site.url(r.path) for r in site.requests]
        first = stored(tmp_path)
        # Interrupted half-way: the feeds were read, their articles stored; sitemaps were not.
        assert first["done"] >= {
            f"feed:{name}:{site.base_url}/{name}/feed.xml" for name in IN_WINDOW
        }
        assert f"sitemap:{index}" not in first["done"]
        assert 0 < len(first["urls"]) < sum(IN_WINDOW.values())
        before = len(site.requests)

        running.clear()  # the second run is left alone
        again = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

        assert again.returncode == 0, again.stdout + again.stderr
        assert "resumed:" in again.stderr and "articles stored" in again.stdout
        second = site.requests[before:]
        paths = [r.path for r in second]
        # Finished units are not read again, stored pages not fetched again...
        assert not any(p.endswith("/feed.xml") for p in paths), paths
        assert not {site.url(p) for p in paths} & first["urls"]
        # ... and what was left is done now.
        assert "/sitemap_index.xml" in paths and "/news-sitemap.xml" in paths
        final = stored(tmp_path)
        assert final["by_source"] == IN_WINDOW
    stored_now = sum(IN_WINDOW.values()) - len(first["urls"])
    assert f"{stored_now} articles stored" in again.stdout

    # The same window re-tagged, for two of the sources (given as --source a b).
    reprocess = subprocess.run(
        [*command, "--mode", "reprocess", "--source", "tigris-herald", "sham-post"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reprocess.returncode == 0, reprocess.stdout + reprocess.stderr
    expected = IN_WINDOW["tigris-herald"] + IN_WINDOW["sham-post"]
    assert f"{expected} articles re-tagged, 0 with new topics, 0 alerts raised" in reprocess.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-11-10", "--until", "2026-11-01"], "--since 2026-11-10 is after --until"),
        (["--since", "2026-11-01", "--source", "nope"], "--source: no source named nope"),
        (["--since", "2026-11-01", "--source", "a", "nope"], "--source: no source named nope"),
        (["--since", "2026-11-01", "a"], "name sources with --source NAME"),
        (["--since", "2026-11-01", "--mode", "rewrite"], "Invalid value for '--mode'"),
        (["--since", "yesterday"], "Invalid value for '--since'"),
    ],
)
def test_backfill_refuses_bad_options_before_running(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: a, url: 'https://a.example/feed'}\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [NEWSMON, "backfill", "--config", str(config), *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "data").exists()  # nothing ran, no database was created


def test_an_unfinished_backfill_exits_non_zero_and_names_what_failed(
    prefect_harness: None, tmp_path: Path
) -> None:
    """Issue 15: exit 0 and "feed page(s) or sitemap(s)" when an article page had failed."""
    env = environment(tmp_path)
    page = "/tigris-herald/2026/11/four-soldiers-killed-is-militants-strike-army-post-anbar.html"
    command = [
        NEWSMON, "backfill", "--since", "2026-11-01", "--until", "2026-11-12",
        "--source", "tigris-herald", "--config", str(tmp_path / "config"),
    ]  # fmt: skip
    with backfill_site() as site:
        write_backfill_config(tmp_path / "config", site)
        site.route(page, "server error\n", status=500, content_type="text/plain")
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "incomplete: 1 article page failed (fetched again on resume)" in result.stderr
    assert "feed page" not in result.stderr
    assert result.stderr.count("500") == 1, result.stderr  # the failed page, reported once
