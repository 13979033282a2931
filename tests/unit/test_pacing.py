"""Pacing: which pending alerts go out now, as single alerts or digests, and what waits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from newsmon.alerts.pacing import (
    ChannelHistory,
    DeliveryPolicy,
    QuietHours,
    format_duration,
    parse_timezone,
    plan_deliveries,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BAGHDAD = ZoneInfo("Asia/Baghdad")  # UTC+3, no daylight saving


@dataclass(frozen=True)
class Row:
    """An outbox row as pacing sees it."""

    delivery_id: int
    created_at: datetime
    rule: str = "r"
    channel: str = "c"
    next_attempt_at: datetime | None = None
    attempts: int = 0


def rows(*minutes_ago: int, **kwargs: object) -> list[Row]:
    return [
        Row(delivery_id=i + 1, created_at=NOW - timedelta(minutes=m), **kwargs)  # type: ignore[arg-type]
        for i, m in enumerate(minutes_ago)
    ]


def plan(
    pending: list[Row],
    policy: DeliveryPolicy,
    history: ChannelHistory | None = None,
    now: datetime = NOW,
):  # type: ignore[no-untyped-def]
    return plan_deliveries(
        pending, {"r": policy}, {("r", "c"): history} if history else {}, now=now
    )


def test_immediate_sends_each_alert_as_its_own_message() -> None:
    result = plan(rows(5, 1), DeliveryPolicy())
    assert [(m.kind, [i.delivery_id for i in m.items]) for m in result.send] == [
        ("alert", [1]),
        ("alert", [2]),
    ]
    assert result.held == []


def test_rules_and_channels_are_paced_separately() -> None:
    pending = [
        Row(1, NOW, rule="a", channel="x"),
        Row(2, NOW, rule="a", channel="y"),
        Row(3, NOW, rule="b", channel="x"),
    ]
    result = plan_deliveries(pending, {"a": DeliveryPolicy(mode="digest")}, {}, now=NOW)
    assert [(m.rule, m.channel) for m in result.send] == [("b", "x")]
    assert {(h.rule, h.channel) for h in result.held} == {("a", "x"), ("a", "y")}


def test_a_failed_delivery_waits_for_its_retry_time() -> None:
    waiting = Row(
        1, NOW - timedelta(minutes=3), next_attempt_at=NOW + timedelta(minutes=2), attempts=2
    )
    fresh = Row(2, NOW)
    result = plan([waiting, fresh], DeliveryPolicy())
    assert [[i.delivery_id for i in m.items] for m in result.send] == [[2]]
    [held] = result.held
    assert held.alerts == 1 and held.until == NOW + timedelta(minutes=2)
    later = plan([waiting, fresh], DeliveryPolicy(), now=NOW + timedelta(minutes=2))
    assert [[i.delivery_id for i in m.items] for m in later.send] == [[1], [2]]


def test_digest_collects_for_one_interval_from_the_first_match() -> None:
    policy = DeliveryPolicy(mode="digest", every=timedelta(hours=1))
    early = plan(rows(50, 20, 1), policy)
    assert early.send == []
    [held] = early.held
    assert held.alerts == 3 and held.until == NOW + timedelta(minutes=10)
    assert held.reason == "digest every 1h"

    due = plan(rows(60, 20, 1), policy)
    [digest] = due.send
    assert digest.kind == "digest" and len(digest.items) == 3 and digest.reason == "every 1h"


def test_digest_never_more_than_one_per_interval() -> None:
    policy = DeliveryPolicy(mode="digest", every=timedelta(hours=1))
    recent = ChannelHistory(
        last_sent=NOW - timedelta(minutes=30), recent=(NOW - timedelta(minutes=30),)
    )
    # The match is old (say, held by a failing channel), but a digest went out 30 minutes ago.
    result = plan(rows(120), policy, recent)
    assert result.send == [] and result.held[0].until == NOW + timedelta(minutes=30)
    assert len(plan(rows(120), policy, recent, now=NOW + timedelta(minutes=30)).send) == 1


def test_quiet_hours_hold_then_release_as_one_digest() -> None:
    quiet = QuietHours.parse("22:00-07:00", BAGHDAD)  # 19:00-04:00 UTC
    policy = DeliveryPolicy(quiet_hours=quiet)
    night = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)  # 02:00 in Baghdad
    pending = [
        Row(1, datetime(2026, 11, 21, 20, 0, tzinfo=UTC)),
        Row(2, datetime(2026, 11, 21, 22, 30, tzinfo=UTC)),
    ]
    held = plan(pending, policy, now=night)
    assert held.send == []
    assert held.held[0].until == datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    assert "quiet hours 22:00-07:00 Asia/Baghdad" in held.held[0].reason

    morning = datetime(2026, 11, 22, 4, 15, tzinfo=UTC)
    after = [*pending, Row(3, datetime(2026, 11, 22, 4, 10, tzinfo=UTC))]
    released = plan(after, policy, now=morning)
    assert [(m.kind, [i.delivery_id for i in m.items]) for m in released.send] == [
        ("digest", [1, 2]),  # what waited overnight: one message
        ("alert", [3]),  # raised after the quiet hours: as usual
    ]
    assert released.send[0].reason.startswith("held during quiet hours")


def test_one_alert_held_overnight_goes_out_as_a_plain_alert() -> None:
    policy = DeliveryPolicy(quiet_hours=QuietHours.parse("22:00-07:00"))
    pending = [Row(1, datetime(2026, 11, 21, 23, 0, tzinfo=UTC))]
    [message] = plan(pending, policy, now=datetime(2026, 11, 22, 7, 0, tzinfo=UTC)).send
    assert message.kind == "alert"


def test_quiet_hours_within_one_day_and_across_midnight() -> None:
    day = QuietHours.parse("12:00-13:30")
    assert day.contains(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    assert not day.contains(datetime(2026, 11, 21, 13, 30, tzinfo=UTC))
    night = QuietHours.parse("22:00-07:00")
    assert night.contains(datetime(2026, 11, 21, 23, 59, tzinfo=UTC))
    assert night.contains(datetime(2026, 11, 22, 6, 59, tzinfo=UTC))
    assert not night.contains(datetime(2026, 11, 22, 7, 0, tzinfo=UTC))
    assert night.ends_after(datetime(2026, 11, 21, 23, 0, tzinfo=UTC)) == datetime(
        2026, 11, 22, 7, 0, tzinfo=UTC
    )
    assert night.last_end(datetime(2026, 11, 21, 23, 0, tzinfo=UTC)) == datetime(
        2026, 11, 21, 7, 0, tzinfo=UTC
    )


def test_quiet_hours_follow_daylight_saving_time() -> None:
    london = QuietHours.parse("22:00-07:00", ZoneInfo("Europe/London"))
    # 06:30 UTC is 07:30 in London in summer (BST), 06:30 in winter (GMT).
    assert not london.contains(datetime(2026, 7, 1, 6, 30, tzinfo=UTC))
    assert london.contains(datetime(2026, 12, 1, 6, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("22-07", "must look like '22:00-07:00'"),
        ("24:00-07:00", "hours go from 00 to 23"),
        ("07:00-07:00", "start and end are the same time"),
    ],
)
def test_quiet_hours_errors_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        QuietHours.parse(text)


def test_rate_cap_folds_the_excess_into_the_last_free_slot() -> None:
    policy = DeliveryPolicy(max_per_hour=3)
    sent = ChannelHistory(
        last_sent=NOW - timedelta(minutes=10), recent=(NOW - timedelta(minutes=10),)
    )
    result = plan(rows(9, 8, 7, 6, 5), policy, sent)  # 2 slots left for 5 alerts
    assert [(m.kind, [i.delivery_id for i in m.items]) for m in result.send] == [
        ("alert", [1]),
        ("digest", [2, 3, 4, 5]),
    ]
    assert result.send[1].reason == "over the cap of 3 messages per hour"


def test_rate_cap_holds_everything_until_a_slot_frees() -> None:
    policy = DeliveryPolicy(max_per_hour=2)
    times = (NOW - timedelta(minutes=50), NOW - timedelta(minutes=5))
    full = ChannelHistory(last_sent=times[1], recent=times)
    result = plan(rows(1), policy, full)
    assert result.send == []
    assert result.held[0].until == NOW + timedelta(minutes=10)  # the oldest message ages out
    # Messages older than an hour do not count.
    assert len(plan(rows(1), policy, full, now=NOW + timedelta(minutes=10)).send) == 1


def test_policy_description_and_durations() -> None:
    policy = DeliveryPolicy(
        mode="digest",
        every=timedelta(minutes=90),
        quiet_hours=QuietHours(time(22), time(7), BAGHDAD),
        max_per_hour=5,
    )
    assert policy.describe() == (
        "digest every 90m, quiet 22:00-07:00 Asia/Baghdad, at most 5 messages per hour"
    )
    assert [format_duration(timedelta(seconds=s)) for s in (86400, 3600, 120, 61)] == [
        "1d",
        "1h",
        "2m",
        "61s",
    ]
    assert parse_timezone("utc") is UTC
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_timezone("Mars/Olympus")
