"""Per-process resources shared by the tasks of a run: database engines, the extraction pool, and
the network side (one Fetcher on one event loop thread, per-host politeness, robots.txt cache).

Tasks take plain parameters (a database URL, not an engine) so Prefect can record and show them;
the heavy objects behind them are created once per process here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from newsmon.config.models import Config
from newsmon.extract.pool import PageExtractor
from newsmon.fetch.concurrent import default_host_limit, host_limits, http_policy
from newsmon.fetch.feed_pool import FeedParsePool
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.fetch.politeness import Politeness
from newsmon.fetch.robots import RobotsCache
from newsmon.settings import Settings
from newsmon.store.db import make_engine

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_extractors: dict[tuple[int, float, int, int, int], PageExtractor] = {}


class _WatchedSubprocess:
    """Stands in for the `subprocess` module inside Prefect's server module: the temporary API
    server it starts runs under newsmon.parent_watch, so it dies with this process."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        if list(args[1:3]) == ["-m", "uvicorn"]:
            args = [args[0], "-m", "newsmon.parent_watch", str(os.getpid()), *args[2:]]
        return subprocess.Popen(args, **kwargs)


def tie_ephemeral_api_server() -> None:
    """Make the temporary API server Prefect starts in ephemeral mode die with this process.

    Prefect 3 starts it with `subprocess.Popen([python, "-m", "uvicorn", ...])` and stops it only
    at exit (atexit): after a `kill -9` it ran on. tests/hostile/test_kill.py pins this.
    Against a server (PREFECT_API_URL set) there is nothing to do, and Prefect's server code
    (seconds to import) is not imported.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    from prefect.server.api import server as prefect_server

    if not isinstance(prefect_server.subprocess, _WatchedSubprocess):
        prefect_server.subprocess = _WatchedSubprocess()  # type: ignore[assignment]


def prepare_flow_process() -> None:
    """What a process running newsmon's flows needs once, called by each flow module as its last
    import-time step: the temporary API server tied to the process, runs that end without the
    heartbeat wait, and (last, after every import) the import-time objects frozen."""
    tie_ephemeral_api_server()
    end_runs_without_heartbeat_wait()
    freeze_imported_objects()


def freeze_imported_objects() -> None:
    """Exempt what importing Prefect and newsmon made (millions of objects, there for the life of
    the process) from the cyclic garbage collector, for the flow runs to come.

    Each collection of the oldest generation walks all of them: ~0.3 s with the GIL held (every
    request of the network thread waits), once or twice in a no-change pass over 1,000 feeds
    (benchmarks/polling.py). Frozen objects are still freed by reference counting; only cycles
    among them would never be collected, and import-time objects are not garbage.
    """
    import gc

    gc.freeze()


def end_runs_without_heartbeat_wait() -> None:
    """Let a flow run end without waiting for Prefect's heartbeat thread to notice.

    Prefect 3 sends a flow run's heartbeats (the server's sign that a run on another machine is
    alive) from a thread that sleeps in 1-s steps, and a sync flow run's end joins it: up to 1 s
    (0.5 s on average) of every `newsmon ingest` and every served run, doing nothing. Async flow
    runs skip that join (`join_on_exit=False`); this makes sync ones do the same. The heartbeats
    are unchanged (the thread starts with the run and sends at once, then every
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY s); the stopped thread, a daemon, ends at its next 1-s step
    without sending. Prefect versions without this hook are left alone.
    """
    import inspect

    from prefect import flow_engine

    original = getattr(flow_engine, "_send_heartbeats", None)
    if original is None or getattr(original, "_newsmon_no_wait", False):
        return
    if "join_on_exit" not in inspect.signature(original).parameters:
        return

    def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Any:
        return original(engine, join_on_exit=False)

    send_heartbeats._newsmon_no_wait = True  # type: ignore[attr-defined]
    flow_engine._send_heartbeats = send_heartbeats


def engine_for(url: str) -> Engine:
    with _lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def extractor(settings: Settings) -> PageExtractor:
    """The process's extraction workers for these settings (started on first use, kept)."""
    key = (
        settings.extract_worker_count,
        settings.extract_timeout_s,
        settings.extract_max_chars,
        settings.extract_max_tags,
        settings.extract_max_memory_mb,
    )
    with _lock:
        if key not in _extractors:
            _extractors[key] = PageExtractor(
                key[0],
                page_timeout_s=key[1],
                max_chars=key[2],
                max_tags=key[3],
                max_memory_mb=key[4],
            )
        return _extractors[key]


