from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsmon.fetch.schedule import (
    MAX_BACKOFF,
    PARK_AFTER_FAILURES,
    RECENT_ENTRIES,
    adaptive_interval,
    entry_interval_s,
    next_poll_after_failure,
    next_poll_after_success,
    send_validators,
    status_after_failure,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)


def test_success_polls_again_after_poll_every() -> None:
    assert next_poll_after_success(NOW, EVERY) == NOW + EVERY


def test_server_hints_can_only_delay_and_are_capped() -> None:
    assert next_poll_after_success(NOW, EVERY, ttl_s=3600) == NOW + timedelta(hours=1)
    assert next_poll_after_success(NOW, EVERY, max_age_s=60) == NOW + EVERY
    assert next_poll_after_success(NOW, EVERY, retry_after_s=10 * 86400) == NOW + MAX_BACKOFF


def test_failures_back_off_exponentially_up_to_a_day() -> None:
    delays = [next_poll_after_failure(NOW, EVERY, n) - NOW for n in (1, 2, 3, 4)]
    assert delays == [EVERY, 2 * EVERY, 4 * EVERY, 8 * EVERY]
    assert next_poll_after_failure(NOW, EVERY, 30) - NOW == MAX_BACKOFF


def test_retry_after_honoured_on_failure() -> None:
    assert next_poll_after_failure(NOW, EVERY, 1, retry_after_s=7200) == NOW + timedelta(hours=2)


def test_parked_after_many_failures() -> None:
    assert status_after_failure(1) == "failing"
    assert status_after_failure(PARK_AFTER_FAILURES) == "parked"


# --- adaptive polling -------------------------------------------------------------------------

HOUR = timedelta(hours=1)
MAX = timedelta(hours=2)


def every(gap: timedelta, n: int = 10) -> list[datetime]:
    return [NOW - i * gap for i in range(n)]


def test_entry_interval_is_the_median_gap_of_recent_distinct_times() -> None:
    assert entry_interval_s(every(timedelta(minutes=30)), now=NOW) == 1800
    # One long silence in the middle does not move the median.
    times = [*every(timedelta(minutes=10), 6), NOW - timedelta(days=3)]
    assert entry_interval_s(times, now=NOW) == 600
    # Only the most recent entries count: an old archive tail says little about today.
    old = [NOW - timedelta(days=30) - i * timedelta(days=1) for i in range(40)]
    assert entry_interval_s([*every(HOUR, RECENT_ENTRIES + 1), *old], now=NOW) == 3600


def test_no_estimate_without_three_distinct_dates() -> None:
    assert entry_interval_s([None, None, NOW], now=NOW) is None
    assert entry_interval_s([NOW, NOW, NOW, NOW - HOUR], now=NOW) is None  # feed build dates
    # Dates far in the future are clock errors, left out.
    assert entry_interval_s([NOW + timedelta(days=5), NOW, NOW - HOUR], now=NOW) is None


def test_adaptive_interval_is_half_the_gap_within_bounds() -> None:
    def interval(gap_s: float | None, quiet: timedelta | None = None) -> timedelta:
        return adaptive_interval(EVERY, entry_interval=gap_s, quiet_for=quiet, max_interval=MAX)

    assert interval(None) == EVERY  # nothing known: as configured
    assert interval(60) == EVERY  # a busy feed: never more often than poll_every
    assert interval(3600) == timedelta(minutes=30)
    assert interval(86400) == MAX  # a daily feed: no less often than the bound
    # Gone quiet for longer than usual: polled less often as the silence grows.
    assert interval(1800, quiet=timedelta(hours=3)) == timedelta(minutes=90)
    # poll_every above the bound wins (a user asking for daily polls gets daily polls).
    day = timedelta(days=1)
    assert adaptive_interval(day, entry_interval=60, quiet_for=None, max_interval=MAX) == day


def test_next_poll_is_adaptive_and_hints_still_only_delay() -> None:
    def after(**kwargs: object) -> timedelta:
        return next_poll_after_success(NOW, EVERY, max_interval=MAX, **kwargs) - NOW  # type: ignore[arg-type]

    assert after(entry_interval=3600.0) == timedelta(minutes=30)
    assert after(entry_interval=3600.0, ttl_s=7200) == timedelta(hours=2)
    assert after(entry_interval=3600.0, max_age_s=60) == timedelta(minutes=30)
    assert after(entry_interval=86400.0, max_age_s=10 * 86400) == MAX_BACKOFF


def test_park_threshold_is_configurable() -> None:
    assert status_after_failure(3, park_after=3) == "parked"
    assert status_after_failure(2, park_after=3) == "failing"


def test_validators_are_dropped_when_no_full_body_came_for_too_long() -> None:
    bound = timedelta(hours=6)
    assert send_validators(NOW - timedelta(hours=5), NOW, unconditional_after=bound)
    assert not send_validators(NOW - timedelta(hours=6), NOW, unconditional_after=bound)
    assert not send_validators(None, NOW, unconditional_after=bound)
    assert not send_validators(NOW, NOW, unconditional_after=timedelta(0))  # 0: never conditional
