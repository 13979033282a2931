"""The backfill flow: older articles from sitemaps and feed archives (`discover`), or stored articles
re-tagged and re-evaluated after topics or alert rules change (`reprocess`), over a date window.

Resumable: every unit of work (a feed page, a robots.txt, a sitemap; the re-tagging cursor) is
recorded as done under the backfill's key (mode + window + sources, + rules for reprocess), so a
run that stopped half-way, started again with the same parameters, skips what was finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed, State

from newsmon.backfill.plan import Unit, UnitRead, feed_unit, first_sightings
from newsmon.backfill.site_scope import Scope
from newsmon.backfill.summary import BackfillSummary
from newsmon.backfill.window import (
    Window,
    backfill_key,
    describe_backfill,
    make_window,
    rules_digest,
)
from newsmon.config.loading import load_config
from newsmon.config.models import Config
from newsmon.flows.pages import run_pages
from newsmon.page_batches import BatchOutcome
from newsmon.records import FeedEntry
from newsmon.settings import Settings
from newsmon.store.db import check_connection
from newsmon.tasks.artifacts import ProgressArtifact, publish_backfill_digest
from newsmon.tasks.backfill import (
    count_window,
    finish_unit,
    load_units,
    read_feed_page_unit,
    read_robots_unit,
    read_sitemap_unit,
    record_units,
    retag_articles,
)
from newsmon.tasks.runtime import engine_for, prepare_flow_process
from newsmon.tasks.store import deliver_pending_alerts

# After every import (it freezes the import-time objects): see prepare_flow_process.
prepare_flow_process()


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    try:
        since = date.fromisoformat(str(params["since"]))
        until = params.get("until")
        window = make_window(
            since,
            date.fromisoformat(str(until)) if until else None,
            today=datetime.now(UTC).date(),
        )
    except (KeyError, ValueError):
        return f"backfill {params.get('mode', 'discover')}"
    return describe_backfill(params.get("mode", "discover"), window, params.get("sources"))


@flow(name="backfill", flow_run_name=_run_name, log_prints=False)
def backfill(
    since: date,
    until: date | None = None,
    sources: list[str] | None = None,
    mode: Literal["discover", "reprocess"] = "discover",
    deliver_alerts: bool = False,
    config_dir: str | None = None,
) -> State[dict[str, Any]]:
    """Backfill a date window: older articles from sitemaps and feed archives, or re-tag stored ones.

    Args:
        since: First day of the window (UTC), e.g. 2026-11-01.
        until: Last day of the window, included (UTC). Empty: today.
        sources: Names of sources in sources.yaml. Empty: every enabled source (reprocess: the
            stored articles of every source).
        mode: discover: find older article URLs in the sources' sitemaps and feed archives and
            ingest them. reprocess: re-tag the stored articles of the window and raise the alerts
            they now match (after topics or alert rules changed).
        deliver_alerts: Send the alerts this backfill raises. Off by default: they are recorded
            (and exported) but old news does not notify anyone.
        config_dir: Config folder with sources.yaml, topics.yaml, alerts.yaml. Empty:
            NEWSMON_CONFIG_DIR.
    """
    settings = Settings()
    config = load_config(config_dir or settings.config_dir)
    check_connection(engine_for(settings.database_url))
    window = make_window(since, until, today=datetime.now(UTC).date())
    selected = _selected_sources(config, sources or None, mode)
    # reprocess without sources covers every stored article, also of sources no longer configured
    chosen = selected if mode == "discover" or sources else None
    described = describe_backfill(mode, window, sources or None)
    article_ids: list[int] = []
    alert_ids: list[int] = []
    rules = rules_digest(config) if mode == "reprocess" else ""
    key = backfill_key(mode, window, chosen, rules, open_ended=until is None)
    if mode == "discover":
        summary = _discover(
            settings, config, window, key, selected, deliver_alerts, described, article_ids
        )
    else:
        summary = _reprocess(
            settings, config, window, key, chosen, deliver_alerts, described, alert_ids
        )
    if deliver_alerts and config.alerts:
        delivery = deliver_pending_alerts(settings, config)
        summary.alerts_delivered, summary.alerts_failed = delivery.delivered, delivery.failed
        summary.errors.extend(delivery.errors or [])
    publish_backfill_digest(
        settings, summary, described, article_ids=article_ids, alert_ids=alert_ids
    )
    totals = summary.totals()
    create_table_artifact(
        key="backfill-summary",
        table=summary.rows(),
        description=(
            f"{described}: "
            + (
                f"{totals.stored} articles stored, {totals.failed} pages failed"
                if mode == "discover"
                else f"{totals.articles} articles re-tagged, {totals.retagged} changed"
            )
            + f", {totals.alerts} alerts"
            + ("" if summary.complete else f"; {summary.left_to_resume()}")
        ),
    )
    # Unfinished work must not look finished: the run ends Failed (red in the UI, non-zero exit
    # in the CLI) with what is left as its message; the summary is the state's data either way.
    if summary.complete:
        return Completed(data=summary.to_dict())
    return Failed(message=summary.left_to_resume(), data=summary.to_dict())


def _selected_sources(config: Config, names: list[str] | None, mode: str) -> list[str]:
    """The sources a backfill works on: the named ones (even if disabled), else every enabled one.

    Raises ValueError naming an unknown source or mode.
    """
    if mode not in ("discover", "reprocess"):
        raise ValueError(f"unknown mode {mode!r}: use discover or reprocess")
    known = [s.name for s in config.sources]
    if names is None:
        return [s.name for s in config.sources if s.enabled]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown source(s) {', '.join(unknown)} in {config.directory / 'sources.yaml'}"
            f" (configured: {', '.join(known) or 'none'})"
        )
    return list(dict.fromkeys(names))


# --- discover ---------------------------------------------------------------------------------


def _discover(
    settings: Settings,
    config: Config,
    window: Window,
    key: str,
    selected: list[str],
    deliver: bool,
    described: str,
    stored_ids: list[int],
) -> BackfillSummary:
    logger = get_run_logger()
    summary = BackfillSummary("discover", window, key)
    configs = {s.name: s for s in config.sources}
    units = {unit.name: unit for unit in load_units(settings, key)}
    summary.resumed = bool(units)
    summary.units_skipped = sum(1 for u in units.values() if u.done and u.kind != "backfill")
    seeds = [
        Unit("backfill", "backfill", detail={"mode": "discover", "window": str(window)}),
        *(feed_unit(name, configs[name].url, page=1) for name in selected),
    ]
    record_units(settings, key, seeds)
    for seed in seeds:
        units.setdefault(seed.name, seed)
    for name in selected:
        summary.source(name)
    if summary.resumed:
        logger.info("resuming %s: %d units done earlier", key[:12], summary.units_skipped)

    scopes: dict[str, Scope] = {}
    for unit in units.values():
        if unit.kind == "feed" and "scope" in unit.detail and unit.source in selected:
            scopes[unit.source or ""] = Scope.from_dict(unit.detail["scope"])
    progress = ProgressArtifact("backfill-progress", described)
    order = list(units)  # discovery order; units found on the way are appended
    work = sum(1 for u in units.values() if u.kind != "backfill")
    done = summary.units_skipped
    seen_urls: set[str] = set()
    position = 0
    while position < len(order):
        unit = units[order[position]]
        position += 1
        if unit.done or unit.kind == "backfill":
            continue
        read = _read(settings, config, unit, window, list(scopes.values()))
        if unit.kind == "feed" and "scope" in read.unit.detail and read.unit.source:
            scopes[read.unit.source] = Scope.from_dict(read.unit.detail["scope"])
        for name, counts in read.counts.items():
            row = summary.source(name)
            row.discovered += counts.discovered
            row.in_window += counts.in_window
        fresh = first_sightings(read.entries, seen_urls)
        reading = f"reading {unit.kind} {unit.url}"

        def batch_done(
            fraction: float, done: int = done, work: int = work, reading: str = reading
        ) -> None:
            """Progress part-way through the unit (`fraction` of its pages handled)."""
            stored = summary.totals().stored
            progress.update(done + fraction, work, f"{reading}: {stored} articles stored")

        retryable = _fetch_and_store(
            settings, config, fresh, summary, deliver, stored_ids, on_batch=batch_done
        )
        if read.error:
            summary.errors.append(read.error)
            summary.units_unread += 1
        summary.pages_to_retry += retryable
        finished = replace(
            read.unit,
            done=read.error is None and retryable == 0,
            detail=dict(read.unit.detail) | {"entries": len(fresh), "retry": retryable},
        )
        # Each unit is recorded once (by name), so a feed linking back to an earlier page or an
        # index listing itself cannot make the backfill go round in circles.
        children = [c for c in read.children if c.name not in units]
        finish_unit(settings, key, finished, children)
        units[finished.name] = finished
        for child in children:
            units[child.name] = child
            order.append(child.name)
        work += len(children)
        done += int(finished.done)
        summary.units_done += int(finished.done)
        summary.units_pending += int(not finished.done)
        progress.update(
            done,
            work,
            f"{done} of {work} feed pages and sitemaps read, "
            f"{summary.totals().stored} articles stored",
        )

    if summary.complete:
        finish_unit(settings, key, replace(units["backfill"], done=True), [])
        progress.update(1, 1, "finished")
    else:
        progress.update(done, work, summary.left_to_resume())
    return summary


def _read(
    settings: Settings, config: Config, unit: Unit, window: Window, scopes: list[Scope]
) -> UnitRead:
    """Read one unit with the task for its kind, named after what it reads."""
    if unit.kind == "feed":
        source = config.source(unit.source or "")
        page = unit.detail.get("page", 1)
        label = f"feed {source.name} page {page}"
        return read_feed_page_unit(settings, config, source, unit, window, label=label)
    host = urlsplit(unit.url).netloc
    if unit.kind == "robots":
        return read_robots_unit(settings, config, unit, scopes, label=f"robots.txt {host}")
    name = urlsplit(unit.url).path.rstrip("/").rsplit("/", 1)[-1] or "/"
    return read_sitemap_unit(
        settings, config, unit, window, scopes, label=f"sitemap {name} ({host})"
    )


def _fetch_and_store(
    settings: Settings,
    config: Config,
    entries: list[FeedEntry],
    summary: BackfillSummary,
    deliver: bool,
    stored_ids: list[int],
    on_batch: Callable[[float], None],
) -> int:
    """The page pipeline over these entries (`on_batch(fraction done)` after each batch).

    Returns the number of pages worth trying again (`BatchOutcome.pages_to_retry`): they hold
    their unit open, so the same backfill run again fetches them.
    """
    retryable = handled = 0
    for entry in entries:
        summary.source(entry.source).new += 1

    def batch_done(outcome: BatchOutcome) -> None:
        nonlocal retryable, handled
        retryable += outcome.pages_to_retry
        handled += len(outcome.entries)
        on_batch(min(1.0, handled / len(entries)))

    # A failed store fails the run through its unit: its pages are left to retry (above), so the
    # unit stays to do and the run ends Failed, saying what is left.
    run = run_pages(settings, config, entries, summary, deliver=deliver, on_batch=batch_done)
    stored_ids.extend(run.stored_ids)
    return retryable


# --- reprocess --------------------------------------------------------------------------------


def _reprocess(
    settings: Settings,
    config: Config,
    window: Window,
    key: str,
    sources: list[str] | None,
    deliver: bool,
    described: str,
    alert_ids: list[int],
) -> BackfillSummary:
    summary = BackfillSummary("reprocess", window, key)
    for name in sources or []:
        summary.source(name)
    saved = next((u for u in load_units(settings, key) if u.name == "articles"), None)
    if saved is not None and saved.done:
        summary.resumed, summary.units_skipped = True, 1
        get_run_logger().info("%s was finished by an earlier run: nothing to do", described)
        return summary
    after_id = (saved.cursor or 0) if saved is not None else 0
    summary.resumed = after_id > 0
    total, through_id = count_window(settings, window, sources, after_id=after_id)
    progress = ProgressArtifact("backfill-progress", described)
    processed = 0
    while True:
        batch = retag_articles(
            settings,
            config,
            key,
            window,
            sources,
            after_id,
            through_id,
            deliver,
            label=f"articles after #{after_id}",
        )
        processed += batch.count
        after_id = batch.last_id
        outcome = batch.outcome
        for source, count in outcome.articles.items():
            summary.source(source).articles += count
        for source, count in outcome.retagged.items():
            summary.source(source).retagged += count
        for source, count in outcome.alerts.items():
            summary.source(source).alerts += count
        summary.topics_added.update(outcome.topics_added)
        summary.topics_removed.update(outcome.topics_removed)
        alert_ids.extend(outcome.alert_ids)
        progress.update(processed, total, f"{processed} of {total} articles re-tagged")
        if batch.count < settings.batch_size or after_id >= through_id:
            break
    summary.units_done = 1
    return summary
