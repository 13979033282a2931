"""Tasks of the backfill flow: read feed pages, robots.txt and sitemaps; re-tag stored articles;
and the progress records that make a backfill resumable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from sqlalchemy.orm import Session

from newsmon.backfill.discover import (
    MAX_SITEMAP_DEPTH,
    SitemapError,
    fetch_feed_page,
    fetch_robots_sitemaps,
    fetch_sitemap,
    is_not_found,
)
from newsmon.backfill.plan import (
    StoredArticle,
    Unit,
    UnitRead,
    Window,
    missing_feed_page,
    read_feed_page,
    read_robots,
    read_sitemap,
    retag,
    unreadable_feed_page,
)
from newsmon.backfill.site_scope import Scope
from newsmon.config.models import Config, SourceConfig
from newsmon.fetch.feeds import FeedParseError
from newsmon.fetch.http import FetchError
from newsmon.rules.prepare import Rules
from newsmon.settings import Settings
from newsmon.store.backfill import (
    RetagOutcome,
    add_backfill_units,
    apply_retags,
    articles_in_window,
    backfill_units,
    count_articles_in_window,
    save_backfill_unit,
)
from newsmon.store.queue import new_entries
from newsmon.tasks.alerts import emit_alert_events
from newsmon.tasks.runtime import engine_for, run_network

# Older feed pages followed per source at most (RFC 5005 archives of a busy site run long).
MAX_FEED_PAGES = 200


def _not_stored(settings: Settings, read: UnitRead) -> UnitRead:
    """Drop the entries whose page is stored already (or given up after failures)."""
    if read.entries:
        with Session(engine_for(settings.database_url)) as session:
            read.entries = new_entries(
                session, read.entries, max_attempts=settings.max_page_attempts
            )
    if read.error:
        get_run_logger().warning("%s", read.error)
    return read


@task(name="read-feed-page", task_run_name="{label}", cache_policy=NO_CACHE, timeout_seconds=600)
def read_feed_page_unit(
    settings: Settings, config: Config, source: SourceConfig, unit: Unit, window: Window, label: str
) -> UnitRead:
    """One page of a source's feed (or its archive): the entries in the window, the next page."""
    try:
        page = run_network(
            settings,
            lambda fetcher: fetch_feed_page(fetcher, source=source.name, url=unit.url),
            config=config,
        )
    except (FetchError, FeedParseError) as err:
        if unit.detail.get("guess") is not None:
            # A guessed page (?paged=2, /page/2/) that is not there: the feed is not paged so.
            return UnitRead(unit=unit, children=missing_feed_page(unit, feed_url=source.url))
        return _not_stored(settings, unreadable_feed_page(unit, str(err), feed_url=source.url))
    read = read_feed_page(unit, page, window, feed_url=source.url, max_pages=MAX_FEED_PAGES)
    return _not_stored(settings, read)


@task(name="read-robots", task_run_name="{label}", cache_policy=NO_CACHE, timeout_seconds=300)
def read_robots_unit(
    settings: Settings, config: Config, unit: Unit, scopes: list[Scope], label: str
) -> UnitRead:
    """A site's robots.txt: the sitemaps it names (or the usual places to look for them)."""
    origin = unit.name.removeprefix("robots:")
    try:
        sitemaps = run_network(
            settings, lambda fetcher: fetch_robots_sitemaps(fetcher, origin), config=config
        )
    except FetchError as err:
        return _not_stored(settings, UnitRead(unit=unit, error=str(err)))
    return read_robots(unit, sitemaps, scopes)


