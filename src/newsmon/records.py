"""Typed records passed between the stages: FeedEntry -> Page -> Extracted -> ArticleDraft.

Every stage takes and returns these, never feedparser dicts or HTTP responses, so each stage can be
tested alone and the order of the pipeline is visible in the types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class FeedState:
    """What we remember of a feed between polls, to make the next poll cheap."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = (
        None  # sha256 of the last body: catches 200-with-same-body and stale ETags
    )


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed, as the feed describes it (before the page is fetched)."""

    source: str
    url: str  # absolute, as linked from the feed
    guid: str | None = None
    title: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC
    summary: str | None = None
    author: str | None = None


PollStatus = Literal["ok", "not_modified", "unchanged", "error"]


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """The outcome of polling one feed. `error` names what went wrong when status is "error"."""

    source: str
    status: PollStatus
    state: FeedState
    entries: tuple[FeedEntry, ...] = ()
    error: str | None = None
    http_status: int | None = None
    # Server hints for the next poll, in seconds (Retry-After, Cache-Control max-age, RSS ttl).
    retry_after_s: float | None = None
    max_age_s: float | None = None
    ttl_s: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched article page."""

    entry: FeedEntry
    final_url: str  # after redirects
    status: int
    html: str
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class PageFailure:
    """A page that could not be fetched or extracted, with a reason a person can act on."""

    entry: FeedEntry
    stage: Literal["fetch", "extract"]
    error: str
    give_up: bool = False  # permanent (404/410, too large, not HTML...): retrying cannot help

    @property
    def failure(self) -> Literal["permanent", "transient"]:
        """How `entry_queue.failure` and the run summary name this failure."""
        return "permanent" if self.give_up else "transient"


@dataclass(frozen=True, slots=True)
class Extracted:
    """Clean content and metadata of one page (what `newsmon extract --json` prints)."""

    title: str | None
    text: str
    published_at: datetime | None = None
    author: str | None = None
    language: str | None = None
    canonical_url: str | None = None  # from <link rel=canonical> / og:url, if the page has one


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """An article ready to store: a page's content merged with its feed entry's metadata."""

    source: str
    url: str  # as linked from the feed
    final_url: str
    canonical_url: str
    title: str | None
    text: str
    published_at: datetime | None
    author: str | None
    language: str | None
    fetched_at: datetime
