"""The pure side of a backfill's work: its units (a feed page, a robots.txt, a sitemap), what
reading each one means (entries to fetch, more units), and re-tagging stored articles.

The window and the backfill's identity are in `backfill.window`, the counts a run reports in
`backfill.summary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from newsmon.backfill.discover import (
    FEED_PAGE_GUESSES,
    FeedPage,
    Sitemap,
    guessed_page_url,
    probe_urls,
)
from newsmon.backfill.site_scope import (
    Scope,
    fallback_scope,
    origin_of,
    owner,
    site_host,
    site_scope,
)
from newsmon.backfill.summary import SourceCounts
from newsmon.backfill.window import Window
from newsmon.records import ArticleDraft, FeedEntry
from newsmon.rules.prepare import Rules
from newsmon.urls import canonical_url

UnitKind = Literal["backfill", "feed", "robots", "sitemap", "articles"]


# --- units of work ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of a backfill's work and what is known of it (from the progress table)."""

    name: str  # unique within a backfill: "feed:<source>:<url>", "sitemap:<url>", ...
    kind: UnitKind
    done: bool = False
    cursor: int | None = None  # reprocess: the last article id finished
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.detail.get("url", ""))

    @property
    def source(self) -> str | None:
        value = self.detail.get("source")
        return str(value) if value is not None else None


def feed_unit(source: str, url: str, *, page: int, **detail: Any) -> Unit:
    return Unit(
        f"feed:{source}:{url}",
        "feed",
        detail={"url": url, "source": source, "page": page, **detail},
    )


def robots_unit(origin: str) -> Unit:
    return Unit(f"robots:{origin}", "robots", detail={"url": f"{origin}/robots.txt"})


def sitemap_unit(url: str, *, probe: bool = False, depth: int = 0) -> Unit:
    return Unit(f"sitemap:{url}", "sitemap", detail={"url": url, "probe": probe, "depth": depth})


@dataclass
class UnitRead:
    """What reading one unit found: article entries to fetch, more units, and its new state."""

    unit: Unit  # with the detail to save (scope, next page, error...)
    entries: list[FeedEntry] = field(default_factory=list)  # in scope and in the window
    counts: dict[str, SourceCounts] = field(default_factory=dict)  # discovered, in_window, new
    children: list[Unit] = field(default_factory=list)
    error: str | None = None  # the unit could not be read: it stays to do

    def count(self, source: str) -> SourceCounts:
        return self.counts.setdefault(source, SourceCounts(source=source))


def read_feed_page(
    unit: Unit, page: FeedPage, window: Window, *, feed_url: str, max_pages: int
) -> UnitRead:
    """A feed page's entries in the window, and the next (older) page to read, if any.

    Paging stops at a page with no entries, a page whose dated entries are all older than the
    window (feeds list newest first), or `max_pages`. Page 1 also fixes the source's scope (which
    sitemap URLs are its articles) and asks for its site's robots.txt.
    """
    source = unit.source or ""
    number = int(unit.detail.get("page", 1))
    detail = dict(unit.detail)
    read = UnitRead(unit=unit)
    urls = [entry.url for entry in page.entries]
    if detail.get("guess") is not None and urls and urls[0] == detail.get("previous_first"):
        # The site ignored the pagination parameter and sent page 1 again: not a paged feed.
        read.children = _next_guess(source, feed_url, detail, number)
        read.unit = replace(unit, detail=detail | {"repeated": True})
        return read
    counts = read.count(source)
    counts.discovered = len(page.entries)
    dated = [e for e in page.entries if e.published_at is not None]
    for entry in dated:
        if entry.published_at is not None and window.contains(entry.published_at):
            read.entries.append(entry)
    counts.in_window = len(read.entries)
    if number == 1:
        scope = site_scope(source, feed_url, page.site_link, urls)
        detail["scope"] = scope.to_dict()
        detail["origin"] = _origin_for(scope, page.site_link, urls, feed_url)
        read.children.append(robots_unit(detail["origin"]))
    older_than_window = bool(dated) and all(
        e.published_at is not None and e.published_at < window.start for e in dated
    )
    if page.entries and not older_than_window and number < max_pages:
        first = urls[0] if urls else None
        if page.next_url:
            read.children.append(feed_unit(source, page.next_url, page=number + 1))
        elif number == 1 or detail.get("guess") is not None:
            guess = int(detail.get("guess") or 0)
            url = guessed_page_url(feed_url, FEED_PAGE_GUESSES[guess], number + 1)
            read.children.append(
                feed_unit(source, url, page=number + 1, guess=guess, previous_first=first)
            )
    read.unit = replace(unit, detail=detail)
    return read


def unreadable_feed_page(unit: Unit, error: str, *, feed_url: str) -> UnitRead:
    """A feed page that could not be read stays to do; page 1 still gives the source a scope
    (from the feed URL) and asks for its site's robots.txt, so the sitemaps are not held up."""
    read = UnitRead(unit=replace(unit, detail=dict(unit.detail) | {"error": error}), error=error)
    if int(unit.detail.get("page", 1)) == 1:
        scope = fallback_scope(unit.source or "", feed_url)
        origin = origin_of(feed_url)
        read.unit = replace(
            read.unit, detail=dict(read.unit.detail) | {"scope": scope.to_dict(), "origin": origin}
        )
        read.children.append(robots_unit(origin))
    return read


