"""What every command prints with: the two consoles, the one-line failure and its exit code.

Data goes to stdout (or --output), progress, warnings and errors to stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

from newsmon.settings import Settings

stderr = Console(stderr=True)
stdout = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr, then exit non-zero."""
    for line in message.splitlines():
        stderr.print(f"[bold red]error:[/] {line}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def plural(n: int, noun: str) -> str:
    """'1 failure', '2 failures'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr with `message` while the block runs (Prefect takes seconds to start)."""
    with stderr.status(message, spinner="dots"):
        yield


def failure_reason(err: BaseException) -> str:
    """One line naming what failed, with any database password hidden."""
    from newsmon.store.db import describe

    text = " ".join(str(getattr(err, "orig", None) or err).split()) or type(err).__name__
    settings = Settings()
    url = settings.database_url
    return text.replace(url, describe(url))[:500]
