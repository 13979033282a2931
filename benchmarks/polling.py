"""Polling at scale: 1,000 feeds on 50 hosts (loopback), through the real ingest flow.

Run:  .venv/bin/python benchmarks/polling.py [--hosts 50] [--feeds 20] [--entries 20] [--rps 10]
                                             [--with-pages] [--no-cli] [--no-server]
                                             [--cli-runs 3] [--profile]

Before/after: run this file with the other checkout's Python (`/work/main/.venv/bin/python
benchmarks/polling.py`): the passes and the `newsmon` processes are then that checkout's code.

50 HTTP servers on 127.0.0.1 (their own process, so they do not compete with the client for the
GIL), each one "host" serving 20 RSS feeds of 20 entries (ETag / If-None-Match honoured), their
article pages and a robots.txt; every request is timestamped by the server. Then, in this process
with Prefect's ephemeral API:

- pass 1: `ingest(force=True)` over all 1,000 feeds. By default the feeds' entries are already
  stored (so pass 1 polls and parses every feed and finds nothing new); `--with-pages` starts
  from an empty archive and fetches, extracts and stores all 20,000 pages instead (slow: minutes);
- pass 2: `ingest(force=True)` again, nothing changed: 1,000 conditional GETs answered 304.

Printed: wall time of each pass (pass 1 includes starting Prefect's temporary API server), the
requests each host saw, the largest number of requests a host saw in any one-second window (its
rate limit is NEWSMON_HOST_RPS=--rps), and, unless --no-cli, `newsmon ingest` as a user runs it
(a new process): `--force` with Prefect's temporary API (its start included), and, unless
--no-server, against a running Prefect server both `--force` (a no-change pass: Prefect import,
flow run) and plain `newsmon ingest` with nothing due (the cron case: answered from the database,
no flow run, no request; checked). The last line is the same figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from harness import (
    Answer,
    LoopbackHost,
    SiteProcess,
    Sites,
    bench_environment,
    start_prefect,
    write_sources,
)
from report import max_in_any_window

_VOCABULARY = """
government forces province border security council minister report officials attack election
parliament market prices water drought farmers bridge road hospital school militants operation
village district oil exports bank dinar agreement talks delegation
"""
WORDS = tuple(_VOCABULARY.split())
# The command of the Python running this script: run with another checkout's .venv/bin/python,
# the in-process passes and the `newsmon` processes are that checkout's (before/after figures).
NEWSMON = Path(sys.executable).parent / "newsmon"


# --- the sites (run in a child process) -------------------------------------------------------


def feed_xml(port: int, host: int, feed: int, entries: int) -> bytes:
    newest = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    items = []
    for n in range(entries):
        link = f"http://127.0.0.1:{port}/a/{feed}/{n}"
        when = format_datetime(newest - timedelta(hours=n))
        items.append(
            f"<item><title>Host {host} feed {feed} story {n}</title><link>{link}</link>"
            f"<guid>{link}</guid><pubDate>{when}</pubDate>"
            f"<description>Story {n} of feed {feed} on host {host}.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Host {host} feed {feed}</title><link>http://127.0.0.1:{port}/</link>"
        f"<description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


def article_html(host: int, feed: int, n: int) -> bytes:
    seed = host * 1_000_003 + feed * 1009 + n
    words = [WORDS[(seed * (i + 7) + i * i) % len(WORDS)] for i in range(260)]
    paragraphs = [" ".join(words[i : i + 40]).capitalize() + "." for i in range(0, 260, 40)]
    title = f"Report {host}-{feed}-{n}: {' '.join(words[:5])}"
    body = "".join(f"<p>{escape(p)} (ref {seed}-{i})</p>" for i, p in enumerate(paragraphs))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta property="article:published_time" content="2026-11-21T08:00:00Z"></head>'
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{escape(title)}</h1>{body}</article>"
        "<footer>(c) bench</footer></body></html>"
    ).encode()


class FeedHost(LoopbackHost):
    """One "host": `feeds` RSS feeds (ETag / If-None-Match honoured), their pages, a robots.txt."""

    def __init__(self, host: int, feeds: int, entries: int) -> None:
        super().__init__()
        self.host, self.feeds = host, feeds
        self.feed_bodies = [feed_xml(self.port, host, k, entries) for k in range(feeds)]

    def answer(self, path: str, headers: Message) -> Answer:
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
        if path.startswith("/feeds/"):
            feed = int(path.removeprefix("/feeds/").removesuffix(".xml"))
            if feed < self.feeds:
                etag = f'"h{self.host}-f{feed}-v1"'
                if headers.get("If-None-Match") == etag:
                    return 304, {"ETag": etag}, b""
                content = {"Content-Type": "application/rss+xml", "ETag": etag}
                return 200, content, self.feed_bodies[feed]
        elif path.startswith("/a/"):
            _, _, feed, n = path.split("/")
            content = {"Content-Type": "text/html; charset=utf-8"}
            return 200, content, article_html(self.host, int(feed), int(n))
        return super().answer(path, headers)


def build_sites(hosts: int, feeds: int, entries: int) -> Sites:
    """In the sites' process: the hosts; their ports go to the benchmark."""
    sites = [FeedHost(h, feeds, entries) for h in range(hosts)]
    return Sites(sites, hello=[site.port for site in sites])


