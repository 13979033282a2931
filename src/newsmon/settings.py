"""Settings: the process-wide knobs, from NEWSMON_* environment variables and a .env file.

The config files in the config folder (sources, topics, alerts) are `newsmon.config`; how people
write the variables (bad values named, misspelt names caught) is `newsmon.environment`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsmon import __version__


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
