"""When to poll a source next: the policy, as pure functions of what the last polls saw.

- Adaptive: a feed is polled about twice per typical gap between its entries, never more often
  than its `poll_every` and never less often than NEWSMON_MAX_POLL_INTERVAL_S. The typical gap is
  the median interval between the feed's recent publication times, or, when the feed has gone
  quiet for longer than that (or carries no dates), the time since we last saw a new entry.
- Server hints can only delay the next poll: Cache-Control max-age, RSS <ttl>, Retry-After (all
  capped at a day).
- Failures back off exponentially from `poll_every` up to a day (Retry-After honoured); after
  NEWSMON_PARK_AFTER_FAILURES failures in a row the source is parked until a person un-parks it.
- Conditional GETs cannot go stale: with no full body for NEWSMON_UNCONDITIONAL_AFTER_S the
  validators are left out once, so a server answering 304 to an old ETag is found out.

The store keeps each source's `PollState` (table `source`) and applies what `after_poll` decides;
`due_sources` and `poll_states` read it to choose what this run polls and how.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from newsmon.records import FeedPoll, FeedState

if TYPE_CHECKING:
    from newsmon.config.models import SourceConfig
    from newsmon.settings import Settings

# A failing source backs off exponentially up to this, so a dead feed costs one request a day;
# server hints are capped by it too.
MAX_BACKOFF = timedelta(hours=24)
# Consecutive failures after which a source is parked (the default of NEWSMON_PARK_AFTER_FAILURES).
PARK_AFTER_FAILURES = 10
# The gap estimate uses the most recent entries only (a feed's history says less than its present)
# and needs a few distinct publication times to mean anything.
RECENT_ENTRIES = 20
MIN_DISTINCT_TIMES = 3
# Publication times this far in the future are clock errors, not information.
_FUTURE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class PollPolicy:
    """The polling knobs of the settings, as the store applies them."""

    max_interval: timedelta = timedelta(hours=2)
    park_after: int = PARK_AFTER_FAILURES
    unconditional_after: timedelta = timedelta(hours=6)

    @classmethod
    def from_settings(cls, settings: Settings) -> PollPolicy:
        return cls(
            max_interval=timedelta(seconds=settings.max_poll_interval_s),
            park_after=settings.park_after_failures,
            unconditional_after=timedelta(seconds=settings.unconditional_after_s),
        )


def entry_interval_s(published: Iterable[datetime | None], *, now: datetime) -> float | None:
    """Typical seconds between a feed's entries: the median gap between its recent publication
    times (None with fewer than three distinct times, e.g. an undated feed)."""
    times = sorted({t for t in published if t is not None and t <= now + _FUTURE_SLACK})
    recent = times[-(RECENT_ENTRIES + 1) :]
    if len(recent) < MIN_DISTINCT_TIMES:
        return None
    return float(statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(recent)))


def adaptive_interval(
    poll_every: timedelta,
    *,
    entry_interval: float | None,
    quiet_for: timedelta | None,
    max_interval: timedelta,
) -> timedelta:
    """Half the feed's typical gap between entries, within [poll_every, max(max_interval, poll_every)].

    `quiet_for` is how long since we last saw a new entry: a feed silent for longer than its usual
    gap is polled less and less often (down to the bound) until it speaks again.
    """
    observed = [s for s in (entry_interval, quiet_for and quiet_for.total_seconds()) if s]
    if not observed:
        return poll_every
    target = timedelta(seconds=max(observed) / 2)
    return max(poll_every, min(target, max_interval))


def next_poll_after_success(
    now: datetime,
    poll_every: timedelta,
    *,
    retry_after_s: float | None = None,
    max_age_s: float | None = None,
    ttl_s: float | None = None,
    entry_interval: float | None = None,
    quiet_for: timedelta | None = None,
    max_interval: timedelta | None = None,
) -> datetime:
    """Next poll: the adaptive interval (`poll_every` without `max_interval`), later if the server
    asked for it (never beyond a day, unless `poll_every` itself is longer)."""
    interval = (
        poll_every
        if max_interval is None
        else adaptive_interval(
            poll_every,
            entry_interval=entry_interval,
            quiet_for=quiet_for,
            max_interval=max_interval,
        )
    )
    hints = [s for s in (retry_after_s, max_age_s, ttl_s) if s is not None and s > 0]
    delay = max([interval.total_seconds(), *hints])
    return now + min(timedelta(seconds=delay), max(MAX_BACKOFF, poll_every))


def next_poll_after_failure(
    now: datetime, poll_every: timedelta, failures: int, *, retry_after_s: float | None = None
) -> datetime:
    """Exponential backoff from `poll_every` (1x, 2x, 4x, ...), capped; Retry-After honoured."""
    backoff = poll_every * (2 ** min(max(0, failures - 1), 32))
    delay = min(backoff, max(MAX_BACKOFF, poll_every))
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(timedelta(seconds=retry_after_s), MAX_BACKOFF))
    return now + delay


def status_after_failure(failures: int, park_after: int = PARK_AFTER_FAILURES) -> str:
    """Parked once `park_after` polls in a row failed, failing before."""
    return "parked" if failures >= park_after else "failing"


def send_validators(
    last_full_fetch_at: datetime | None, now: datetime, *, unconditional_after: timedelta
) -> bool:
    """Whether the next poll may be conditional: only while the last full body is recent enough.

    A server that keeps answering 304 to an ETag it should have changed (a stale CDN node, a
    buggy plugin) would otherwise hide new entries forever; with no full body for
    `unconditional_after` the next poll leaves the validators out, and the body hash still
    makes an unchanged answer cheap. Zero disables conditional GETs altogether.
    """
    if last_full_fetch_at is None or unconditional_after <= timedelta(0):
        return False
    return now - last_full_fetch_at < unconditional_after


@dataclass(frozen=True)
class NextDue:
    """What a pass at a given time polls, and otherwise when (and which source) the next poll is."""

    due: tuple[str, ...]
    next_at: datetime | None = None
    next_source: str | None = None


def next_due(schedule: Iterable[tuple[str, datetime | None]], now: datetime) -> NextDue:
    """The sources due at `now`, else the earliest next poll (None when nothing is scheduled).

    `schedule`: (name, next poll time) of each source polled on its own schedule (enabled, not
    parked); None means due at once (never polled, or its entry was just edited). The same rule
    as the store's `due_sources` without `force`.
    """
    due: list[str] = []
    upcoming: list[tuple[datetime, str]] = []
    for name, at in schedule:
        if at is None or at <= now:
            due.append(name)
        else:
            upcoming.append((at, name))
    if due or not upcoming:
        return NextDue(tuple(due))
    at, name = min(upcoming)
    return NextDue((), at, name)


# --- a source's poll state, and what one poll does to it ----------------------------------------


class PollRecord(Protocol):
    """What the decisions read of a source's poll state: a `PollState`, or the store's row of it."""

    @property
    def status(self) -> str: ...
    @property
    def next_poll_at(self) -> datetime | None: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def last_modified(self) -> str | None: ...
    @property
    def body_hash(self) -> str | None: ...
    @property
    def last_full_fetch_at(self) -> datetime | None: ...
    @property
    def entry_interval_s(self) -> float | None: ...
    @property
    def last_new_entry_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class PollState:
    """A source's poll state and health, as the store keeps it (the columns of table `source`)."""

    status: str = "new"  # new, ok, failing, parked
    consecutive_failures: int = 0
    last_error: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_entry_at: datetime | None = None
    next_poll_at: datetime | None = None
    entries_total: int = 0
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_full_fetch_at: datetime | None = None  # the last full answer (not a 304)
    entry_interval_s: float | None = None  # the feed's own pace (`entry_interval_s`)


