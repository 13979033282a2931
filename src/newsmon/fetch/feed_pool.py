"""Feed parsing off the event loop: worker processes, each parse bounded in time.

feedparser is pure Python: a 5 MB feed takes ~10 s here (1-2.5 MB real feeds 3-12 s), and in the
event loop that polls every other feed it stalled them all into "timed out connecting". A thread
would not bound the parse (a thread cannot be stopped) and still competes for the GIL with the
loop; a worker process can be killed when its parse runs too long, and then only that feed fails.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor

from newsmon.fetch.feeds import FeedParseError, parse_feed
from newsmon.fetch.politeness import Slots
from newsmon.parent_watch import exit_when_gone
from newsmon.records import FeedEntry

# Generous for a healthy feed (a 5 MB one parses in ~10 s on a busy 2-core machine); a parse
# still running then is stopped and its feed fails with an error saying so.
PARSE_TIMEOUT_S = 60.0

_Job = tuple[bytes, str, str, dict[str, str]]


def _parse_job(job: _Job) -> list[FeedEntry] | str:
    """Runs in a worker: the entries, or the FeedParseError's message."""
    body, source, url, headers = job
    try:
        return parse_feed(body, source=source, url=url, headers=headers)
    except FeedParseError as err:
        return str(err)


def _start_worker(owner: int) -> None:
    exit_when_gone(owner)  # a killed run leaves no parser behind
    _warm_up()


def _warm_up() -> None:
    import newsmon.fetch.feeds  # noqa: F401  (feedparser loaded before the first feed is timed)


class FeedParsePool:
    """Parses feeds in `workers` processes; usable from any event loop and thread. Reuse it.

    At most `workers` parses are handed to the pool at a time, so a parse's time limit counts
    its own work, not a wait behind other feeds.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        timeout_s: float = PARSE_TIMEOUT_S,
        parse_fn: Callable[[_Job], list[FeedEntry] | str] = _parse_job,
    ) -> None:
        self._workers = max(1, workers)
        self._timeout_s = timeout_s
        self._parse_fn = parse_fn  # a module-level function (it is pickled to the workers)
        self._slots = Slots(self._workers)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._started: list[Future[None]] = []
        self._generation = 0

    async def parse(
        self, body: bytes, *, source: str, url: str, headers: Mapping[str, str]
    ) -> list[FeedEntry]:
        """The feed's entries (as `newsmon.fetch.feeds.parse_feed`); FeedParseError when it fails,
        crashes its worker, or runs longer than the time limit."""
        job: _Job = (body, source, url, dict(headers))
        await self._slots.acquire()
        try:
            pool, generation, started = self._executor()
            try:
                # Starting the workers (a process, feedparser's import) is not parse time.
                await asyncio.gather(*(asyncio.wrap_future(f) for f in started))
                future = asyncio.wrap_future(pool.submit(self._parse_fn, job))
                result = await asyncio.wait_for(future, self._timeout_s)
            except TimeoutError:
                self._discard(generation, kill=True)
                raise self._too_long(url, body) from None
            except RuntimeError:  # BrokenProcessPool, or a pool shut down meanwhile
                # Another feed's parse was stopped or crashed its worker and took this one down
                # with the pool (or this one is the crasher): once more, alone in a process of
                # its own, so a crasher retried beside it cannot take it down again.
                self._discard(generation, kill=False)
                result = await self._parse_alone(job)
        finally:
            self._slots.release()
        if isinstance(result, str):
            raise FeedParseError(result)
        return list(result)

    def _too_long(self, url: str, body: bytes) -> FeedParseError:
        return FeedParseError(
            f"{url}: parsing the feed ({len(body):,} bytes) took longer than"
            f" {self._timeout_s:g} s and was stopped"
        )

    async def _parse_alone(self, job: _Job) -> list[FeedEntry] | str:
        body, _source, url, _headers = job
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        )
        try:
            await asyncio.wrap_future(pool.submit(_warm_up))
            future = asyncio.wrap_future(pool.submit(self._parse_fn, job))
            return await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            raise self._too_long(url, body) from None
        except RuntimeError:  # BrokenProcessPool: this feed itself crashes the parser
            raise FeedParseError(f"{url}: the feed crashed the parser's worker process") from None
        finally:
            _kill_workers(pool)
            pool.shutdown(wait=False)

    def close(self) -> None:
        """Stop the worker processes (a later parse starts new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._generation += 1
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _executor(self) -> tuple[ProcessPoolExecutor, int, list[Future[None]]]:
        with self._lock:
            if self._pool is None:
                # forkserver: forking the caller (threads, an event loop, Prefect) is unsafe.
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(os.getpid(),),
                )
                self._started = [self._pool.submit(_warm_up) for _ in range(self._workers)]
            return self._pool, self._generation, self._started

    def _discard(self, generation: int, *, kill: bool) -> None:
        with self._lock:
            if generation != self._generation or self._pool is None:
                return  # another parse replaced it already
            pool, self._pool = self._pool, None
            self._generation += 1
        if kill:
            _kill_workers(pool)
        # Not cancel_futures: a cancelled future would read as the caller's task being
        # cancelled; the pool fails the waiting ones with BrokenProcessPool, and they retry.
        pool.shutdown(wait=False)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # A busy worker never returns by itself; the executor has no public way to stop one.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
