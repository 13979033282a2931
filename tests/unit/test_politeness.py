"""Per-host politeness, measured where it matters: request arrival times on a loopback server.

The rate property is checked as a site owner would: timestamps recorded by the server, and the
largest number of requests inside any one-second window. Nothing here sleeps to synchronise;
the limiter does the waiting, events and futures do the coordination.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
import threading
import time
from typing import Any

import pytest

from newsmon.config.models import SourceConfig
from newsmon.fetch.concurrent import host_limits
from newsmon.fetch.connection import Resolver
from newsmon.fetch.http import Fetcher, FetchError, HttpPolicy
from newsmon.fetch.politeness import RATE_MARGIN, WINDOW_JITTER_S, HostLimit, Politeness, Slots
from newsmon.settings import Settings
from tests.localserver import LocalServer, RecordedRequest


class Arrivals:
    """A handler that records when each request reached the server, and for which Host."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[float, str]] = []
        self.status, self.headers = status, headers or {}

    def __call__(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.log.append((time.monotonic(), request.headers.get("host", "")))
        return self.status, {"Content-Type": "text/plain", **self.headers}, b"ok"

    def times(self, host_prefix: str = "") -> list[float]:
        with self.lock:
            return sorted(t for t, host in self.log if host.startswith(host_prefix))


def max_in_any_window(times: list[float], window_s: float = 1.0) -> int:
    """The most arrivals inside any closed window [t, t + window_s]."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0
    )


def policy(**overrides: Any) -> HttpPolicy:
    values: dict[str, Any] = {
        "user_agent": "newsmon-test/0.1",
        "allow_private_hosts": True,
        "total_timeout_s": 10.0,
    }
    return HttpPolicy(**{**values, **overrides})


def stub_resolver(*names: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise socket.gaierror(f"stub resolver: unknown host {host}")
        return ["127.0.0.1"]

    return resolve


def test_max_in_any_window() -> None:
    assert max_in_any_window([]) == 0
    assert max_in_any_window([0.0, 0.5, 1.0, 1.01, 2.2]) == 3
    assert max_in_any_window([0.0, 1.2, 2.4]) == 1


# --- the rate ---------------------------------------------------------------------------------


def test_a_host_never_sees_more_than_its_rate_in_any_second(server: LocalServer) -> None:
    arrivals = Arrivals()
    server.route_handler("/r", arrivals)

    async def run() -> None:
        async with Fetcher(policy(host_rps=5, max_per_host=3)) as fetcher:
            await asyncio.gather(*(fetcher.fetch(server.url(f"/r?n={n}")) for n in range(12)))

    asyncio.run(run())
    times = arrivals.times()
    assert len(times) == 12
    assert max_in_any_window(times) <= 5
    # Starts are spaced by the interval (plus margin) on our side, which the server sees too.
    assert times[-1] - times[0] >= 11 * (1 + RATE_MARGIN) / 5 - 0.05


def test_a_seconds_worth_of_requests_leaves_room_for_server_side_jitter(
    server: LocalServer,
) -> None:
    """Spacing alone puts 11 requests at 10/s within 1.1 s: one request stamped 0.1 s late by a
    busy server makes 11 in a second. The window rule keeps rps starts per 1 s + WINDOW_JITTER_S."""
    arrivals = Arrivals()
    server.route_handler("/r", arrivals)

    async def run() -> None:
        async with Fetcher(policy(host_rps=10, max_per_host=4)) as fetcher:
            await asyncio.gather(*(fetcher.fetch(server.url(f"/r?n={n}")) for n in range(21)))

    asyncio.run(run())
    times = arrivals.times()
    assert len(times) == 21
    assert max_in_any_window(times, 1.0 + WINDOW_JITTER_S - 0.05) <= 10
    assert times[10] - times[0] >= 1.0 + WINDOW_JITTER_S - 0.05


def test_the_rate_holds_across_fetchers_on_different_event_loops(server: LocalServer) -> None:
    """Prefect tasks may each run their own loop: one registry still means one budget per host."""
    arrivals = Arrivals()
    server.route_handler("/r", arrivals)
    shared = Politeness(default=HostLimit(rps=8, max_connections=4), max_connections=16)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        async def run() -> None:
            async with Fetcher(policy(), politeness=shared) as fetcher:
                urls = [server.url(f"/r?{name}={n}") for n in range(8)]
                await asyncio.gather(*(fetcher.fetch(url) for url in urls))

        try:
            asyncio.run(run())
        except BaseException as err:  # reported below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    times = arrivals.times()
    assert len(times) == 16
    assert max_in_any_window(times) <= 8
    assert shared.requests_started(f"127.0.0.1:{server.port}") == 16


def test_per_host_limits_apply_to_their_host_only(server: LocalServer) -> None:
    arrivals = Arrivals()
    server.route_handler("/r", arrivals)
    slow, fast = f"slow.test:{server.port}", f"fast.test:{server.port}"
    registry = Politeness(
        default=HostLimit(rps=None, max_connections=2),
        max_connections=8,
        hosts={slow: HostLimit(rps=2, max_connections=1)},
    )

    async def run() -> None:
        resolver = stub_resolver("slow.test", "fast.test")
        async with Fetcher(policy(), resolver=resolver, politeness=registry) as fetcher:
            calls = [
                fetcher.fetch(f"http://{host}/r?n={n}") for n in range(5) for host in (slow, fast)
            ]
            await asyncio.gather(*calls)

    asyncio.run(run())
    slow_times, fast_times = arrivals.times("slow.test"), arrivals.times("fast.test")
    assert (len(slow_times), len(fast_times)) == (5, 5)
    assert max_in_any_window(slow_times) <= 2
    # fast.test did not queue behind slow.test: all its requests came before slow.test's third.
    assert max(fast_times) < slow_times[2]
    assert registry.limit(slow) == HostLimit(rps=2, max_connections=1)
    assert registry.limit(fast) == HostLimit(rps=None, max_connections=2)


def test_429_pauses_the_host_for_its_retry_after(server: LocalServer) -> None:
    busy = Arrivals(status=429, headers={"Retry-After": "1"})
    fine = Arrivals()
    server.route_handler("/busy", busy)
    server.route_handler("/fine", fine)

    async def run() -> None:
        async with Fetcher(policy()) as fetcher:  # no rate limit: only the pause spaces them
            with pytest.raises(FetchError):
                await fetcher.fetch(server.url("/busy"))
            await fetcher.fetch(server.url("/fine"))

    asyncio.run(run())
    assert fine.times()[0] - busy.times()[0] >= 1.0 - 0.05


def test_robots_crawl_delay_only_ever_slows_a_host_down() -> None:
    registry = Politeness(default=HostLimit(rps=2, max_connections=2), max_connections=8)
    registry.slow_down("a.test", 10)
    assert registry.limit("a.test").rps == 2
    registry.slow_down("a.test", 0.5)
    assert registry.limit("a.test").rps == 0.5
    assert registry.limit("b.test").rps == 2


def test_configure_changes_limits_of_known_and_new_hosts() -> None:
    registry = Politeness(default=HostLimit(rps=1, max_connections=2), max_connections=8)
    assert registry.limit("a.test") == HostLimit(1, 2)
    registry.configure(
        default=HostLimit(rps=3, max_connections=4),
        max_connections=8,
        hosts={"b.test": HostLimit(rps=0.5, max_connections=1)},
    )
    assert registry.limit("a.test") == HostLimit(3, 4)
    assert registry.limit("b.test") == HostLimit(0.5, 1)
    registry.configure(default=HostLimit(rps=3, max_connections=4), max_connections=8)
    assert registry.limit("b.test") == HostLimit(0.5, 1)  # hosts=None keeps the overrides


def test_host_limit_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        HostLimit(rps=0, max_connections=1)
    with pytest.raises(ValueError):
        HostLimit(rps=1, max_connections=0)


def test_source_keys_become_host_limits_and_the_most_polite_wins() -> None:
    settings = Settings(host_rps=1.0, max_per_host=2)
    sources = [
        SourceConfig(name="a", url="https://news.example/rss", max_rps=0.5),
        SourceConfig(name="b", url="https://news.example/world/rss", max_rps=3, max_connections=1),
        SourceConfig(name="c", url="https://other.example:8443/feed", max_connections=4),
        SourceConfig(name="d", url="https://plain.example/feed"),
    ]
    assert host_limits(settings, sources) == {
        "news.example": HostLimit(rps=0.5, max_connections=1),
        "other.example:8443": HostLimit(rps=1.0, max_connections=4),
    }


# --- connection slots shared across event loops ----------------------------------------------


def test_slots_hand_a_released_slot_to_a_waiter_on_another_loop() -> None:
    slots = Slots(1)
    waiting, acquired = threading.Event(), threading.Event()

    async def hold() -> None:
        await slots.acquire()

    asyncio.run(hold())  # taken on one loop (now closed), released from a plain thread below
    assert slots.in_use == 1

    def other_loop() -> None:
        async def run() -> None:
            task = asyncio.create_task(slots.acquire())
            await asyncio.sleep(0)  # one turn: the acquire is queued as a waiter
            waiting.set()
            await task
            acquired.set()
            slots.release()

        asyncio.run(run())

    thread = threading.Thread(target=other_loop)
    thread.start()
    assert waiting.wait(5)
    assert not acquired.is_set()
    slots.release()
    assert acquired.wait(5)
    thread.join(5)
    assert slots.in_use == 0


def test_a_cancelled_waiter_leaks_no_slot() -> None:
    async def run() -> int:
        slots = Slots(1)
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        slots.release()
        await asyncio.wait_for(slots.acquire(), 1)  # free at once
        return slots.in_use

    assert asyncio.run(run()) == 1


def test_a_waiter_cancelled_while_its_grant_is_in_flight_gives_the_slot_back() -> None:
    async def run() -> int:
        slots = Slots(1)
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        slots.release()  # hands the slot over; the grant callback has not run yet
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.sleep(0)  # the grant runs, finds the waiter gone, releases
        return slots.in_use

    assert asyncio.run(run()) == 0


def test_raising_the_limit_admits_waiters() -> None:
    async def run() -> int:
        slots = Slots(1)
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        slots.set_limit(2)
        await asyncio.wait_for(waiter, 1)
        return slots.in_use

    assert asyncio.run(run()) == 2


def test_pages_are_spread_over_hosts_for_batching() -> None:
    from newsmon.fetch.concurrent import spread_over_hosts
    from newsmon.records import FeedEntry

    entries = [
        FeedEntry(source="a", url=url)
        for url in [
            "https://one.example/1",
            "https://one.example/2",
            "https://one.example/3",
            "https://two.example/1",
            "https://three.example:8443/1",
            "https://two.example/2",
        ]
    ]
    assert [e.url for e in spread_over_hosts(entries)] == [
        "https://one.example/1",
        "https://two.example/1",
        "https://three.example:8443/1",
        "https://one.example/2",
        "https://two.example/2",
        "https://one.example/3",
    ]
    assert spread_over_hosts([]) == []


def test_pages_are_taken_earliest_published_first_undated_last() -> None:
    from datetime import UTC, datetime, timedelta

    from newsmon.fetch.concurrent import earliest_published_first
    from newsmon.records import FeedEntry

    when = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    entries = [
        FeedEntry(
            source="herald", url="https://a.example/copy", published_at=when + timedelta(hours=1)
        ),
        FeedEntry(source="herald", url="https://a.example/undated"),
        FeedEntry(source="wire", url="https://a.example/original", published_at=when),
        FeedEntry(source="wire", url="https://a.example/undated-too"),
    ]
    assert [e.url.rsplit("/", 1)[1] for e in earliest_published_first(entries)] == [
        "original",
        "copy",
        "undated",
        "undated-too",
    ]
