"""Which page failures are permanent (given up at once) and which transient (retried next run)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from newsmon.fetch.concurrent import fetch_pages
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.records import FeedEntry, PageFailure
from tests.localserver import LocalServer


def failures_of(server: LocalServer, paths: list[str]) -> dict[str, PageFailure]:
    rules = HttpPolicy(
        user_agent="newsmon-test/0.1",
        read_timeout_s=0.5,
        total_timeout_s=1.0,
        max_page_bytes=1000,
        allow_private_hosts=True,
    )
    entries = [FeedEntry(source="wire", url=server.url(path)) for path in paths]

    async def run() -> list[PageFailure]:
        async with Fetcher(rules) as fetcher:
            _, failures = await fetch_pages(fetcher, entries, clock=lambda: datetime.now(UTC))
            return failures

    return {f.entry.url.removeprefix(server.base_url): f for f in asyncio.run(run())}


def test_permanent_failures_are_given_up_and_transient_ones_kept(server: LocalServer) -> None:
    server.route("/gone", "gone", status=410, content_type="text/plain")
    server.route("/missing", "no", status=404, content_type="text/plain")
    server.route("/huge", b"x" * 5000, content_type="text/html")
    server.route("/pdf", b"%PDF-1.4", content_type="application/pdf")
    server.route("/loop", status=302, headers={"Location": "/loop2"})
    server.route("/loop2", status=302, headers={"Location": "/loop"})
    server.route("/down", "oops", status=500, content_type="text/plain")
    server.route("/busy", "later", status=503, content_type="text/plain")
    server.route("/limited", "slow down", status=429, headers={"Retry-After": "1"})
    server.hang("/hang")
    permanent = ["/gone", "/missing", "/huge", "/pdf", "/loop"]
    transient = ["/down", "/busy", "/limited", "/hang"]
    failures = failures_of(server, permanent + transient)
    assert sorted(failures) == sorted(permanent + transient)
    assert {p: failures[p].failure for p in permanent} == dict.fromkeys(permanent, "permanent")
    assert {p: failures[p].failure for p in transient} == dict.fromkeys(transient, "transient")
