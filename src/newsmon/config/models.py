"""What each entry of the config files may hold: sources, topics, alerts (pydantic models).

Each model validates one entry completely (URLs, names, durations, queries, notify URLs, pacing);
`newsmon.config.loading` reads the files and reports every entry's problems together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from newsmon.alerts.redaction import redact_url

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float) -> timedelta:
    """'15m', '1h', '30s', '2d' (or a number of seconds) -> timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} (use e.g. 15m, 1h, 1d)")
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) < 1e18 else math.inf
    elif not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use e.g. 15m, 1h, 1d)")
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 15m, 1h, 1d)")
        seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds > 366 * 86400:
        raise ValueError(f"duration {value!r} is out of range (at most 366d)")
    if seconds < 60:
        raise ValueError(f"duration {value!r} is shorter than the minimum of 1m")
    return timedelta(seconds=seconds)


def _check_slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(f"{value!r} is not a valid name: use lowercase letters, digits and '-'")
    return value


def _check_query(value: str) -> str:
    from newsmon.rules.query import QuerySyntaxError, parse_query

    try:
        parse_query(value)
    except QuerySyntaxError as err:
        raise ValueError(f"query syntax error: {err}") from None
    return value


class SourceConfig(BaseModel):
    """One feed to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    language: str | None = None
    poll_every: timedelta = Field(default=timedelta(minutes=15))
    enabled: bool = True
    # Politeness for the feed's host (pages on that host too): override NEWSMON_HOST_RPS and
    # NEWSMON_MAX_PER_HOST. Several sources on one host: the lowest value wins.
    max_rps: float | None = Field(default=None, gt=0)
    max_connections: int | None = Field(default=None, ge=1)
    respect_robots: bool = True  # check robots.txt before fetching this source's article pages

    _name = field_validator("name")(_check_slug)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from newsmon.urls import is_http_url

        if not is_http_url(value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("language")
    @classmethod
    def _iso639_1(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2}", value):
            raise ValueError(f"language must be an ISO 639-1 code like 'en' or 'ar', not {value!r}")
        return value

    @field_validator("poll_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        return parse_duration(value)


class TopicConfig(BaseModel):
    """A named query; matching articles are tagged with the name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    query: str

    _name = field_validator("name")(_check_slug)
    _query = field_validator("query")(_check_query)


class StoryUpdates(BaseModel):
    """When an alert raised `once_per: story` is followed by an update message (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    new_language: bool = False  # the story is now reported in another language
    new_outlet: bool = False  # another outlet carries it
    every_articles: int | None = Field(default=None, ge=1)  # each time N more articles join it
    max_updates: int = Field(default=3, ge=1)  # per story, ever (updates are capped, not endless)


class AlertConfig(BaseModel):
    """A named query whose matches notify people, once per copy cluster (or per story)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    query: str
    notify: tuple[str, ...] = ()
    # Pacing (newsmon.alerts.pacing): all optional; the default sends each alert at once.
    mode: Literal["immediate", "digest"] = "immediate"
    every: timedelta | None = None  # digest interval, default 1h
    quiet_hours: str | None = None  # "22:00-07:00", in `timezone`
    timezone: str = "UTC"  # for quiet_hours and the times shown in messages
    max_per_hour: int | None = Field(default=None, ge=1)
    # Stories (newsmon.stories): one alert per story instead of per copy cluster, and updates.
    once_per: Literal["cluster", "story"] = "cluster"
    updates: StoryUpdates | None = None

    _name = field_validator("name")(_check_slug)
    _query = field_validator("query")(_check_query)

    @field_validator("notify", mode="before")
    @classmethod
    def _notify_urls(cls, value: Any) -> Any:
        from newsmon.alerts.channels import reference_problems

        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError("notify must be a list of Apprise URLs")
        for url in value:
            if not isinstance(url, str) or "://" not in url:
                raise ValueError(f"not an Apprise URL (scheme://...): {redact_url(str(url))!r}")
            problems = reference_problems(url)
            if problems:
                raise ValueError(f"{redact_url(url)!r}: {problems[0]}")
        return tuple(value)

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, timedelta) else parse_duration(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from newsmon.alerts.pacing import parse_timezone

        parse_timezone(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        from newsmon.alerts.pacing import QuietHours

        if value is not None:
            QuietHours.parse(value)
        return value

    @model_validator(mode="after")
    def _every_needs_digest(self) -> AlertConfig:
        if self.every is not None and self.mode != "digest":
            raise ValueError("every: only used with mode: digest (add mode: digest, or remove it)")
        if self.updates is not None and self.once_per != "story":
            raise ValueError("updates: only used with once_per: story (add it, or remove updates)")
        return self


@dataclass(frozen=True)
class Config:
    """The validated contents of a config folder."""

    directory: Path
    sources: tuple[SourceConfig, ...]
    topics: tuple[TopicConfig, ...]
    alerts: tuple[AlertConfig, ...]

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)
