"""A big feed's parse holds up no other poll, and a parse that runs too long is stopped.

feedparser took 11.6 s on a 4.9 MB feed in the event loop that polls every other feed; 21-24 of
30 healthy feeds polled beside it then failed (issue 11, item 2).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest

from newsmon.config.models import SourceConfig
from newsmon.fetch.concurrent import poll_sources
from newsmon.fetch.feed_pool import FeedParsePool, _parse_job
from newsmon.fetch.feeds import FeedParseError
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.records import FeedEntry, FeedPoll
from tests.localserver import LocalServer, RecordedRequest

SMALL = 30
# The latency of the small feeds' hosts: they answer after the big feed, while it is being parsed.
SMALL_FEED_LATENCY_S = 0.5


def big_feed(size: int = 5 * 2**20 - 64 * 1024) -> bytes:
    """An RSS feed just under the 5 MiB feed cap, of ordinary items (feedparser: ~10 s here)."""
    item = (
        "<item><title>Item {n}: an ordinary headline about the news of the day</title>"
        "<link>http://big.test/news/{n}</link><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>&lt;p&gt;"
        + "Summary text with &lt;b&gt;markup&lt;/b&gt; in it. " * 8
        + "&lt;/p&gt;</description></item>"
    )
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>big</title>']
    total, n = len(parts[0]), 0
    while total < size:
        parts.append(item.format(n=n))
        total += len(parts[-1])
        n += 1
    return ("".join(parts) + "</channel></rss>").encode()


def small_feed(n: int) -> bytes:
    return (
        f'<rss version="2.0"><channel><title>small {n}</title>'
        f"<item><title>News {n}</title><link>http://small{n}.test/a</link></item>"
        "</channel></rss>"
    ).encode()


@pytest.fixture
def hosts() -> Iterator[tuple[LocalServer, list[LocalServer]]]:
    """The big feed on one host, a small feed on each of 30 others that answers once the big
    feed has been sent (plus their latency), so that they are in flight during its parse."""
    big_sent = threading.Event()
    big = LocalServer()
    body = big_feed()

    def serve_big(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        big_sent.set()
        return 200, {"Content-Type": "application/rss+xml"}, body

    big.route_handler("/feed.xml", serve_big)
    smalls = [LocalServer() for _ in range(SMALL)]
    for n, server in enumerate(smalls):

        def serve_small(request: RecordedRequest, n: int = n) -> tuple[int, dict[str, str], bytes]:
            big_sent.wait(timeout=10)
            threading.Event().wait(SMALL_FEED_LATENCY_S)  # the host's latency, not a sync point
            return 200, {"Content-Type": "application/rss+xml"}, small_feed(n)

        server.route_handler("/feed.xml", serve_small)
    try:
        yield big, smalls
    finally:
        for server in [big, *smalls]:
            server.close()


def poll_all(
    big: LocalServer, smalls: list[LocalServer], parser: FeedParsePool
) -> dict[str, FeedPoll]:
    sources = [SourceConfig(name="big", url=big.url("/feed.xml"))] + [
        SourceConfig(name=f"small-{n}", url=s.url("/feed.xml")) for n, s in enumerate(smalls)
    ]
    rules = HttpPolicy(
        user_agent="newsmon-test/0.1",
        connect_timeout_s=2.0,
        read_timeout_s=3.0,
        total_timeout_s=3.0,
        allow_private_hosts=True,
    )

    async def run() -> list[FeedPoll]:
        async with Fetcher(rules) as fetcher:
            return await poll_sources(fetcher, sources, {}, parser=parser)

    try:
        return {poll.source: poll for poll in asyncio.run(run())}
    finally:
        parser.close()


def test_a_5_mb_feed_polled_beside_30_small_feeds_holds_none_of_them_up(
    hosts: tuple[LocalServer, list[LocalServer]],
) -> None:
    big, smalls = hosts
    polls = poll_all(big, smalls, FeedParsePool(2))
    small = [polls[f"small-{n}"] for n in range(SMALL)]
    assert [(p.status, p.error) for p in small] == [("ok", None)] * SMALL
    assert [e.title for p in small for e in p.entries] == [f"News {n}" for n in range(SMALL)]
    assert polls["big"].status == "ok"
    assert len(polls["big"].entries) > 5000


def test_a_parse_that_runs_too_long_is_stopped_and_only_its_feed_fails(
    hosts: tuple[LocalServer, list[LocalServer]],
) -> None:
    big, smalls = hosts
    polls = poll_all(big, smalls, FeedParsePool(2, timeout_s=2.0))
    assert polls["big"].status == "error"
    assert polls["big"].error == (
        f"{big.url('/feed.xml')}: parsing the feed ({len(big_feed()):,} bytes) took longer"
        " than 2 s and was stopped"
    )
    assert [(polls[f"small-{n}"].status, polls[f"small-{n}"].error) for n in range(SMALL)] == [
        ("ok", None)
    ] * SMALL


def crash_on_marker(job: tuple[bytes, str, str, dict[str, str]]) -> list[FeedEntry] | str:
    """Runs in a worker: dies on a body that says CRASH (as a C-level crash would)."""
    if b"CRASH" in job[0]:
        os._exit(1)
    return _parse_job(job)


def test_a_feed_that_crashes_its_worker_fails_alone() -> None:
    pool = FeedParsePool(2, parse_fn=crash_on_marker)
    bodies = [small_feed(1), b"<rss>CRASH</rss>", small_feed(2)]

    async def run() -> list[list[FeedEntry] | BaseException]:
        return await asyncio.gather(
            *(
                pool.parse(body, source="s", url=f"http://feeds.test/{n}", headers={})
                for n, body in enumerate(bodies)
            ),
            return_exceptions=True,
        )

    try:
        first, crashed, last = asyncio.run(run())
    finally:
        pool.close()
    assert isinstance(crashed, FeedParseError)
    assert str(crashed) == "http://feeds.test/1: the feed crashed the parser's worker process"
    assert [e.title for e in first] == ["News 1"]  # type: ignore[union-attr]
    assert [e.title for e in last] == ["News 2"]  # type: ignore[union-attr]
