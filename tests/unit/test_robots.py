"""robots.txt for article pages, against a loopback site: fetched once, obeyed, cached, refused
clearly; and through `fetch_pages`, where a disallowed page becomes a failure given up at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from newsmon.fetch.concurrent import fetch_pages
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.fetch.politeness import HostLimit, Politeness
from newsmon.fetch.robots import MAX_CRAWL_DELAY_S, RobotsCache, RobotsRefusal, robots_url
from newsmon.records import FeedEntry
from tests.localserver import LocalServer, RecordedRequest

ROBOTS = """\
# a news site's rules
User-agent: *
Disallow: /private/
Disallow: /*?print=
Allow: /private/open-letter
Crawl-delay: 2

User-agent: BadBot
Disallow: /
"""


@pytest.fixture
def site() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.route("/robots.txt", ROBOTS, content_type="text/plain")
        for path in ("/news/a", "/news/b", "/private/secret", "/private/open-letter", "/news/c"):
            server.route(path, f"<html><body><p>{path}</p></body></html>", content_type="text/html")
        yield server


def policy(**overrides: Any) -> HttpPolicy:
    return HttpPolicy(
        **{"user_agent": "newsmon/0.1 (+https://example.org)", "allow_private_hosts": True}
        | overrides
    )


def check_all(
    urls: list[str], robots: RobotsCache, fetcher_policy: HttpPolicy | None = None
) -> list[str | None]:
    """robots.check for each URL, concurrently: None when allowed, else the refusal message."""

    async def run() -> list[str | None]:
        async with Fetcher(fetcher_policy or policy()) as fetcher:

            async def one(url: str) -> str | None:
                try:
                    await robots.check(fetcher, url)
                except RobotsRefusal as err:
                    return f"{'permanent' if err.permanent else 'retry'}: {err.detail}"
                return None

            return list(await asyncio.gather(*(one(url) for url in urls)))

    return asyncio.run(run())


def test_rules_are_fetched_once_and_obeyed(site: LocalServer) -> None:
    robots = RobotsCache()
    verdicts = check_all(
        [
            site.url("/news/a"),
            site.url("/news/b"),
            site.url("/private/secret"),
            site.url("/private/open-letter"),
            site.url("/news/c?print=1"),
        ],
        robots,
    )
    disallowed = f"permanent: disallowed by robots.txt ({site.url('/robots.txt')})"
    assert verdicts == [None, None, disallowed, None, disallowed]
    assert len(site.requests_to("/robots.txt")) == 1  # five concurrent checks, one fetch
    assert robots.fetches == 1
    assert site.requests_to("/robots.txt")[0].headers["user-agent"].startswith("newsmon/")


def test_our_own_group_wins_over_the_star_group() -> None:
    with LocalServer() as server:
        server.route(
            "/robots.txt",
            "User-agent: *\nDisallow: /\n\nUser-agent: newsmon\nDisallow: /drafts/\n",
            content_type="text/plain",
        )
        verdicts = check_all([server.url("/news/1"), server.url("/drafts/1")], RobotsCache())
    assert verdicts[0] is None
    assert verdicts[1] is not None and "disallowed by robots.txt" in verdicts[1]


def test_missing_robots_txt_allows_everything() -> None:
    with LocalServer() as server:  # /robots.txt is a 404
        assert check_all([server.url("/anything")], RobotsCache()) == [None]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_unreachable_robots_txt_refuses_pages_for_now(status: int) -> None:
    with LocalServer() as server:
        server.route("/robots.txt", "down", status=status)
        [verdict] = check_all([server.url("/news/a")], RobotsCache())
    assert verdict == (
        f"retry: not fetched: {server.url('/robots.txt')} could not be read (HTTP {status}); "
        "retried on a later run"
    )


def test_rules_are_cached_for_the_ttl_then_fetched_again(site: LocalServer) -> None:
    now = [1000.0]
    robots = RobotsCache(ttl_s=60, clock=lambda: now[0])
    check_all([site.url("/news/a")], robots)
    now[0] += 59
    check_all([site.url("/news/b")], robots)
    assert len(site.requests_to("/robots.txt")) == 1
    now[0] += 2
    check_all([site.url("/news/c")], robots)
    assert len(site.requests_to("/robots.txt")) == 2


def test_crawl_delay_slows_the_host_down_capped(site: LocalServer) -> None:
    registry = Politeness(default=HostLimit(rps=5, max_connections=2), max_connections=8)

    async def run(body: str) -> float | None:
        site.route("/robots.txt", body, content_type="text/plain")
        async with Fetcher(policy(), politeness=registry) as fetcher:
            await RobotsCache().check(fetcher, site.url("/news/a"))
        return registry.limit(f"127.0.0.1:{site.port}").rps

    assert asyncio.run(run(ROBOTS)) == pytest.approx(0.5)
    assert asyncio.run(run("User-agent: *\nCrawl-delay: 600\n")) == pytest.approx(
        1 / MAX_CRAWL_DELAY_S
    )


def test_robots_url_is_per_scheme_host_and_port() -> None:
    assert robots_url("https://News.Example/a/b?c=1#x") == "https://news.example/robots.txt"
    assert robots_url("http://news.example:8080/a") == "http://news.example:8080/robots.txt"


# --- through fetch_pages ----------------------------------------------------------------------


def pages(site: LocalServer, paths: list[str], **kwargs: Any) -> tuple[list[Any], list[Any]]:
    entries = [FeedEntry(source="wire", url=site.url(p)) for p in paths]

    async def run() -> tuple[list[Any], list[Any]]:
        async with Fetcher(policy()) as fetcher:
            return await fetch_pages(fetcher, entries, **kwargs)

    return asyncio.run(run())


def test_disallowed_page_is_a_failure_given_up_and_never_requested(site: LocalServer) -> None:
    fetched, failures = pages(site, ["/news/a", "/private/secret"], robots=RobotsCache())
    assert [p.final_url for p in fetched] == [site.url("/news/a")]
    [failure] = failures
    assert failure.error == (
        f"{site.url('/private/secret')}: disallowed by robots.txt ({site.url('/robots.txt')})"
    )
    assert failure.give_up is True
    assert site.requests_to("/private/secret") == []


def test_a_redirect_into_a_disallowed_path_is_refused(site: LocalServer) -> None:
    site.route("/news/moved", status=301, headers={"Location": "/private/secret"})
    fetched, [failure] = pages(site, ["/news/moved"], robots=RobotsCache())
    assert fetched == []
    assert "disallowed by robots.txt" in failure.error
    assert site.requests_to("/private/secret") == []


def test_sources_with_respect_robots_false_are_exempt(site: LocalServer) -> None:
    fetched, failures = pages(
        site, ["/private/secret"], robots=RobotsCache(), robots_exempt={"wire"}
    )
    assert failures == []
    assert [p.final_url for p in fetched] == [site.url("/private/secret")]
    assert site.requests_to("/robots.txt") == []


def test_unreachable_robots_is_a_failure_retried_later() -> None:
    gate = threading.Lock()
    calls: list[str] = []

    def flaky(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with gate:
            calls.append(request.path)
        return 503, {"Content-Type": "text/plain"}, b"down"

    with LocalServer() as server:
        server.route_handler("/robots.txt", flaky)
        server.route("/news/a", "<html><body>a</body></html>", content_type="text/html")
        fetched, [failure] = pages(server, ["/news/a"], robots=RobotsCache())
        assert server.requests_to("/news/a") == []
    assert fetched == []
    assert failure.give_up is False
    assert "could not be read (HTTP 503)" in failure.error
    assert calls == ["/robots.txt"]
