"""`newsmon sources`: every source's health as a table (or JSON lines), and un-parking."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from newsmon.app.commands.output import fail, stderr, stdout
from newsmon.app.commands.preflight import ConfigOption, prepared_engine, settings_and_config


def sources(
    config: ConfigOption = None,
    unpark: Annotated[
        list[str] | None,
        typer.Option(
            "--unpark",
            metavar="NAME",
            help="Clear NAME's failures (a parked source is polled again on the next ingest). "
            "Repeat for several.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per source instead of the table.")
    ] = False,
) -> None:
    """Every source's health: status, last success, last new entry, failures, next poll."""
    from sqlalchemy.orm import Session

    from newsmon.fetch.schedule import PollPolicy
    from newsmon.store.sources import source_health, unpark_source

    settings, loaded = settings_and_config(config)
    names = {s.name for s in loaded.sources}
    unknown = [name for name in unpark or [] if name not in names]
    if unknown:
        fail(
            f"--unpark: no source named {', '.join(unknown)} "
            f"in {loaded.directory / 'sources.yaml'}",
            2,
        )
    engine = prepared_engine(settings, upgrade=False)
    now = datetime.now(UTC)
    if unpark:
        with Session(engine) as session, session.begin():
            for name in unpark:
                previous = unpark_source(session, name)
                if previous == "parked":
                    stderr.print(f"{name}: un-parked; the next ingest polls it")
                else:
                    was = previous or "never polled"
                    stderr.print(f"{name}: was not parked ({was}); failures cleared")
    with Session(engine) as session:
        rows = source_health(
            session, loaded.sources, now=now, policy=PollPolicy.from_settings(settings)
        )
    if as_json:
        for row in rows:
            record = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    _print_sources(rows, now)


_STATUS_STYLE = {"ok": "green", "failing": "yellow", "parked": "bold red", "disabled": "dim"}


def _print_sources(rows: list[dict[str, Any]], now: datetime) -> None:
    # Narrow enough for 80 columns with names up to ~20 characters: no borders, times without the
    # year, words never broken (a cell too narrow is cut with "…"), errors listed below the table.
    table = Table(
        title="sources (times in UTC)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    table.add_column("source", no_wrap=True, min_width=8)
    table.add_column("status", no_wrap=True)
    table.add_column("last ok", no_wrap=True)
    table.add_column("new entry", no_wrap=True)
    table.add_column("fail", justify="right", no_wrap=True)
    table.add_column("next", no_wrap=True)
    table.add_column("every", justify="right", no_wrap=True)
    table.add_column("/day", justify="right", no_wrap=True)
    errors = []
    for row in rows:
        status = row["status"]
        if row["next_poll_at"] is None:
            next_poll = "parked" if status == "parked" else "-"
        elif row["next_poll_at"] <= now:
            next_poll = "due"
        else:
            next_poll = "in " + _span(row["next_poll_at"] - now)
        style = _STATUS_STYLE.get(status, "")
        table.add_row(
            row["name"],
            f"[{style}]{status}[/]" if style else status,
            _when(row["last_success_at"]),
            _span(now - row["last_new_entry_at"]) + " ago" if row["last_new_entry_at"] else "-",
            str(row["consecutive_failures"]),
            next_poll,
            _duration(row["interval_s"]),
            f"{row['entries_per_day']:.1f}",
        )
        if row["last_error"]:
            errors.append(f"{row['name']}: {row['last_error'][:300]}")
    stdout.print(table)
    for error in errors:
        stdout.print(f"[yellow]last error[/] {escape(error)}", highlight=False)
    parked = [r["name"] for r in rows if r["status"] == "parked"]
    failing = [r["name"] for r in rows if r["status"] == "failing"]
    if parked:
        stdout.print(
            f"[bold red]{len(parked)} parked[/] (polled no more until un-parked: "
            f"newsmon sources --unpark NAME, or any edit to its entry): {', '.join(parked)}"
        )
    if failing:
        stdout.print(f"[yellow]{len(failing)} failing[/] (backing off): {', '.join(failing)}")


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g}h"
    return f"{seconds / 60:.3g}m"


def _span(delta: timedelta) -> str:
    """A short duration: 45s, 14m, 1h59m, 20h, 3d."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 10 * 3600:
        return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"


def _when(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "-"
