from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsmon.config.models import SourceConfig
from newsmon.fetch.schedule import (
    MAX_BACKOFF,
    PARK_AFTER_FAILURES,
    RECENT_ENTRIES,
    PollPolicy,
    PollState,
    adaptive_interval,
    after_poll,
    due_sources,
    entry_interval_s,
    next_poll_after_failure,
    next_poll_after_success,
    poll_interval,
    poll_states,
    send_validators,
    status_after_failure,
)
from newsmon.records import FeedEntry, FeedPoll, FeedState

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


# --- what one poll does to a source's state (the store applies it) -----------------------------

POLICY = PollPolicy(max_interval=timedelta(hours=2), park_after=3)


def _poll(status: str, *, entries: int = 0, error: str | None = None) -> FeedPoll:
    dated = tuple(
        FeedEntry(source="wire", url=f"https://wire.example/{n}", published_at=NOW - n * 2 * EVERY)
        for n in range(entries)
    )
    return FeedPoll(
        source="wire",
        status=status,  # type: ignore[arg-type]
        state=FeedState(etag='"e2"', last_modified="Sat", body_hash="h2"),
        entries=dated,
        error=error,
    )


def test_failures_count_up_to_parking_and_keep_the_validators() -> None:
    state = PollState(status="ok", etag='"e1"', body_hash="h1", entries_total=4)
    for n in range(1, 4):
        state = after_poll(
            state,
            _poll("error", error="HTTP 503"),
            poll_every=EVERY,
            new_entries=0,
            now=NOW,
            policy=POLICY,
        )
        assert state.consecutive_failures == n and state.last_error == "HTTP 503"
        assert state.next_poll_at == next_poll_after_failure(NOW, EVERY, n)
    assert state.status == "parked"
    assert (state.etag, state.body_hash, state.entries_total) == ('"e1"', "h1", 4)
    assert (
        due_sources(
            [SourceConfig(name="wire", url="https://wire.example/feed")],
            {"wire": state},
            NOW + MAX_BACKOFF,
            force=False,
        )
        == []
    )


def test_a_success_clears_failures_keeps_validators_and_paces_the_next_poll() -> None:
    failing = PollState(status="failing", consecutive_failures=2, last_error="boom")
    state = after_poll(
        failing, _poll("ok", entries=5), poll_every=EVERY, new_entries=5, now=NOW, policy=POLICY
    )
    assert (state.status, state.consecutive_failures, state.last_error) == ("ok", 0, None)
    assert (state.etag, state.last_modified, state.body_hash) == ('"e2"', "Sat", "h2")
    assert state.last_full_fetch_at == state.last_success_at == state.last_new_entry_at == NOW
    assert state.entries_total == 5 and state.entry_interval_s == 2 * EVERY.total_seconds()
    assert state.next_poll_at == NOW + EVERY  # half the 30-minute gap, floored at poll_every
    assert poll_interval(state, EVERY, now=NOW, policy=POLICY) == EVERY


def test_a_304_is_not_a_full_answer_and_keeps_the_feeds_pace() -> None:
    earlier = NOW - timedelta(hours=8)
    before = PollState(status="ok", last_full_fetch_at=earlier, entry_interval_s=3600.0)
    state = after_poll(
        before, _poll("not_modified"), poll_every=EVERY, new_entries=0, now=NOW, policy=POLICY
    )
    assert state.last_full_fetch_at == earlier and state.entry_interval_s == 3600.0
    assert state.last_new_entry_at is None and state.next_poll_at == NOW + timedelta(minutes=30)
    # The last full body is 8 hours old: the next poll leaves its validators out.
    [sent] = poll_states(
        [SourceConfig(name="wire", url="https://wire.example/feed")],
        {"wire": state},
        NOW,
        policy=PollPolicy(unconditional_after=timedelta(hours=6)),
    ).values()
    assert sent == FeedState(body_hash="h2")
