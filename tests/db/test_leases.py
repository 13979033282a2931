"""Leases keep work that must not run twice at once (alert delivery) to one run, on both engines."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.store.leases import acquire_lease, release_lease
from tests.factories import NOW

TTL = timedelta(minutes=10)


def take(engine: Engine, holder: str, minutes: int = 0) -> bool:
    with Session(engine) as session, session.begin():
        return acquire_lease(
            session, "deliver-alerts", holder, now=NOW + timedelta(minutes=minutes), ttl=TTL
        )


def test_one_holder_at_a_time_until_release_or_expiry(engine: Engine) -> None:
    assert take(engine, "run-a")
    assert not take(engine, "run-b")
    assert take(engine, "run-a")  # the holder may renew
    with Session(engine) as session, session.begin():
        release_lease(session, "deliver-alerts", "run-b", now=NOW)  # not the holder: no effect
    assert not take(engine, "run-b", minutes=1)
    with Session(engine) as session, session.begin():
        release_lease(session, "deliver-alerts", "run-a", now=NOW + timedelta(minutes=1))
    assert take(engine, "run-b", minutes=1)


def test_a_dead_holders_lease_expires(engine: Engine) -> None:
    assert take(engine, "crashed-run")
    assert not take(engine, "next-run", minutes=9)
    assert take(engine, "next-run", minutes=10)