# --- figures ----------------------------------------------------------------------------------


def host_figures(
    logs: list[list[float]], span: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Requests per host; with the pass's `span` (time.monotonic() at its start and end: one
    clock for both processes), how long it took to the first request, from the first to the last
    (politeness bounds this), and from the last to the end."""
    counts = [len(log) for log in logs]
    figures: dict[str, Any] = {
        "requests": sum(counts),
        "requests_per_host_min": min(counts),
        "requests_per_host_max": max(counts),
        "max_per_host_in_any_1s": max(max_in_any_window(log) for log in logs),
    }
    arrivals = [t for log in logs for t in log]
    if span is not None and arrivals:
        first, last = min(arrivals), max(arrivals)
        figures["before_first_request_s"] = round(first - span[0], 2)
        figures["first_to_last_request_s"] = round(last - first, 2)
        figures["after_last_request_s"] = round(span[1] - last, 2)
    return figures


# --- the run ----------------------------------------------------------------------------------


def write_config(directory: Path, ports: list[int], feeds: int) -> Path:
    return write_sources(
        directory,
        (
            {"name": f"h{host}-f{feed}", "url": f"http://127.0.0.1:{port}/feeds/{feed}.xml"}
            for host, port in enumerate(ports)
            for feed in range(feeds)
        ),
    )


def prestore_entries(database_url: str, ports: list[int], feeds: int, entries: int) -> int:
    """Store an article row for every entry, as if an earlier run had fetched them all."""
    import hashlib

    import sqlalchemy as sa

    from newsmon.store.db import make_engine
    from newsmon.store.models import Article
    from newsmon.urls import canonical_url

    rows = []
    now = datetime.now(UTC)
    for host, port in enumerate(ports):
        for feed in range(feeds):
            for n in range(entries):
                url = f"http://127.0.0.1:{port}/a/{feed}/{n}"
                rows.append(
                    {
                        "url": url,
                        "canonical_url": canonical_url(url),
                        "final_url": url,
                        "source": f"h{host}-f{feed}",
                        "title": f"story {n}",
                        "text": "stored earlier",
                        "exact_hash": hashlib.sha256(url.encode()).hexdigest(),
                        "signature": b"\x00",
                        "fetched_at": now,
                    }
                )
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.insert(Article), rows)
    engine.dispose()
    return len(rows)


def polling_without_prefect(config_dir: Path) -> dict[str, int]:
    """The polling steps of the ingest flow, called directly (no flow or task runs): what the
    pass costs without Prefect's bookkeeping. Same functions, same order as tasks/poll.py."""
    from collections import Counter

    from sqlalchemy.orm import Session

    from newsmon.config.loading import load_config
    from newsmon.fetch.concurrent import poll_sources
    from newsmon.fetch.http import Fetcher
    from newsmon.fetch.schedule import PollPolicy, due_sources, poll_states
    from newsmon.records import FeedPoll
    from newsmon.settings import Settings
    from newsmon.store.queue import enqueue_entries, new_entries
    from newsmon.store.sources import PollOutcome, store_polls, sync_sources
    from newsmon.tasks.runtime import engine_for, run_network

    settings = Settings()
    config = load_config(config_dir)
    policy = PollPolicy.from_settings(settings)
    engine = engine_for(settings.database_url)
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        states = sync_sources(session, config.sources)
        due = due_sources(config.sources, states, now, force=True)
        feed_states = poll_states(due, states, now, policy=policy)

    async def work(fetcher: Fetcher) -> list[FeedPoll]:
        return await poll_sources(fetcher, due, feed_states)

    polls = run_network(settings, work, config=config)
    by_name = {source.name: source for source in config.sources}
    with Session(engine) as session, session.begin():
        changed = [entry for poll in polls if poll.status == "ok" for entry in poll.entries]
        entries = new_entries(session, changed) if changed else []
        enqueue_entries(session, entries, now=now)
        counts = Counter(entry.source for entry in entries)
        outcomes = [PollOutcome(p, by_name[p.source], counts[p.source]) for p in polls]
        store_polls(session, outcomes, now=now, policy=policy)
    return dict(Counter(poll.status for poll in polls))


