"""When pending alerts go out, and as what: single alerts, digests, quiet hours and rate caps.

Pure: given the undelivered outbox rows, each rule's policy and what was sent lately, decide the
messages to send now and what waits. Rules of the game (per rule and channel):

- `immediate` (default): each alert is its own message as soon as it is raised.
- `digest` with `every`: matches are collected for `every` from the first one, then sent as one
  message; never more than one digest per `every`.
- `quiet_hours` (in the rule's `timezone`): nothing is sent; what was held goes out after, as one
  digest when more than one alert waited.
- `max_per_hour`: at most that many messages in any rolling hour; once the cap would be passed,
  the excess is folded into one digest in the last free slot, or held until a slot frees.
- A channel that failed is retried with backoff (see notify.retry_delay); a delivery already made
  is never planned again (the outbox only holds undelivered rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from newsmon.config.models import AlertConfig

HOUR = timedelta(hours=1)
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Mode = Literal["immediate", "digest"]
Kind = Literal["alert", "digest"]


def parse_timezone(name: str) -> tzinfo:
    """An IANA time zone ('Asia/Baghdad', 'UTC'); ValueError naming the problem otherwise."""
    try:
        return UTC if name.upper() == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name like 'Asia/Baghdad' or 'UTC'"
        ) from None


@dataclass(frozen=True)
class QuietHours:
    """A daily period, in local time, during which nothing is sent (may span midnight)."""

    start: time
    end: time
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, text: str, zone: tzinfo = UTC) -> QuietHours:
        """'22:00-07:00' (24-hour clock) -> QuietHours; ValueError with the reason otherwise."""
        match = _QUIET.match(text)
        if not match:
            raise ValueError(f"quiet_hours must look like '22:00-07:00', not {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"quiet_hours {text!r}: hours go from 00 to 23, minutes 00 to 59")
        if (h1, m1) == (h2, m2):
            raise ValueError(f"quiet_hours {text!r}: start and end are the same time")
        return cls(time(h1, m1), time(h2, m2), zone)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone}"

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def _ends_near(self, when: datetime) -> list[datetime]:
        day = when.astimezone(self.zone).date()
        return [
            datetime.combine(day + timedelta(days=offset), self.end, tzinfo=self.zone).astimezone(
                UTC
            )
            for offset in (-2, -1, 0, 1, 2)
        ]

    def ends_after(self, when: datetime) -> datetime:
        """The first end of a quiet period after `when` (UTC)."""
        return next(end for end in self._ends_near(when) if end > when)

    def last_end(self, when: datetime) -> datetime:
        """The last end of a quiet period at or before `when` (UTC)."""
        return [end for end in self._ends_near(when) if end <= when][-1]


@dataclass(frozen=True)
class DeliveryPolicy:
    """How one rule's alerts are paced."""

    mode: Mode = "immediate"
    every: timedelta = HOUR
    quiet_hours: QuietHours | None = None
    max_per_hour: int | None = None
    zone: tzinfo = UTC  # for times shown in messages

    @classmethod
    def of(cls, rule: AlertConfig) -> DeliveryPolicy:
        zone = parse_timezone(rule.timezone)
        return cls(
            mode=rule.mode,
            every=rule.every or HOUR,
            quiet_hours=QuietHours.parse(rule.quiet_hours, zone) if rule.quiet_hours else None,
            max_per_hour=rule.max_per_hour,
            zone=zone,
        )

    def describe(self) -> str:
        """'digest every 1h, quiet 22:00-07:00 Asia/Baghdad, at most 5 per hour' for people."""
        parts = [
            f"digest every {format_duration(self.every)}" if self.mode == "digest" else "immediate"
        ]
        if self.quiet_hours:
            parts.append(f"quiet {self.quiet_hours}")
        if self.max_per_hour:
            parts.append(f"at most {self.max_per_hour} messages per hour")
        return ", ".join(parts)


