"""`newsmon rules check` and `newsmon rules test`: the config explained, a query tried on the archive.

The reports themselves are `newsmon.app.rules_cli`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from newsmon.app.commands.output import fail, stderr, stdout
from newsmon.app.commands.preflight import (
    ConfigOption,
    prepared_engine,
    read_settings,
    settings_or_exit,
)
from newsmon.config.loading import ConfigError, load_config
from newsmon.config.models import Config


def rules_check(config: ConfigOption = None) -> None:
    """Validate the config files and explain any error (queries shown with a caret)."""
    from newsmon.app.rules_cli import run_check

    settings, problems = read_settings()  # reported with the config's, not before them
    for problem in problems:
        stderr.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    folder = config or (
        settings.config_dir if settings else Path(os.environ.get("NEWSMON_CONFIG_DIR") or "config")
    )
    code = run_check(folder, stdout, stderr)
    if code or problems:
        raise typer.Exit(code or 2)


def rules_test(
    query: Annotated[
        str, typer.Argument(help="A query as in alerts.yaml (quote it for the shell).")
    ],
    since: Annotated[
        str | None, typer.Option("--since", help="Articles published from DATE (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Last day, included (YYYY-MM-DD), as in `backfill`; or an ISO 8601 time, "
            "excluded.",
        ),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this source (repeatable).")
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", help="How many matching stories to show.", min=0)
    ] = 10,
    config: ConfigOption = None,
) -> None:
    """Run a query over the stored archive: matches per day, and a sample with the matches marked."""
    from newsmon.app.rules_cli import run_test
    from newsmon.rules.backtest import parse_day

    settings = settings_or_exit()
    try:
        start = parse_day(since) if since else None
        end = parse_day(until) if until else None
    except ValueError as err:
        fail(str(err), 2)
    if until and end is not None and len(until.strip()) == 10:  # a day: through its end
        end += timedelta(days=1)
    try:  # topic: fields use the current topics.yaml when there is a valid config
        loaded: Config | None = load_config(config or settings.config_dir)
    except ConfigError:
        loaded = None
    code = run_test(
        lambda: prepared_engine(settings, upgrade=False),
        query,
        since=start,
        until=end,
        sources=source or [],
        sample_size=sample,
        config=loaded,
        out=stdout,
        err=stderr,
    )
    if code:
        raise typer.Exit(code)
