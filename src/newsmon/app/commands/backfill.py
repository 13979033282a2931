"""`newsmon backfill`: a date window of older articles (or re-tagging), resumable."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from newsmon.app.commands.output import fail, failure_reason, spinner, stderr, stdout
from newsmon.app.commands.preflight import (
    ConfigOption,
    prepare_prefect,
    prepared_engine,
    settings_and_config,
)


def backfill(
    since: Annotated[
        datetime,
        typer.Option("--since", formats=["%Y-%m-%d"], help="First day of the window (UTC)."),
    ],
    until: Annotated[
        datetime | None,
        typer.Option(
            "--until",
            formats=["%Y-%m-%d"],
            help="Last day of the window, included (default: today).",
        ),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="Only this source (repeat for several; default: every enabled source).",
        ),
    ] = None,
    mode: Annotated[
        Literal["discover", "reprocess"],
        typer.Option(
            "--mode",
            help="discover: older articles from sitemaps and feed archives; reprocess: re-tag "
            "stored articles and raise the alerts they now match.",
        ),
    ] = "discover",
    deliver_alerts: Annotated[
        bool,
        typer.Option(
            "--deliver-alerts", help="Send the alerts the backfill raises (default: record only)."
        ),
    ] = False,
    config: ConfigOption = None,
    more_sources: Annotated[
        list[str] | None,
        typer.Argument(hidden=True, help="More source names after --source (--source a b)."),
    ] = None,
) -> None:
    """Backfill a date window; run it again with the same options to resume an unfinished one."""
    if more_sources and not source:
        fail(f"unexpected argument {more_sources[0]!r}: name sources with --source NAME", 2)
    source = [*(source or []), *(more_sources or [])] or None
    settings, loaded = settings_and_config(config)
    first, last = since.date(), until.date() if until else None
    if last is not None and first > last:
        fail(f"--since {first} is after --until {last}", 2)
    names = [s.name for s in loaded.sources]
    unknown = [name for name in source or [] if name not in names]
    if unknown:
        fail(
            f"--source: no source named {', '.join(unknown)} in "
            f"{loaded.directory / 'sources.yaml'} (sources: {', '.join(names) or 'none'})",
            2,
        )
    prepared_engine(settings, upgrade=settings.database_url.startswith("sqlite"))
    prepare_prefect()
    with spinner(f"backfill ({mode}): starting Prefect..."):
        from newsmon.flows.backfill import backfill as backfill_flow
        from newsmon.tasks.runtime import close_extractors, close_network

        try:
            state = backfill_flow(
                since=first,
                until=last,
                sources=source or None,
                mode=mode,
                deliver_alerts=deliver_alerts,
                config_dir=str(loaded.directory),
                return_state=True,
            )
            # Prefect's overloads type a sync flow called with `return_state=True` as giving
            # State[State[R]]; it gives State[R], whose result is R (or the exception).
            summary = cast("dict[str, Any] | Exception", state.result(raise_on_failure=False))
        except KeyboardInterrupt:
            fail("interrupted: run the same command again to resume where it stopped", 130)
        except Exception as err:
            fail(f"the backfill stopped; run it again to resume: {failure_reason(err)}", 1)
        finally:
            close_extractors()
            close_network()
    if isinstance(summary, BaseException):
        fail(f"the backfill stopped; run it again to resume: {failure_reason(summary)}", 1)
    print_backfill_summary(summary)
    if not summary["complete"]:
        raise typer.Exit(1)


def print_backfill_summary(summary: dict[str, Any], console: Console = stdout) -> None:
    """The per-source table of a backfill run, a total line, and what is left to resume."""
    mode = summary["mode"]
    table = Table(
        title=f"backfill {mode} {summary['since']}..{summary['until']}", title_justify="left"
    )
    columns = list(next(iter(summary["sources"].values()), {}))
    headers = {"discovered": "found", "in_window": "in window", "duplicates": "dups"}
    table.add_column("source", no_wrap=True)
    for column in columns:
        table.add_column(headers.get(column, column), justify="right", no_wrap=True)
    for name, row in summary["sources"].items():
        table.add_row(name, *(str(row[c]) for c in columns))
    console.print(table)
    delivered = f", {summary['alerts_delivered']} delivered" if summary["alerts_delivered"] else ""
    if summary["alerts"] and not summary["alerts_delivered"]:
        delivered = " (recorded, not sent: --deliver-alerts sends them)"
    if summary["resumed"] and summary["complete"] and not summary["units_done"]:
        console.print("nothing to do: this backfill was finished by an earlier run")
    elif mode == "discover":
        console.print(
            f"{summary['stored']} articles stored ({summary['duplicates']} duplicates) of "
            f"{summary['in_window']} found in the window, {summary['failed']} pages failed, "
            f"{summary['alerts']} alerts raised{delivered}"
        )
    else:
        console.print(
            f"{summary['articles']} articles re-tagged, {summary['retagged']} with new topics, "
            f"{summary['alerts']} alerts raised{delivered}"
        )
    if summary["resumed"]:
        stderr.print(f"resumed: {summary['units_skipped']} unit(s) done by an earlier run skipped")
    for error in summary["errors"][:20]:
        stderr.print(f"[yellow]warning:[/] {escape(error)}", highlight=False, soft_wrap=True)
    if len(summary["errors"]) > 20:
        stderr.print(f"[yellow]warning:[/] ... and {len(summary['errors']) - 20} more")
    if not summary["complete"]:
        stderr.print(f"[bold red]{escape(summary['left_to_resume'])}[/]", highlight=False)
