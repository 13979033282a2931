"""Extraction in worker processes, each page under a time limit, so no page can stall a run.

Every page is extracted in a worker process, never in the caller's (a parser stuck in C code can
only be stopped by killing its process). A page gets `page_timeout_s` from the moment its worker
takes it; a worker still busy then is killed and replaced, and only that page fails. Other pages
keep running meanwhile, so a batch of n pages with h hanging ones ends within about
(n / workers) x healthy time + (h / workers) x timeout, never a re-run of the batch. A worker is
handed its next page while it extracts one (`PIPELINE_DEPTH`), written without ever blocking on
its socket; if it is stopped, the page waiting there goes to another worker.

Before a page is sent, a cheap pre-check refuses what no news page needs (more characters or tags
than the limits, `extract.limits`): such a page fails at once instead of holding a worker for its
timeout.

Workers come from a forkserver that imports trafilatura once (forking the main process, which runs
Prefect's threads and event loop, is unsafe), and die with it: each asks the kernel for SIGKILL
when its parent (the forkserver) goes, and the forkserver exits when this process does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import select
import socket
import struct
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any, cast

from newsmon.extract.limits import (
    MAX_PAGE_CHARS,
    MAX_PAGE_TAGS,
    MAX_START_FAILURES,
    MAX_WORKER_MEMORY_MB,
    PAGE_TIMEOUT_S,
    START_TIMEOUT_S,
    precheck,
)
from newsmon.extract.worker import ExtractFn, Job, Message, T, Then, ThenFailed, extract_one, serve
from newsmon.records import Extracted, Page, PageFailure

# Pages handed to a worker at once: the next page waits in its socket while it extracts one, so
# it starts the next without waiting for this process (whose other threads hold the GIL for
# milliseconds at a time: a worker waited ~5 ms per page for its next job). Only while the batch
# has more pages than workers, so a page never waits behind a slow one at the batch's end.
PIPELINE_DEPTH = 2
# How often a batch with a `then` step looks for an abort, and how long close() waits for a batch.
_ABORT_CHECK_S = 0.2
_CLOSE_WAIT_S = 10.0


class ExtractionAborted(Exception):
    """The batch's run was interrupted (`PageExtractor.abort`)."""


class ThenStepError(Exception):
    """A `then` step raised in the workers: the batch fails (see `extract_then`)."""


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    started: float = 0.0  # when it was started, then when its first job became current
    # Indexes of the pages sent to it, in order: the first is the one it works on, a second waits
    # in its socket (`PIPELINE_DEPTH`), so it never idles while this process is busy elsewhere.
    jobs: deque[int] = field(default_factory=deque)
    outbox: deque[memoryview] = field(default_factory=deque)  # framed jobs (the rest of them)
    sent: int = 0  # how many of `jobs` are written in full (the first ones)
    then: object = None  # the `then` step last sent to it (compared by identity)

    @property
    def job(self) -> int | None:
        return self.jobs[0] if self.jobs else None


