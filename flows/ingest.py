"""The ingest flow: due feeds -> new entries -> pages -> text -> clusters, topics -> store -> alerts."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, TypeVar, cast

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.utilities.annotations import allow_failure, quote

from newsmon.alerts.notify import DeliveryOutcome
from newsmon.fetch.concurrent import earliest_published_first, spread_over_hosts
from newsmon.fetch.shards import parse_shard
from newsmon.records import FeedEntry, Page, PageFailure
from newsmon.settings import Config, Settings, load_config
from newsmon.store.articles import StoreOutcome
from newsmon.store.db import check_connection
from newsmon.summary import RunSummary
from newsmon.tasks.artifacts import publish_digest
from newsmon.tasks.crashed_runs import claim_and_mark_crashed
from newsmon.tasks.pages import extract_article_pages, fetch_article_pages
from newsmon.tasks.poll import poll_feeds, record_polls, select_due_sources
from newsmon.tasks.runtime import engine_for, tie_ephemeral_api_server
from newsmon.tasks.store import deliver_alerts, store_batch


def describe_sources(names: Sequence[str], limit: int = 2) -> str:
    """'a, b +3 more' — task run names that say what a batch works on."""
    unique = list(dict.fromkeys(names))
    shown = ", ".join(unique[:limit])
    return shown + (f" +{len(unique) - limit} more" if len(unique) > limit else "") or "nothing"


T = TypeVar("T")

# `newsmon ingest` in ephemeral mode starts Prefect's temporary API server on its first flow call.
tie_ephemeral_api_server()

# Store tasks submitted and not yet finished (each holds an extracted batch in memory).
MAX_PENDING_STORES = 2


def _as_is(value: T) -> T:
    """`value` handed to a task without Prefect walking through it looking for futures: for a
    thousand sources (config, due list, poll states, polls) that walk cost ~1 s per run."""
    return cast(T, quote(value))


def _batches(entries: list[FeedEntry], size: int) -> list[list[FeedEntry]]:
    return [entries[i : i + size] for i in range(0, len(entries), size)]


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

    due, states = select_due_sources(settings, _as_is(config), force=force, only=sources)
    if not due:
        logger.info("no source is due; nothing to poll")
    polls = (
        poll_feeds(
            settings, _as_is(due), _as_is(states), label=f"{len(due)} feeds", config=_as_is(config)
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
        settings, _as_is(config), _as_is(polls), scope
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

    hints = {s.name: s.language for s in config.sources}
    stored_ids: list[int] = []
    alerting = bool(config.alerts) and deliver

    def count_stored(stored: StoreOutcome) -> None:
        stored_ids.extend(stored.stored_ids)
        summary.add_stored(stored.per_source)

    def count_delivered(delivery: DeliveryOutcome) -> None:
        summary.alerts_delivered += delivery.delivered
        summary.alerts_failed += delivery.failed
        summary.alerts_held = delivery.held  # what is still held after the latest pass
        summary.errors.extend(delivery.errors or [])

    def batch_failed(label: str, err: BaseException) -> None:
        # One batch's failure (its pages stay queued) never fails the run: the rest go on.
        logger.error("batch %s failed, its pages stay queued for the next run: %s", label, err)
        summary.errors.append(f"batch {label}: {type(err).__name__}: {err}")

    # Round-robin by host: each batch of pages keeps many sites busy within their rate limits;
    # each host's pages earliest-published first, so originals head their clusters across batches.
    batches = _batches(spread_over_hosts(earliest_published_first(pending)), settings.batch_size)
    labels = [f"{len(b)} pages ({describe_sources([e.source for e in b])})" for b in batches]

    def fetch(index: int) -> PrefectFuture[tuple[list[Page], list[PageFailure]]]:
        return fetch_article_pages.submit(
            settings, _as_is(batches[index]), label=labels[index], config=_as_is(config)
        )

    # A pipeline of three stages on different resources: while the extraction processes work on
    # batch i, batch i+1 is fetched (the network thread) and batch i-1 stored (a thread and the
    # database). Run one after the other, the extraction processes sat idle for more than half of
    # a run (benchmarks/run.py). Each store waits for the one before it (`wait_for`), so batches
    # are stored one at a time and in order without holding up the next extraction; at most
    # MAX_PENDING_STORES wait, which bounds the extracted batches held in memory. Alerts are
    # delivered as each batch is stored (a delivery pass chained after its store), not after the
    # last batch: a long run must not hold back what its first minute raised.
    fetching = fetch(0) if batches else None
    storing: deque[tuple[str, PrefectFuture[StoreOutcome], PrefectFuture[DeliveryOutcome] | None]]
    storing = deque()
    delivering: PrefectFuture[DeliveryOutcome] | None = None

    # A store that failed means the database failed, not a page: the other batches still go on,
    # but the run must not end as if it had succeeded (the contract's "unreachable database").
    store_failures: list[Exception] = []

    def collect(entry: tuple[str, Any, Any]) -> None:
        label, stored, delivered = entry
        try:
            count_stored(stored.result())
        except Exception as err:
            batch_failed(label, err)
            store_failures.append(err)
        if delivered is not None:
            try:
                count_delivered(delivered.result())
            except Exception as err:
                summary.errors.append(f"alert delivery after {label}: {err}")

    for index, label in enumerate(labels):
        assert fetching is not None
        current, fetching = fetching, (fetch(index + 1) if index + 1 < len(batches) else None)
        try:
            pages, fetch_failures = current.result()
            extracted = extract_article_pages(settings, _as_is(pages), hints, label=label)
        except Exception as err:
            batch_failed(label, err)
            continue
        failures = fetch_failures + [r for _, r in extracted if isinstance(r, PageFailure)]
        for failure in failures:
            row = summary.source(failure.entry.source)
            row.failed += 1
            row.gave_up += failure.give_up
            retry = "permanent, not retried" if failure.give_up else "transient, retried next run"
            summary.errors.append(f"page ({failure.entry.source}, {retry}): {failure.error}")
        while len(storing) >= MAX_PENDING_STORES:
            collect(storing.popleft())
        store = store_batch.submit(
            settings,
            _as_is(config),
            _as_is(extracted),
            _as_is(fetch_failures),
            label=label,
            deliver_alerts=deliver,
            # After the previous store, whether or not it succeeded (one batch's failure must not
            # fail every batch after it).
            wait_for=[allow_failure(storing[-1][1])] if storing else None,
        )
        if alerting:
            delivering = deliver_alerts.submit(
                settings,
                _as_is(config),
                wait_for=[allow_failure(store)]
                + ([allow_failure(delivering)] if delivering is not None else []),
            )
        storing.append((label, store, delivering if alerting else None))
    while storing:
        collect(storing.popleft())

    if config.alerts:  # retries and digests that fell due, and anything a failed pass left
        try:
            count_delivered(deliver_alerts(settings, config))
        except Exception as err:
            summary.errors.append(f"alert delivery: {err}")

    totals = summary.totals()
    try:
        publish_digest(
            settings,
            key="ingest-stories",
            heading=f"Ingest: {totals.stored} new articles, {totals.alerts} alerts",
            article_ids=stored_ids,
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
