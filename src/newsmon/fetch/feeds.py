"""Poll one feed: conditional GET through the shared Fetcher, then feedparser -> FeedEntry records.

feedparser's dicts stop here; the rest of the pipeline sees only `FeedEntry` and `FeedPoll`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Protocol
from urllib.parse import urljoin

import feedparser

from newsmon.fetch.charset import arabic_code_page, declared_encoding, mostly_utf8
from newsmon.fetch.http import Fetcher, FetchError, FetchResult, HttpStatusError
from newsmon.records import FeedEntry, FeedPoll, FeedState
from newsmon.urls import is_http_url, without_credentials

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# RSS <ttl> is a channel element, so it comes before the items: the head of the body is enough.
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>")
_TTL_SCAN_BYTES = 64 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_SPACES = re.compile(r"\s+")
_HTML_PAGE = "is an HTML page, not an RSS/Atom feed"
_XML_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[\w.:-]+(["'])""")


class FeedParseError(Exception):
    """A body that is not a usable RSS/Atom feed; the message names the feed URL and why."""


def parse_feed(
    body: bytes, *, source: str, url: str, headers: Mapping[str, str]
) -> list[FeedEntry]:
    """The entries of a feed body (absolute http(s) links only, in feed order, no repeats).

    `url` is where the body came from (after redirects): relative links resolve against it unless
    the feed says otherwise (xml:base). `headers` carry the Content-Type charset.
    """
    parsed = parse_document(body, url=url, headers=headers)
    return feed_entries(parsed, body=body, source=source, url=url, headers=headers)


def feed_entries(
    parsed: Any, *, body: bytes, source: str, url: str, headers: Mapping[str, str]
) -> list[FeedEntry]:
    """The entries of `parse_document`'s result (see `parse_feed`); FeedParseError when the body
    is no feed at all."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if not parsed.entries and not parsed.get("version"):
        # Nothing found in an HTML page, or in a body that is not even well-formed (empty, cut,
        # JSON...): an error worth reporting. A well-formed feed without items (CDF, an empty
        # channel) is a feed with nothing new.
        problem = _not_a_feed(url, body, lowered, parsed)
        if parsed.get("bozo") or not body.strip() or problem.endswith(_HTML_PAGE):
            raise FeedParseError(problem)
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for item in parsed.entries:
        entry = _entry(item, source=source, feed_url=url)
        if entry is not None and entry.url not in seen:
            seen.add(entry.url)
            entries.append(entry)
    return entries


class FeedParser(Protocol):
    """Parses a feed body away from the event loop (`newsmon.fetch.feed_pool.FeedParsePool`)."""

    async def parse(
        self, body: bytes, *, source: str, url: str, headers: Mapping[str, str]
    ) -> list[FeedEntry]: ...


class ThreadFeedParser:
    """`parse_feed` in a thread: off the loop but not bounded in time (for one-off polls)."""

    async def parse(
        self, body: bytes, *, source: str, url: str, headers: Mapping[str, str]
    ) -> list[FeedEntry]:
        return await asyncio.to_thread(parse_feed, body, source=source, url=url, headers=headers)


def parse_document(body: bytes, *, url: str, headers: Mapping[str, str]) -> Any:
    """feedparser's result for a feed body, after newsmon's encoding repair (FeedParseError only
    if feedparser itself fails).

    `url` is the document URL: a relative Content-Location resolves against it, and it is the
    base of relative links when there is none.
    """
    body, response_headers = feedparser_input(body, url=url, headers=headers)
    try:
        # A stream, never bytes: feedparser opens a bytes argument as a file path if it can.
        parsed = feedparser.parse(io.BytesIO(body), response_headers=response_headers or None)
    except Exception as err:  # feedparser reports problems in `bozo`; anything else is a bug there
        raise FeedParseError(f"{url}: the feed parser failed ({err!r})") from err
    # As feedparser's own HTTP client reports them (the poll keeps them in FeedState).
    for header, key in (("etag", "etag"), ("last-modified", "modified")):
        if header in response_headers:
            parsed[key] = response_headers[header]
    return parsed


def feedparser_input(
    body: bytes, *, url: str, headers: Mapping[str, str]
) -> tuple[bytes, dict[str, str]]:
    """The body and response headers feedparser is given for this response."""
    response_headers = {name.lower(): value for name, value in headers.items()}
    location = response_headers.get("content-location")
    if url or location:
        response_headers["content-location"] = urljoin(url, location) if location else url
    if response_headers:
        # Without one, feedparser flags any feed as "not XML" (bozo); the bytes decide instead.
        response_headers.setdefault("content-type", "application/xml")
    return _repaired(body, response_headers, url=url)


def parse_for_check(data: bytes, headers: Mapping[str, str], url: str) -> Any:
    """`parse_document` as the corpora's check_feeds.py calls a parser (../shared/corpora)."""
    return parse_document(data, url=url, headers=headers)


