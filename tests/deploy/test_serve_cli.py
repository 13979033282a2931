"""`newsmon serve` refuses to start, with one clear line, when it could not do its job."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy.conftest import NEWSMON, free_port, quiet_env


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "sources.yaml").write_text(
        "sources:\n  - name: wire\n    url: https://wire.example/rss.xml\n", encoding="utf-8"
    )
    return subprocess.run(
        [NEWSMON, "serve", "--config", str(config), *args],
        cwd=tmp_path,
        env=quiet_env(PREFECT_HOME=str(tmp_path / "prefect-home"), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_prefect_server_serve_says_how_to_start_one(tmp_path: Path) -> None:
    # Prefect would fall back to its temporary API, which runs no scheduler: nothing would run.
    result = _serve(tmp_path)
    assert result.returncode == 2, result.stderr
    assert "prefect server start" in result.stderr
    assert "PREFECT_API_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_prefect_api_is_one_line_and_exit_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    result = _serve(tmp_path, PREFECT_API_URL=url)
    assert result.returncode == 3, result.stderr
    assert f"cannot reach the Prefect API at {url}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_cron_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = _serve(tmp_path, "--cron", "every quarter hour")
    assert result.returncode == 2, result.stderr
    assert "invalid --cron 'every quarter hour'" in result.stderr
    assert not (tmp_path / "data").exists()  # no database was created
