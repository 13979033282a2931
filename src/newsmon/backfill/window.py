"""A backfill's date window and its identity.

A backfill is identified by a key (mode, window, sources, and for reprocess the rules): the units
of work it finished are recorded under that key, so running it again resumes instead of redoing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from newsmon.config.models import Config

Mode = Literal["discover", "reprocess"]


@dataclass(frozen=True, slots=True)
class Window:
    """Days `since` to `until`, both included, in UTC."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the window."""
        return datetime.combine(self.until + timedelta(days=1), time(), tzinfo=UTC)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment.astimezone(UTC) < self.end

    def __str__(self) -> str:
        return f"{self.since.isoformat()}..{self.until.isoformat()}"


def make_window(since: date, until: date | None, *, today: date) -> Window:
    """The window of a backfill (until defaults to today, UTC); ValueError if it is empty."""
    end = until or today
    if since > end:
        raise ValueError(f"since ({since.isoformat()}) is after until ({end.isoformat()})")
    return Window(since, end)


def rules_digest(config: Config) -> str:
    """A digest of the topic and alert queries: a reprocess after they change is a new backfill."""
    rules = {
        "topics": sorted((t.name, t.query) for t in config.topics),
        "alerts": sorted((a.name, a.query) for a in config.alerts),
    }
    return hashlib.sha256(json.dumps(rules, ensure_ascii=False).encode()).hexdigest()


def backfill_key(
    mode: Mode,
    window: Window,
    sources: Sequence[str] | None,
    rules: str = "",
    *,
    open_ended: bool = False,
) -> str:
    """The identity of a backfill: its finished units are recorded under this key.

    An open-ended window (no `until`) is keyed by its start only, so a backfill interrupted one
    day resumes the next; the days it did not cover yet are the ones ingest sees anyway.
    """
    scope = sorted(set(sources)) if sources is not None else ["*"]
    span = f"{window.since.isoformat()}.." if open_ended else str(window)
    text = json.dumps([mode, span, scope, rules])
    return hashlib.sha256(text.encode()).hexdigest()


def describe_backfill(mode: Mode, window: Window, sources: Sequence[str] | None) -> str:
    """'backfill discover 2024-03-01..2024-03-10 (3 sources)': what a run is, for its name."""
    if sources is None:
        which = "all sources"
    elif len(sources) <= 2:
        which = ", ".join(sources) or "no sources"
    else:
        which = f"{len(sources)} sources"
    return f"backfill {mode} {window} ({which})"
