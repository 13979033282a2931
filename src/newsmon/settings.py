"""Settings (NEWSMON_* environment variables, .env) and the config files in config/.

Config files are validated completely before anything runs: every error names the file, the entry
and the reason, so a user can fix them all in one go.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsmon import __version__
from newsmon.alerts.redaction import redact_url

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Values a config file may hold with its YAML aliases expanded: 1,000 sources of ~10 keys each
# are ~20,000; far more is an alias bomb, refused before anything walks it.
MAX_CONFIG_VALUES = 1_000_000


class Settings(BaseSettings):
    """Process-wide settings from NEWSMON_* variables (and a .env file in the working directory)."""

    model_config = SettingsConfigDict(env_prefix="NEWSMON_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///data/newsmon.db"
    config_dir: Path = Path("config")
    allow_private_hosts: bool = False
    # Private networks that may be fetched (an intranet feed) while the SSRF guard stays on:
    # comma-separated CIDRs, addresses or host names. Link-local (cloud metadata), multicast,
    # unspecified and reserved addresses are refused whatever this and allow_private_hosts say.
    private_allowlist: str = ""
    user_agent_contact: str = "https://github.com/newsmon/newsmon"

    # HTTP limits. Defaults keep one slow or hostile host from holding a run.
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_feed_bytes: int = 5 * 2**20
    max_page_bytes: int = 5 * 2**20
    # Sitemaps may hold 50,000 URLs and 50 MB uncompressed (sitemaps.org); backfills read them.
    max_sitemap_bytes: int = 50 * 2**20
    max_connections: int = 32
    max_per_host: int = 2
    # Politeness and polling (newsmon.fetch.politeness, newsmon.fetch.schedule, newsmon.fetch.robots). A source's
    # `max_rps` / `max_connections` keys override the first two for its feed's host.
    host_rps: float = Field(default=1.0, gt=0)  # request starts per second per host
    max_poll_interval_s: float = Field(default=7200.0, ge=60)  # adaptive polling's upper bound
    park_after_failures: int = Field(default=10, ge=1)  # consecutive failed polls -> parked
    # Validators (ETag, Last-Modified) are dropped for one unconditional GET when no full body
    # came for this long: a server answering 304 to a stale ETag cannot hide new entries forever.
    unconditional_after_s: float = Field(default=21600.0, ge=0)
    robots_ttl_s: float = Field(default=3600.0, ge=0)  # robots.txt kept this long per site

    # A page that failed this many runs in a row is given up (kept in the failure log).
    max_page_attempts: int = 3
    # Extraction worker processes; 0 means one per core.
    extract_workers: int = 0
    # Every page is extracted in a worker process; one still busy after this long is killed and
    # the page fails (an attempt). Pages with more characters or tags are refused unparsed.
    extract_timeout_s: float = Field(default=30.0, gt=0)
    extract_max_chars: int = Field(default=5 * 2**20, ge=1)
    extract_max_tags: int = Field(default=200_000, ge=1)
    # A worker's address space; a page needing more fails alone (a warm worker maps ~250 MB).
    extract_max_memory_mb: int = Field(default=2048, ge=512)
    # Feed entries processed per store transaction / Prefect task.
    batch_size: int = 100
    # Caps on one run's work (newsmon.fetch.caps): new entries queued per feed per poll (the newest
    # kept, the rest dropped), and pages fetched per run, shared round-robin across sources (the
    # rest stay queued for the next run). At 1 request/s per host, 1,000 pages is ~17 min of one
    # host's time, and many hosts share a run.
    max_new_entries_per_feed: int = Field(default=500, ge=1)
    max_pages_per_run: int = Field(default=1000, ge=1)
    # Estimated Jaccard similarity at or above which an article joins an earlier story's cluster:
    # dedup.NEAR_DUPLICATE_THRESHOLD, chosen from benchmarks/dedup_eval.py (docs/CLUSTERS.md).
    # Below 0.4 the LSH bands (40 x 3) stop finding such pairs reliably: refused.
    near_duplicate_threshold: float = Field(default=0.5, ge=0.4, le=1.0)
    # Alert delivery: seconds Apprise may spend on one channel.
    notify_timeout_s: float = 15.0

    @property
    def user_agent(self) -> str:
        return f"newsmon/{__version__} (+{self.user_agent_contact})"

    @property
    def private_allowlist_items(self) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.private_allowlist.split(",") if item.strip())

    @property
    def extract_worker_count(self) -> int:
        return self.extract_workers or (os.cpu_count() or 1)


class ConfigError(Exception):
    """One or more problems in the config files; each line names file, entry and reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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


