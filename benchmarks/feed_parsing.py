"""Where to parse feeds: in the polling event loop, in a thread, or in worker processes.

Prints, for each way, how long a 5 MB feed's parse takes, the longest the event loop went without
running (a 10 ms ticker's worst delay), and how many of 30 small feeds polled beside it succeeded
(their hosts answer 0.5 s after the big feed, with a 3 s request budget), all over loopback in one
run so the ratios compare. Usage: `.venv/bin/python benchmarks/feed_parsing.py`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.test_feed_pool import SMALL, poll_all
from tests.unit.test_feed_pool import hosts as hosts_fixture

from newsmon.fetch.feed_pool import FeedParsePool
from newsmon.fetch.feeds import ThreadFeedParser, parse_feed


class InLoop:
    """The old way: feedparser runs in the event loop itself."""

    async def parse(self, body: bytes, **kwargs: Any) -> Any:
        return parse_feed(body, **kwargs)

    def close(self) -> None:
        pass


class Closing(ThreadFeedParser):
    def close(self) -> None:
        pass


async def ticker(stop: asyncio.Event, worst: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - before - 0.01)


def measure(name: str, parser: Any) -> None:
    worst = [0.0]
    original = asyncio.run

    def run_with_ticker(coro: Any) -> Any:
        async def main() -> Any:
            stop = asyncio.Event()
            tick = asyncio.create_task(ticker(stop, worst))
            try:
                return await coro
            finally:
                stop.set()
                await tick

        return original(main())

    generator = hosts_fixture.__wrapped__()  # type: ignore[attr-defined]
    big, smalls = next(generator)
    asyncio.run = run_with_ticker  # type: ignore[assignment]
    started = time.perf_counter()
    try:
        polls = poll_all(big, smalls, parser)
    finally:
        asyncio.run = original
        generator.close()
    elapsed = time.perf_counter() - started
    ok = sum(polls[f"small-{n}"].status == "ok" for n in range(SMALL))
    print(
        f"{name:<22} pass {elapsed:6.1f} s   loop stalled at most {worst[0]:6.2f} s"
        f"   small feeds ok {ok:>2}/{SMALL}   big feed {polls['big'].status}"
    )


if __name__ == "__main__":
    measure("in the event loop", InLoop())
    measure("in a thread", Closing())
    measure("worker processes (2)", FeedParsePool(2))
