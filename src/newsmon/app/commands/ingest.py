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
    from newsmon.app import idle

    # Nothing due, queued or to send: answered from the database, without starting Prefect.
    reason = None if force else idle.idle_reason(engine, settings, loaded, shard=shard, now=_now())
    if reason is not None:
        stdout.print("0 sources polled; no page queued, no alert to send")
        stdout.print(reason, highlight=False, soft_wrap=True)
        return
    summary = run_ingest(loaded, force=force, shard=shard)
    print_summary(summary)
    if not summary["sources_polled"]:
        due = idle.schedule(engine, loaded, shard=shard, now=_now())
        stdout.print(idle.nothing_due(loaded, due), highlight=False, soft_wrap=True)


def _now() -> datetime:
    return datetime.now(UTC)


def run_ingest(
    config: Config, *, force: bool, sources: list[str] | None = None, shard: str | None = None
) -> dict[str, Any]:
    """Run the ingest flow in this process (Prefect's ephemeral API unless PREFECT_API_URL is set)."""
    prepare_prefect()
    with spinner("starting Prefect and the ingest flow..."):
        from newsmon.flows.ingest import ingest as ingest_flow
        from newsmon.tasks.runtime import close_extractors, close_network, send_pending_events

        try:
            summary: dict[str, Any] = ingest_flow(
                config_dir=str(config.directory), force=force, sources=sources, shard=shard
            )
        except Exception as err:
            # The run could not finish (e.g. the database went away): what was committed stays,
            # queued entries and pending alerts are picked up by the next run.
            send_pending_events()
            fail(f"the ingest run failed and will catch up next time: {failure_reason(err)}", 1)
        finally:
            close_extractors()
            close_network()
        send_pending_events()
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
