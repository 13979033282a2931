"""`newsmon ingest`: one pass of the ingest flow, and its summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from newsmon.app.commands.output import fail, failure_reason, plural, spinner, stderr, stdout
from newsmon.app.commands.preflight import (
    ConfigOption,
    prepare_prefect,
    prepared_engine,
    settings_and_config,
)
from newsmon.config.models import Config
from newsmon.settings import Settings


def ingest(
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Poll every enabled source, due or not.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Only shard K of N of the sources (by a stable hash of the name): N machines "
            "running 1/N .. N/N share the sources.",
        ),
    ] = None,
) -> None:
    """One pass of the ingest flow over the sources that are due."""
    from newsmon.fetch.shards import parse_shard

    settings, loaded = settings_and_config(config)
    if shard is not None:
        try:
            parse_shard(shard)
        except ValueError as err:
            fail(f"--shard: {err}", 2)
    is_sqlite = settings.database_url.startswith("sqlite")
    engine = prepared_engine(settings, upgrade=is_sqlite)
    summary = run_ingest(loaded, force=force, shard=shard)
    print_summary(summary)
    if not summary["sources_polled"]:
        stdout.print(_nothing_due(engine, settings, loaded), highlight=False, soft_wrap=True)


def _nothing_due(engine: Any, settings: Settings, config: Config) -> str:
    """Why a pass polled nothing, when the next poll is, and how to poll now."""
    from sqlalchemy.orm import Session

    from newsmon.fetch.schedule import PollPolicy
    from newsmon.store import source_health

    with Session(engine) as session:
        rows = source_health(
            session,
            config.sources,
            now=datetime.now(UTC),
            policy=PollPolicy.from_settings(settings),
        )
    upcoming = sorted((r["next_poll_at"], r["name"]) for r in rows if r["next_poll_at"])
    if not any(s.enabled for s in config.sources):
        why = f"no source is enabled in {config.directory / 'sources.yaml'} (enabled: true)"
    elif upcoming:
        when, name = upcoming[0]
        why = f"no source was due: the next poll is at {when:%Y-%m-%d %H:%M} UTC ({name})"
    else:
        why = "no source was due (parked sources: newsmon sources --unpark NAME)"
    return f"{why}; `newsmon ingest --force` polls every enabled source now"


def run_ingest(
    config: Config, *, force: bool, sources: list[str] | None = None, shard: str | None = None
) -> dict[str, Any]:
    """Run the ingest flow in this process (Prefect's ephemeral API unless PREFECT_API_URL is set)."""
    prepare_prefect()
    with spinner("starting Prefect and the ingest flow..."):
        from newsmon.flows.ingest import ingest as ingest_flow
        from newsmon.tasks.runtime import close_extractors, close_network

        try:
            summary: dict[str, Any] = ingest_flow(
                config_dir=str(config.directory), force=force, sources=sources, shard=shard
            )
        except Exception as err:
            # The run could not finish (e.g. the database went away): what was committed stays,
            # queued entries and pending alerts are picked up by the next run.
            fail(f"the ingest run failed and will catch up next time: {failure_reason(err)}", 1)
        finally:
            close_extractors()
            close_network()
    return summary


def print_summary(summary: dict[str, Any], console: Console = stdout) -> None:
    table = Table(title="ingest", title_justify="left")
    for column in ("source", "poll", "entries", "new", "stored", "duplicates", "failed", "alerts"):
        if column in ("source", "poll"):
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for name in sorted(summary["sources"]):
        row = summary["sources"][name]
        table.add_row(
            name,
            row["poll"],
            *(str(row[k]) for k in ("entries", "new", "stored", "duplicates", "failed", "alerts")),
        )
    if summary["sources_polled"] or any(
        r["stored"] or r["failed"] for r in summary["sources"].values()
    ):
        console.print(table)  # a table of sources that were not due says nothing
    console.print(
        f"{plural(summary['sources_polled'], 'source')} polled, "
        f"{plural(summary['stored'], 'article')} stored "
        f"({plural(summary['duplicates'], 'duplicate')}), {plural(summary['failed'], 'failure')}"
        + (f" ({summary['gave_up']} permanent, not retried), " if summary.get("gave_up") else ", ")
        + f"{plural(summary['alerts'], 'alert')} raised, {summary['alerts_delivered']} delivered"
        + (
            f", {plural(summary['alerts_failed'], 'delivery failure')} (retried next run)"
            if summary["alerts_failed"]
            else ""
        )
        + (
            f", {summary['alerts_held']} held (digest, quiet hours or rate cap)"
            if summary.get("alerts_held")
            else ""
        ),
        soft_wrap=True,
    )
    for error in summary["errors"][:20]:
        stderr.print(f"[yellow]warning:[/] {escape(error)}", highlight=False, soft_wrap=True)
    if len(summary["errors"]) > 20:
        stderr.print(f"[yellow]warning:[/] ... and {len(summary['errors']) - 20} more")
