"""Claims on queued pages: two runs at once fetch each page once (issue 15), on both engines."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsmon.records import FeedEntry
from newsmon.store.models import Lease
from newsmon.store.page_claims import CLAIM_TTL, claim_pages, release_pages
from tests.factories import NOW

ENTRIES = [FeedEntry(source="wire", url=f"https://wire.example/{n}") for n in range(5)]


def claim(
    engine: Engine, holder: str, entries: list[FeedEntry], **kw: object
) -> tuple[list[str], int]:
    with Session(engine) as session, session.begin():
        mine, elsewhere = claim_pages(session, entries, holder=holder, now=kw.get("now", NOW))  # type: ignore[arg-type]
    return [e.url for e in mine], elsewhere


def test_a_page_claimed_by_one_run_is_left_by_another(engine: Engine) -> None:
    first, _ = claim(engine, "run-a", ENTRIES[:3])
    second, elsewhere = claim(engine, "run-b", ENTRIES)
    assert first == [e.url for e in ENTRIES[:3]]
    assert second == [e.url for e in ENTRIES[3:]] and elsewhere == 3


def test_released_and_expired_claims_are_taken_again(engine: Engine) -> None:
    claim(engine, "run-a", ENTRIES)
    with Session(engine) as session, session.begin():
        release_pages(session, [ENTRIES[0].url])
    taken, elsewhere = claim(engine, "run-b", ENTRIES)
    assert taken == [ENTRIES[0].url] and elsewhere == 4
    # run-a died: its claims expire, a later run takes the pages, and expired rows are dropped
    later = NOW + CLAIM_TTL + timedelta(seconds=1)
    taken, elsewhere = claim(engine, "run-c", ENTRIES[1:], now=later)
    assert len(taken) == 4 and elsewhere == 0
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Lease)) == 4


def test_claims_of_a_run_whose_process_is_gone_are_taken_at_once(engine: Engine) -> None:
    """A `kill -9` of a run must not hold its pages back for CLAIM_TTL (issue 12's kill test)."""
    import subprocess
    import sys

    from newsmon.store.page_claims import new_holder

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host, _, token = new_holder().split(":")
    dead_holder = f"{host}:{gone.stdout.strip()}:{token}"
    live_holder = new_holder()  # this test's own process: alive
    claim(engine, dead_holder, ENTRIES[:2])
    claim(engine, live_holder, ENTRIES[2:3])
    taken, elsewhere = claim(engine, "run-b", ENTRIES)
    assert taken == [ENTRIES[0].url, ENTRIES[1].url, *(e.url for e in ENTRIES[3:])]
    assert elsewhere == 1  # the live run's claim stands