def quiet_for(state: PollRecord, now: datetime) -> timedelta | None:
    """How long since the source last brought a new entry (None: never seen one)."""
    return now - state.last_new_entry_at if state.last_new_entry_at else None


def poll_interval(
    state: PollRecord | None, poll_every: timedelta, *, now: datetime, policy: PollPolicy
) -> timedelta:
    """How often the source is polled now: the adaptive interval, before server hints and backoff."""
    return adaptive_interval(
        poll_every,
        entry_interval=state.entry_interval_s if state else None,
        quiet_for=quiet_for(state, now) if state else None,
        max_interval=policy.max_interval,
    )


def after_poll(
    state: PollState,
    poll: FeedPoll,
    *,
    poll_every: timedelta,
    new_entries: int,
    now: datetime,
    policy: PollPolicy,
) -> PollState:
    """The source's state after one poll: health, validators, pace, and when to poll it next.

    A failure counts towards parking and backs off; a success clears the failures, keeps the
    answer's validators and, with `new_entries` (how many of its entries were new), the time they
    came, which the next interval is computed from.
    """
    if poll.status == "error":
        failures = state.consecutive_failures + 1
        return replace(
            state,
            last_polled_at=now,
            consecutive_failures=failures,
            last_error=poll.error or "",
            status=status_after_failure(failures, policy.park_after),
            next_poll_at=next_poll_after_failure(
                now, poll_every, failures, retry_after_s=poll.retry_after_s
            ),
        )
    polled = replace(
        state,
        last_polled_at=now,
        consecutive_failures=0,
        last_error=None,
        status="ok",
        last_success_at=now,
        etag=poll.state.etag,
        last_modified=poll.state.last_modified,
        body_hash=poll.state.body_hash,
        last_full_fetch_at=now if poll.status in ("ok", "unchanged") else state.last_full_fetch_at,
        entry_interval_s=entry_interval_s((e.published_at for e in poll.entries), now=now)
        if poll.status == "ok"
        else state.entry_interval_s,
        last_new_entry_at=now if new_entries else state.last_new_entry_at,
        entries_total=state.entries_total + new_entries,
    )
    return replace(
        polled,
        next_poll_at=next_poll_after_success(
            now,
            poll_every,
            retry_after_s=poll.retry_after_s,
            max_age_s=poll.max_age_s,
            ttl_s=poll.ttl_s,
            entry_interval=polled.entry_interval_s,
            quiet_for=quiet_for(polled, now),
            max_interval=policy.max_interval,
        ),
    )


