"""Leases: one holder at a time for work that must not run twice at once (alert delivery).

A lease is a row of `lease` with a holder and an expiry: taken when free, expired or already
ours, released by its holder. A holder that dies leaves it to expire. Page claims
(`store/page_claims.py`) are leases too, one per page, with their own rules for taking over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from newsmon.store.dialect import insert
from newsmon.store.models import Lease


def acquire_lease(
    session: Session, name: str, holder: str, *, now: datetime, ttl: timedelta
) -> bool:
    """Take lease `name` for `ttl` unless another holder has it unexpired; True when taken."""
    expires = now + ttl
    session.execute(
        insert(session, Lease)
        .values(name=name, holder="", expires_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    taken = session.execute(
        sa.update(Lease)
        .where(
            col(Lease.name) == name,
            sa.or_(col(Lease.expires_at) <= now, col(Lease.holder) == holder),
        )
        .values(holder=holder, expires_at=expires)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str, *, now: datetime) -> None:
    """Give lease `name` back, if `holder` still holds it (after expiry another may)."""
    session.execute(
        sa.update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(holder="", expires_at=now)
    )