@task(name="read-sitemap", task_run_name="{label}", cache_policy=NO_CACHE, timeout_seconds=900)
def read_sitemap_unit(
    settings: Settings, config: Config, unit: Unit, window: Window, scopes: list[Scope], label: str
) -> UnitRead:
    """A sitemap: the sitemaps it lists (an index), or its article URLs in the window."""
    try:
        sitemap = run_network(
            settings,
            lambda fetcher: fetch_sitemap(fetcher, unit.url, max_bytes=settings.max_sitemap_bytes),
            config=config,
        )
    except (FetchError, SitemapError) as err:
        if unit.detail.get("probe") and (is_not_found(err) or isinstance(err, SitemapError)):
            return UnitRead(unit=unit)  # a usual location, with no sitemap there
        return _not_stored(settings, UnitRead(unit=unit, error=str(err)))
    read = read_sitemap(unit, sitemap, window, scopes, max_depth=MAX_SITEMAP_DEPTH)
    return _not_stored(settings, read)


# --- reprocess --------------------------------------------------------------------------------


@dataclass
class RetagBatch:
    """One re-tagging transaction: how many articles, up to which id, and what changed."""

    count: int
    last_id: int
    outcome: RetagOutcome = field(default_factory=RetagOutcome)


@task(
    name="retag-articles",
    task_run_name="retag {label}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
)
def retag_articles(
    settings: Settings,
    config: Config,
    key: str,
    window: Window,
    sources: list[str] | None,
    after_id: int,
    through_id: int,
    deliver_alerts: bool,
    label: str,
) -> RetagBatch:
    """Re-tag the next batch of stored articles and raise the alerts they now match.

    The new topics, the alerts and the cursor (last article id done) commit in one transaction,
    so a run that dies resumes after the last batch that committed, and a retry repeats nothing.
    """
    rules = Rules(config)
    notify_urls = {alert.name: alert.notify for alert in config.alerts}
    now = datetime.now(UTC)
    with Session(engine_for(settings.database_url)) as session, session.begin():
        articles: list[StoredArticle] = articles_in_window(
            session,
            start=window.start,
            end=window.end,
            sources=sources,
            after_id=after_id,
            through_id=through_id,
            limit=settings.batch_size,
        )
        outcome = apply_retags(
            session,
            retag(articles, rules),
            notify_urls=notify_urls,
            deliver_alerts=deliver_alerts,
            now=now,
            story_rules={a.name for a in config.alerts if a.once_per == "story"},
        )
        last_id = articles[-1].id if articles else through_id
        done = len(articles) < settings.batch_size or last_id >= through_id
        save_backfill_unit(
            session,
            key,
            Unit("articles", "articles", done=done, cursor=last_id, detail={"through": through_id}),
            now=now,
        )
    if deliver_alerts:  # committed: announce the new alerts, as ingest does
        emit_alert_events(engine_for(settings.database_url), outcome.alert_ids)
    return RetagBatch(count=len(articles), last_id=last_id, outcome=outcome)


# --- progress records (plain functions: bookkeeping, not work to show as task runs) ------------


def load_units(settings: Settings, key: str) -> list[Unit]:
    with Session(engine_for(settings.database_url)) as session:
        return backfill_units(session, key)


def record_units(settings: Settings, key: str, units: Sequence[Unit]) -> None:
    """Record units still to do (those recorded already keep their state)."""
    with Session(engine_for(settings.database_url)) as session, session.begin():
        add_backfill_units(session, key, units, now=datetime.now(UTC))


def finish_unit(settings: Settings, key: str, unit: Unit, children: Sequence[Unit]) -> None:
    """Save a unit's state together with the units it led to, in one transaction."""
    now = datetime.now(UTC)
    with Session(engine_for(settings.database_url)) as session, session.begin():
        add_backfill_units(session, key, children, now=now)
        save_backfill_unit(session, key, unit, now=now)


def count_window(
    settings: Settings, window: Window, sources: list[str] | None, *, after_id: int
) -> tuple[int, int]:
    """(articles stored in the window with ids above `after_id`, their highest id)."""
    with Session(engine_for(settings.database_url)) as session:
        return count_articles_in_window(
            session, start=window.start, end=window.end, sources=sources, after_id=after_id
        )
