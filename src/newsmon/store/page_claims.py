"""Claims on queued pages, so that two runs at once do not both fetch every page.

Two unsharded ingest runs at the same time each read the whole queue and fetched every page
(72 requests for 36 pages; storage stayed right, by URL, but each outlet got every request
twice). A run now claims the queued pages it will fetch, in the transaction that reads the
queue; a page another run holds is left to it. A claim is a row in the `lease` table named after
the page's URL; it is released when the page's batch is stored and expires after CLAIM_TTL if its
run dies first (a later run then takes the page). A claim names its holder's host and process, so
a run on the same host takes over at once the claims of a run whose process is gone (a `kill -9`
must not hold its pages back for CLAIM_TTL). Expired claims are deleted whenever claims are
taken, so the table holds only the pages in flight.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.records import FeedEntry
from newsmon.store.dialect import chunks, insert_on_conflict
from newsmon.store.models import Lease, table_of

# Longer than a run takes to reach the last of its pages; a run that dies delays its pages this
# much. A run that outlives it may see a later run fetch some of its pages again (stored once).
CLAIM_TTL = timedelta(minutes=20)
_PREFIX = "page:"


# The holders of this process whose runs may still be going, one per thread: a thread runs one
# flow at a time, so when it makes a new holder its previous run is over (and a run whose store
# failed with the database could not release its claims).
_ACTIVE_BY_THREAD: dict[int, str] = {}


def new_holder() -> str:
    """A claim holder's name: this host and process, and a token for the run."""
    holder = f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    _ACTIVE_BY_THREAD[threading.get_ident()] = holder
    return holder


def holder_gone(holder: str) -> bool:
    """True when `holder` names a process on this host that no longer exists, or an earlier run
    of this process that is over."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _host() or not pid_text.isdigit():
        return False  # another host's run, or an older holder name: left to expire
    if int(pid_text) == os.getpid():
        return holder not in _ACTIVE_BY_THREAD.values()
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _host() -> str:
    return socket.gethostname()[:40]  # the holder column takes 64 characters


def claim_name(url: str) -> str:
    """The lease name of a page (a digest: URLs run longer than the column)."""
    return _PREFIX + hashlib.sha1(url.encode("utf-8")).hexdigest()


def claim_pages(
    session: Session,
    entries: Sequence[FeedEntry],
    *,
    holder: str,
    now: datetime,
    ttl: timedelta = CLAIM_TTL,
) -> tuple[list[FeedEntry], int]:
    """The entries this run may fetch (now claimed for `holder`), and how many another run holds.

    In the caller's transaction. On PostgreSQL a second run's insert of the same names waits for
    the first run's transaction and then finds them taken; SQLite runs one writer at a time.
    """
    session.execute(
        sa.delete(Lease).where(col(Lease.name).like(_PREFIX + "%"), col(Lease.expires_at) <= now)
    )
    holders = session.scalars(
        sa.select(col(Lease.holder)).where(col(Lease.name).like(_PREFIX + "%")).distinct()
    ).all()
    gone = [h for h in holders if h != holder and holder_gone(h)]
    if gone:
        session.execute(
            sa.delete(Lease).where(col(Lease.name).like(_PREFIX + "%"), col(Lease.holder).in_(gone))
        )
    names = {claim_name(entry.url): entry for entry in entries}
    expires = now + ttl
    held: set[str] = set()
    for chunk in chunks(list(names)):
        # A cached statement executed per row (a multi-row VALUES was compiled per chunk).
        session.connection().execute(
            _claim_statement(),
            [{"name": n, "holder": holder, "expires_at": expires} for n in chunk],
        )
        held.update(
            session.scalars(
                sa.select(col(Lease.name)).where(
                    col(Lease.name).in_(chunk), col(Lease.holder) == holder
                )
            )
        )
    mine = [entry for name, entry in names.items() if name in held]
    return mine, len(names) - len(mine)


@functools.cache
def _claim_statement() -> sa.TextClause:
    return insert_on_conflict(
        table_of(Lease), ("name", "holder", "expires_at"), "(name) DO NOTHING"
    )


def release_pages(session: Session, urls: Iterable[str]) -> None:
    """Drop the claims on these pages (their batch is stored, or failed and is recorded)."""
    for chunk in chunks([claim_name(url) for url in urls]):
        session.execute(sa.delete(Lease).where(col(Lease.name).in_(chunk)))
