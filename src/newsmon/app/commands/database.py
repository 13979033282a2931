"""Commands on the database itself: `export ...` (stored data as JSON lines) and `db upgrade`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from newsmon.app.commands.output import fail, stderr
from newsmon.app.commands.preflight import prepared_engine, settings_or_exit

FormatOption = Annotated[str, typer.Option("--format", help="Output format (jsonl).")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
]


def _export(kind: str, fmt: str, output: Path | None) -> None:
    from sqlalchemy.orm import Session

    from newsmon.store.archive import iter_alerts, iter_articles, iter_clusters

    if fmt != "jsonl":
        fail(f"unknown export format {fmt!r}: use jsonl", 2)
    settings = settings_or_exit()
    engine = prepared_engine(settings, upgrade=False)
    from newsmon.store.stories import iter_stories

    records = {
        "articles": iter_articles,
        "alerts": iter_alerts,
        "clusters": iter_clusters,
        "stories": iter_stories,
    }[kind]
    try:
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
    except OSError as err:
        fail(f"--output {output}: cannot write there: {err.strerror or err}", 2)
    count = 0
    try:
        with Session(engine) as session:
            for record in records(session):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
    finally:
        if output:
            handle.close()
    stderr.print(f"exported {count} {kind}" + (f" to {output}" if output else ""))


def export_articles(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every stored article, one JSON object per line."""
    _export("articles", fmt, output)


def export_clusters(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every story cluster of two or more articles (size, outlets, first/last seen), largest first."""
    _export("clusters", fmt, output)


def export_stories(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every story (id, headline, first/last seen, articles, outlets, languages), oldest first."""
    _export("stories", fmt, output)


def export_alerts(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every alert, one JSON object per line."""
    _export("alerts", fmt, output)


# --- db ---------------------------------------------------------------------------------------


def db_upgrade() -> None:
    """Apply the database migrations."""
    from newsmon.store.db import current_revision, describe

    settings = settings_or_exit()
    engine = prepared_engine(settings, upgrade=True)
    stderr.print(
        f"database {describe(settings.database_url)} is at revision {current_revision(engine)}"
    )
