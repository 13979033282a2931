"""The page pipeline both flows run: entries -> fetch -> extract + prepare -> store, over batches.

Not a flow itself: a function a flow calls, which submits the page tasks and waits for them. The
pure decisions it applies (batch order, host spreading, per-source counts) are in
`newsmon.page_batches`; ingest calls it once per run with the queued pages, backfill once per
sitemap or feed page with the entries found there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.utilities.annotations import allow_failure, quote

from newsmon.alerts.notify import DeliveryOutcome
from newsmon.config.models import Config
from newsmon.page_batches import BatchOutcome, PageSummary, batch_label, page_batches
from newsmon.records import FeedEntry, Page, PageFailure
from newsmon.rules.prepare import PrepareForStore, ReadyArticle, RulesSource
from newsmon.settings import Settings
from newsmon.store.articles import StoreOutcome
from newsmon.tasks.pages import extract_article_pages, fetch_article_pages
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

    A pipeline of three stages on different resources: while the extraction processes work on
    batch i, batch i+1 waits for them (its extraction task already running, so it starts the
    moment batch i ends) and batch i-1 is stored (a thread and the database); batch i+2 is fetched
    (the network thread) while batch i+1 is extracted. Run one after the other, the extraction
    processes sat idle for more than half of a run (benchmarks/run.py). Each store waits for the
    one before it (`wait_for`), so batches are stored one at a time and in order without holding
    up the next extraction; at most MAX_PENDING_STORES wait, which bounds the extracted batches
    held in memory.

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
    prepare = as_is(PrepareForStore(RulesSource.of(config)))
    batches = page_batches(entries, settings.batch_size)
    outcomes = [BatchOutcome(batch_label(batch), batch) for batch in batches]
    run = PagesRun()

    def fetch(index: int) -> PrefectFuture[tuple[list[Page], list[PageFailure]]]:
        return fetch_article_pages.submit(
            task_settings, as_is(batches[index]), label=outcomes[index].label, config=as_is(config)
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
        BatchOutcome, PrefectFuture[StoreOutcome], PrefectFuture[DeliveryOutcome] | None
    ]

    def collect(pending: Pending) -> None:
        outcome, stored, delivered = pending
        try:
            result = stored.result()
            outcome.stored, outcome.stored_ids = result.per_source, result.stored_ids
        except Exception as err:
            outcome.error, outcome.store_failed = f"{type(err).__name__}: {err}", True
            run.store_failures.append(err)
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

    def store(
        outcome: BatchOutcome, extracted: list[tuple[Page, ReadyArticle | PageFailure]]
    ) -> None:
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
        storing.append((outcome, stored, delivering if deliver_each_batch else None))

    Extracting = tuple[BatchOutcome, list[Page], PrefectFuture[list[tuple[Page, Any]]]]

    def extracted(batch: Extracting) -> None:
        """Wait for a batch's extraction, then submit its store."""
        outcome, pages, extraction = batch
        try:
            result = extraction.result()
        except Exception as err:
            outcome.error = f"{type(err).__name__}: {err}"
            done(outcome)
            return
        finally:
            # The batch's HTML (~7 MB), no longer needed: extraction returns the pages without
            # it. The fetch task's future still holds this very list, and Prefect's futures are
            # reference cycles (future <-> its done callback) that only the cyclic GC's rare full
            # pass frees: a run piled up every batch's HTML (~130 MB more at the peak of a
            # 4,500-page run than of a 600-page one).
            pages.clear()
        store(outcome, result)

    fetching = fetch(0) if batches else None
    extracting: Extracting | None = None
    for index, outcome in enumerate(outcomes):
        assert fetching is not None
        current, fetching = fetching, None
        try:
            pages, outcome.fetch_failures = current.result()
        except Exception as err:
            outcome.error = f"{type(err).__name__}: {err}"
            done(outcome)
            fetching = fetch(index + 1) if index + 1 < len(batches) else None
            continue
        # Submitted as soon as its pages are here, while the batch before it is still being
        # extracted: the pool serves one batch at a time, so it waits for that one and starts the
        # moment it ends. Called after it, each batch's extraction waited for a task run to start
        # and for this loop to hand the batch before it to the store (~12 ms a batch, with the
        # extraction processes idle: benchmarks/run.py, "between batches").
        submitted = (
            outcome,
            pages,
            extract_article_pages.submit(
                task_settings, as_is(pages), hints, label=outcome.label, prepare=prepare
            ),
        )
        if extracting is not None:
            extracted(extracting)
        # The next fetch once the batch before this one has left the pool (its HTML dropped):
        # two batches' HTML in memory at a time, not three (~40 MB more at the peak of a full
        # benchmark run); the fetch takes less than this batch's extraction.
        fetching = fetch(index + 1) if index + 1 < len(batches) else None
        extracting = submitted
    if extracting is not None:
        extracted(extracting)
    while storing:
        collect(storing.popleft())
    return run
