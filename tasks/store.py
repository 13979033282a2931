"""Tasks that store articles (with clusters, topics and alerts) and deliver alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from sqlalchemy.orm import Session

from newsmon.alerts.notify import DeliveryOutcome, deliver_pending_exclusively
from newsmon.config.models import Config
from newsmon.page_batches import publication_order
from newsmon.records import Page, PageFailure
from newsmon.rules.prepare import ReadyArticle
from newsmon.settings import Settings
from newsmon.store.articles import StoreOutcome, store_articles
from newsmon.store.page_claims import release_pages
from newsmon.store.queue import record_failures
from newsmon.tasks.alerts import emit_alert_events, prefect_secret_resolver
from newsmon.tasks.runtime import engine_for


@task(
    name="store-articles",
    task_run_name="store {label}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
)
def store_batch(
    settings: Settings,
    config: Config,
    extracted: list[tuple[Page, ReadyArticle | PageFailure]],
    fetch_failures: list[PageFailure],
    label: str,
    deliver_alerts: bool = True,
) -> StoreOutcome:
    """Store one batch, prepared in the extraction workers, in one transaction, in publication
    order (the one place the articles are sorted: `page_batches.publication_order`); counts per
    source inside."""
    failures = list(fetch_failures)
    ready = []
    for _page, result in extracted:
        if isinstance(result, PageFailure):
            failures.append(result)
        else:
            ready.append(result)
    ready.sort(key=publication_order)
    notify_urls = {alert.name: alert.notify for alert in config.alerts}
    now = datetime.now(UTC)
    with Session(engine_for(settings.database_url)) as session, session.begin():
        outcome = store_articles(
            session,
            ready,
            notify_urls=notify_urls,
            deliver_alerts=deliver_alerts,
            now=now,
            near_duplicate_threshold=settings.near_duplicate_threshold,
            story_alerts={a.name: a.updates for a in config.alerts if a.once_per == "story"},
        )
        record_failures(session, failures, now=now, max_attempts=settings.max_page_attempts)
        # Done with these pages (stored, or failed and recorded): a later run may take them.
        release_pages(
            session,
            [page.entry.url for page, _ in extracted]
            + [failure.entry.url for failure in fetch_failures],
        )
    if (
        deliver_alerts
    ):  # committed: announce the new alerts (backfills deliver nothing, not even events)
        emit_alert_events(engine_for(settings.database_url), outcome.alert_ids)
    return outcome


# Not `deliver_alerts`: that is the flows' boolean parameter (send the alerts a run raises or not).
@task(name="deliver-alerts", cache_policy=NO_CACHE)
def deliver_pending_alerts(settings: Settings, config: Config) -> DeliveryOutcome:
    """Send what is due from the outbox: new alerts, digests whose time has come, retries."""
    outcome = deliver_pending_exclusively(
        engine_for(settings.database_url),
        config,
        now=datetime.now(UTC),
        secret=prefect_secret_resolver(),
        timeout_s=settings.notify_timeout_s,
    )
    logger = get_run_logger()
    for error in outcome.errors:
        logger.warning("%s", error)
    for held in outcome.holds:
        until = f" until {held.until:%Y-%m-%d %H:%M} UTC" if held.until else ""
        logger.info("%s alert(s) of %s held (%s)%s", held.alerts, held.rule, held.reason, until)
    return outcome
