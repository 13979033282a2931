"""`kill -9` of `newsmon ingest` leaves no process of it behind, and the next run completes.

Issue 12, item 8: Prefect's temporary API server and the extraction workers were still alive 77 s
after the ingest was killed.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsmon.store.db import make_engine
from tests.localserver import LocalServer, RecordedRequest
from tests.pages import ECONOMY_PARAGRAPHS, WIRE_PARAGRAPHS, article_page, rss_feed

NEWSMON = str(Path(sys.executable).parent / "newsmon")
WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
EXIT_BOUND_S = 30  # the children's own bound: parent_watch gives the server 5 s after SIGTERM


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of `pid`, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            with contextlib.suppress(OSError):
                found[child] = (
                    Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
            stack.append(child)
    return found


def exited_within(pid: int, timeout_s: float) -> bool:
    """Whether process `pid` (not our child) is gone within `timeout_s`: waits on its pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _w, _x = select.select([fd], [], [], timeout_s)
        return bool(readable)
    finally:
        os.close(fd)


def write_site(
    server: LocalServer, hang_started: threading.Event, release: threading.Event
) -> None:
    def hanging(_request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        hang_started.set()
        release.wait(timeout=120)
        return 200, {"Content-Type": "text/html"}, article_page("Late", WIRE_PARAGRAPHS).encode()

    server.route(
        "/rss.xml",
        rss_feed(
            "Wire",
            [
                ("Anbar strike", server.url("/a"), WHEN),
                ("Dinar auctions", server.url("/b"), WHEN + timedelta(minutes=1)),
                ("Late story", server.url("/late"), WHEN + timedelta(minutes=2)),
            ],
        ),
        content_type="application/rss+xml",
    )
    server.route("/a", article_page("Four IS militants killed in Anbar", WIRE_PARAGRAPHS))
    server.route("/b", article_page("Central bank tightens dollar auctions", ECONOMY_PARAGRAPHS))
    server.route_handler("/late", hanging)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_of_ingest_leaves_no_process_and_the_next_run_completes(tmp_path: Path) -> None:
    hang_started, release = threading.Event(), threading.Event()
    config = tmp_path / "config"
    config.mkdir()
    database = tmp_path / "news.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSMON_", "PREFECT_API"))}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "NEWSMON_DATABASE_URL": f"sqlite:///{database}",
            "NEWSMON_ALLOW_PRIVATE_HOSTS": "true",
            "NEWSMON_BATCH_SIZE": "1",  # the hanging page is fetched after extraction has begun
            "NEWSMON_EXTRACT_WORKERS": "2",
        }
    )
    with LocalServer() as server:
        write_site(server, hang_started, release)
        (config / "sources.yaml").write_text(
            f"sources:\n  - {{name: wire, url: '{server.url('/rss.xml')}'}}\n", encoding="utf-8"
        )
        ingest = subprocess.Popen(
            [NEWSMON, "ingest", "--force", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # only for cleaning up if this test fails
        )
        left: dict[int, str] = {}
        try:
            assert hang_started.wait(timeout=300), "the run never reached the hanging page"
            left = descendants(ingest.pid)
            commands = " | ".join(left.values())
            assert "uvicorn" in commands, commands  # Prefect's temporary API server
            assert "forkserver" in commands, commands  # the extraction workers' parent
            assert len(left) >= 4, commands  # server, resource tracker, forkserver, workers
            ingest.send_signal(signal.SIGKILL)
            ingest.wait(timeout=60)
            killed_at = time.monotonic()
            still = [pid for pid in left if not exited_within(pid, EXIT_BOUND_S)]
            assert still == [], {pid: left[pid] for pid in still}
            assert time.monotonic() - killed_at < EXIT_BOUND_S + 5
        finally:
            release.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(ingest.pid, signal.SIGKILL)
            for pid in {**left, **descendants(ingest.pid)}:  # whatever outlived a failed check
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

        again = subprocess.run(
            [NEWSMON, "ingest", "--force", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0, again.stderr[-2000:]
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        urls = set(connection.scalars(sa.text("SELECT url FROM article")))
    engine.dispose()
    assert {server.url("/a"), server.url("/b"), server.url("/late")} <= urls
    # Prefect's own record of the two runs (its temporary API keeps them in PREFECT_HOME): the
    # killed one is marked Crashed by the next, not left Running for ever.
    prefect = make_engine(f"sqlite:///{tmp_path / 'prefect-home' / 'prefect.db'}")
    with prefect.connect() as connection:
        states = sorted(connection.scalars(sa.text("SELECT state_type FROM flow_run")))
    prefect.dispose()
    assert states == ["COMPLETED", "CRASHED"], states