async def poll_feed(
    fetcher: Fetcher,
    *,
    source: str,
    url: str,
    state: FeedState,
    parser: FeedParser | None = None,
) -> FeedPoll:
    """Conditional GET of one feed; never raises for a bad feed (status "error" says why).

    The body is parsed by `parser`, never in the event loop: feedparser takes seconds on a big
    feed, and the loop polls every other feed meanwhile. Pass a FeedParsePool to bound the parse
    in time as well.
    """
    request_headers = {"Accept": FEED_ACCEPT}
    if state.etag:
        request_headers["If-None-Match"] = state.etag
    if state.last_modified:
        request_headers["If-Modified-Since"] = state.last_modified
    try:
        result = await fetcher.fetch(
            url, headers=request_headers, max_bytes=fetcher.policy.max_feed_bytes
        )
    except HttpStatusError as err:
        return FeedPoll(
            source=source,
            status="error",
            state=state,
            error=str(err),
            http_status=err.status,
            retry_after_s=err.retry_after_s,
        )
    except FetchError as err:
        return FeedPoll(source=source, status="error", state=state, error=str(err))

    max_age = cache_max_age(result.headers.get("cache-control"))
    if result.status == 304:
        return FeedPoll(
            source=source,
            status="not_modified",
            state=_validators(result, state.body_hash, fallback=state),
            http_status=304,
            max_age_s=max_age,
        )
    body_hash = hashlib.sha256(result.body).hexdigest()
    hints: dict[str, Any] = {
        "http_status": result.status,
        "max_age_s": max_age,
        "ttl_s": rss_ttl_s(result.body),
    }
    new_state = _validators(result, body_hash, fallback=None)
    if body_hash == state.body_hash:
        return FeedPoll(source=source, status="unchanged", state=new_state, **hints)
    try:
        entries = await (parser or ThreadFeedParser()).parse(
            result.body, source=source, url=result.final_url, headers=result.headers
        )
    except FeedParseError as err:
        # The old state is kept, so the same broken body is parsed (and reported) again next time.
        return FeedPoll(source=source, status="error", state=state, error=str(err), **hints)
    return FeedPoll(source=source, status="ok", state=new_state, entries=tuple(entries), **hints)


def _repaired(
    body: bytes, headers: dict[str, str], *, url: str = ""
) -> tuple[bytes, dict[str, str]]:
    """The body re-encoded as UTF-8 where newsmon reads it better than feedparser would, else
    untouched: when no declared encoding fits the bytes and they are either UTF-8 with stray
    bytes or Arabic in windows-1256 / ISO-8859-6.

    feedparser falls back to windows-1252 then, which garbles an Arabic feed served without a
    charset, and everything after the first stray byte of a UTF-8 feed. Anything else (Latin-1
    without a declaration, EBCDIC, line noise) is left to feedparser's own fallbacks, which
    read Western-European feeds right.
    """
    content_type = headers.get("content-type")
    declared = declared_encoding(body, content_type=content_type)
    try:
        body.decode(declared or "utf-8")
        return body, headers
    except (UnicodeDecodeError, LookupError):
        pass
    encoding = "utf_8" if mostly_utf8(body) else arabic_code_page(body)
    if encoding is None:
        return body, headers
    if declared:
        log.warning(
            "%s: declared %s does not decode the feed cleanly; read as %s", url, declared, encoding
        )
    text = body.decode(encoding, errors="replace").lstrip("\ufeff")
    text = _XML_DECLARED_ENCODING.sub(r"\1utf-8\2", text, count=1)
    media_type = (content_type or "application/xml").split(";")[0].strip()
    return text.encode("utf-8"), {**headers, "content-type": f"{media_type}; charset=utf-8"}


def cache_max_age(cache_control: str | None) -> float | None:
    """Seconds of Cache-Control max-age (None when absent, or when no-store/no-cache forbids it)."""
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return None
    match = _MAX_AGE.search(lowered)
    return float(match.group(1)) if match else None


def rss_ttl_s(body: bytes) -> float | None:
    """The RSS <ttl> (minutes) in seconds; read from the raw bytes so unchanged bodies need no parse."""
    match = _TTL.search(body, 0, _TTL_SCAN_BYTES)
    return float(int(match.group(1)) * 60) if match else None


def _validators(
    result: FetchResult, body_hash: str | None, *, fallback: FeedState | None
) -> FeedState:
    """The state for the next poll; a 304 may omit the validators, then the old ones still hold."""
    etag = result.headers.get("etag") or (fallback.etag if fallback else None)
    modified = result.headers.get("last-modified") or (fallback.last_modified if fallback else None)
    return FeedState(etag=etag, last_modified=modified, body_hash=body_hash)


def _not_a_feed(url: str, body: bytes, headers: Mapping[str, str], parsed: Any) -> str:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("text/html", "application/xhtml+xml") or _HTML_START.match(body[:4096]):
        return f"{url}: {_HTML_PAGE}"
    if not body.strip():
        return f"{url}: the response is empty, not an RSS/Atom feed"
    problem = parsed.get("bozo_exception")
    reason = f" ({problem})" if problem else ""
    return f"{url}: no RSS/Atom feed found in the response{reason}"


def _entry(item: Any, *, source: str, feed_url: str) -> FeedEntry | None:
    link = (item.get("link") or "").strip()
    if not link:
        return None
    link = urljoin(feed_url, link)  # feedparser resolved it already unless it had no base at all
    if not is_http_url(link):
        return None
    return FeedEntry(
        source=source,
        url=without_credentials(link),  # `user:pw@` in a feed's link is never stored or alerted
        guid=(item.get("id") or "").strip() or None,
        title=strip_html(item.get("title")),
        published_at=_published(item),
        summary=strip_html(item.get("summary")),
        # "desk@x.test (Economy desk)" in RSS: the name, not the address.
        author=strip_html((item.get("author_detail") or {}).get("name") or item.get("author")),
    )


def _published(item: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        parsed = item.get(key)
        if parsed:
            try:
                year, month, day, hour, minute, second = parsed[:6]  # UTC, from feedparser
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def strip_html(text: str | None) -> str | None:
    """Plain text of an HTML fragment (tags dropped, entities decoded, whitespace collapsed)."""
    if not text:
        return None
    if "<" in text or "&" in text:
        stripper = _TextOnly()
        stripper.feed(text)
        stripper.close()
        text = "".join(stripper.parts)
    return _SPACES.sub(" ", text).strip() or None


class _TextOnly(HTMLParser):
    """Collects text outside <script>/<style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
