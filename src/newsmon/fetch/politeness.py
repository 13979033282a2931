"""Per-host politeness shared by every request of a process: a request rate and a connection limit.

One `Politeness` registry per process (tasks/runtime.py holds it) is injected into every `Fetcher`,
so a feed and the article pages on the same host draw on one budget, across stages, tasks and even
event loops: the primitives here are thread-safe and not bound to a loop (asyncio's own semaphores
are), because Prefect tasks may each run their own loop.

The rate is a token bucket holding one token: requests to a host start at least `1 / rps` apart
(lengthened by `RATE_MARGIN`), so no window of one second ever holds more than `rps` request
starts, as a server counting our requests would see them. A bucket holding more tokens would
allow bursts of twice the rate within a second, which is exactly what a site owner complains about.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# Request starts are spaced 1.1 / rps apart: the 10% absorbs the milliseconds by which
# network and scheduling jitter can bring two requests closer on the server's clock than on ours.
RATE_MARGIN = 0.10
# A 429/503 pauses the host for its Retry-After (or this default), at most MAX_PAUSE_S within a
# run: a longer wait is the next run's business (the failed page is retried then).
DEFAULT_PAUSE_S = 5.0
MAX_PAUSE_S = 30.0
# And at most rps (rounded down) starts in any window of 1 s + WINDOW_JITTER_S: the spacing alone
# tolerates only ~0.1 s of jitter in total over a second's requests, and a busy server can stamp
# one request that late (measured: 11 in one second at 10/s, benchmarks/polling.py). Costs a
# pause after every rps requests: at most 20% of the rate (10/s -> 8/s, 1/s -> one per 1.25 s),
# nothing below 0.8/s, where the spacing is already longer than the window.
WINDOW_JITTER_S = 0.25
# asyncio timers may fire a hair early; a start this close to its slot counts as on time.
_EARLY_S = 0.001


@dataclass(frozen=True)
class HostLimit:
    """How hard one host may be hit: request starts per second (None: no rate limit) and
    concurrent requests."""

    rps: float | None
    max_connections: int

    def __post_init__(self) -> None:
        if self.rps is not None and self.rps <= 0:
            raise ValueError(f"rps must be positive, not {self.rps}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")


class Slots:
    """A counting semaphore usable from any thread and any event loop; the limit may change."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._used = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self._used

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._used < self._limit and not self._waiters:
                self._used += 1
                return
            future: asyncio.Future[None] = loop.create_future()
            waiter = (loop, future)
            self._waiters.append(waiter)
        try:
            await future
        except BaseException:
            with self._lock:
                try:
                    self._waiters.remove(waiter)
                    handed_over = False
                except ValueError:
                    handed_over = True
            # A slot handed over and already granted is ours to give back; one still in flight
            # finds the future cancelled and gives itself back (see _grant).
            if handed_over and future.done() and not future.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter if the limit allows, else to the pool."""
        with self._lock:
            while self._waiters and self._used <= self._limit:
                loop, future = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._grant, future)
                except RuntimeError:  # that waiter's event loop is closed: skip it
                    continue
                return
            self._used -= 1

    def set_limit(self, limit: int) -> None:
        """Change the limit; a raise admits waiters at once, a cut takes effect as slots return."""
        with self._lock:
            self._limit = limit
            while self._waiters and self._used < self._limit:
                loop, future = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._grant, future)
                except RuntimeError:
                    continue
                self._used += 1

    def _grant(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()
        else:
            future.set_result(None)


@dataclass
class _Host:
    limit: HostLimit
    slots: Slots
    robots_rps: float | None = None  # from robots.txt Crawl-delay / Request-rate: only slows down
    next_start: float = 0.0  # monotonic time before which no request may start
    started: int = 0
    recent: deque[float] = field(default_factory=deque)  # the last starts, at most `burst`
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rate(self) -> float | None:
        rates = [r for r in (self.limit.rps, self.robots_rps) if r is not None]
        return min(rates) if rates else None

    @property
    def interval_s(self) -> float:
        rate = self.rate
        return (1.0 + RATE_MARGIN) / rate if rate else 0.0

    @property
    def burst(self) -> int:
        """Starts allowed in any window of 1 s + WINDOW_JITTER_S (0: no rate limit)."""
        rate = self.rate
        return max(1, int(rate)) if rate else 0

    def earliest_start(self) -> float:
        """Monotonic time before which the next request may not start (the lock is held)."""
        burst = self.burst
        if burst and len(self.recent) >= burst:
            return max(self.next_start, self.recent[-burst] + 1.0 + WINDOW_JITTER_S)
        return self.next_start

    def record_start(self, now: float) -> None:
        self.next_start = now + self.interval_s
        self.started += 1
        self.recent.append(now)
        while len(self.recent) > max(1, self.burst):
            self.recent.popleft()


class Politeness:
    """Per-host rate and connection limits plus a global connection limit, for one process."""

    def __init__(
        self,
        *,
        default: HostLimit,
        max_connections: int,
        hosts: Mapping[str, HostLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._default = default
        self._overrides: dict[str, HostLimit] = dict(hosts or {})
        self._hosts: dict[str, _Host] = {}
        self._all = Slots(max_connections)
        self._clock = clock

    def configure(
        self,
        *,
        default: HostLimit,
        max_connections: int,
        hosts: Mapping[str, HostLimit] | None = None,
    ) -> None:
        """Apply new limits (a new run may bring new settings or config); the rate state stays.

        `hosts` replaces the per-host overrides; None keeps the current ones.
        """
        with self._lock:
            self._default = default
            if hosts is not None:
                self._overrides = dict(hosts)
            for key, host in self._hosts.items():
                host.limit = self._overrides.get(key, default)
                host.slots.set_limit(host.limit.max_connections)
        self._all.set_limit(max_connections)

    def limit(self, host: str) -> HostLimit:
        """The limit in force for `host` (`host[:port]` as `newsmon.urls.host_key` spells it)."""
        state = self._host(host)
        return HostLimit(state.rate, state.limit.max_connections)

    def requests_started(self, host: str) -> int:
        """How many requests to `host` this registry has let start (for reports and tests)."""
        return self._host(host).started

    def slow_down(self, host: str, rps: float) -> None:
        """Cap the host's rate (robots.txt Crawl-delay): never raises it above the configured one."""
        if rps > 0:
            self._host(host).robots_rps = rps

    def pause(self, host: str, seconds: float | None) -> None:
        """The host asked us to wait (429/503): no request to it starts for a while."""
        wait = min(DEFAULT_PAUSE_S if seconds is None else seconds, MAX_PAUSE_S)
        state = self._host(host)
        with state.lock:
            state.next_start = max(state.next_start, self._clock() + wait)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold a connection slot of `host` and of the process, started at the host's rate."""
        state = self._host(host)
        # Host slot first: a request queued behind a busy host must not hold a global slot.
        await state.slots.acquire()
        try:
            while True:
                with state.lock:
                    delay = state.earliest_start() - self._clock()
                if delay > _EARLY_S:
                    await asyncio.sleep(delay)
                await self._all.acquire()
                # Take the token only now, at the real start: a request that waited for a global
                # slot must not start right behind one that took the next token meanwhile.
                with state.lock:
                    now = self._clock()
                    if now >= state.earliest_start() - _EARLY_S:
                        state.record_start(now)
                        break
                self._all.release()
            try:
                yield
            finally:
                self._all.release()
        finally:
            state.slots.release()

    def _host(self, host: str) -> _Host:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                limit = self._overrides.get(host, self._default)
                state = self._hosts[host] = _Host(limit, Slots(limit.max_connections))
            return state
