"""Sitemaps, robots.txt and feed pages parsed without the network (fixtures in fixtures/sitemaps)."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime
from typing import Any

import pytest

from newsmon.backfill.discover import (
    SitemapError,
    fetch_robots_sitemaps,
    fetch_sitemap,
    guessed_page_url,
    parse_feed_page,
    parse_sitemap,
    parse_w3c_datetime,
    probe_urls,
    robots_sitemaps,
)
from newsmon.fetch.http import BlockedAddressError, FetchError
from tests.backfill_site import feed_page, fixture
from tests.localserver import LocalServer

BASE = "http://news.test"
CAP = 1_000_000


def test_w3c_datetimes_of_every_precision_become_aware_utc() -> None:
    assert parse_w3c_datetime("2026-11-09") == datetime(2026, 11, 9, tzinfo=UTC)
    assert parse_w3c_datetime("2026-11") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_w3c_datetime("2026") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_w3c_datetime("2026-11-07T13:25") == datetime(2026, 11, 7, 13, 25, tzinfo=UTC)
    assert parse_w3c_datetime(" 2026-11-19T13:00:00+03:00 ") == datetime(
        2026, 11, 19, 10, 0, tzinfo=UTC
    )
    assert parse_w3c_datetime("2026-11-19T16:10:00.250Z") == datetime(
        2026, 11, 19, 16, 10, 0, 250000, tzinfo=UTC
    )
    assert parse_w3c_datetime("last tuesday") is None
    assert parse_w3c_datetime("") is None and parse_w3c_datetime(None) is None


def test_sitemap_index_lists_sitemaps_with_their_lastmod() -> None:
    index = parse_sitemap(fixture("sitemap_index.xml", BASE), url=f"{BASE}/s.xml", max_bytes=CAP)
    assert index.is_index and not index.urls
    assert [(s.url, s.lastmod) for s in index.sitemaps] == [
        (
            f"{BASE}/sitemaps/tigris-herald-2026-10.xml.gz",
            datetime(2026, 10, 31, 22, 15, tzinfo=UTC),
        ),
        (
            f"{BASE}/sitemaps/tigris-herald-2026-11.xml.gz",
            datetime(2026, 11, 19, 16, 10, tzinfo=UTC),
        ),
        (f"{BASE}/sitemaps/sham-post-2026-11.xml", datetime(2026, 11, 18, tzinfo=UTC)),
    ]


def test_gzipped_sitemap_with_extensions_and_undated_urls() -> None:
    body = gzip.compress(fixture("tigris-herald-2026-11.xml", BASE))
    sitemap = parse_sitemap(body, url=f"{BASE}/t.xml.gz", max_bytes=CAP)
    assert not sitemap.is_index and len(sitemap.urls) == 10
    by_url = {u.url: u for u in sitemap.urls}
    about = by_url[f"{BASE}/tigris-herald/about.html"]
    assert about.date is None and about.title is None
    sweep = by_url[f"{BASE}/tigris-herald/2026/11/army-begins-sweep-of-wadi-horan.html"]
    assert sweep.lastmod == sweep.date == datetime(2026, 11, 19, 16, 10, tzinfo=UTC)
    # The hreflang alternate inside <url> is not a page of its own.
    assert not any("/ar/" in u for u in by_url)


def test_news_sitemap_gives_publication_dates_and_titles() -> None:
    sitemap = parse_sitemap(fixture("news-sitemap.xml", BASE), url=f"{BASE}/n.xml", max_bytes=CAP)
    second = sitemap.urls[1]
    assert second.published_at == datetime(2026, 11, 17, 6, 10, tzinfo=UTC)
    assert second.lastmod == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert second.date == second.published_at  # the publication date places it, not the edit
    assert second.title == "قصف بطائرة مسيّرة يستهدف مقراً للحشد الشعبي قرب القائم"


def test_a_sitemap_without_namespace_and_with_relative_locs_still_reads() -> None:
    body = b"<urlset><url><loc>/a/1.html</loc><lastmod>2026-11-01</lastmod></url><url><loc>javascript:x</loc></url></urlset>"
    sitemap = parse_sitemap(body, url=f"{BASE}/sitemap.xml", max_bytes=CAP)
    assert [u.url for u in sitemap.urls] == [f"{BASE}/a/1.html"]


def test_html_and_garbage_are_not_sitemaps() -> None:
    with pytest.raises(SitemapError, match=r"not a sitemap \(the document is <rss>"):
        parse_sitemap(b"<rss><channel/></rss>", url="u", max_bytes=CAP)
    with pytest.raises(SitemapError, match="is an HTML page, not a sitemap"):
        parse_sitemap(b"<!doctype html><html><body>Not found</body></html>", url="u", max_bytes=CAP)
    with pytest.raises(SitemapError, match="not an XML sitemap"):
        parse_sitemap(b"\x00\x01 binary", url="u", max_bytes=CAP)


def test_entities_are_never_expanded() -> None:
    """No XXE: an external entity is not read, an internal one not expanded (billion laughs)."""
    body = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">'
        b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<urlset><url><loc>http://news.test/&x;&b;</loc></url></urlset>"
    )
    sitemap = parse_sitemap(body, url="http://news.test/s.xml", max_bytes=CAP)
    assert all("root:" not in u.url and "aaaa" not in u.url for u in sitemap.urls)


def test_gzip_bomb_is_refused_at_the_cap() -> None:
    body = gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>")
    assert len(body) < 10_000
    with pytest.raises(SitemapError, match="over 1,000,000 bytes once decompressed"):
        parse_sitemap(body, url="u", max_bytes=CAP)


def test_robots_sitemap_lines() -> None:
    robots = fixture("robots.txt", BASE).decode()
    assert robots_sitemaps(robots, base_url=f"{BASE}/robots.txt") == [
        f"{BASE}/sitemap_index.xml",
        f"{BASE}/news-sitemap.xml",
    ]
    assert robots_sitemaps(
        "Sitemap: /relative.xml\nSitemap: ftp://x/y\n" + "#" * 20_000, base_url=BASE
    ) == [f"{BASE}/relative.xml"]


def test_probes_cover_the_root_and_each_prefix() -> None:
    urls = probe_urls(BASE, ["/english/"])
    assert f"{BASE}/sitemap.xml" in urls and f"{BASE}/english/news-sitemap.xml" in urls
    assert len(urls) == len(set(urls)) == 8


def test_feed_pages_give_their_site_and_next_links() -> None:
    body = feed_page("levant-wire", BASE, 0, 2, {"next": f"{BASE}/levant-wire/feed.xml?page=2"})
    page = parse_feed_page(
        body, source="levant-wire", url=f"{BASE}/levant-wire/feed.xml", headers={}
    )
    assert len(page.entries) == 2 and page.site_link == f"{BASE}/levant-wire/"
    assert page.next_url == f"{BASE}/levant-wire/feed.xml?page=2"
    archive = feed_page(
        "euphrates-monitor",
        BASE,
        3,
        6,
        {"prev-archive": f"{BASE}/a.xml", "next-archive": f"{BASE}/b.xml"},
    )
    page = parse_feed_page(
        archive, source="e", url=f"{BASE}/euphrates-monitor/archive/x.xml", headers={}
    )
    assert page.next_url == f"{BASE}/a.xml"  # older, never the newer archive
    plain = parse_feed_page(
        feed_page("sham-post", BASE, 0, 3), source="s", url=f"{BASE}/f", headers={}
    )
    assert plain.next_url is None and len(plain.entries) == 3


def test_guessed_page_urls() -> None:
    assert (
        guessed_page_url("https://x.test/feed/", "?paged={n}", 2) == "https://x.test/feed/?paged=2"
    )
    assert guessed_page_url("https://x.test/feed?lang=ar&paged=2", "?paged={n}", 3) == (
        "https://x.test/feed?lang=ar&paged=3"
    )
    assert guessed_page_url("https://x.test/rss", "page/{n}/", 2) == "https://x.test/rss/page/2/"


# --- through the HTTP client (a loopback server) ------------------------------------------------


def _fetch(policy_private: bool, work: Any) -> Any:
    from newsmon.fetch.http import Fetcher, HttpPolicy

    async def run() -> Any:
        policy = HttpPolicy(user_agent="newsmon-test", allow_private_hosts=policy_private)
        async with Fetcher(policy) as fetcher:
            return await work(fetcher)

    return asyncio.run(run())


def test_sitemaps_are_fetched_through_the_ssrf_guard(local_server: LocalServer) -> None:
    local_server.route(
        "/robots.txt", fixture("robots.txt", local_server.base_url), content_type="text/plain"
    )
    local_server.route("/sitemap_index.xml", fixture("sitemap_index.xml", local_server.base_url))
    with pytest.raises(BlockedAddressError, match="refused by the SSRF guard"):
        _fetch(
            False, lambda f: fetch_sitemap(f, local_server.url("/sitemap_index.xml"), max_bytes=CAP)
        )
    with pytest.raises(BlockedAddressError):
        _fetch(False, lambda f: fetch_robots_sitemaps(f, local_server.base_url))
    assert local_server.requests == []
    index = _fetch(
        True, lambda f: fetch_sitemap(f, local_server.url("/sitemap_index.xml"), max_bytes=CAP)
    )
    assert index.is_index and len(index.sitemaps) == 3


def test_gzipped_sitemaps_both_ways_and_missing_robots(local_server: LocalServer) -> None:
    xml = fixture("tigris-herald-2026-11.xml", local_server.base_url)
    local_server.route("/a.xml.gz", gzip.compress(xml), content_type="application/x-gzip")
    local_server.route(
        "/b.xml",
        gzip.compress(xml),
        headers={"Content-Encoding": "gzip"},
        content_type="application/xml",
    )
    for path in ("/a.xml.gz", "/b.xml"):
        sitemap = _fetch(
            True, lambda f, p=path: fetch_sitemap(f, local_server.url(p), max_bytes=CAP)
        )
        assert len(sitemap.urls) == 10
    assert _fetch(True, lambda f: fetch_robots_sitemaps(f, local_server.base_url)) == []  # 404
    local_server.route("/robots.txt", "down", status=503, content_type="text/plain")
    with pytest.raises(FetchError, match="503"):
        _fetch(True, lambda f: fetch_robots_sitemaps(f, local_server.base_url))
    # A sitemap bigger than the cap is refused while downloading.
    with pytest.raises(FetchError, match="over"):
        _fetch(True, lambda f: fetch_sitemap(f, local_server.url("/a.xml.gz"), max_bytes=100))
