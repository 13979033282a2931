"""Getting started: `newsmon init` (a first real setup to edit) and `newsmon demo` (offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsmon.app.commands.ingest import print_summary, run_ingest
from newsmon.app.commands.output import fail, stderr, stdout
from newsmon.app.commands.preflight import prepare_prefect


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for your setup (created if needed).")],
) -> None:
    """A first real setup to edit: config/ (sources, topics, alerts), .env (settings), data/."""
    from newsmon.app.firstrun import InitError, next_steps, write_starter

    try:
        written = write_starter(directory)
    except InitError as err:
        fail(f"newsmon init {directory}: {err}", 2)
    for path in written:
        stderr.print(f"wrote {path}", highlight=False)
    stdout.print("\nnext:", highlight=False)
    for line in next_steps(directory):
        stdout.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def demo(
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Keep the demo database and config in this folder."),
    ] = None,
) -> None:
    """The whole pipeline offline, against a bundled sample news site served on 127.0.0.1."""
    from newsmon.app.demo.run import run_demo

    prepare_prefect()
    run_demo(
        stdout,
        stderr,
        ingest=lambda config: run_ingest(config, force=True),
        show=print_summary,
        keep=keep,
    )
