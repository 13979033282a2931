"""Crash safety: SIGKILL `newsmon ingest` at random points of runs against the demo site, restart,
repeat; then check that every article is stored exactly once and every alert raised and delivered
exactly once.

The suite runs a short version (tests/faults/test_crash_safety.py); the long randomized loop is

    .venv/bin/python -m tests.faults.kill_loop --kills 30 --seed 7

It prints a table of what happened and a final JSON line with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from newsmon.app.demo.run import SITE, write_demo_config
from newsmon.app.demo.server import AlertReceiver, StaticSite

NEWSMON = str(Path(sys.executable).parent / "newsmon")
# What the demo site holds: every page but the one 404, and one alert per rule and story cluster.
EXPECTED_ARTICLES = 37
EXPECTED_ALERTS = 13
RUN_TIMEOUT_S = 300


def _env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(
        {
            # Prefect's own state too is killed with the runs: keep it apart from the user's.
            "PREFECT_HOME": str(database.parent / "prefect-home"),
            "NEWSMON_DATABASE_URL": f"sqlite:///{database}",
            "NEWSMON_ALLOW_PRIVATE_HOSTS": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    return env


def _ingest(config: Path, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own, so the kill reaches Prefect's temporary server and the extraction
    # workers too, as a crash of the machine or an OOM kill of the unit would.
    return subprocess.Popen(
        [NEWSMON, "ingest", "--force", "--config", str(config)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


class _RequestCounter:
    """Counts requests to the site and signals when the target count is reached."""

    def __init__(self, target: int) -> None:
        self.target, self.count = target, 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, _path: str) -> None:
        with self._lock:
            self.count += 1
            if self.count >= self.target:
                self.reached.set()


def run_kill_loop(kills: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Kill `kills` runs at random request counts (and some at random times), then finish cleanly."""
    rng = random.Random(seed)
    database = workdir / "killloop.db"
    env = _env(database)
    log: list[dict[str, Any]] = []
    with StaticSite(SITE) as site, AlertReceiver() as receiver:
        config = write_demo_config(
            workdir / "config",
            {"{{BASE_URL}}": site.base_url, "{{RECEIVER_PORT}}": str(receiver.port)},
        )
        killed = 0
        while killed < kills:
            counter = _RequestCounter(rng.randint(1, 45))  # a run makes ~41 requests
            reached = counter.reached
            site.on_request = counter
            process = _ingest(config, workdir, env)
            by_time = rng.random() < 0.3  # some kills at a random moment (e.g. during delivery)
            if by_time:
                reached.wait(timeout=rng.uniform(8, 20))
            else:
                # Waits for the request count, or for the run to end first (target too high).
                while not reached.wait(timeout=0.05):
                    if process.poll() is not None:
                        break
            finished = process.poll()
            _kill_group(process)
            site.on_request = None
            log.append(
                {
                    "run": len(log) + 1,
                    "killed": finished is None,
                    "at_request": counter.count,
                    "by_time": by_time,
                    "exit": finished,
                }
            )
            if finished is None:
                killed += 1
        final = subprocess.run(
            [NEWSMON, "ingest", "--force", "--config", str(config)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        log.append({"run": len(log) + 1, "killed": False, "exit": final.returncode})
        if final.returncode != 0:
            raise AssertionError(f"the final run failed: {final.stderr[-2000:]}")
        received = [(m.get("title", ""), m.get("path", "")) for m in receiver.received]

    with sqlite3.connect(database) as db:
        articles = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT canonical_url) FROM article"
        ).fetchone()
        alerts = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT rule || ':' || cluster_id),"
            " SUM(delivered_at IS NOT NULL) FROM alert"
        ).fetchone()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    duplicates_received = sum(n - 1 for n in Counter(received).values() if n > 1)
    return {
        "runs": len(log),
        "runs_killed": sum(1 for r in log if r["killed"]),
        "articles": articles[0],
        "articles_distinct": articles[1],
        "articles_lost": EXPECTED_ARTICLES - articles[1],
        "articles_duplicated": articles[0] - articles[1],
        "alerts": alerts[0],
        "alerts_distinct": alerts[1],
        "alerts_delivered": alerts[2] or 0,
        "alerts_lost": EXPECTED_ALERTS - (alerts[2] or 0),
        "messages_received": len(received),
        "messages_duplicated": duplicates_received,
        "integrity": integrity,
        "log": log,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="newsmon-killloop-") as tmp:
        figures = run_kill_loop(args.kills, args.seed, Path(tmp))
    figures["wall_s"] = round(time.monotonic() - started, 1)
    for row in figures["log"]:
        print(row)
    print(json.dumps({k: v for k, v in figures.items() if k != "log"}))


if __name__ == "__main__":
    main()
