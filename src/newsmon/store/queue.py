"""The entry queue (`entry_queue`): feed entries waiting for their page, and pages that failed.

A poll queues its new entries in the transaction that records the poll; a run takes its share of
the queue (round-robin across sources); a stored page leaves the queue in the transaction that
stores it (`store/articles.py`); a failed one stays with its attempts counted, until
`max_attempts` (NEWSMON_MAX_PAGE_ATTEMPTS) gives it up.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.records import FeedEntry, PageFailure
from newsmon.store.dialect import chunks, insert, insert_on_conflict, no_nul
from newsmon.store.models import Article, QueuedEntry, table_of
from newsmon.urls import canonical_url


def _row(entry: FeedEntry, *, now: datetime, attempts: int, **failure: Any) -> dict[str, Any]:
    """An entry as a queue row (NULs dropped), with `failure` columns when it failed."""
    return no_nul(
        {
            "url": entry.url,
            "source": entry.source,
            "guid": entry.guid,
            "title": entry.title,
            "published_at": entry.published_at,
            "author": entry.author,
            "summary": entry.summary,
            "attempts": attempts,
            "queued_at": now,
            **failure,
        }
    )


def _entry(row: QueuedEntry) -> FeedEntry:
    """A queue row as the feed entry it was queued from."""
    return FeedEntry(
        source=row.source,
        url=row.url,
        guid=row.guid,
        title=row.title,
        published_at=row.published_at,
        summary=row.summary,
        author=row.author,
    )


def new_entries(
    session: Session, entries: Sequence[FeedEntry], *, max_attempts: int | None = None
) -> list[FeedEntry]:
    """Entries whose page is neither stored (by feed URL or canonical URL) nor queued, one per URL.

    Without `max_attempts` (a poll) any queued entry is known already. With it (a backfill), a
    queued entry is still returned while it has attempts left: a backfill run again retries the
    pages that failed the first time, and leaves out those given up.
    """
    unique: dict[str, FeedEntry] = {}
    for entry in entries:
        try:
            key = canonical_url(entry.url)
        except ValueError:
            continue
        unique.setdefault(key, entry)
    urls = [e.url for e in unique.values()]
    queued = sa.select(col(QueuedEntry.url))
    if max_attempts is not None:
        queued = queued.where(col(QueuedEntry.attempts) >= max_attempts)
    known: set[str] = set()
    for chunk in chunks(urls):
        known.update(
            session.scalars(sa.select(col(Article.url)).where(col(Article.url).in_(chunk)))
        )
        known.update(session.scalars(queued.where(col(QueuedEntry.url).in_(chunk))))
    for chunk in chunks(list(unique)):
        known.update(
            session.scalars(
                sa.select(col(Article.canonical_url)).where(col(Article.canonical_url).in_(chunk))
            )
        )
    return [entry for key, entry in unique.items() if entry.url not in known and key not in known]


def enqueue_entries(session: Session, entries: Sequence[FeedEntry], *, now: datetime) -> None:
    """Queue entries for fetching (in the caller's transaction: commit it with the poll state)."""
    if entries:
        # One cached statement, executed for every row: multi-row VALUES through the ORM built
        # and compiled a 200-row statement per chunk, half of a run's queueing (~0.5 s for
        # 4,500 entries, before any page could be fetched).
        rows = [_row(e, now=now, attempts=0) for e in entries]
        session.connection().execute(_enqueue_statement(tuple(rows[0])), rows)


@functools.cache
def _enqueue_statement(columns: tuple[str, ...]) -> sa.TextClause:
    """INSERT ... ON CONFLICT (url) DO NOTHING of these columns (`_row`'s), built once."""
    return insert_on_conflict(table_of(QueuedEntry), columns, "(url) DO NOTHING")


def queued_entries(
    session: Session, sources: Iterable[str], *, max_attempts: int, limit: int | None = None
) -> list[FeedEntry]:
    """Queued entries of these sources still to fetch (new ones and failures to retry), oldest first."""
    names = list(sources)
    if not names:
        return []
    query = (
        sa.select(QueuedEntry)
        .where(col(QueuedEntry.source).in_(names), col(QueuedEntry.attempts) < max_attempts)
        .order_by(col(QueuedEntry.queued_at), col(QueuedEntry.url))
    )
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in session.scalars(query)]


def queued_entries_fairly(
    session: Session, sources: Iterable[str], *, max_attempts: int, limit: int
) -> list[FeedEntry]:
    """Like `queued_entries`, but at most `limit`, taken round-robin across sources (each
    source's oldest first): one deep queue cannot crowd the others out of a run's page cap."""
    names = list(sources)
    if not names or limit <= 0:
        return []
    turn = (
        sa.func.row_number()
        .over(
            partition_by=QueuedEntry.source,
            order_by=(col(QueuedEntry.queued_at), col(QueuedEntry.url)),
        )
        .label("turn")
    )
    ranked = (
        sa.select(col(QueuedEntry.url), turn)
        .where(col(QueuedEntry.source).in_(names), col(QueuedEntry.attempts) < max_attempts)
        .subquery()
    )
    chosen = sa.select(ranked.c.url).order_by(ranked.c.turn, ranked.c.url).limit(limit)
    urls = list(session.scalars(chosen))
    rows: dict[str, QueuedEntry] = {}
    for chunk in chunks(urls):
        rows.update(
            (row.url, row)
            for row in session.scalars(
                sa.select(QueuedEntry).where(col(QueuedEntry.url).in_(chunk))
            )
        )
    return [_entry(rows[url]) for url in urls if url in rows]


def record_failures(
    session: Session,
    failures: Sequence[PageFailure],
    *,
    now: datetime,
    max_attempts: int | None = None,
) -> None:
    """Count a failed attempt on each entry's queue row (queued now if it was not), with the reason.

    A failure marked `give_up` (permanent: 404/410, too large, redirect loop, not HTML, disallowed
    by robots.txt) counts as `max_attempts` at once, so the page is not asked for again on every
    run; `failure` records which kind the last one was.
    """
    for failure in failures:
        give_up = failure.give_up and max_attempts is not None
        statement = insert(session, QueuedEntry).values(
            **_row(
                failure.entry,
                now=now,
                attempts=max_attempts if give_up and max_attempts is not None else 1,
                stage=failure.stage,
                failure=failure.failure,
                error=failure.error[:2000],
                last_attempt_at=now,
            )
        )
        attempts: Any = QueuedEntry.attempts + 1
        if give_up:
            attempts = sa.case((attempts > max_attempts, attempts), else_=max_attempts)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["url"],
                set_={
                    "attempts": attempts,
                    "error": statement.excluded.error,
                    "stage": statement.excluded.stage,
                    "failure": statement.excluded.failure,
                    "last_attempt_at": statement.excluded.last_attempt_at,
                },
            )
        )
