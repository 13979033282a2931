"""newsmon.fetch.schedule.next_due: what `newsmon ingest` reads before starting Prefect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsmon.fetch.schedule import NextDue, next_due

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_due_sources_are_those_never_polled_or_whose_time_came() -> None:
    schedule = [("new", None), ("late", NOW - timedelta(minutes=1)), ("on-time", NOW)]
    assert next_due([*schedule, ("later", NOW + timedelta(minutes=5))], NOW) == NextDue(
        ("new", "late", "on-time")
    )


def test_nothing_due_gives_the_earliest_next_poll() -> None:
    schedule = [("b", NOW + timedelta(minutes=9)), ("a", NOW + timedelta(minutes=3))]
    assert next_due(schedule, NOW) == NextDue((), NOW + timedelta(minutes=3), "a")


def test_nothing_scheduled() -> None:
    assert next_due([], NOW) == NextDue(())
