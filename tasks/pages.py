"""Tasks that fetch article pages and extract their text."""

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


# No task timeout: every request has its own (NEWSMON_TOTAL_TIMEOUT_S), and the flow submits this
# task to a thread, where Prefect cannot interrupt it anyway (it warns on every run if one is set).
@task(name="fetch-pages", task_run_name="fetch {label}", cache_policy=NO_CACHE)
def fetch_article_pages(
    settings: Settings, entries: list[FeedEntry], label: str, config: Config | None = None
) -> tuple[list[Page], list[PageFailure]]:
    """Fetch the pages of new entries concurrently; failed pages come back as PageFailure.

    Through the process's shared Fetcher (the per-host limits hold together with polling), after
    robots.txt, except for sources with `respect_robots: false` in `config`.
    """
    exempt = {s.name for s in config.sources if not s.respect_robots} if config else set()
    robots = robots_cache(settings)

    async def work(fetcher: Fetcher) -> tuple[list[Page], list[PageFailure]]:
        return await fetch_pages(fetcher, entries, robots=robots, robots_exempt=exempt)

    pages, failures = run_network(settings, work, config=config)
    logger = get_run_logger()
    for failure in failures:
        logger.warning("page failed (%s): %s", failure.entry.source, failure.error)
    return pages, failures


# No task timeout: each page has its own (NEWSMON_EXTRACT_TIMEOUT_S, enforced by killing its
# worker process); a task timeout could only fail the whole batch, good pages included.
@task(name="extract-pages", task_run_name="extract {label}", cache_policy=NO_CACHE)
def extract_article_pages(
    settings: Settings,
    pages: list[Page],
    language_hints: dict[str, str | None],
    label: str,
    prepare: PrepareForStore,
) -> list[tuple[Page, ReadyArticle | PageFailure]]:
    """Extract clean text from each page, in worker processes, each under a time limit, and
    prepare it for the store there too (canonical URL, fingerprint, topics, alert rules)."""
    results = extractor(settings).extract_then(pages, language_hints, prepare)
    logger = get_run_logger()
    for page, result in results:
        if isinstance(result, PageFailure):
            logger.warning("extraction failed for %s: %s", page.final_url, result.error)
    return results
