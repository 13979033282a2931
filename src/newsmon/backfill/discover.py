"""Older article URLs of a site: robots.txt `Sitemap:` lines, sitemaps and sitemap indexes (plain,
gzipped, Google News), and paginated or archived feeds (RFC 5005 `next`/`prev-archive` links,
WordPress-style `?paged=N`, `/page/N/`).

Everything goes through the run's `Fetcher` (SSRF guard, per-host limits, size caps).
trafilatura's sitemap helpers fetch with their own downloader, so sitemaps are parsed here with
lxml (entities never resolved, no network, bounded size); decompressing a `.xml.gz` is bounded too.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from lxml import etree

from newsmon.fetch.feeds import FEED_ACCEPT, parse_feed
from newsmon.fetch.http import Fetcher, HttpStatusError
from newsmon.records import FeedEntry
from newsmon.urls import is_http_url

SITEMAP_ACCEPT = "application/xml, text/xml;q=0.9, application/x-gzip;q=0.8, */*;q=0.5"
# Where sites keep sitemaps when robots.txt names none (tried at the site root and under each
# source's path prefix); a 404 there is not an error.
SITEMAP_PROBES = ("sitemap.xml", "sitemap_index.xml", "news-sitemap.xml", "sitemap-news.xml")
# Pagination to try when a feed links to no next page: WordPress (?paged=2), /page/2/ paths.
FEED_PAGE_GUESSES = ("?paged={n}", "page/{n}/")
# Sitemap indexes may nest (an index of indexes); real sites use one or two levels.
MAX_SITEMAP_DEPTH = 4
# The sitemaps protocol allows 50,000 entries per file.
MAX_SITEMAP_ENTRIES = 50_000
_GZIP_MAGIC = b"\x1f\x8b"
_NOT_FOUND = frozenset({404, 410})


class SitemapError(Exception):
    """A body that is not a usable sitemap; the message names the URL and why."""


@dataclass(frozen=True, slots=True)
class SitemapLink:
    """A sitemap listed in a sitemap index."""

    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True, slots=True)
class SitemapUrl:
    """A page listed in a sitemap, with the dates and title the sitemap gives."""

    url: str
    lastmod: datetime | None = None
    published_at: datetime | None = None  # <news:publication_date>
    title: str | None = None  # <news:title>

    @property
    def date(self) -> datetime | None:
        """The date that places the page in a window: publication, else last modification."""
        return self.published_at or self.lastmod


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A parsed sitemap: either an index of sitemaps or a set of page URLs."""

    url: str
    is_index: bool
    sitemaps: tuple[SitemapLink, ...] = ()
    urls: tuple[SitemapUrl, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a feed, with the links that lead to older pages."""

    url: str
    entries: tuple[FeedEntry, ...]
    site_link: str | None  # the site the feed belongs to (RSS <link>, Atom rel=alternate)
    next_url: str | None  # RFC 5005: rel="next" (paged feeds) or rel="prev-archive" (archives)


# --- sitemaps -------------------------------------------------------------------------------


def parse_w3c_datetime(text: str | None) -> datetime | None:
    """A W3C datetime (YYYY, YYYY-MM, YYYY-MM-DD, with time and zone) as aware UTC; None if unreadable.

    A date or time without a zone is taken as UTC.
    """
    if not text:
        return None
    value = text.strip()
    if len(value) in (4, 7) and value.replace("-", "").isdigit():
        value = value + ("-01-01" if len(value) == 4 else "-01")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_sitemap(body: bytes, *, url: str, max_bytes: int) -> Sitemap:
    """Parse a sitemap or sitemap index (gzipped or not); SitemapError if it is neither."""
    if body.startswith(_GZIP_MAGIC):
        body = _gunzip(body, url=url, max_bytes=max_bytes)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
    )
    if body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise SitemapError(f"{url}: is an HTML page, not a sitemap")
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as err:
        raise SitemapError(f"{url}: not an XML sitemap ({err})") from None
    if root is None:
        raise SitemapError(f"{url}: not an XML sitemap (no XML document in the response)")
    kind = _local(root)
    if kind == "sitemapindex":
        links = []
        for element in _children(root, "sitemap"):
            fields = _fields(element)
            loc = _absolute(fields.get("loc"), url)
            if loc:
                links.append(SitemapLink(loc, parse_w3c_datetime(fields.get("lastmod"))))
        return Sitemap(url=url, is_index=True, sitemaps=tuple(links[:MAX_SITEMAP_ENTRIES]))
    if kind == "urlset":
        pages = []
        for element in _children(root, "url"):
            fields = _fields(element)
            loc = _absolute(fields.get("loc"), url)
            if loc:
                pages.append(
                    SitemapUrl(
                        url=loc,
                        lastmod=parse_w3c_datetime(fields.get("lastmod")),
                        published_at=parse_w3c_datetime(fields.get("publication_date")),
                        title=(fields.get("title") or "").strip() or None,
                    )
                )
        return Sitemap(url=url, is_index=False, urls=tuple(pages[:MAX_SITEMAP_ENTRIES]))
    raise SitemapError(f"{url}: not a sitemap (the document is <{kind}>, not <urlset>)")


def robots_sitemaps(robots_txt: str, *, base_url: str) -> list[str]:
    """The `Sitemap:` URLs of a robots.txt, absolute, in order, without repeats.

    (trafilatura's `extract_robots_sitemaps` does the same but ignores robots.txt files over 10 kB,
    which large news sites have.)
    """
    found: list[str] = []
    for line in robots_txt.splitlines():
        line = line.split("#", 1)[0].strip()
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "sitemap" and value.strip():
            url = urljoin(base_url, value.strip())
            if is_http_url(url) and url not in found:
                found.append(url)
    return found


def probe_urls(origin: str, prefixes: Iterable[str]) -> list[str]:
    """Usual sitemap locations at the site root and under each path prefix."""
    urls: list[str] = []
    for prefix in ["/", *prefixes]:
        for name in SITEMAP_PROBES:
            url = f"{origin}{prefix}{name}"
            if url not in urls:
                urls.append(url)
    return urls


async def fetch_robots_sitemaps(fetcher: Fetcher, origin: str) -> list[str]:
    """The sitemaps robots.txt names ([] when there is no robots.txt); FetchError otherwise."""
    url = f"{origin}/robots.txt"
    try:
        result = await fetcher.fetch(url, headers={"Accept": "text/plain, */*;q=0.5"})
    except HttpStatusError as err:
        if err.status in _NOT_FOUND:
            return []
        raise
    return robots_sitemaps(result.text(), base_url=result.final_url)


async def fetch_sitemap(fetcher: Fetcher, url: str, *, max_bytes: int) -> Sitemap:
    """Fetch and parse one sitemap; FetchError or SitemapError when that fails."""
    result = await fetcher.fetch(url, headers={"Accept": SITEMAP_ACCEPT}, max_bytes=max_bytes)
    return parse_sitemap(result.body, url=result.final_url, max_bytes=max_bytes)


def is_not_found(err: Exception) -> bool:
    """A 404/410 answer: the thing is not there (a probe that missed), not a failure."""
    return isinstance(err, HttpStatusError) and err.status in _NOT_FOUND


def _gunzip(body: bytes, *, url: str, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise SitemapError(f"{url}: could not decompress the gzipped sitemap ({err})") from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise SitemapError(f"{url}: the sitemap is over {max_bytes:,} bytes once decompressed")
    return data


def _local(element: Any) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(root: Any, name: str) -> Iterable[Any]:
    return (child for child in root if _local(child) == name)


def _fields(element: Any) -> dict[str, str]:
    """Text of the descendants by local name (first wins): loc, lastmod, publication_date, title."""
    fields: dict[str, str] = {}
    for child in element.iter():
        name = _local(child)
        if name and name not in fields and child.text and child.text.strip():
            fields[name] = child.text.strip()
    return fields


def _absolute(loc: str | None, base: str) -> str | None:
    if not loc:
        return None
    url = urljoin(base, loc)
    return url if is_http_url(url) else None


# --- feed pages -----------------------------------------------------------------------------


def parse_feed_page(body: bytes, *, source: str, url: str, headers: Mapping[str, str]) -> FeedPage:
    """Entries of a feed page plus its site link and the link to the next (older) page."""
    entries = parse_feed(body, source=source, url=url, headers=headers)
    response_headers = {name.lower(): value for name, value in headers.items()}
    response_headers.setdefault("content-location", url)
    # A second, cheap parse for the feed-level links: parse_feed only returns entries.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=response_headers)
    links: dict[str, str] = {}
    for link in parsed.feed.get("links", []):
        rel, href = link.get("rel"), link.get("href")
        if rel and href and is_http_url(href):
            links.setdefault(rel, href)
    site = parsed.feed.get("link") or links.get("alternate")
    next_url = links.get("next") or links.get("prev-archive")
    return FeedPage(
        url=url,
        entries=tuple(entries),
        site_link=site if site and is_http_url(site) else None,
        next_url=next_url if next_url != url else None,
    )


async def fetch_feed_page(fetcher: Fetcher, *, source: str, url: str) -> FeedPage:
    """Fetch and parse one feed page; FetchError or FeedParseError when that fails."""
    result = await fetcher.fetch(
        url, headers={"Accept": FEED_ACCEPT}, max_bytes=fetcher.policy.max_feed_bytes
    )
    return parse_feed_page(result.body, source=source, url=result.final_url, headers=result.headers)


def guessed_page_url(feed_url: str, guess: str, page: int) -> str:
    """Page `page` of a feed by a pagination pattern of FEED_PAGE_GUESSES."""
    parts = urlsplit(feed_url)
    if guess.startswith("?"):
        name = guess[1:].split("=", 1)[0]
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
        query.append((name, str(page)))
        return urlunsplit(parts._replace(query=urlencode(query)))
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(parts._replace(path=path + guess.format(n=page)))