@contextlib.contextmanager
def garbage_collections() -> Iterator[dict[str, float]]:
    """The cyclic garbage collections of this process meanwhile: how many of the oldest
    generation, and the seconds all took (the GIL is held throughout, requests wait)."""
    figures = {"full": 0, "seconds": 0.0}
    began = [0.0]

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
            return
        figures["seconds"] += time.perf_counter() - began[0]
        figures["full"] += info["generation"] == 2

    gc.callbacks.append(note)
    try:
        yield figures
    finally:
        gc.callbacks.remove(note)
        figures["seconds"] = round(figures["seconds"], 3)


def cli_pass(
    config: Path, env: dict[str, str], workdir: Path, *, force: bool = True
) -> tuple[float, float, str]:
    """`newsmon ingest [--force]` as a new process: wall and CPU seconds (user + system, its
    children included), and what it printed."""
    command = [str(NEWSMON), "ingest", *(["--force"] if force else []), "--config", str(config)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"newsmon ingest failed:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, result.stdout


def cli_passes(
    config: Path, env: dict[str, str], workdir: Path, sites: SiteProcess, runs: int, *, force: bool
) -> dict[str, Any]:
    """`runs` timed runs of `newsmon ingest [--force]`: the fastest and the median wall and CPU
    seconds, and the most requests a host saw in any 1-s window over them."""
    walls, cpus, outputs = [], [], []
    sites.ask("reset")
    for _ in range(runs):
        wall, cpu, output = cli_pass(config, env, workdir, force=force)
        walls.append(wall)
        cpus.append(cpu)
        outputs.append(output)
    return {
        "wall_s_min": round(min(walls), 2),
        "wall_s_median": round(statistics.median(walls), 2),
        "cpu_s_min": round(min(cpus), 2),
        "cpu_s_median": round(statistics.median(cpus), 2),
        "runs": runs,
        "first_line": outputs[-1].splitlines()[0] if outputs[-1] else "",
        **host_figures(sites.ask("stats")),
    }


@contextlib.contextmanager
def prefect_server(workdir: Path) -> Iterator[str]:
    """`prefect server start` on a free 127.0.0.1 port with its own PREFECT_HOME; its API URL."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = workdir / "prefect-server"
    home.mkdir()
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"prefect server exited; see {home / 'server.log'}")
            try:
                if httpx.get(f"{api}/health", timeout=2).json() is True:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("prefect server did not become healthy in 180 s")
            time.sleep(0.5)
        yield api
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=20, help="feeds per host")
    parser.add_argument("--entries", type=int, default=20, help="entries per feed")
    parser.add_argument("--rps", type=float, default=10.0, help="NEWSMON_HOST_RPS for the run")
    parser.add_argument(
        "--with-pages", action="store_true", help="fetch and store every page in pass 1"
    )
    parser.add_argument(
        "--no-cli", action="store_true", help="skip the `newsmon ingest` process figure"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile pass 2 (top functions)")
    parser.add_argument(
        "--no-server",
        action="store_true",
        help="skip `newsmon ingest` against a running Prefect server (starts one)",
    )
    parser.add_argument(
        "--cli-runs",
        type=int,
        default=3,
        help="timed `newsmon ingest` processes of each kind against the server (median, fastest)",
    )
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="newsmon-bench-polling-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    env = bench_environment(
        database_url, NEWSMON_HOST_RPS=str(args.rps), PREFECT_HOME=str(workdir / "prefect")
    )
    os.environ.update(env)

    sites = SiteProcess(build_sites, args.hosts, args.feeds, args.entries)
    ports: list[int] = sites.hello
    feeds_total = args.hosts * args.feeds

    from newsmon.store.db import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    prestored = (
        0 if args.with_pages else prestore_entries(database_url, ports, args.feeds, args.entries)
    )
    config = write_config(workdir / "config", ports, args.feeds)
    print(
        f"{feeds_total} feeds on {args.hosts} hosts (127.0.0.1, ports {ports[0]}..{ports[-1]}), "
        f"{args.entries} entries each; rate limit {args.rps:g} requests/s per host; "
        f"{'empty archive (pages fetched)' if args.with_pages else f'{prestored} entries already stored'}",
        file=sys.stderr,
    )

    from newsmon.flows.ingest import ingest
    from newsmon.tasks.runtime import close_extractors, close_network

    figures: dict[str, Any] = {
        "feeds": feeds_total,
        "hosts": args.hosts,
        "entries_per_feed": args.entries,
        "rate_limit_rps": args.rps,
        "with_pages": args.with_pages,
        "cpus": os.cpu_count(),
        "load_avg_1m_before": os.getloadavg()[0],
    }
    try:
        figures["prefect_start_s"] = round(start_prefect(), 2)

        started = time.perf_counter()
        first = ingest(config_dir=str(config), force=True)
        figures["pass1_wall_s"] = round(time.perf_counter() - started, 2)
        figures["pass1"] = host_figures(sites.ask("stats")) | {
            "polls": _poll_counts(first),
            "stored": first["stored"],
            "failed": first["failed"],
        }
        sites.ask("reset")

        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started, cpu, began = time.perf_counter(), time.process_time(), time.monotonic()
        with garbage_collections() as collections:
            second = ingest(config_dir=str(config), force=True)
        span = (began, time.monotonic())
        figures["pass2_wall_s"] = round(time.perf_counter() - started, 2)
        figures["pass2_cpu_s"] = round(time.process_time() - cpu, 2)
        figures["pass2_gc"] = collections
        if profiler is not None:
            import pstats

            profiler.disable()
            profiler.dump_stats(workdir / "pass2.prof")
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
            print(f"profile of pass 2: {workdir / 'pass2.prof'}", file=sys.stderr)
        figures["pass2"] = host_figures(sites.ask("stats"), span) | {
            "polls": _poll_counts(second),
            "stored": second["stored"],
            "failed": second["failed"],
        }

        sites.ask("reset")
        started, cpu, began = time.perf_counter(), time.process_time(), time.monotonic()
        with garbage_collections() as collections:
            statuses = polling_without_prefect(config)
        span = (began, time.monotonic())
        figures["pass2_core_cpu_s"] = round(time.process_time() - cpu, 2)
        figures["pass2_core_gc"] = collections
        figures["pass2_core_wall_s"] = round(time.perf_counter() - started, 2)
        figures["pass2_core"] = host_figures(sites.ask("stats"), span) | {"polls": statuses}
    finally:
        close_extractors()
        close_network()

    if not args.no_cli:
        # Prefect's temporary API: the first `newsmon ingest` a user tries (no server set up).
        sites.ask("reset")
        figures["cli_no_change_pass_wall_s"] = round(
            cli_pass(config, {**os.environ}, workdir)[0], 2
        )
        figures["cli_pass"] = host_figures(sites.ask("stats"))
    if not args.no_cli and not args.no_server:
        # How a deployment runs it: cron's `newsmon ingest` (or serve's run process) against a
        # Prefect server that is already up, so no temporary API has to start.
        with prefect_server(workdir) as api_url:
            env_server = {**os.environ, "PREFECT_API_URL": api_url}
            cli_pass(config, env_server, workdir)  # the first run against it creates the flow
            forced = cli_passes(config, env_server, workdir, sites, args.cli_runs, force=True)
            figures["cli_server_forced"] = forced
            figures["cli_server_no_change_pass_wall_s"] = forced["wall_s_median"]
            # The forced passes left every source polled: a cron `newsmon ingest` now finds
            # nothing due, no page queued and no alert to send, and must say so without a flow
            # run and without a request (tests/e2e/test_ingest_idle.py: with something due or
            # queued, the flow does run).
            idle = cli_passes(config, env_server, workdir, sites, args.cli_runs, force=False)
            if idle["requests"] or not idle["first_line"].startswith("0 sources polled; no page"):
                raise SystemExit(f"`newsmon ingest` did not take the idle path: {idle}")
            figures["cli_server_idle"] = idle
    sites.close()

    _report(figures)
    print(json.dumps(figures))


def _poll_counts(summary: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in summary["sources"].values():
        counts[row["poll"]] = counts.get(row["poll"], 0) + 1
    return counts


def _report(f: dict[str, Any]) -> None:
    rate = f["rate_limit_rps"]
    print(f"starting Prefect's temporary API (a trivial flow): {f['prefect_start_s']:.2f} s")
    print(
        f"pass 1 (first poll, {'pages fetched' if f['with_pages'] else 'entries already stored'}): "
        f"{f['pass1_wall_s']:.2f} s wall"
    )
    print(
        f"  polls {f['pass1']['polls']}, stored {f['pass1']['stored']}, failed {f['pass1']['failed']}"
    )
    print(
        f"  {f['pass1']['requests']} requests, {f['pass1']['requests_per_host_min']}-"
        f"{f['pass1']['requests_per_host_max']} per host, at most {f['pass1']['max_per_host_in_any_1s']} "
        f"per host in any 1-s window (limit {rate:g}/s)"
    )
    print(
        f"pass 2 (nothing changed): {f['pass2_wall_s']:.2f} s wall, {f['pass2_cpu_s']:.2f} s CPU, "
        "in a process where Prefect runs already; garbage collection "
        f"{f['pass2_gc']['seconds']:.2f} s ({f['pass2_gc']['full']} full)"
    )
    print(f"  polls {f['pass2']['polls']}")
    for key, what in (("pass2", "with Prefect"), ("pass2_core", "without Prefect")):
        if "before_first_request_s" in f[key]:
            print(
                f"  {what}: first request after {f[key]['before_first_request_s']:.2f} s, "
                f"first to last {f[key]['first_to_last_request_s']:.2f} s, "
                f"{f[key]['after_last_request_s']:.2f} s after the last"
            )
    print(
        f"  {f['pass2']['requests']} requests, {f['pass2']['requests_per_host_min']}-"
        f"{f['pass2']['requests_per_host_max']} per host, at most {f['pass2']['max_per_host_in_any_1s']} "
        f"per host in any 1-s window (limit {rate:g}/s)"
    )
    print(
        f"pass 2 again, the polling steps called directly (no Prefect): {f['pass2_core_wall_s']:.2f} s"
        f" wall, {f['pass2_core_cpu_s']:.2f} s CPU, garbage collection "
        f"{f['pass2_core_gc']['seconds']:.2f} s ({f['pass2_core_gc']['full']} full), polls {f['pass2_core']['polls']}, at most {f['pass2_core']['max_per_host_in_any_1s']}"
        f" per host in any 1-s window"
    )
    if "cli_server_forced" in f:
        for key, what in (
            ("cli_server_idle", "`newsmon ingest`, nothing due (answered without a flow run)"),
            ("cli_server_forced", "`newsmon ingest --force`, nothing changed"),
        ):
            c = f[key]
            print(
                f"{what}, new process, Prefect server running: {c['wall_s_median']:.2f} s wall "
                f"(fastest {c['wall_s_min']:.2f}), {c['cpu_s_median']:.2f} s CPU, median of "
                f"{c['runs']}; {c['requests']} requests, at most {c['max_per_host_in_any_1s']} "
                "per host in any 1-s window"
            )
    if "cli_no_change_pass_wall_s" in f:
        print(
            f"`newsmon ingest --force`, nothing changed, new process: {f['cli_no_change_pass_wall_s']:.2f} s wall "
            f"(at most {f['cli_pass']['max_per_host_in_any_1s']} per host in any 1-s window)"
        )


if __name__ == "__main__":
    main()