def missing_feed_page(unit: Unit, *, feed_url: str) -> list[Unit]:
    """The units to try after a guessed page turned out not to exist (the next guess, or none)."""
    detail = dict(unit.detail)
    return _next_guess(unit.source or "", feed_url, detail, int(detail.get("page", 2)))


def _next_guess(source: str, feed_url: str, detail: Mapping[str, Any], number: int) -> list[Unit]:
    guess = detail.get("guess")
    if guess is None or number != 2 or int(guess) + 1 >= len(FEED_PAGE_GUESSES):
        return []  # only page 2 decides which pattern a feed uses; later misses end the feed
    following = int(guess) + 1
    url = guessed_page_url(feed_url, FEED_PAGE_GUESSES[following], 2)
    return [
        feed_unit(source, url, page=2, guess=following, previous_first=detail.get("previous_first"))
    ]


def _origin_for(scope: Scope, site_link: str | None, urls: Sequence[str], feed_url: str) -> str:
    for candidate in [site_link or "", *urls, feed_url]:
        try:
            if candidate and site_host(candidate) == scope.host:
                return origin_of(candidate)
        except ValueError:
            continue
    return origin_of(feed_url)


def read_robots(unit: Unit, sitemaps: Sequence[str], scopes: Sequence[Scope]) -> UnitRead:
    """The sitemaps robots.txt names; without any, the usual sitemap locations to probe."""
    read = UnitRead(unit=replace(unit, detail=dict(unit.detail) | {"sitemaps": len(sitemaps)}))
    if sitemaps:
        read.children = [sitemap_unit(url) for url in sitemaps]
    else:
        origin = unit.name.removeprefix("robots:")
        host = site_host(origin)
        prefixes = sorted({s.prefix for s in scopes if s.host == host and s.prefix != "/"})
        read.children = [sitemap_unit(url, probe=True) for url in probe_urls(origin, prefixes)]
    return read


def read_sitemap(
    unit: Unit, sitemap: Sitemap, window: Window, scopes: Sequence[Scope], *, max_depth: int
) -> UnitRead:
    """An index's sitemaps (those changed since the window began), or a sitemap's article URLs
    that belong to the sources' scopes and are dated inside the window."""
    depth = int(unit.detail.get("depth", 0))
    read = UnitRead(unit=unit)
    if sitemap.is_index:
        if depth >= max_depth:
            read.unit = replace(unit, detail=dict(unit.detail) | {"skipped": "index too deep"})
            return read
        # A sitemap last changed before the window began cannot list a page changed inside it.
        fresh = [s for s in sitemap.sitemaps if s.lastmod is None or s.lastmod >= window.start]
        read.children = [sitemap_unit(s.url, depth=depth + 1) for s in fresh]
        read.unit = replace(
            unit, detail=dict(unit.detail) | {"sitemaps": len(sitemap.sitemaps), "read": len(fresh)}
        )
        return read
    for page in sitemap.urls:
        source = owner(page.url, scopes)
        if source is None:
            continue
        counts = read.count(source)
        counts.discovered += 1
        if page.date is not None and window.contains(page.date):
            counts.in_window += 1
            read.entries.append(
                FeedEntry(
                    source=source, url=page.url, title=page.title, published_at=page.published_at
                )
            )
    read.unit = replace(unit, detail=dict(unit.detail) | {"urls": len(sitemap.urls)})
    return read


def first_sightings(entries: Sequence[FeedEntry], seen: set[str]) -> list[FeedEntry]:
    """Entries not met earlier in this run (by canonical URL, added to `seen`): a URL listed in
    two sitemaps is fetched once."""
    fresh = []
    for entry in entries:
        try:
            key = canonical_url(entry.url)
        except ValueError:
            continue
        if key not in seen:
            seen.add(key)
            fresh.append(entry)
    return fresh


# --- reprocess: re-tagging stored articles ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """A stored article as re-tagging needs it."""

    id: int
    cluster_id: int  # its own id, or the id its duplicate_of points at
    source: str
    url: str
    title: str | None
    text: str
    language: str | None
    fetched_at: datetime
    topics: tuple[str, ...]  # as stored now


@dataclass(frozen=True, slots=True)
class Retag:
    """An article's topics and alert matches under the current rules."""

    article: StoredArticle
    topics: tuple[str, ...]
    alert_matches: Mapping[str, tuple[str, ...]]  # rule -> matched terms

    @property
    def added(self) -> set[str]:
        return set(self.topics) - set(self.article.topics)

    @property
    def removed(self) -> set[str]:
        return set(self.article.topics) - set(self.topics)


def retag(articles: Sequence[StoredArticle], rules: Rules) -> list[Retag]:
    """Match every article against the current topics and alert rules (as ingest would)."""
    result = []
    for article in articles:
        draft = ArticleDraft(
            source=article.source,
            url=article.url,
            final_url=article.url,
            canonical_url=article.url,
            title=article.title,
            text=article.text,
            published_at=None,
            author=None,
            language=article.language,
            fetched_at=article.fetched_at,
        )
        topics, alerts = rules.match(draft)
        result.append(
            Retag(
                article=article,
                topics=tuple(topics),
                alert_matches={rule: match.terms for rule, match in alerts.items()},
            )
        )
    return result
