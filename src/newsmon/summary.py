"""What a run did, per source: the numbers behind the run's table artifact and the CLI's report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Protocol


class StoredCounts(Protocol):
    """What one source got from a store transaction (`newsmon.store.articles.StoreOutcome` has these)."""

    stored: int
    duplicates: int
    alerts: int


@dataclass
class SourceSummary:
    source: str
    poll: str = "skipped"  # ok, not_modified, unchanged, error, skipped
    entries: int = 0  # in the feed
    new: int = 0  # not seen before
    stored: int = 0
    duplicates: int = 0  # stored, but part of an existing story cluster
    failed: int = 0  # pages that could not be fetched or extracted
    gave_up: int = 0  # of those, permanent failures (404/410, too large...): not retried
    alerts: int = 0
    error: str | None = None


@dataclass
class RunSummary:
    sources: dict[str, SourceSummary] = field(default_factory=dict)
    alerts_delivered: int = 0
    alerts_failed: int = 0
    alerts_held: int = 0  # waiting for a digest, the end of quiet hours or a free slot
    errors: list[str] = field(default_factory=list)

    def source(self, name: str) -> SourceSummary:
        if name not in self.sources:
            self.sources[name] = SourceSummary(source=name)
        return self.sources[name]

    def add_stored(self, per_source: Mapping[str, StoredCounts]) -> None:
        """Add a store transaction's counts per source (`StoreOutcome.per_source`)."""
        for name, counts in per_source.items():
            row = self.source(name)
            row.stored += counts.stored
            row.duplicates += counts.duplicates
            row.alerts += counts.alerts

    @property
    def polled(self) -> int:
        return sum(1 for s in self.sources.values() if s.poll != "skipped")

    def totals(self) -> SourceSummary:
        total = SourceSummary(source="TOTAL", poll=f"{self.polled} polled")
        for row in self.sources.values():
            total.entries += row.entries
            total.new += row.new
            total.stored += row.stored
            total.duplicates += row.duplicates
            total.failed += row.failed + (1 if row.poll == "error" else 0)
            total.gave_up += row.gave_up
            total.alerts += row.alerts
        return total

    def rows(self) -> list[dict[str, object]]:
        """One dict per source plus a total row (the table artifact's rows)."""
        rows = [asdict(row) for row in sorted(self.sources.values(), key=lambda r: r.source)]
        rows.append(asdict(self.totals()))
        return rows

    def to_dict(self) -> dict[str, object]:
        totals = self.totals()
        return {
            "sources_polled": self.polled,
            "entries": totals.entries,
            "new": totals.new,
            "stored": totals.stored,
            "duplicates": totals.duplicates,
            "failed": totals.failed,
            "gave_up": totals.gave_up,
            "alerts": totals.alerts,
            "alerts_delivered": self.alerts_delivered,
            "alerts_failed": self.alerts_failed,
            "alerts_held": self.alerts_held,
            "errors": list(self.errors),
            "sources": {name: asdict(row) for name, row in self.sources.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RunSummary:
        summary = cls(
            alerts_delivered=int(data.get("alerts_delivered", 0)),  # type: ignore[call-overload]
            alerts_failed=int(data.get("alerts_failed", 0)),  # type: ignore[call-overload]
            alerts_held=int(data.get("alerts_held", 0)),  # type: ignore[call-overload]
            errors=list(data.get("errors", [])),  # type: ignore[call-overload]
        )
        for name, row in dict(data.get("sources", {})).items():  # type: ignore[call-overload]
            summary.sources[name] = SourceSummary(**row)
        return summary
