"""What one backfill run did, per source, and what it left for a later run (the run's table
artifact, its result and the CLI's report)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from newsmon.backfill.window import Mode, Window


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
    gave_up: int = 0  # of those, permanent failures (not a column: ingest's summary shows it)
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
