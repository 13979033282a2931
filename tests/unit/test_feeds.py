"""Feed parsing (fixtures under tests/fixtures/feeds) and polling with conditional GET on loopback."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import newsmon.fetch.feeds
from newsmon.fetch.feeds import (
    FeedParseError,
    cache_max_age,
    parse_feed,
    poll_feed,
    rss_ttl_s,
    strip_html,
)
from newsmon.fetch.http import Fetcher, HttpPolicy
from newsmon.records import FeedPoll, FeedState
from tests.localserver import (
    LocalServer,
    RecordedRequest,
    StaticSite,
    serve_directory,
)

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
BASE = "http://news.test:8080"


@pytest.fixture
def site() -> Iterator[StaticSite]:
    with serve_directory(FEEDS) as static:
        yield static


def fixture(name: str, base: str = BASE) -> bytes:
    return (FEEDS / name).read_bytes().replace(b"{{BASE_URL}}", base.encode())


def parse(name: str, content_type: str = "application/rss+xml") -> list[Any]:
    return parse_feed(
        fixture(name),
        source="wire",
        url=f"{BASE}/feeds/{name}",
        headers={"Content-Type": content_type},
    )


def poll(url: str, state: FeedState = FeedState(), **policy: Any) -> FeedPoll:
    rules = HttpPolicy(user_agent="newsmon-test/0.1", allow_private_hosts=True, **policy)

    async def run() -> FeedPoll:
        async with Fetcher(rules) as fetcher:
            return await poll_feed(fetcher, source="wire", url=url, state=state)

    return asyncio.run(run())


# --- parsing ----------------------------------------------------------------------------------


def test_rss2_entries() -> None:
    first, second, undated = parse("rss2.xml")
    assert first.source == "wire"
    assert first.url == f"{BASE}/2026/11/20/anbar-strikes?utm_source=rss"  # as linked
    assert first.guid == "wire-20261120-001"
    assert first.title == "Four IS militants killed in Anbar & Nineveh air strikes"
    assert first.published_at == datetime(2026, 11, 20, 5, 15, tzinfo=UTC)
    assert first.summary == "Iraqi aircraft struck two hideouts in the desert."
    assert first.author == "Staff reporter"
    assert second.title == "Central bank tightens dollar auctions"
    assert second.summary == "The bank limited weekly sales."
    assert second.author == "Economy desk"
    assert second.published_at == datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
    # no link, duplicate link and mailto: items are skipped; an undated item is kept
    assert (undated.url, undated.published_at, undated.guid) == (f"{BASE}/undated", None, None)


def test_atom_with_xml_base() -> None:
    strike, parliament, other = parse("atom.xml", "application/atom+xml")
    assert strike.url == f"{BASE}/news/2026/anbar-strike"
    assert strike.title == "Air strike in Anbar desert kills four"
    assert strike.published_at == datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # published wins
    assert strike.summary == "Four militants were killed."
    assert strike.author == "Herald staff"
    assert parliament.url == f"{BASE}/archive/parliament"  # entry-level xml:base
    assert parliament.published_at == datetime(2026, 11, 19, 18, 45, tzinfo=UTC)  # updated
    assert other.url == "https://other.test/story"  # alternate link, not the enclosure


def test_relative_links_resolve_against_the_feed_url() -> None:
    assert [e.url for e in parse("relative.xml")] == [
        f"{BASE}/local/story-1",
        f"{BASE}/feeds/story-2.html",
        "http://cdn.news.test/story-3",
    ]


def test_content_location_header_is_the_base_when_given() -> None:
    entries = parse_feed(
        fixture("relative.xml"),
        source="wire",
        url=f"{BASE}/feeds/relative.xml",
        headers={"Content-Location": "https://mirror.test/rss/"},
    )
    assert entries[1].url == "https://mirror.test/rss/story-2.html"


def test_ill_formed_feed_that_still_has_entries_is_accepted() -> None:
    import feedparser

    assert feedparser.parse(fixture("illformed.xml")).bozo  # the premise: not well-formed XML
    entries = parse("illformed.xml")
    assert [e.url for e in entries] == [f"{BASE}/sloppy-1?a=1&b=2", f"{BASE}/sloppy-2"]
    assert entries[0].title == "Unescaped ampersand & an unclosed tag"


def test_windows_1256_feed_from_its_xml_declaration() -> None:
    (entry,) = parse("arabic_windows1256.xml", "application/rss+xml")
    assert entry.title == "مقتل ثلاثة من عناصر داعش في الأنبار"
    assert entry.summary == "أعلنت قيادة العمليات المشتركة مقتل ثلاثة من عناصر التنظيم."


ARABIC_TITLE = "مقتل ثلاثة من عناصر داعش في الأنبار"
ARABIC_SUMMARY = "أعلنت قيادة العمليات المشتركة مقتل ثلاثة من عناصر التنظيم."


def undeclared_arabic_feed(codec: str) -> bytes:
    """The windows-1256 fixture re-encoded in `codec`, its XML declaration naming no encoding."""
    text = fixture("arabic_windows1256.xml").decode("cp1256")
    text = text.replace(' encoding="windows-1256"', "")
    return text.encode(codec)


@pytest.mark.parametrize(
    ("codec", "content_type"),
    [
        ("iso-8859-6", "application/rss+xml; charset=ISO-8859-6"),  # the header only
        ("cp1256", "application/rss+xml; charset=windows-1256"),
        ("cp1256", "application/rss+xml"),  # declared nowhere: detected
        ("cp1256", "text/xml"),
        ("iso-8859-6", "application/rss+xml; charset=utf-8"),  # declared wrongly: detected
    ],
)
def test_arabic_feeds_decode_whatever_they_declare(codec: str, content_type: str) -> None:
    (entry,) = parse_feed(
        undeclared_arabic_feed(codec),
        source="wire",
        url=f"{BASE}/ar/rss.xml",
        headers={"Content-Type": content_type},
    )
    assert (entry.title, entry.summary) == (ARABIC_TITLE, ARABIC_SUMMARY)


def test_undeclared_windows_1256_feed_polled_over_http(site: StaticSite) -> None:
    site.route("/ar.xml", undeclared_arabic_feed("cp1256"), content_type="application/rss+xml")
    result = poll(site.url("/ar.xml"))
    assert result.status == "ok"
    assert [e.title for e in result.entries] == [ARABIC_TITLE]


def test_valid_feed_without_items_has_no_entries() -> None:
    assert parse("empty_channel.xml") == []


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/rss+xml"])
def test_html_page_is_not_a_feed(content_type: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse("not_a_feed.html", content_type)
    assert (
        str(caught.value) == f"{BASE}/feeds/not_a_feed.html: is an HTML page, not an RSS/Atom feed"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the response is empty"),
        (b'{"items": []}', "no RSS/Atom feed found in the response"),
        (b"/etc/passwd", "no RSS/Atom feed found"),  # never opened as a file path
    ],
)
def test_bodies_that_are_not_feeds(body: bytes, message: str) -> None:
    with pytest.raises(FeedParseError, match=message) as caught:
        parse_feed(body, source="wire", url=f"{BASE}/feed", headers={})
    assert str(caught.value).startswith(f"{BASE}/feed: ")


def test_strip_html() -> None:
    # a no-break space folds like any other space
    assert strip_html("<p>A <b>bold</b>&nbsp;move</p><style>p{}</style>") == "A bold move"
    assert strip_html("  plain  text ") == "plain text"
    assert strip_html("<br/>") is None
    assert strip_html(None) is None


def test_server_hints() -> None:
    assert cache_max_age("public, max-age=300") == 300.0
    assert cache_max_age("s-maxage=10, max-age=60") == 60.0
    assert cache_max_age("no-cache, max-age=60") is None
    assert cache_max_age(None) is None
    assert rss_ttl_s(fixture("rss2.xml")) == 3600.0
    assert rss_ttl_s(fixture("atom.xml")) is None


# --- polling ----------------------------------------------------------------------------------


def test_poll_static_fixture_site(site: StaticSite) -> None:
    result = poll(site.url("/rss2.xml"))
    assert result.status == "ok"
    assert result.http_status == 200
    assert result.entries[0].url == f"{site.base_url}/2026/11/20/anbar-strikes?utm_source=rss"
    assert result.ttl_s == 3600.0
    assert result.state.body_hash == hashlib.sha256(fixture("rss2.xml", site.base_url)).hexdigest()
    assert "application/rss+xml" in site.requests[0].headers["accept"]
    assert "if-none-match" not in site.requests[0].headers


class ConditionalFeed:
    """A feed endpoint that honours If-None-Match / If-Modified-Since like a well-behaved server."""

    def __init__(self, body: bytes, etag: str = '"v1"', *, honour_validators: bool = True) -> None:
        self.body, self.etag, self.honour = body, etag, honour_validators
        self.modified = "Fri, 20 Nov 2026 08:00:00 GMT"

    def __call__(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "ETag": self.etag,
            "Last-Modified": self.modified,
            "Cache-Control": "max-age=600",
        }
        if self.honour and request.headers.get("if-none-match") == self.etag:
            return 304, headers, b""
        return 200, {**headers, "Content-Type": "application/rss+xml"}, self.body


def test_conditional_get_round_trip(site: StaticSite) -> None:
    feed = ConditionalFeed(fixture("rss2.xml", site.base_url))
    site.route_handler("/feed", feed)
    first = poll(site.url("/feed"))
    assert first.status == "ok"
    assert first.state.etag == '"v1"'
    assert first.state.last_modified == "Fri, 20 Nov 2026 08:00:00 GMT"
    assert first.max_age_s == 600.0

    second = poll(site.url("/feed"), first.state)
    sent = site.requests[-1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Fri, 20 Nov 2026 08:00:00 GMT"
    assert second.status == "not_modified"
    assert second.http_status == 304
    assert second.entries == ()
    assert second.state == first.state  # the body hash survives a 304
    assert second.max_age_s == 600.0


def test_same_body_again_is_unchanged_without_parsing(
    site: StaticSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = ConditionalFeed(fixture("rss2.xml", site.base_url), honour_validators=False)
    site.route_handler("/feed", feed)
    first = poll(site.url("/feed"))
    assert first.status == "ok"

    def must_not_parse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an unchanged body was parsed")

    monkeypatch.setattr(newsmon.fetch.feeds, "parse_feed", must_not_parse)
    again = poll(site.url("/feed"), first.state)
    assert again.status == "unchanged"
    assert again.entries == ()
    assert again.state == first.state
    assert again.ttl_s == 3600.0  # hints still come through


def test_changed_body_under_the_same_etag_is_parsed(site: StaticSite) -> None:
    feed = ConditionalFeed(
        fixture("relative.xml", site.base_url), etag='"stale"', honour_validators=False
    )
    site.route_handler("/feed", feed)
    first = poll(site.url("/feed"))
    feed.body = fixture("rss2.xml", site.base_url)
    second = poll(site.url("/feed"), first.state)
    assert second.status == "ok"
    assert second.state.etag == first.state.etag == '"stale"'
    assert second.state.body_hash != first.state.body_hash
    assert [e.title for e in second.entries][:1] == [
        "Four IS militants killed in Anbar & Nineveh air strikes"
    ]


def test_rate_limited_feed_is_an_error_with_retry_after(site: StaticSite) -> None:
    site.route("/feed", "slow down", status=429, headers={"Retry-After": "900"})
    state = FeedState(etag='"v1"', body_hash="abc")
    result = poll(site.url("/feed"), state)
    assert result.status == "error"
    assert result.http_status == 429
    assert result.retry_after_s == 900.0
    assert result.error == f"{site.url('/feed')}: HTTP 429 Too Many Requests (retry after 900 s)"
    assert result.state == state


def test_html_served_as_feed_is_an_error(site: StaticSite) -> None:
    result = poll(site.url("/not_a_feed.html"))
    assert result.status == "error"
    assert result.error == f"{site.url('/not_a_feed.html')}: is an HTML page, not an RSS/Atom feed"
    assert result.http_status == 200
    assert result.state == FeedState()  # parsed again next time, so the error is reported again


def test_unreachable_and_oversized_feeds_are_errors_not_exceptions(site: StaticSite) -> None:
    site.hang("/hang")
    timed_out = poll(site.url("/hang"), total_timeout_s=0.5)
    assert (timed_out.status, timed_out.http_status) == ("error", None)
    assert timed_out.error == f"{site.url('/hang')}: timed out after 0.5 s (total)"

    too_big = poll(site.url("/rss2.xml"), max_feed_bytes=500, max_page_bytes=10**9)
    assert too_big.status == "error"
    assert too_big.error is not None and "body is over 500 bytes" in too_big.error

    missing = poll(site.url("/nope.xml"))
    assert (missing.status, missing.http_status) == ("error", 404)


def test_moved_feed_resolves_links_against_its_final_url(site: StaticSite) -> None:
    site.route("/old-feed", status=301, headers={"Location": "/feeds/v2/relative.xml"})
    site.route(
        "/feeds/v2/relative.xml", fixture("relative.xml"), content_type="application/rss+xml"
    )
    result = poll(site.url("/old-feed"))
    assert result.status == "ok"
    assert result.entries[1].url == site.url("/feeds/v2/story-2.html")


def test_serve_directory_sniffs_feed_types_and_replaces_placeholders(site: StaticSite) -> None:
    async def get(path: str) -> tuple[str, bytes]:
        async with Fetcher(HttpPolicy(user_agent="t", allow_private_hosts=True)) as fetcher:
            result = await fetcher.fetch(site.url(path))
            return result.headers["content-type"], result.body

    content_type, body = asyncio.run(get("/atom.xml"))
    assert content_type == "application/atom+xml"
    assert f'xml:base="{site.base_url}/news/"'.encode() in body
    assert asyncio.run(get("/rss2.xml"))[0] == "application/rss+xml"
    assert asyncio.run(get("/not_a_feed.html"))[0] == "text/html; charset=utf-8"
    assert b"windows-1256" in asyncio.run(get("/arabic_windows1256.xml"))[1]


def test_local_server_records_requests_and_404s_unknown_paths() -> None:
    with LocalServer() as server:
        result = poll(server.url("/unknown?x=1"))
        assert result.http_status == 404
        assert server.requests[0].path == "/unknown?x=1"
        assert server.requests_to("/unknown")[0].method == "GET"