# --- which sources this run polls, and how ----------------------------------------------------


def due_sources(
    sources: Iterable[SourceConfig],
    states: Mapping[str, PollRecord],
    now: datetime,
    *,
    force: bool,
) -> list[SourceConfig]:
    """Enabled sources whose next poll time has come (all enabled ones with `force`); parked never."""
    due = []
    for source in sources:
        if not source.enabled:
            continue
        state = states.get(source.name)
        if state is not None and state.status == "parked" and not force:
            continue
        if force or state is None or state.next_poll_at is None or state.next_poll_at <= now:
            due.append(source)
    return due


def poll_states(
    sources: Iterable[SourceConfig],
    states: Mapping[str, PollRecord],
    now: datetime,
    *,
    policy: PollPolicy = PollPolicy(),
) -> dict[str, FeedState]:
    """What each poll sends: validators while the last full body is recent, else none at all
    (the body hash is always kept, so an unchanged body still costs no parsing)."""
    result: dict[str, FeedState] = {}
    for source in sources:
        row = states.get(source.name)
        if row is None:
            result[source.name] = FeedState()
            continue
        conditional = send_validators(
            row.last_full_fetch_at, now, unconditional_after=policy.unconditional_after
        )
        result[source.name] = FeedState(
            etag=row.etag if conditional else None,
            last_modified=row.last_modified if conditional else None,
            body_hash=row.body_hash,
        )
    return result
