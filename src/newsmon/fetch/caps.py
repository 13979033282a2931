"""Caps on the work one run takes on, so a huge feed or a deep queue cannot hold a run for hours.

A feed of 100,000 items once queued 99,702 entries in one poll, and a run then worked the whole
queue (~35 h at 1 request/s) while its alerts waited. Two named settings bound that: new entries
queued per feed per poll (the newest kept), and pages fetched per run (shared round-robin across
sources by the store's queue query, the rest left queued for the next run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from newsmon.records import FeedEntry

_OLDEST = datetime.min.replace(tzinfo=UTC)


def newest_per_source(
    entries: Sequence[FeedEntry], limit: int
) -> tuple[list[FeedEntry], dict[str, int]]:
    """At most `limit` entries per source, the newest by publication date (feed order among the
    undated: feeds list newest first); and how many were dropped per source."""
    by_source: dict[str, list[tuple[int, FeedEntry]]] = defaultdict(list)
    for position, entry in enumerate(entries):
        by_source[entry.source].append((position, entry))
    kept: list[tuple[int, FeedEntry]] = []
    dropped: dict[str, int] = {}
    for source, items in by_source.items():
        if len(items) <= limit:
            kept.extend(items)
            continue
        items.sort(key=lambda item: (-_timestamp(item[1]), item[0]))
        kept.extend(items[:limit])
        dropped[source] = len(items) - limit
    kept.sort(key=lambda item: item[0])
    return [entry for _position, entry in kept], dropped


def _timestamp(entry: FeedEntry) -> float:
    return (entry.published_at or _OLDEST).timestamp()
