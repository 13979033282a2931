"""The page pipeline both flows run: entries -> fetch + extract + prepare -> store, over batches.

Not a flow itself: a function a flow calls, which submits the page tasks and waits for them. The
pure decisions it applies (batch order, host spreading, per-source counts) are in
`newsmon.page_batches`; ingest calls it once per run with the queued pages, backfill once per
sitemap or feed page with the entries found there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.utilities.annotations import allow_failure, quote

from newsmon.alerts.notify import DeliveryOutcome
from newsmon.config.models import Config
from newsmon.page_batches import BatchOutcome, PageSummary, batch_label, page_batches
from newsmon.records import FeedEntry, PageFailure
from newsmon.rules.prepare import PrepareForStore, RulesSource
from newsmon.settings import Settings
from newsmon.store.articles import StoreOutcome
from newsmon.tasks.pages import Prepared, fetch_and_extract_pages
from newsmon.tasks.runtime import extractor
from newsmon.tasks.store import deliver_pending_alerts, store_batch

T = TypeVar("T")

# Store tasks submitted and not yet finished (each holds an extracted batch in memory).
MAX_PENDING_STORES = 2


def as_is(value: T) -> T:
    """`value` handed to a task without Prefect walking through it looking for futures: for a
    thousand sources (config, due list, poll states, polls) that walk cost ~1 s per run."""
    return cast(T, quote(value))


@dataclass
class PagesRun:
    """What a pass of the page pipeline leaves for its flow beyond the summary's counts."""

    stored_ids: list[int] = field(default_factory=list)
    # Store transactions that failed: the database failed, not a page. The other batches went
    # on; the flow must still not end as if it had succeeded.
    store_failures: list[Exception] = field(default_factory=list)