_FILES: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("sources.yaml", "sources", SourceConfig),
    ("topics.yaml", "topics", TopicConfig),
    ("alerts.yaml", "alerts", AlertConfig),
)


def load_config(directory: Path | str) -> Config:
    """Read and validate sources.yaml, topics.yaml and alerts.yaml; raise ConfigError listing all problems.

    sources.yaml is required; topics.yaml and alerts.yaml may be absent (no topics, no alerts).
    """
    directory = Path(directory)
    problems: list[str] = []
    loaded: dict[str, list[Any]] = {}
    if not directory.is_dir():
        raise ConfigError([f"{directory}: config folder not found"])
    for filename, key, model in _FILES:
        path = directory / filename
        if not path.exists():
            if key == "sources":
                problems.append(f"{path}: file not found (it lists the feeds to poll)")
            loaded[key] = []
            continue
        loaded[key] = _load_entries(path, key, model, problems)
    _check_unique_names(directory, loaded, problems)
    if (directory / "gazetteer.yaml").exists():  # optional (docs/STORIES.md): refused up front too
        from newsmon.stories.gazetteer import GazetteerError, load_gazetteer

        try:
            load_gazetteer(directory)
        except GazetteerError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    return Config(
        directory=directory,
        sources=tuple(loaded["sources"]),
        topics=tuple(loaded["topics"]),
        alerts=tuple(loaded["alerts"]),
    )


def _read_yaml(text: str) -> Any:
    """libyaml's safe loader when installed (8x faster: a thousand sources are read on every run),
    the pure-Python one for a file that does not parse (its messages quote the offending line)."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # CSafeLoader: safe, like safe_load
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _expands_beyond(document: Any, limit: int) -> bool:
    """Whether walking `document` with every alias expanded visits more than `limit` values.

    Stops counting at the limit, so it costs at most `limit` steps whatever the file holds.
    """
    visited = 0
    stack = [document]
    while stack:
        value = stack.pop()
        visited += 1
        if visited > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set):
            stack.extend(value)
    return False


def _load_entries(path: Path, key: str, model: type[BaseModel], problems: list[str]) -> list[Any]:
    try:
        document = _read_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        problems.append(f"{path}: cannot be read as YAML: {_one_line(str(err))}")
        return []
    if document is None:
        return []
    if _expands_beyond(document, MAX_CONFIG_VALUES):
        # Aliases (*a) share one object, so the file loads small; it explodes only when each
        # reference is walked (a repr in an error message grew a 400-byte file to 3 GB).
        problems.append(
            f"{path}: expands to more than {MAX_CONFIG_VALUES:,} values through YAML aliases"
            " (an alias bomb?): refused"
        )
        return []
    if not isinstance(document, dict) or set(document) - {key}:
        problems.append(f"{path}: expected a mapping with a single key '{key}:' holding a list")
        return []
    entries = document.get(key) or []
    if not isinstance(entries, list):
        problems.append(f"{path}: '{key}' must be a list of entries")
        return []
    parsed: list[Any] = []
    for index, raw in enumerate(entries):
        where = f"{path}: {key}[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            where += f" ({raw['name']})"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping with name, ... keys")
            continue
        try:
            parsed.append(model.model_validate(raw))
        except ValidationError as err:
            for error in err.errors():
                field = ".".join(str(part) for part in error["loc"]) or "entry"
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = "unknown key"
                elif error["type"] == "missing":
                    message = "required key is missing"
                problems.append(f"{where}: {field}: {message}")
    return parsed


def _check_unique_names(directory: Path, loaded: dict[str, list[Any]], problems: list[str]) -> None:
    for filename, key, _ in _FILES:
        seen: set[str] = set()
        for index, entry in enumerate(loaded[key]):
            if entry.name in seen:
                problems.append(
                    f"{directory / filename}: {key}[{index}] ({entry.name}): "
                    f"duplicate name '{entry.name}'"
                )
            seen.add(entry.name)


def _one_line(text: str) -> str:
    return " ".join(text.split())
