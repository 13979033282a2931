"""Tasks that poll feeds and record what they found."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from sqlalchemy.orm import Session

from newsmon.config.models import Config, SourceConfig
from newsmon.fetch.caps import newest_per_source
from newsmon.fetch.concurrent import poll_sources
from newsmon.fetch.http import Fetcher
from newsmon.fetch.schedule import PollPolicy, due_sources, poll_states
from newsmon.records import FeedEntry, FeedPoll, FeedState
from newsmon.settings import Settings
from newsmon.store.page_claims import claim_pages, new_holder
from newsmon.store.queue import enqueue_entries, new_entries, queued_entries_fairly
from newsmon.store.sources import PollOutcome, store_polls, sync_sources
from newsmon.tasks.runtime import engine_for, feed_parser, run_network


@task(name="select-due-sources", cache_policy=NO_CACHE)
def select_due_sources(
    settings: Settings, config: Config, *, force: bool, only: list[str] | None = None
) -> tuple[list[SourceConfig], dict[str, FeedState]]:
    """Sources due for a poll now (all enabled ones with force), with their conditional-GET state."""
    now = datetime.now(UTC)
    with Session(engine_for(settings.database_url)) as session, session.begin():
        states = sync_sources(session, config.sources)
        candidates = [s for s in config.sources if only is None or s.name in only]
        due = due_sources(candidates, states, now, force=force)
        feed_states = poll_states(due, states, now, policy=PollPolicy.from_settings(settings))
    return due, feed_states


@task(name="poll-feeds", task_run_name="poll {label}", cache_policy=NO_CACHE, timeout_seconds=900)
def poll_feeds(
    settings: Settings,
    sources: list[SourceConfig],
    states: dict[str, FeedState],
    label: str,
    config: Config | None = None,
) -> list[FeedPoll]:
    """Poll the sources concurrently (per-host limits apply); one FeedPoll each, never raises.

    Requests go through the process's shared Fetcher, so the limits hold together with the page
    fetches of the same run; `config` brings the sources' per-host keys (max_rps, ...).
    """

    async def work(fetcher: Fetcher) -> list[FeedPoll]:
        return await poll_sources(fetcher, sources, states, parser=feed_parser())

    polls = run_network(settings, work, config=config)
    logger = get_run_logger()
    for poll in polls:
        if poll.status == "error":
            logger.warning("feed %s failed: %s", poll.source, poll.error)
    return polls


@task(name="record-polls", cache_policy=NO_CACHE)
def record_polls(
    settings: Settings, config: Config, polls: list[FeedPoll], scope: list[str]
) -> tuple[dict[str, int], list[FeedEntry], dict[str, int], int]:
    """Store each poll's outcome with its new entries queued, in one transaction.

    Returns the number of new entries per source; this run's share of the queue of the sources in
    `scope` (NEWSMON_MAX_PAGES_PER_RUN, round-robin across sources: the new entries plus any left
    by an earlier run — failed pages to retry, a run that died, the rest of a deep queue), claimed
    for this run; per source, the new entries dropped beyond NEWSMON_MAX_NEW_ENTRIES_PER_FEED (the
    newest are kept); and how many queued pages another run at the same time holds.
    """
    now = datetime.now(UTC)
    by_name = {source.name: source for source in config.sources}
    logger = get_run_logger()
    with Session(engine_for(settings.database_url)) as session, session.begin():
        # All polls at once: a few queries for the lot, not a few per feed.
        changed = [entry for poll in polls if poll.status == "ok" for entry in poll.entries]
        entries = new_entries(session, changed) if changed else []
        entries, dropped = newest_per_source(entries, settings.max_new_entries_per_feed)
        for source, count in dropped.items():
            logger.warning(
                "feed %s: %d new entries beyond the cap of %d (NEWSMON_MAX_NEW_ENTRIES_PER_FEED)"
                " were dropped, the newest kept",
                source, count, settings.max_new_entries_per_feed,
            )  # fmt: skip
        enqueue_entries(session, entries, now=now)
        counts = Counter(entry.source for entry in entries)
        outcomes = [PollOutcome(p, by_name[p.source], counts[p.source]) for p in polls]
        store_polls(session, outcomes, now=now, policy=PollPolicy.from_settings(settings))
        queue = queued_entries_fairly(
            session,
            scope,
            max_attempts=settings.max_page_attempts,
            limit=settings.max_pages_per_run,
        )
        # Pages another run at the same time is fetching are left to it (newsmon.store.page_claims).
        mine, elsewhere = claim_pages(session, queue, holder=new_holder(), now=now)
    if elsewhere:
        get_run_logger().warning(
            "%d queued pages are being fetched by another run at the same time: left to it",
            elsewhere,
        )
    return {poll.source: counts[poll.source] for poll in polls}, mine, dropped, elsewhere
