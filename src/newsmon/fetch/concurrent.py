"""The network stage: poll many feeds and fetch many pages at once, politely, never raising.

Per-host and global limits, timeouts, size caps and the SSRF guard live in `http.Fetcher`; this
module decides what to fetch and turns every outcome into a record (a bad host is a failure
record, not an exception that stops the others).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from newsmon.config.models import SourceConfig
from newsmon.fetch.feeds import FeedParser, poll_feed
from newsmon.fetch.http import Fetcher, FetchError, HttpPolicy, RequestCheck
from newsmon.fetch.politeness import HostLimit
from newsmon.fetch.robots import RobotsCache
from newsmon.records import FeedEntry, FeedPoll, FeedState, Page, PageFailure
from newsmon.settings import Settings
from newsmon.urls import host_key

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def http_policy(settings: Settings) -> HttpPolicy:
    """The HTTP limits of these settings."""
    return HttpPolicy(
        user_agent=settings.user_agent,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        total_timeout_s=settings.total_timeout_s,
        max_feed_bytes=settings.max_feed_bytes,
        max_page_bytes=settings.max_page_bytes,
        max_connections=settings.max_connections,
        max_per_host=settings.max_per_host,
        host_rps=settings.host_rps,
        allow_private_hosts=settings.allow_private_hosts,
        private_allowlist=settings.private_allowlist_items,
    )


def default_host_limit(settings: Settings) -> HostLimit:
    """The limit of a host no source says anything about."""
    return HostLimit(settings.host_rps, settings.max_per_host)


def host_limits(settings: Settings, sources: Iterable[SourceConfig]) -> dict[str, HostLimit]:
    """Per-host limits from the sources' `max_rps` / `max_connections` keys (for their feed's host).

    Several sources on one host: the lowest rate and connection count win (the most polite).
    """
    default = default_host_limit(settings)
    limits: dict[str, HostLimit] = {}
    for source in sources:
        if source.max_rps is None and source.max_connections is None:
            continue
        key = host_key(source.url)
        current = limits.get(key)
        rps = source.max_rps or settings.host_rps
        connections = source.max_connections or default.max_connections
        if current is not None:
            rps = min(rps, current.rps or rps)
            connections = min(connections, current.max_connections)
        limits[key] = HostLimit(rps, connections)
    return limits


def earliest_published_first(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """The entries by publication time, undated ones last (stable otherwise).

    A run stores its pages batch after batch, and within a cluster the first stored article is
    the root (`duplicate_of` of the others): ordered like this, the original of a syndicated story
    reaches the store before its copies even when they fall into different batches.
    """
    undated = datetime.max.replace(tzinfo=UTC)
    return sorted(entries, key=lambda entry: entry.published_at or undated)


def spread_over_hosts(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """The entries round-robin by host (each host's in their order), so that a batch of pages
    keeps many hosts busy at once instead of waiting on one host's rate limit: a first run over
    50 sites at 1 request/s each fetches 50 pages a second, not one."""
    by_host: dict[str, list[FeedEntry]] = {}
    for entry in entries:
        try:
            key = host_key(entry.url)
        except ValueError:
            key = ""
        by_host.setdefault(key, []).append(entry)
    queues = list(by_host.values())
    spread: list[FeedEntry] = []
    for rank in range(max((len(q) for q in queues), default=0)):
        spread.extend(queue[rank] for queue in queues if rank < len(queue))
    return spread


async def poll_sources(
    fetcher: Fetcher,
    sources: Sequence[SourceConfig],
    states: Mapping[str, FeedState],
    *,
    parser: FeedParser | None = None,
) -> list[FeedPoll]:
    """Poll every source concurrently; each result is a FeedPoll (status "error" for failures).

    Bodies are parsed by `parser` (a FeedParsePool: worker processes, bounded in time), so a big
    feed's parse never holds up the other polls.
    """

    async def poll_one(source: SourceConfig) -> FeedPoll:
        state = states.get(source.name, FeedState())
        try:
            return await poll_feed(
                fetcher, source=source.name, url=source.url, state=state, parser=parser
            )
        except Exception as err:  # poll_feed reports errors itself; this is the last guard
            return FeedPoll(
                source=source.name, status="error", state=state, error=f"{source.url}: {err}"
            )

    return list(await asyncio.gather(*(poll_one(source) for source in sources)))


async def fetch_pages(
    fetcher: Fetcher,
    entries: Sequence[FeedEntry],
    *,
    robots: RobotsCache | None = None,
    robots_exempt: Collection[str] = (),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[list[Page], list[PageFailure]]:
    """Fetch the article page of every entry concurrently; failures are returned, not raised.

    With `robots`, each page (and each redirect target) is checked against its site's robots.txt
    first, except for the sources named in `robots_exempt` (`respect_robots: false`). A page the
    rules disallow is a failure that is given up at once: asking again next run cannot help. So is
    every permanent failure (`FetchError.permanent`: 404/410, too large, a redirect loop, not HTML).
    """

    async def fetch_one(entry: FeedEntry) -> Page | PageFailure:
        check: RequestCheck | None = None
        if robots is not None and entry.source not in robots_exempt:
            check = functools.partial(robots.check, fetcher)
        try:
            result = await fetcher.fetch(entry.url, check=check)
        except FetchError as err:  # robots.txt refusals too: permanent when the rules say so
            return PageFailure(entry=entry, stage="fetch", error=str(err), give_up=err.permanent)
        except Exception as err:
            return PageFailure(entry=entry, stage="fetch", error=f"{entry.url}: {err!r}")
        content_type = result.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in _HTML_TYPES:
            return PageFailure(
                entry=entry,
                stage="fetch",
                error=f"{result.final_url}: not an HTML page (Content-Type {content_type})",
                give_up=True,
            )
        return Page(
            entry=entry,
            final_url=result.final_url,
            status=result.status,
            html=result.text(),
            fetched_at=clock(),
        )

    outcomes = await asyncio.gather(*(fetch_one(entry) for entry in entries))
    pages = [o for o in outcomes if isinstance(o, Page)]
    failures = [o for o in outcomes if isinstance(o, PageFailure)]
    return pages, failures
