"""The ingest flow: due feeds -> new entries -> pages -> text -> clusters, topics -> store -> alerts."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger

from newsmon.alerts.notify import DeliveryOutcome
from newsmon.config.loading import load_config
from newsmon.config.models import Config
from newsmon.fetch.shards import parse_shard
from newsmon.flows.pages import as_is, run_pages
from newsmon.page_batches import describe_sources
from newsmon.settings import Settings
from newsmon.store.db import check_connection
from newsmon.summary import RunSummary
from newsmon.tasks.artifacts import publish_digest
from newsmon.tasks.crashed_runs import claim_and_mark_crashed
from newsmon.tasks.poll import poll_feeds, record_polls, select_due_sources
from newsmon.tasks.runtime import engine_for, prepare_flow_process
from newsmon.tasks.store import deliver_pending_alerts

# After every import (it freezes the import-time objects): see prepare_flow_process.
prepare_flow_process()


def _mark_dead_runs_crashed(logger: Any) -> None:
    """Label this run with its process; runs left Running by a killed process become Crashed."""
    from prefect.runtime import flow_run

    try:
        for name in claim_and_mark_crashed(flow_run.id):
            logger.warning(
                "flow run %s was left Running by a process that died: marked Crashed", name
            )
    except Exception as err:  # bookkeeping: never a reason to fail the run
        logger.warning("could not check for runs left Running by a dead process: %s", err)


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    mode = "forced" if params.get("force") else "due sources"
    only = params.get("sources")
    shard = params.get("shard")
    return (
        f"ingest {mode}"
        + (f" shard {shard}" if shard else "")
        + (f" ({describe_sources(only)})" if only else "")
    )


@flow(name="ingest", flow_run_name=_run_name, log_prints=False)
def ingest(
    config_dir: str | None = None,
    force: bool = False,
    sources: list[str] | None = None,
    deliver: bool = True,
    shard: str | None = None,
) -> dict[str, Any]:
    """One pass over the due sources (every enabled source with `force`, or only `sources`).

    Args:
        shard: "K/N": only the sources in shard K of N (by a stable hash of the name), so N
            workers running K = 1..N share the sources, each polled by exactly one of them.
    """
    logger = get_run_logger()
    _mark_dead_runs_crashed(logger)
    settings = Settings()
    config: Config = load_config(config_dir or settings.config_dir)
    if shard:
        part = parse_shard(shard)
        sources = part.select(sources if sources is not None else [s.name for s in config.sources])
    check_connection(engine_for(settings.database_url))
    summary = RunSummary()

    due, states = select_due_sources(settings, as_is(config), force=force, only=sources)
    if not due:
        logger.info("no source is due; nothing to poll")
    polls = (
        poll_feeds(
            settings, as_is(due), as_is(states), label=f"{len(due)} feeds", config=as_is(config)
        )
        if due
        else []
    )
    for poll in polls:
        row = summary.source(poll.source)
        row.poll, row.entries, row.error = poll.status, len(poll.entries), poll.error
        if poll.error:
            summary.errors.append(f"feed {poll.source}: {poll.error}")
    scope = [s.name for s in config.sources if s.enabled and (sources is None or s.name in sources)]
    fresh, pending, dropped, elsewhere = record_polls(
        as_is(settings), as_is(config), as_is(polls), as_is(scope)
    )
    if elsewhere:  # why this run may store nothing: another run is fetching the queue
        summary.errors.append(
            f"{elsewhere} queued pages are being fetched by another run at the same time; "
            "left to it"
        )
    for source, count in fresh.items():
        summary.source(source).new = count
    for source, count in dropped.items():
        summary.errors.append(
            f"feed {source}: {count} new entries beyond the cap of "
            f"{settings.max_new_entries_per_feed} dropped (NEWSMON_MAX_NEW_ENTRIES_PER_FEED)"
        )

    def count_delivered(delivery: DeliveryOutcome) -> None:
        summary.alerts_delivered += delivery.delivered
        summary.alerts_failed += delivery.failed
        summary.alerts_held = delivery.held  # what is still held after the latest pass
        summary.errors.extend(delivery.errors or [])

    # Alerts are delivered as each batch is stored (a delivery pass chained after its store), not
    # after the last batch: a long run must not hold back what its first minute raised.
    run = run_pages(
        settings,
        config,
        pending,
        summary,
        deliver=deliver,
        deliver_each_batch=bool(config.alerts) and deliver,
        on_delivered=count_delivered,
    )
    store_failures = run.store_failures

    if config.alerts:  # retries and digests that fell due, and anything a failed pass left
        try:
            count_delivered(deliver_pending_alerts(settings, config))
        except Exception as err:
            summary.errors.append(f"alert delivery: {err}")

    totals = summary.totals()
    try:
        publish_digest(
            settings,
            key="ingest-stories",
            heading=f"Ingest: {totals.stored} new articles, {totals.alerts} alerts",
            article_ids=run.stored_ids,
        )
    except Exception as err:
        if not store_failures:
            raise
        summary.errors.append(f"digest: {err}")
    create_table_artifact(
        key="ingest-summary",
        table=summary.rows(),
        description=(
            f"Ingest: {summary.polled} sources polled, {summary.totals().stored} articles stored, "
            f"{summary.totals().alerts} alerts raised, {summary.alerts_delivered} delivered"
        ),
    )
    if store_failures:  # after the summary artifact: what was stored is on record
        raise store_failures[0]
    return summary.to_dict()