def format_duration(value: timedelta) -> str:
    """timedelta -> '1h', '90m', '1d' (the largest unit that divides it)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Deliverable(Protocol):
    """What pacing needs of an outbox row (store.PendingDelivery has it)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def rule(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def next_attempt_at(self) -> datetime | None: ...
    @property
    def attempts(self) -> int: ...


T = TypeVar("T", bound=Deliverable)


@dataclass(frozen=True)
class ChannelHistory:
    """Messages sent lately for one rule to one channel."""

    last_sent: datetime | None = None
    recent: tuple[datetime, ...] = ()  # send times within the last hour (at least)


@dataclass(frozen=True)
class Outgoing(Generic[T]):
    """One message to send now: a single alert, or a digest of several."""

    rule: str
    channel: str
    kind: Kind
    items: tuple[T, ...]
    reason: str = ""  # why a digest, for its header: "every 1h", "held during quiet hours ..."


@dataclass(frozen=True)
class Held:
    """Alerts that wait, why, and until when (None: unknown)."""

    rule: str
    channel: str
    alerts: int
    until: datetime | None
    reason: str
    paced: bool = True  # False: waiting to retry after a failure, not by the rule's pacing


@dataclass
class Plan(Generic[T]):
    send: list[Outgoing[T]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)


def plan_deliveries(
    pending: Iterable[T],
    policies: Mapping[str, DeliveryPolicy],
    history: Mapping[tuple[str, str], ChannelHistory],
    *,
    now: datetime,
) -> Plan[T]:
    """Decide what to send now; see the module docstring for the rules."""
    groups: dict[tuple[str, str], list[T]] = {}
    for item in pending:
        groups.setdefault((item.rule, item.channel), []).append(item)
    plan: Plan[T] = Plan()
    for (rule, channel), items in groups.items():
        items.sort(key=lambda i: (i.created_at, i.delivery_id))
        _plan_group(
            plan,
            rule,
            channel,
            items,
            policies.get(rule, DeliveryPolicy()),
            history.get((rule, channel), ChannelHistory()),
            now,
        )
    return plan


def _plan_group(
    plan: Plan[T],
    rule: str,
    channel: str,
    items: list[T],
    policy: DeliveryPolicy,
    history: ChannelHistory,
    now: datetime,
) -> None:
    def hold(count: int, until: datetime | None, reason: str) -> None:
        plan.held.append(Held(rule, channel, count, until, reason))

    ready = [i for i in items if i.next_attempt_at is None or i.next_attempt_at <= now]
    backing_off = [i for i in items if i not in ready]
    if backing_off:
        retry_at = min(i.next_attempt_at for i in backing_off if i.next_attempt_at is not None)
        plan.held.append(
            Held(
                rule, channel, len(backing_off), retry_at, "retrying after a failed attempt", False
            )
        )
    if not ready:
        return
    quiet = policy.quiet_hours
    if quiet is not None and quiet.contains(now):
        hold(len(ready), quiet.ends_after(now), f"quiet hours {quiet}")
        return

    messages: list[tuple[Kind, tuple[T, ...], str]] = []
    if policy.mode == "digest":
        due = ready[0].created_at + policy.every
        if history.last_sent is not None:
            due = max(due, history.last_sent + policy.every)
        if now < due:
            hold(len(ready), due, f"digest every {format_duration(policy.every)}")
            return
        messages.append(("digest", tuple(ready), f"every {format_duration(policy.every)}"))
    else:
        folded: list[T] = []
        if quiet is not None:
            boundary = quiet.last_end(now)
            folded = [i for i in ready if i.attempts == 0 and i.created_at < boundary]
        if len(folded) > 1:
            messages.append(("digest", tuple(folded), f"held during quiet hours {quiet}"))
        else:
            folded = []
        messages += [("alert", (i,), "") for i in ready if i not in folded]

    cap = policy.max_per_hour
    if cap is not None:
        in_window = sorted(t for t in history.recent if t > now - HOUR)
        slots = cap - len(in_window)
        if slots <= 0:
            hold(len(ready), in_window[0] + HOUR if in_window else None, _cap_reason(cap))
            return
        if len(messages) > slots:
            rest = tuple(item for _, group, _ in messages[slots - 1 :] for item in group)
            messages = [*messages[: slots - 1], ("digest", rest, f"over {_cap_reason(cap)}")]
    for kind, group, reason in messages:
        plan.send.append(Outgoing(rule, channel, kind, group, reason))


def _cap_reason(cap: int) -> str:
    return f"the cap of {cap} message{'s' if cap != 1 else ''} per hour"
