"""A run's share of the queue: at most NEWSMON_MAX_PAGES_PER_RUN pages, round-robin across sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.fetch.caps import newest_per_source
from newsmon.records import FeedEntry
from newsmon.store.queue import enqueue_entries, queued_entries_fairly

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def entries(source: str, count: int) -> list[FeedEntry]:
    return [
        FeedEntry(
            source=source, url=f"https://{source}.test/{i}", published_at=NOW - timedelta(minutes=i)
        )
        for i in range(count)
    ]


def test_a_deep_queue_cannot_crowd_out_the_other_sources(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        enqueue_entries(session, entries("deep", 500), now=NOW)
        enqueue_entries(session, entries("small", 3), now=NOW + timedelta(seconds=1))
        enqueue_entries(session, entries("tiny", 1), now=NOW + timedelta(seconds=2))
    with Session(engine) as session:
        share = queued_entries_fairly(session, ["deep", "small", "tiny"], max_attempts=3, limit=10)
        rest = queued_entries_fairly(session, ["deep"], max_attempts=3, limit=1000)
    by_source = [e.source for e in share]
    assert len(share) == 10
    assert by_source.count("small") == 3 and by_source.count("tiny") == 1
    assert by_source.count("deep") == 6
    assert len(rest) == 500  # nothing dropped: the rest waits for the next runs


def test_newest_entries_are_kept_when_a_feed_floods() -> None:
    flood = entries("huge", 1000) + entries("calm", 5)
    kept, dropped = newest_per_source(flood, 100)
    huge = [e for e in kept if e.source == "huge"]
    assert len(huge) == 100 and dropped == {"huge": 900}
    assert huge == flood[:100]  # the newest (feed order: newest first)
    assert [e for e in kept if e.source == "calm"] == flood[1000:]
