"""A request's time budget covers the request, not its wait for the host's politeness slot.

A redirect's next hop queues again behind the host's other requests; with that wait counted, every
redirected entry on a busy host timed out on its second hop (issue 11, item 1).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from newsmon.fetch.concurrent import fetch_pages
from newsmon.fetch.http import Fetcher, FetchError, HttpPolicy
from newsmon.records import FeedEntry, Page, PageFailure
from tests.localserver import LocalServer

ARTICLE = b"<html><body><p>Story.</p></body></html>"


def busy_host_policy(rps: float, total_timeout_s: float) -> HttpPolicy:
    return HttpPolicy(
        user_agent="newsmon-test/0.1",
        connect_timeout_s=2.0,
        read_timeout_s=total_timeout_s,
        total_timeout_s=total_timeout_s,
        host_rps=rps,
        allow_private_hosts=True,
    )


def fetch_all(rules: HttpPolicy, entries: list[FeedEntry]) -> tuple[list[Page], list[PageFailure]]:
    async def run() -> tuple[list[Page], list[PageFailure]]:
        async with Fetcher(rules) as fetcher:
            return await fetch_pages(fetcher, entries, clock=lambda: datetime.now(UTC))

    return asyncio.run(run())


def redirected_site(server: LocalServer, count: int) -> list[FeedEntry]:
    """`count` feed links that each redirect (as feedburner-style links do) to their article."""
    for n in range(count):
        server.route(f"/r/{n}", status=301, headers={"Location": f"/news/{n}"})
        server.route(f"/news/{n}", ARTICLE, content_type="text/html; charset=utf-8")
    return [FeedEntry(source="busy", url=server.url(f"/r/{n}")) for n in range(count)]


@pytest.mark.parametrize(
    ("rps", "total_timeout_s"),
    [
        # The case scaled by ten: 10/s with a 3 s budget. The 60 requests take ~7.5 s at
        # the rate, so the last second hops wait far longer than 3 s for their slot: only a
        # budget that leaves out that wait lets them through.
        (10.0, 3.0),
        # The issue's own numbers: 1 request/s, the default 30 s budget (~75 s of waiting).
        pytest.param(1.0, 30.0, marks=[pytest.mark.slow, pytest.mark.timeout(300)]),
    ],
)
def test_thirty_redirected_entries_on_a_rate_limited_host_are_all_fetched(
    server: LocalServer, rps: float, total_timeout_s: float
) -> None:
    entries = redirected_site(server, 30)
    pages, failures = fetch_all(busy_host_policy(rps, total_timeout_s), entries)
    assert [f.error for f in failures] == []
    assert sorted(p.final_url for p in pages) == sorted(server.url(f"/news/{n}") for n in range(30))


def test_a_redirect_loop_on_a_busy_host_is_reported_as_a_loop(server: LocalServer) -> None:
    entries = redirected_site(server, 12)
    server.route("/loop/a", status=302, headers={"Location": "/loop/b"})
    server.route("/loop/b", status=302, headers={"Location": "/loop/a"})
    loop_entry = FeedEntry(source="busy", url=server.url("/loop/a"))
    pages, failures = fetch_all(
        busy_host_policy(rps=10, total_timeout_s=1.5), [*entries, loop_entry]
    )
    assert len(pages) == 12
    assert [f.entry.url for f in failures] == [loop_entry.url]
    assert "redirect loop" in failures[0].error


def test_the_budget_still_bounds_a_slow_redirect_chain(server: LocalServer) -> None:
    # Each hop is quick to queue for but the chain as a whole must still end within the budget.
    server.route("/start", status=302, headers={"Location": "/slow"})
    server.drip("/slow", chunk=b"x", interval_s=0.3, chunks=20)

    async def run() -> FetchError:
        async with Fetcher(busy_host_policy(rps=50, total_timeout_s=1.0)) as fetcher:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch(server.url("/start"))
            return caught.value

    error = asyncio.run(run())
    assert error.kind == "timeout"
    assert "(total)" in str(error)
