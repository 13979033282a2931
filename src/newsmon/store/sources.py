"""Sources in the database: their rows, the outcome of each poll, and their health.

What a poll does to a source's state (backoff, parking, validators, when to poll next) is decided
in `newsmon.fetch.schedule` (pure); this module reads the rows, applies the decision and writes
them back, one SELECT and one flush for a run's polls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.config.models import SourceConfig
from newsmon.fetch.schedule import PollPolicy, PollState, after_poll, poll_interval
from newsmon.records import FeedPoll
from newsmon.store.dialect import chunks, insert
from newsmon.store.models import Article, Source

_POLL_COLUMNS = tuple(f.name for f in fields(PollState))


def source_config_hash(source: SourceConfig) -> str:
    """Identity of a source's entry in sources.yaml: any edit changes it (and un-parks the source)."""
    return hashlib.sha256(source.model_dump_json().encode()).hexdigest()


def sync_sources(session: Session, sources: Iterable[SourceConfig]) -> dict[str, Source]:
    """Make sure every configured source has a state row; return the rows by name.

    A changed URL is a new feed (validators dropped); any change to a source's entry un-parks it
    and makes it due at once (the person who edited it wants to see the result).
    """
    sources = list(sources)
    by_name = {row.name: row for row in session.scalars(sa.select(Source))}
    missing = [s for s in sources if s.name not in by_name]
    # Inserted only when missing: a thousand-row VALUES statement costs more to compile than the
    # whole SELECT. A concurrent run inserting the same source is fine (DO NOTHING, then read).
    for chunk in chunks(missing, 300):
        statement = insert(session, Source).values(
            [
                {
                    "name": s.name,
                    "url": s.url,
                    "status": "new",
                    "config_hash": source_config_hash(s),
                }
                for s in chunk
            ]
        )
        session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
    if missing:
        names = [s.name for s in missing]
        for name_chunk in chunks(names):
            query = sa.select(Source).where(col(Source.name).in_(name_chunk))
            by_name.update((row.name, row) for row in session.scalars(query))
    for source in sources:
        row = by_name[source.name]
        config_hash = source_config_hash(source)
        if row.url != source.url:
            # A new URL is a new feed: old validators would hide its entries.
            row.url, row.etag, row.last_modified, row.body_hash = source.url, None, None, None
            row.last_full_fetch_at, row.entry_interval_s = None, None
        if row.config_hash != config_hash:
            if row.config_hash is not None:
                if row.status in ("parked", "failing"):
                    row.status, row.consecutive_failures = "new", 0
                row.next_poll_at = None
            row.config_hash = config_hash
    session.flush()
    return by_name


@dataclass(frozen=True)
class PollOutcome:
    """One poll to record: what came back, the source's config, how many entries were new."""

    poll: FeedPoll
    source: SourceConfig
    new_entries: int = 0


def store_polls(
    session: Session,
    outcomes: Sequence[PollOutcome],
    *,
    now: datetime,
    policy: PollPolicy = PollPolicy(),
) -> dict[str, Source]:
    """Store the outcome of many polls: validators, health, and when to poll each next.

    One SELECT and one flush for the lot: a run polling a thousand feeds that all answered 304
    must not make two thousand round trips. The new state of each is `schedule.after_poll`'s.
    """
    names = [o.poll.source for o in outcomes]
    rows: dict[str, Source] = {}
    for chunk in chunks(names):
        query = sa.select(Source).where(col(Source.name).in_(chunk))
        rows.update((row.name, row) for row in session.scalars(query))
    for outcome in outcomes:
        poll, source = outcome.poll, outcome.source
        row = rows.get(poll.source)
        if row is None:
            row = rows[poll.source] = Source(
                name=source.name, url=source.url, config_hash=source_config_hash(source)
            )
            session.add(row)
        state = PollState(**{name: getattr(row, name) for name in _POLL_COLUMNS})
        new = after_poll(
            state,
            poll,
            poll_every=source.poll_every,
            new_entries=outcome.new_entries,
            now=now,
            policy=policy,
        )
        for name in _POLL_COLUMNS:
            value = getattr(new, name)
            # Only what changed (a 304 changes 2-3 of the 13): each set on a SQLModel row costs
            # ~10 us, and an equal value would not be written anyway.
            if value != getattr(state, name):
                setattr(row, name, value)
        if new.last_error is not None:  # a feed's own words: PostgreSQL refuses NUL in text
            row.last_error = new.last_error.replace("\x00", "")[:2000]
    session.flush()
    return rows


def unpark_source(session: Session, name: str) -> str | None:
    """Clear a source's failures so the next ingest polls it; its previous status (None: unknown)."""
    state = session.get(Source, name)
    if state is None:
        return None
    previous = state.status
    state.status, state.consecutive_failures, state.next_poll_at = "new", 0, None
    return previous


def source_health(
    session: Session,
    sources: Sequence[SourceConfig],
    *,
    now: datetime,
    window_days: int = 7,
    policy: PollPolicy = PollPolicy(),
) -> list[dict[str, Any]]:
    """Health of each configured source (`newsmon sources`).

    `entries_per_day` is the feed's own pace when its entries carry dates (what adaptive polling
    uses), else the articles stored from it per day over the last `window_days`; `interval` is
    how often it is polled now (`schedule.poll_interval`: adaptive, before server hints and backoff).
    """
    since = now - timedelta(days=window_days)
    counts: dict[str, int] = {
        source: int(count)
        for source, count in session.execute(
            sa.select(col(Article.source), sa.func.count())
            .where(col(Article.fetched_at) >= since)
            .group_by(Article.source)
        )
    }
    states = {row.name: row for row in session.scalars(sa.select(Source))}
    rows = []
    for source in sources:
        state = states.get(source.name)
        status = state.status if state else "new"
        if not source.enabled:
            status = "disabled"
        interval = poll_interval(state, source.poll_every, now=now, policy=policy)
        feed_pace = state.entry_interval_s if state else None
        rows.append(
            {
                "name": source.name,
                "url": source.url,
                "status": status,
                "last_polled_at": state.last_polled_at if state else None,
                "last_success_at": state.last_success_at if state else None,
                "last_new_entry_at": state.last_new_entry_at if state else None,
                "consecutive_failures": state.consecutive_failures if state else 0,
                # None: not polled on its own (parked or disabled); `now`: due at the next run.
                "next_poll_at": None
                if status in ("parked", "disabled")
                else max((state.next_poll_at if state else None) or now, now),
                "interval_s": interval.total_seconds(),
                "entries_per_day": 86400 / feed_pace
                if feed_pace
                else counts.get(source.name, 0) / window_days,
                "last_error": state.last_error if state else None,
            }
        )
    return rows