def run_pages(
    settings: Settings,
    config: Config,
    entries: Sequence[FeedEntry],
    summary: PageSummary,
    *,
    deliver: bool,
    deliver_each_batch: bool = False,
    on_delivered: Callable[[DeliveryOutcome], None] | None = None,
    on_batch: Callable[[BatchOutcome], None] | None = None,
) -> PagesRun:
    """Fetch, extract and store the pages of `entries`, batch after batch, counting into `summary`.

    A pipeline over batches on different resources: while the extraction processes work on batch
    i, batch i+1 is fetched (the network thread; one task fetches and extracts a batch, two run at
    once, so batch i+1's extraction starts the moment batch i's ends) and batch i-1 is stored (a
    thread and the database). Run one after the other, the extraction processes sat idle for more
    than half of a run (benchmarks/run.py). Each store waits for the one before it (`wait_for`),
    so batches are stored one at a time and in order without holding up the next extraction; at
    most MAX_PENDING_STORES wait, which bounds the extracted batches held in memory.

    A batch whose fetch or extraction task fails is an error line; its pages are neither stored
    nor recorded as failed (ingest: they stay queued), and the other batches go on. A failed store
    is an error line too, and is returned in `store_failures` for the flow to fail on at the end.

    `deliver`: new alerts get outbox rows and events (backfills may record them only).
    `deliver_each_batch`: a delivery pass chained after each store (`on_delivered` gets its
    outcome), so a long run does not hold back what its first minute raised. `on_batch` gets each
    batch's outcome once it is counted, in order.
    """
    logger = get_run_logger()
    # The sources' language hints, weighed against the text in extraction (and only there).
    # Handed to each task as_is, like the settings: Prefect walks a plain parameter twice per
    # task run looking for futures, ~5 ms per extraction task for 300 sources' hints.
    hints = as_is({s.name: s.language for s in config.sources})
    task_settings = as_is(settings)
    # Articles are prepared for the store in the extraction workers; one step for the whole run,
    # so each worker receives the config's rules once.
    step = PrepareForStore(RulesSource.of(config))
    prepare = as_is(step)
    batches = page_batches(entries, settings.batch_size)
    outcomes = [BatchOutcome(batch_label(batch), batch) for batch in batches]
    run = PagesRun()

    def fetch_and_extract(index: int) -> PrefectFuture[tuple[Prepared, list[PageFailure]]]:
        return fetch_and_extract_pages.submit(
            task_settings,
            as_is(batches[index]),
            hints,
            label=outcomes[index].label,
            prepare=prepare,
            config=as_is(config),
        )

    def done(outcome: BatchOutcome) -> None:
        if outcome.error is not None:
            logger.error(
                "batch %s failed, its pages are left for the next run: %s",
                outcome.label,
                outcome.error,
            )
        outcome.count(summary)
        run.stored_ids.extend(outcome.stored_ids)
        if on_batch is not None:
            on_batch(outcome)

    Pending = tuple[
        BatchOutcome, PrefectFuture[StoreOutcome], PrefectFuture[DeliveryOutcome] | None, Prepared
    ]

    def collect(pending: Pending) -> None:
        outcome, stored, delivered, prepared = pending
        try:
            result = stored.result()
            outcome.stored, outcome.stored_ids = result.per_source, result.stored_ids
        except Exception as err:
            outcome.error, outcome.store_failed = f"{type(err).__name__}: {err}", True
            run.store_failures.append(err)
        finally:
            # The batch's articles (~1 MB), stored or not: the fetch + extract task's future
            # still holds this very list, and Prefect's futures are reference cycles (future <->
            # its done callback) that only the cyclic GC's rare full pass frees.
            prepared.clear()
        done(outcome)
        if delivered is not None:
            try:
                delivery = delivered.result()
            except Exception as err:
                summary.errors.append(f"alert delivery after {outcome.label}: {err}")
            else:
                if on_delivered is not None:
                    on_delivered(delivery)

    storing: deque[Pending] = deque()
    delivering: PrefectFuture[DeliveryOutcome] | None = None

    def store(outcome: BatchOutcome, extracted: Prepared) -> None:
        nonlocal delivering
        outcome.extract_failures = [r for _, r in extracted if isinstance(r, PageFailure)]
        while len(storing) >= MAX_PENDING_STORES:
            collect(storing.popleft())
        stored = store_batch.submit(
            task_settings,
            as_is(config),
            as_is(extracted),
            as_is(outcome.fetch_failures),
            label=outcome.label,
            deliver_alerts=deliver,
            return_state=False,  # the default, named: Prefect types `wait_for` only beside it
            # After the previous store, whether or not it succeeded (one batch's failure must not
            # fail every batch after it).
            wait_for=[allow_failure(storing[-1][1])] if storing else None,
        )
        if deliver_each_batch:
            delivering = deliver_pending_alerts.submit(
                task_settings,
                as_is(config),
                return_state=False,  # the default, named: Prefect types `wait_for` only beside it
                wait_for=[allow_failure(stored)]
                + ([allow_failure(delivering)] if delivering is not None else []),
            )
        storing.append((outcome, stored, delivering if deliver_each_batch else None, extracted))

    def stored_after(index: int, batch: PrefectFuture[tuple[Prepared, list[PageFailure]]]) -> None:
        """Wait for a batch's pages, then submit its store."""
        outcome = outcomes[index]
        try:
            prepared, outcome.fetch_failures = batch.result()
        except Exception as err:
            outcome.error = f"{type(err).__name__}: {err}"
            done(outcome)
            return
        store(outcome, prepared)

    # Two batches at a time: while one is extracted, the next is fetched and then waits for the
    # extraction processes, starting the moment the one before it leaves them (the pool serves
    # one batch at a time). Called one after the other, each extraction waited for a task run to
    # start and for this loop to hand the batch before it to the store (~12 ms a batch, with the
    # extraction processes idle: benchmarks/run.py, "between batches"). Two, not more: each holds
    # its batch's HTML (~7 MB) until its extraction.
    running = fetch_and_extract(0) if batches else None
    try:
        for index in range(len(batches)):
            assert running is not None
            current, running = (
                running,
                (fetch_and_extract(index + 1) if index + 1 < len(batches) else None),
            )
            stored_after(index, current)
    except BaseException:
        # Interrupted (Ctrl-C, the flow cancelled): the batches extracting in task threads, which
        # the interrupt does not reach, stop too, and the one still fetching will not start.
        extractor(settings).abort(step)
        raise
    while storing:
        collect(storing.popleft())
    return run
