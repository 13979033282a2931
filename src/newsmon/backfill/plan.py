"""The pure side of backfills: the date window, the backfill's identity, its units of work and what
reading each one means (entries to fetch, more units), re-tagging, and the counts a run reports.

A backfill is identified by a key (mode, window, sources, and for reprocess the rules): the units
of work it finished are recorded under that key, so running it again resumes instead of redoing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
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
from newsmon.config.models import Config
from newsmon.records import ArticleDraft, FeedEntry
from newsmon.rules.prepare import Rules

Mode = Literal["discover", "reprocess"]
UnitKind = Literal["backfill", "feed", "robots", "sitemap", "articles"]


@dataclass(frozen=True, slots=True)
class Window:
    """Days `since` to `until`, both included, in UTC."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the window."""
        return datetime.combine(self.until + timedelta(days=1), time(), tzinfo=UTC)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment.astimezone(UTC) < self.end

    def __str__(self) -> str:
        return f"{self.since.isoformat()}..{self.until.isoformat()}"


def make_window(since: date, until: date | None, *, today: date) -> Window:
    """The window of a backfill (until defaults to today, UTC); ValueError if it is empty."""
    end = until or today
    if since > end:
        raise ValueError(f"since ({since.isoformat()}) is after until ({end.isoformat()})")
    return Window(since, end)


def rules_digest(config: Config) -> str:
    """A digest of the topic and alert queries: a reprocess after they change is a new backfill."""
    rules = {
        "topics": sorted((t.name, t.query) for t in config.topics),
        "alerts": sorted((a.name, a.query) for a in config.alerts),
    }
    return hashlib.sha256(json.dumps(rules, ensure_ascii=False).encode()).hexdigest()


def backfill_key(
    mode: Mode,
    window: Window,
    sources: Sequence[str] | None,
    rules: str = "",
    *,
    open_ended: bool = False,
) -> str:
    """The identity of a backfill: its finished units are recorded under this key.

    An open-ended window (no `until`) is keyed by its start only, so a backfill interrupted one
    day resumes the next; the days it did not cover yet are the ones ingest sees anyway.
    """
    scope = sorted(set(sources)) if sources is not None else ["*"]
    span = f"{window.since.isoformat()}.." if open_ended else str(window)
    text = json.dumps([mode, span, scope, rules])
    return hashlib.sha256(text.encode()).hexdigest()


def describe_backfill(mode: Mode, window: Window, sources: Sequence[str] | None) -> str:
    """'backfill discover 2024-03-01..2024-03-10 (3 sources)': what a run is, for its name."""
    if sources is None:
        which = "all sources"
    elif len(sources) <= 2:
        which = ", ".join(sources) or "no sources"
    else:
        which = f"{len(sources)} sources"
    return f"backfill {mode} {window} ({which})"


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


# --- what a run did ---------------------------------------------------------------------------


@dataclass
class SourceCounts:
    """One source's figures in a backfill run (the table artifact's rows)."""

    source: str
    discovered: int = 0  # article URLs of the source found in sitemaps and feed pages
    in_window: int = 0  # ... dated inside the window
    new: int = 0  # ... not stored yet: their pages were fetched
    stored: int = 0
    duplicates: int = 0  # stored, but part of an existing story cluster
    failed: int = 0  # pages that could not be fetched or extracted
    alerts: int = 0
    articles: int = 0  # reprocess: stored articles re-tagged and re-evaluated
    retagged: int = 0  # reprocess: articles whose topics changed


DISCOVER_COLUMNS = ("discovered", "in_window", "new", "stored", "duplicates", "failed", "alerts")
REPROCESS_COLUMNS = ("articles", "retagged", "alerts")


@dataclass
class BackfillSummary:
    """What one backfill run did (and what it left for a later run)."""

    mode: Mode
    window: Window
    key: str
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    units_done: int = 0  # finished in this run
    units_skipped: int = 0  # finished by an earlier run of the same backfill
    units_pending: int = 0  # left unfinished (errors): running the backfill again resumes them
    units_unread: int = 0  # of those, feed pages, robots.txt files and sitemaps that failed
    pages_to_retry: int = 0  # article pages that failed in a way that may pass on a later run
    resumed: bool = False
    topics_added: Counter[str] = field(default_factory=Counter)
    topics_removed: Counter[str] = field(default_factory=Counter)
    alerts_delivered: int = 0
    alerts_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def source(self, name: str) -> SourceCounts:
        if name not in self.sources:
            self.sources[name] = SourceCounts(source=name)
        return self.sources[name]

    @property
    def columns(self) -> tuple[str, ...]:
        return DISCOVER_COLUMNS if self.mode == "discover" else REPROCESS_COLUMNS

    def totals(self) -> SourceCounts:
        total = SourceCounts(source="TOTAL")
        for row in self.sources.values():
            for name in dict.fromkeys(DISCOVER_COLUMNS + REPROCESS_COLUMNS):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        return total

    @property
    def complete(self) -> bool:
        return self.units_pending == 0

    def left_to_resume(self) -> str:
        """What an unfinished run left, named by kind ("" when it finished)."""
        if self.complete:
            return ""
        parts = []
        if self.units_unread:
            unread = _count(self.units_unread, "feed page or sitemap", "feed pages or sitemaps")
            parts.append(f"{unread} could not be read")
        if self.pages_to_retry:
            pages = _count(self.pages_to_retry, "article page", "article pages")
            parts.append(f"{pages} failed (fetched again on resume)")
        what = " and ".join(parts) or _count(self.units_pending, "unit", "units") + " unfinished"
        return f"incomplete: {what}; run the same backfill again to resume"

    def rows(self) -> list[dict[str, object]]:
        """One row per source plus a total row, with the columns of this mode."""
        ordered = [*sorted(self.sources.values(), key=lambda r: r.source), self.totals()]
        return [
            {"source": row.source, **{c: getattr(row, c) for c in self.columns}} for row in ordered
        ]

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals()
        return {
            "mode": self.mode,
            "since": self.window.since.isoformat(),
            "until": self.window.until.isoformat(),
            "key": self.key,
            "complete": self.complete,
            "resumed": self.resumed,
            "units_done": self.units_done,
            "units_skipped": self.units_skipped,
            "units_pending": self.units_pending,
            "units_unread": self.units_unread,
            "pages_to_retry": self.pages_to_retry,
            "left_to_resume": self.left_to_resume(),
            **{c: getattr(totals, c) for c in self.columns},
            "topics_added": dict(self.topics_added),
            "topics_removed": dict(self.topics_removed),
            "alerts_delivered": self.alerts_delivered,
            "alerts_failed": self.alerts_failed,
            "errors": list(self.errors),
            "sources": {
                name: {c: getattr(row, c) for c in self.columns}
                for name, row in sorted(self.sources.items())
            },
        }


def _count(n: int, one: str, many: str) -> str:
    return f"1 {one}" if n == 1 else f"{n} {many}"
