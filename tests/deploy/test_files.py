"""The files in deploy/ that cannot run here (no Docker engine, no systemd as init) are checked as
far as this machine allows: prefect.yaml against the served deployments, compose.yaml's structure
and commands, and the systemd units with `systemd-analyze verify`.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsmon.flows.deployments import INGEST_CRON, newsmon_deployments
from tests.deploy.conftest import NEWSMON, PREFECT, REPO, quiet_env

DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("newsmon-*"))


@cache
def _help(command: tuple[str, ...]) -> str:
    """`command --help` of the installed newsmon or prefect; fails if the command does not exist."""
    binary = {"newsmon": NEWSMON, "prefect": PREFECT}[command[0]]
    result = subprocess.run(
        [binary, *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=quiet_env(),
    )
    assert result.returncode == 0, f"{' '.join(command)} --help: {result.stderr}"
    return result.stdout


def _check_command(argv: list[str]) -> None:
    """A newsmon or prefect command line: its subcommand exists and takes the options given."""
    name = Path(argv[0]).name
    if name == "python":  # a script of deploy/ (the image copies it there): it takes the options
        script = DEPLOY / argv[1]
        assert script.is_file(), argv
        text = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
        ).stdout
        for option in (arg for arg in argv[2:] if arg.startswith("--")):
            assert option.split("=")[0] in text, f"{argv[1]} has no option {option}"
        return
    assert name in ("newsmon", "prefect"), argv
    words = [name]
    rest = argv[1:]
    if name == "prefect" and rest[:1] == ["--no-prompt"]:
        rest = rest[1:]
    while rest and not rest[0].startswith("-"):
        words.append(rest.pop(0))
    text = _help(tuple(words))
    for option in (arg for arg in rest if arg.startswith("--")):
        assert option.split("=")[0] in text, f"{' '.join(words)} has no option {option}"


def test_prefect_yaml_declares_the_deployments_newsmon_serve_serves() -> None:
    project = yaml.safe_load((DEPLOY / "prefect.yaml").read_text(encoding="utf-8"))
    declared = {d["name"]: d for d in project["deployments"]}
    served = {d.name: d for d in newsmon_deployments("config")}
    assert set(declared) == set(served) == {"ingest", "backfill"}
    for name, deployment in served.items():
        entry = declared[name]
        assert entry["entrypoint"] == deployment.entrypoint
        assert entry["description"] == deployment.description
        assert entry["tags"] == deployment.tags
        assert entry["work_pool"]["name"] == "newsmon"
        schedules = [
            (s["cron"], s["timezone"]) for s in entry["schedules"] if s.get("active", True)
        ]
        assert schedules == [
            (s.schedule.cron, s.schedule.timezone)  # type: ignore[union-attr]
            for s in deployment.schedules
        ]
    assert declared["ingest"]["schedules"][0]["cron"] == INGEST_CRON == "*/15 * * * *"
    assert project["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $NEWSMON_HOME }}"}}
    ]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_runs_postgres_the_prefect_server_and_serve_or_workers() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "prefect-server", "migrate", "serve", "deploy", "worker"}
    # serve and the workers register the same deployments: never both by default.
    assert services["serve"]["profiles"] == ["serve"]
    assert services["deploy"]["profiles"] == services["worker"]["profiles"] == ["workers"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)

    server = services["prefect-server"]
    assert server["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://"
    )
    assert server["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"].endswith(
        "@postgres:5432/prefect"
    )
    assert "CREATE DATABASE prefect" in (DEPLOY / "postgres-init.sql").read_text(encoding="utf-8")
    for name in ("migrate", "serve", "worker"):
        environment = services[name]["environment"]
        assert environment["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert environment["NEWSMON_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert environment["NEWSMON_DATABASE_URL"].endswith("@postgres:5432/newsmon")
    # The Dockerfile exists where the build points, and copies what deploy needs.
    build = services["serve"]["build"]
    dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == DEPLOY / "Dockerfile"
    assert "deploy/prefect.yaml" in dockerfile.read_text(encoding="utf-8")
    # serve's stop timeout outlasts its own grace period.
    serve_command = services["serve"]["command"]
    grace = int(serve_command[serve_command.index("--grace") + 1])
    assert int(services["serve"]["stop_grace_period"].removesuffix("s")) > grace


@pytest.mark.parametrize("service", ["prefect-server", "migrate", "serve", "deploy", "worker"])
def test_compose_commands_exist(service: str) -> None:
    command = _compose()["services"][service]["command"]
    if command[:2] == ["sh", "-c"]:
        for part in command[2].split("&&"):
            _check_command(shlex.split(part))
    else:
        _check_command(command)


@pytest.mark.needs("systemd-analyze")
def test_systemd_units_run_real_commands_and_pass_systemd_analyze(tmp_path: Path) -> None:
    assert {unit.name for unit in UNITS} == {
        "newsmon-prefect-server.service",
        "newsmon-serve.service",
        "newsmon-worker@.service",
        "newsmon-ingest.service",
        "newsmon-ingest.timer",
    }
    venv_bin = str(Path(NEWSMON).parent)
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        for line in re.findall(r"(?m)^ExecStart=(.+)$", text):
            argv = shlex.split(line.replace("%H", "host").replace("%i", "1"))
            assert argv[0].startswith("/srv/newsmon/.venv/bin/"), line
            _check_command(argv)
        # Installed here with the real paths: systemd-analyze checks keys, values, executables.
        name = unit.name.replace("@.", "@1.")
        (tmp_path / name).write_text(
            text.replace("/srv/newsmon/.venv/bin", venv_bin), encoding="utf-8"
        )
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found (.ci/run installs Debian's systemd package)"
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    problems = [
        line for line in result.stderr.splitlines() if str(tmp_path) in line or "newsmon" in line
    ]
    assert problems == []

    serve = (DEPLOY / "systemd" / "newsmon-serve.service").read_text(encoding="utf-8")
    assert "KillMode=mixed" in serve  # SIGTERM to serve, not to the runs it waits for
    grace = int(re.search(r"--grace (\d+)", serve).group(1))  # type: ignore[union-attr]
    assert int(re.search(r"TimeoutStopSec=(\d+)", serve).group(1)) > grace  # type: ignore[union-attr]