def close_extractors() -> None:
    """Stop worker processes (end of a CLI run); a served process keeps them for the next run."""
    with _lock:
        for pool in _extractors.values():
            pool.close()
        _extractors.clear()


# --- the network side: one event loop, one Fetcher, one politeness registry per process --------

T = TypeVar("T")


class _Network:
    """An event loop in a thread of its own, where every HTTP request of the process is made.

    Tasks call `run_network` from their own threads; the coroutines all run here, so one Fetcher
    (one connection pool) serves polling and page fetching alike, across tasks and flow runs.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.fetchers: dict[HttpPolicy, Fetcher] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, name="newsmon-network")
        self.thread.daemon = True  # never keeps a process alive; close_network() ends it cleanly
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # the task was interrupted (timeout, Ctrl-C): stop its requests too
            raise

    async def fetcher(self, policy: HttpPolicy, politeness: Politeness) -> Fetcher:
        if policy not in self.fetchers:
            self.fetchers[policy] = Fetcher(policy, politeness=politeness)
        return self.fetchers[policy]

    def close(self) -> None:
        async def close_all() -> None:
            for fetcher in self.fetchers.values():
                await fetcher.aclose()

        self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


_network: _Network | None = None
_politeness: Politeness | None = None
_robots: RobotsCache | None = None
_feed_parser: FeedParsePool | None = None
# Feed parses at once: two cores here, and the extraction processes need theirs too.
FEED_PARSE_WORKERS = 2


def feed_parser() -> FeedParsePool:
    """The process's feed-parsing worker processes (started on the first parse)."""
    global _feed_parser
    with _lock:
        if _feed_parser is None:
            _feed_parser = FeedParsePool(FEED_PARSE_WORKERS)
        return _feed_parser


def politeness(settings: Settings, config: Config | None = None) -> Politeness:
    """The process's per-host limits, updated from these settings (and the sources' keys)."""
    global _politeness
    default = default_host_limit(settings)
    hosts = host_limits(settings, config.sources) if config is not None else None
    with _lock:
        if _politeness is None:
            _politeness = Politeness(
                default=default, max_connections=settings.max_connections, hosts=hosts
            )
        else:
            _politeness.configure(
                default=default, max_connections=settings.max_connections, hosts=hosts
            )
        return _politeness


def robots_cache(settings: Settings) -> RobotsCache:
    """The process's robots.txt cache (entries live NEWSMON_ROBOTS_TTL_S)."""
    global _robots
    with _lock:
        if _robots is None:
            _robots = RobotsCache(ttl_s=settings.robots_ttl_s)
        _robots.ttl_s = settings.robots_ttl_s
        return _robots


def run_network(
    settings: Settings,
    work: Callable[[Fetcher], Awaitable[T]],
    *,
    config: Config | None = None,
) -> T:
    """Run `work(fetcher)` with the process's shared Fetcher, on the network thread.

    Pass the run's `config` so the sources' `max_rps` / `max_connections` keys apply.
    """
    global _network
    limits = politeness(settings, config)
    with _lock:
        if _network is None:
            _network = _Network()
        network = _network

    async def run() -> T:
        fetcher = await network.fetcher(http_policy(settings), limits)
        return await work(fetcher)

    return network.run(run())


def close_network() -> None:
    """Close the shared Fetcher and its thread, stop the feed parsers (end of a CLI run); the
    limits' state is kept."""
    global _network, _feed_parser
    with _lock:
        network, _network = _network, None
        parser, _feed_parser = _feed_parser, None
    if network is not None:
        network.close()
    if parser is not None:
        parser.close()


def send_pending_events() -> None:
    """Send what this process's Prefect client still holds (the run's state events and log lines)
    now, before a command prints its last line. Left to the exit, a run that ended fast still had
    events queued, and the client's "Still processing items" warning (then, from Prefect's
    temporary API stopping in the middle of recording them, its traceback) came after the
    command's own last line (tests/e2e/test_failed_run.py). Bounded: 10 s for each kind."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        try:
            worker.drain_all(timeout=10)
        except Exception as err:  # bookkeeping for the UI: never a reason to fail the command
            logging.getLogger(__name__).debug("could not send Prefect's pending events: %s", err)


def reset_network() -> None:
    """Close the network side and forget its state (rate history, pauses, robots.txt rules).

    For tests, whose loopback servers may reuse a port an earlier test's site had.
    """
    global _politeness, _robots
    close_network()
    with _lock:
        _politeness, _robots = None, None