class PageExtractor:
    """Extracts pages in worker processes, each under a time limit; reuse it for a whole run."""

    def __init__(
        self,
        workers: int,
        *,
        page_timeout_s: float = PAGE_TIMEOUT_S,
        max_chars: int = MAX_PAGE_CHARS,
        max_tags: int = MAX_PAGE_TAGS,
        max_memory_mb: int | None = MAX_WORKER_MEMORY_MB,
        extract_fn: ExtractFn = extract_one,
    ) -> None:
        self._size = max(1, workers)
        self._page_timeout_s = page_timeout_s
        self._max_chars = max_chars
        self._max_tags = max_tags
        self._extract_fn = extract_fn
        self._max_bytes = max_memory_mb * 2**20 if max_memory_mb else None
        self._workers: list[_Worker] = []
        # The workers and their pipes serve one batch at a time: two threads of one process (a
        # served deployment, flows started at once) extracting together handed each other's
        # results around (IndexError in the wait loop). Sized for the process, so nothing is lost.
        self._batch_lock = threading.Lock()
        # The batch being extracted: its pages without HTML, and its `then` step (or None).
        self._pages: Sequence[Page] = ()
        self._then: Then[object] | None = None
        # `then` steps whose run was interrupted (`abort`): their batches stop, now or later.
        self._aborted: weakref.WeakSet[Any] = weakref.WeakSet()

    def extract(
        self, pages: Sequence[Page], language_hints: dict[str, str | None] | None = None
    ) -> list[tuple[Page, Extracted | PageFailure]]:
        """Each page with its Extracted, or a PageFailure saying why extraction failed.

        The pages come back without their HTML (`html=""`): extraction was its last use, and a
        batch waiting to be stored would otherwise hold every page's HTML (~100 KB each) in the
        caller's process.
        """
        return cast(
            list[tuple[Page, Extracted | PageFailure]], self._extract(pages, language_hints, None)
        )

    def extract_then(
        self,
        pages: Sequence[Page],
        language_hints: dict[str, str | None] | None,
        then: Then[T],
    ) -> list[tuple[Page, T | PageFailure]]:
        """`extract`, with `then(page, extracted)` run in the worker on each extracted page: each
        page comes back with what it returned, or the PageFailure of its extraction.

        An error in `then` fails the whole batch (ThenStepError, naming the first page and the
        error), as it did when the caller ran the step itself: an error there is the step's or its
        config's, not the page's, and would otherwise be counted against every page's attempts.
        A batch of a `then` passed to `abort` stops (ExtractionAborted), even one not started yet.
        """
        results = self._extract(pages, language_hints, then)
        failed = [(page, r) for page, r in results if isinstance(r, ThenFailed)]
        if failed:
            raise ThenStepError(
                f"preparing {len(failed)} of {len(results)} extracted pages failed, first"
                f" {failed[0][0].final_url}: {failed[0][1]}"
            )
        return cast(list[tuple[Page, T | PageFailure]], results)

    def abort(self, then: Then[object]) -> None:
        """Stop the batches of this `then` step (an interrupted run's), running or to come: the
        workers holding their pages are stopped, within a fifth of a second."""
        self._aborted.add(then)

    def _extract(
        self,
        pages: Sequence[Page],
        language_hints: dict[str, str | None] | None,
        then: Then[object] | None,
    ) -> list[tuple[Page, object]]:
        hints = language_hints or {}
        jobs: list[Job] = [
            (
                page.html,
                page.final_url,
                hints.get(page.entry.source),
                page.entry.published_at,
                page.entry.author,
            )
            for page in pages
        ]
        without_html = [replace(page, html="") for page in pages]
        with self._batch_lock:
            self._pages, self._then = without_html, then
            try:
                results: list[object] = list(self._extract_jobs(jobs))
            finally:
                self._pages, self._then = (), None
        outcome: list[tuple[Page, object]] = []
        for page, result in zip(without_html, results, strict=True):
            if isinstance(result, str) and not isinstance(result, ThenFailed):
                outcome.append((page, PageFailure(entry=page.entry, stage="extract", error=result)))
            else:
                outcome.append((page, result))
        return outcome

    def _extract_jobs(self, jobs: Sequence[Job]) -> list[object]:
        results: list[object] = [None] * len(jobs)
        queue: deque[int] = deque()
        for index, job in enumerate(jobs):
            refused = precheck(job[0], max_chars=self._max_chars, max_tags=self._max_tags)
            if refused:
                results[index] = refused
            else:
                queue.append(index)
        try:
            return self._run_queue(jobs, results, queue)
        except BaseException:
            # Interrupted (an error, Ctrl-C): the workers still holding this batch's pages are
            # stopped, so no later batch or `close` finds their pages or half-written frames.
            for worker in [w for w in self._workers if w.jobs or w.outbox]:
                self._discard(worker, kill=True)
            raise

    def _run_queue(
        self, jobs: Sequence[Job], results: list[object], queue: deque[int]
    ) -> list[object]:
        start_failures = 0
        while queue or any(w.jobs for w in self._workers):
            if self._then is not None and self._then in self._aborted:
                raise ExtractionAborted("the run was interrupted")
            if start_failures >= MAX_START_FAILURES:
                while queue:
                    results[queue.popleft()] = "extraction failed: worker processes cannot start"
                if not any(w.jobs for w in self._workers):
                    break
            busy = sum(bool(w.jobs) for w in self._workers)
            while len(self._workers) < min(self._size, busy + len(queue)):
                self._workers.append(self._start())
            self._hand_out(jobs, queue)
            start_failures += self._wait(results, queue)
        return [r if r is not None else "extraction failed" for r in results]

    def _hand_out(self, jobs: Sequence[Job], queue: deque[int]) -> None:
        """A page to each idle worker, then a second to each busy one while pages outnumber them."""
        for depth in range(1, PIPELINE_DEPTH + 1):
            for worker in list(self._workers):
                if not queue or (depth > 1 and len(queue) < len(self._workers)):
                    return
                if worker.ready and len(worker.jobs) < depth and worker in self._workers:
                    index = queue.popleft()
                    if not worker.jobs:
                        worker.started = time.monotonic()
                    worker.jobs.append(index)
                    then = self._then
                    page = self._pages[index] if then is not None else None
                    message: Message = (jobs[index], page, ... if worker.then is then else then)
                    worker.then = then
                    # Connection.recv's framing: a 4-byte length, then the pickle.
                    payload = ForkingPickler.dumps(message)
                    worker.outbox.append(memoryview(struct.pack("!i", len(payload)) + payload))
                    self._flush(worker, queue)

    def _flush(self, worker: _Worker, queue: deque[int]) -> None:
        """Write what the socket takes now, never blocking: a worker stuck on a page must not
        stop this loop from enforcing its deadline."""
        sock = socket.socket(fileno=worker.conn.fileno())
        try:
            while worker.outbox:
                frame = worker.outbox[0]
                written = sock.send(frame, socket.MSG_DONTWAIT)
                if written < len(frame):
                    worker.outbox[0] = frame[written:]
                    break
                worker.outbox.popleft()
                worker.sent += 1
        except BlockingIOError:
            pass
        except OSError:
            # It died: the pages not written go to other workers; the one it had (if written)
            # fails as a crash when its end of the socket is read.
            worker.outbox.clear()
            while len(worker.jobs) > worker.sent:
                queue.appendleft(worker.jobs.pop())
        finally:
            sock.detach()

    def _wait(self, results: list[object], queue: deque[int]) -> int:
        """Wait for the next answer, deadline or writable socket; returns how many workers died
        starting."""
        now = time.monotonic()
        deadlines = [d for d in map(self._deadline, self._workers) if d is not None]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        if self._then is not None:  # woken at least this often to see an abort
            timeout = min(timeout, _ABORT_CHECK_S) if timeout is not None else _ABORT_CHECK_S
        poller = select.poll()
        for worker in self._workers:
            writing = select.POLLOUT if worker.outbox else 0
            poller.register(worker.conn.fileno(), select.POLLIN | writing)
        events = dict(poller.poll(None if timeout is None else timeout * 1000))
        died_starting = 0
        for worker in list(self._workers):
            event = events.get(worker.conn.fileno(), 0)
            if event & select.POLLOUT and worker.outbox:
                self._flush(worker, queue)
            if event & (select.POLLIN | select.POLLHUP | select.POLLERR):
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):
                    if worker.jobs and worker.sent:
                        results[worker.jobs.popleft()] = (
                            "extraction crashed its worker process (the page is hostile or malformed)"
                        )
                    elif not worker.ready:
                        died_starting += 1
                    self._discard(worker, queue)
                    continue
                if not worker.ready:
                    worker.ready = True
                elif worker.jobs:
                    results[worker.jobs.popleft()] = message
                    worker.sent -= 1
                    worker.started = time.monotonic()
            elif (deadline := self._deadline(worker)) is not None and time.monotonic() >= deadline:
                if worker.job is not None:
                    results[worker.jobs.popleft()] = (
                        f"extraction took longer than {self._page_timeout_s:g} s and was stopped"
                    )
                elif not worker.ready:
                    died_starting += 1
                self._discard(worker, queue, kill=True)
        return died_starting

    def _deadline(self, worker: _Worker) -> float | None:
        """When a starting or busy worker is given up; None for an idle one (it waits for work)."""
        if not worker.ready:
            return worker.started + START_TIMEOUT_S
        if worker.job is not None:
            return worker.started + self._page_timeout_s
        return None

    def _start(self) -> _Worker:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            # rules.prepare: the flows' `then` step (config, pydantic, the stories modules).
            [
                "newsmon.extract.warmup",
                "newsmon.extract.page",
                "newsmon.extract.worker",
                "newsmon.rules.prepare",
            ]
        )
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve,
            args=(theirs, self._extract_fn, self._max_bytes),
            name="newsmon-extract",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Worker(process=process, conn=ours, started=time.monotonic())

    def _discard(
        self, worker: _Worker, queue: deque[int] | None = None, *, kill: bool = False
    ) -> None:
        """Stop a worker; the pages it had not started go back to the front of `queue`."""
        if queue is not None:
            queue.extendleft(reversed(worker.jobs))
        worker.jobs.clear()
        worker.outbox.clear()
        if kill:
            worker.process.kill()
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)

    def start(self) -> None:
        """Start every worker and wait until each is ready (a benchmark times this apart)."""
        while len(self._workers) < self._size:
            self._workers.append(self._start())
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(w.ready for w in self._workers) and time.monotonic() < deadline:
            self._wait([], deque())

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def close(self) -> None:
        # After the batch in progress, if any (an aborted one ends within _ABORT_CHECK_S); a
        # batch stuck longer than _CLOSE_WAIT_S loses its workers under it.
        locked = self._batch_lock.acquire(timeout=_CLOSE_WAIT_S)
        try:
            for worker in list(self._workers):
                if worker.jobs or worker.outbox:
                    # Pages still queued in its socket: a stop message could wait behind them.
                    self._discard(worker, kill=True)
                    continue
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
                self._discard(worker)
        finally:
            if locked:
                self._batch_lock.release()

    def __enter__(self) -> PageExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
