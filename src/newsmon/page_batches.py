"""The pure side of the page pipeline (fetch -> extract -> prepare -> store, `flows/pages.py`),
which ingest and backfill share: which pages go together in a batch, what a batch is called, the
order a batch is stored in, and what one batch came to, counted per source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from newsmon.fetch.concurrent import earliest_published_first, spread_over_hosts
from newsmon.records import FeedEntry, PageFailure
from newsmon.summary import StoredCounts

if TYPE_CHECKING:
    from newsmon.rules.prepare import ReadyArticle


def page_batches(entries: Sequence[FeedEntry], size: int) -> list[list[FeedEntry]]:
    """The entries in batches of at most `size` (`batch_sizes`), in the order they are fetched
    and stored.

    Round-robin by host, so that each batch keeps many sites busy within their rate limits; each
    host's pages earliest-published first (undated last), so that the original of a syndicated
    story reaches the store before its copies even when they fall into different batches (within
    a batch, `publication_order` decides).
    """
    ordered = spread_over_hosts(earliest_published_first(entries))
    batches, start = [], 0
    for length in batch_sizes(len(ordered), size):
        batches.append(ordered[start : start + length])
        start += length
    return batches


# Batches at least this large get smaller ones at the ends of a run (`batch_sizes`).
RAMP_FROM = 8


def batch_sizes(count: int, size: int) -> list[int]:
    """How many of `count` pages go in each batch: `size`, but a quarter and a half of it for the
    first two and the last two when there are enough pages. Nothing can be extracted before the
    first batch is fetched, and after the last is extracted only its store runs (each stage
    waits for the one before it): at 100 pages those ends left the extraction processes idle for
    ~0.5 s of a run (benchmarks/run.py); small end batches shorten both."""
    if size < RAMP_FROM or count <= 3 * size:
        return [min(size, count - start) for start in range(0, count, size)]
    ends = [size // 4, size // 2]
    middle = count - 2 * sum(ends)
    return ends + [min(size, middle - start) for start in range(0, middle, size)] + ends[::-1]


def publication_order(article: ReadyArticle) -> tuple[datetime, datetime]:
    """The key a batch is stored in: earliest published first (fetch time when the date is
    unknown), then earliest fetched, so that the original of a syndicated story, not whichever
    copy was fetched first, heads its cluster (the first stored article of a cluster is its root)."""
    draft = article.draft
    return (draft.published_at or draft.fetched_at, draft.fetched_at)


def describe_sources(names: Sequence[str], limit: int = 2) -> str:
    """'a, b +3 more' — task run names that say what a batch works on."""
    unique = list(dict.fromkeys(names))
    shown = ", ".join(unique[:limit])
    return shown + (f" +{len(unique) - limit} more" if len(unique) > limit else "") or "nothing"


def batch_label(batch: Sequence[FeedEntry]) -> str:
    """'12 pages (a, b +3 more)': the name of a batch's task runs and error lines."""
    return f"{len(batch)} pages ({describe_sources([e.source for e in batch])})"


class PageCounts(Protocol):
    """One source's row in a run's summary, as far as its pages go (ingest's `SourceSummary`,
    backfill's `SourceCounts`)."""

    failed: int
    gave_up: int
    stored: int
    duplicates: int
    alerts: int


class PageSummary(Protocol):
    """A run's summary as the page pipeline reports into it: rows per source, error lines."""

    errors: list[str]

    def source(self, name: str) -> PageCounts: ...


@dataclass
class BatchOutcome:
    """What one batch of pages came to."""

    label: str
    entries: Sequence[FeedEntry]
    fetch_failures: list[PageFailure] = field(default_factory=list)
    extract_failures: list[PageFailure] = field(default_factory=list)
    stored: Mapping[str, StoredCounts] = field(default_factory=dict)  # per source
    stored_ids: Sequence[int] = ()
    # The batch failed as a whole (fetch or extraction task, or its store transaction): none of
    # its pages was stored or had its failure recorded.
    error: str | None = None
    store_failed: bool = False  # ... and it was the store: the database, not a page

    @property
    def failures(self) -> list[PageFailure]:
        return self.fetch_failures + self.extract_failures

    @property
    def pages_to_retry(self) -> int:
        """Pages worth fetching again: all of a batch that failed as a whole, else the fetch
        failures that may pass (a page that is no article, or that robots.txt disallows, will
        not change)."""
        if self.error is not None:
            return len(self.entries)
        return sum(1 for f in self.fetch_failures if not f.give_up)

    def count(self, summary: PageSummary) -> None:
        """Add this batch to a run's summary: failed pages and what was stored, per source, and
        one error line per failed page (and for the batch if it failed as a whole)."""
        for failure in self.failures:
            row = summary.source(failure.entry.source)
            row.failed += 1
            row.gave_up += failure.give_up
            retry = "permanent, not retried" if failure.give_up else "transient, retried next run"
            summary.errors.append(f"page ({failure.entry.source}, {retry}): {failure.error}")
        for source, counts in self.stored.items():
            row = summary.source(source)
            row.stored += counts.stored
            row.duplicates += counts.duplicates
            row.alerts += counts.alerts
        if self.error is not None:
            summary.errors.append(f"batch {self.label}: {self.error}")
