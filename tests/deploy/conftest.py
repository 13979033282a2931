"""One real Prefect server and one `newsmon serve` for every test in this folder.

A Prefect server takes ~10-30 s to start on a new SQLite database, so both are session-scoped and
shared: test_deployments.py (the API), test_ui.py (the browser), test_work_pool.py (prefect.yaml
with a worker). Both run as subprocesses in their own process groups, their output in a log file,
and are stopped (then killed, with anything they started) at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite

BIN = Path(sys.executable).parent
NEWSMON = str(BIN / "newsmon")
PREFECT = str(BIN / "prefect")
REPO = Path(__file__).resolve().parents[2]

# The ingest schedule `newsmon serve` gets in these tests: midnight UTC on the 1st of the month,
# so that no scheduled ingest runs in the middle of a test and stores what the tests do not
# expect, but within the 100 days the Prefect server schedules runs ahead.
QUIET_CRON = "0 0 1 * *"
# What a finished backfill and the browser test look at: one of the demo site's five outlets.
BACKFILL_PARAMETERS: dict[str, Any] = {
    "since": "2026-11-01",
    "until": "2026-11-30",
    "sources": ["tigris-herald"],
    "mode": "discover",
    "deliver_alerts": False,
}
SERVE_GRACE_S = 12

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quiet_env(**extra: str) -> dict[str, str]:
    """The test process's environment without Prefect or newsmon settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "NEWSMON_")) or k == "NEWSMON_TEST_POSTGRES_URL"
    }
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        COLUMNS="200",
        **extra,
    )
    return env


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    process: Background | None = None,
    interval: float = 0.25,
) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    With `process`, fail at once (with its output) if that process exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if process is not None and process.poll() is not None:
            pytest.fail(
                f"{process.name} exited ({process.poll()}) while waiting for {what}:\n"
                + process.output()[-4000:]
            )
        if time.monotonic() > deadline:
            detail = f"\n{process.name} output:\n{process.output()[-4000:]}" if process else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Background:
    """A command running in its own process group, its output going to a log file."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str]
    cwd: Path
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def group_alive(self) -> bool:
        """Whether any process of its group (it, or what it started) is still running."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, wait up to `timeout`; then SIGKILL the whole group. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self._log.close()
        return self.process.poll()


@dataclass
class PrefectServer:
    """`prefect server start` on 127.0.0.1, with its own PREFECT_HOME."""

    port: int
    home: Path
    process: Background

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @contextlib.contextmanager
    def api(self) -> Iterator[None]:
        """Prefect's client in this process talks to this server."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = quiet_env(
        PREFECT_HOME=str(home),
        # The UI asks the API at PREFECT_SERVER_API_HOST:PORT (not at `--port`): set both.
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
    )
    process = Background(
        "prefect server",
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        home / "server.log",
        env,
        home,
    )
    server = PrefectServer(port, home, process)
    try:
        wait_until(
            lambda: _healthy(server.api_url),
            timeout=180,
            what=f"the Prefect server on port {port} (GET /api/health)",
            process=process,
        )
        yield server
    finally:
        process.stop()


def _healthy(api_url: str) -> bool:
    try:
        response = httpx.get(f"{api_url}/health", timeout=5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json() is True


@dataclass
class Served:
    """`newsmon serve` against the test server, on the demo site's config and its own database."""

    process: Background
    config_dir: Path
    database_url: str
    receiver: AlertReceiver
    stopped_by: str | None = None

    def require_running(self) -> None:
        if self.stopped_by:
            pytest.fail(f"newsmon serve was already stopped by {self.stopped_by}")


@pytest.fixture(scope="session")
def served(
    prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            work / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        database_url = f"sqlite:///{work / 'newsmon.db'}"
        env = quiet_env(
            PREFECT_API_URL=prefect_server.api_url,
            PREFECT_HOME=str(work / "prefect-home"),
            # Pick up new runs every second instead of every 10 (a test waits for each).
            PREFECT_RUNNER_POLL_FREQUENCY="1",
            NEWSMON_DATABASE_URL=database_url,
            NEWSMON_ALLOW_PRIVATE_HOSTS="true",
            # test_sigterm's hanging page must outlast the grace period, not time out before.
            NEWSMON_READ_TIMEOUT_S="300",
            NEWSMON_TOTAL_TIMEOUT_S="300",
        )
        process = Background(
            "newsmon serve",
            [
                NEWSMON,
                "serve",
                "--config",
                str(config),
                "--cron",
                QUIET_CRON,
                "--grace",
                str(SERVE_GRACE_S),
            ],
            work / "serve.log",
            env,
            work,
        )
        try:
            with prefect_server.api():
                wait_until(
                    lambda: _registered(["ingest/ingest", "backfill/backfill"]),
                    timeout=180,
                    what="newsmon serve to register its deployments",
                    process=process,
                )
            yield Served(process, config, database_url, receiver)
        finally:
            process.stop(timeout=SERVE_GRACE_S + 40)


def _registered(names: list[str]) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_deployment_by_name(name)
            except ObjectNotFound:
                return False
    return True


@pytest.fixture(scope="session")
def backfill_run(served: Served, prefect_server: PrefectServer) -> Any:
    """The backfill deployment run once with custom parameters, as the UI's custom run does."""
    from prefect.deployments import run_deployment

    served.require_running()
    with prefect_server.api():
        return run_deployment(
            name="backfill/backfill",
            parameters=BACKFILL_PARAMETERS,
            timeout=300,
            poll_interval=1,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SIGTERM test stops the session's `newsmon serve`: run it after every test that needs it."""
    stops_serve = [i for i in items if i.name.startswith("test_sigterm_lets_runs_in_progress")]
    for item in stops_serve:
        items.remove(item)
        items.append(item)
