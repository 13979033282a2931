"""The task that fetches a batch's article pages, extracts their text and prepares the articles."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from newsmon.config.models import Config
from newsmon.fetch.concurrent import fetch_pages
from newsmon.fetch.http import Fetcher
from newsmon.records import FeedEntry, Page, PageFailure
from newsmon.rules.prepare import PrepareForStore, ReadyArticle
from newsmon.settings import Settings
from newsmon.tasks.runtime import extractor, robots_cache, run_network

Prepared = list[tuple[Page, ReadyArticle | PageFailure]]


# One task for both steps of a batch: the flow runs two at once, so one batch's pages are fetched
# (the network thread) while the batch before it is extracted (the worker processes), and each
# extraction starts the moment the one before it leaves the pool. A task run costs ~20 ms of CPU
# (Prefect's client and API server); a fetch task and an extract task per batch cost ~2 % of a
# run's CPU more than this one (benchmarks/run.py).
# No task timeout: every request has its own (NEWSMON_TOTAL_TIMEOUT_S), each page's extraction
# its own (NEWSMON_EXTRACT_TIMEOUT_S, enforced by killing its worker process); a task timeout
# could only fail the whole batch, good pages included, and Prefect cannot interrupt a task
# submitted to a thread anyway (it warns on every run if one is set).
@task(name="fetch-extract-pages", task_run_name="fetch + extract {label}", cache_policy=NO_CACHE)
def fetch_and_extract_pages(
    settings: Settings,
    entries: list[FeedEntry],
    language_hints: dict[str, str | None],
    label: str,
    prepare: PrepareForStore,
    config: Config | None = None,
) -> tuple[Prepared, list[PageFailure]]:
    """Fetch the pages of new entries concurrently, then extract and prepare each in the worker
    processes, each page under a time limit: (each fetched page with its ReadyArticle or its
    extraction failure, the pages that failed to fetch).

    Fetched through the process's shared Fetcher (the per-host limits hold together with
    polling), after robots.txt, except for sources with `respect_robots: false` in `config`.
    """
    exempt = {s.name for s in config.sources if not s.respect_robots} if config else set()
    robots = robots_cache(settings)

    async def work(fetcher: Fetcher) -> tuple[list[Page], list[PageFailure]]:
        return await fetch_pages(fetcher, entries, robots=robots, robots_exempt=exempt)

    pages, failures = run_network(settings, work, config=config)
    logger = get_run_logger()
    for failure in failures:
        logger.warning("page failed (%s): %s", failure.entry.source, failure.error)
    try:
        results = extractor(settings).extract_then(pages, language_hints, prepare)
    finally:
        # The batch's HTML (~7 MB): the pages come back without it, and on an error the
        # traceback (kept by the task's state, a reference cycle) would hold this list.
        pages.clear()
    for page, result in results:
        if isinstance(result, PageFailure):
            logger.warning("extraction failed for %s: %s", page.final_url, result.error)
    return results, failures
