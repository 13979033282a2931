"""The `newsmon` command line. Data goes to stdout (or --output), progress and errors to stderr.

Prefect is imported only by the commands that run flows, so `export`, `extract`, `sources` and
`rules` answer in well under a second.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from newsmon.settings import Config, ConfigError, Settings, load_config

app = typer.Typer(
    name="newsmon",
    help="News monitoring: feeds -> clean text -> story clusters -> topics -> alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(help="Export stored data as JSON lines.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
rules_app = typer.Typer(help="Check and try topic and alert rules.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(db_app, name="db")
app.add_typer(rules_app, name="rules")

stderr = Console(stderr=True)
stdout = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Config folder (default: NEWSMON_CONFIG_DIR or ./config)."),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr, then exit non-zero."""
    for line in message.splitlines():
        stderr.print(f"[bold red]error:[/] {line}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def plural(n: int, noun: str) -> str:
    """'1 failure', '2 failures'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _settings() -> Settings:
    settings, problems = _read_settings()
    if settings is None:
        fail("\n".join(problems), 2)
    return settings


def _read_settings() -> tuple[Settings | None, list[str]]:
    """The settings, or None and every problem with them (misspelt names warned about here)."""
    from pydantic import ValidationError

    from newsmon.environment import invalid_settings, misspelt_variables, variables_in_use

    for warning in misspelt_variables(variables_in_use(os.environ)):
        stderr.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    try:
        return Settings(), []
    except ValidationError as err:
        return None, [f"invalid setting {line}" for line in invalid_settings(err)]
    except Exception as err:
        return None, [f"invalid NEWSMON_* setting: {' '.join(str(err).split())}"]


def _settings_and_config(directory: Path | None) -> tuple[Settings, Config]:
    """Settings and config, or exit 2 naming every problem with either at once (not in stages)."""
    settings, problems = _read_settings()
    folder = directory or (settings.config_dir if settings else None)
    if folder is None:  # the settings are broken: read NEWSMON_CONFIG_DIR on its own
        folder = Path(os.environ.get("NEWSMON_CONFIG_DIR") or "config")
    loaded: Config | None = None
    try:
        loaded = load_config(folder)
    except ConfigError as err:
        problems.extend(str(err).splitlines())
    if settings is None or loaded is None:
        fail("\n".join(problems), 2)
    return settings, loaded


def _prepared_engine(settings: Settings, *, upgrade: bool) -> Any:
    """An engine on a reachable database at the current schema (upgraded here when asked)."""
    from newsmon.store.db import (
        DatabaseError,
        check_connection,
        current_revision,
        describe,
        make_engine,
    )
    from newsmon.store.db import upgrade as upgrade_schema

    missing = missing_sqlite_file(settings.database_url)
    if missing is not None and not upgrade:
        fail(
            f"no database at {missing}: run `newsmon ingest` (or `newsmon demo --keep DIR`) "
            "first, or set NEWSMON_DATABASE_URL",
            3,
        )
    try:
        engine = make_engine(settings.database_url)
        check_connection(engine)
    except DatabaseError as err:
        fail(str(err), 3)
    except Exception as err:
        fail(f"cannot use database {describe(settings.database_url)}: {err}", 3)
    if upgrade:
        upgrade_schema(engine)
    elif current_revision(engine) is None:
        fail(
            f"database {describe(settings.database_url)} has no newsmon schema: "
            "run `newsmon db upgrade` (or `newsmon ingest` once)",
            3,
        )
    return engine


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that does not exist yet (None: not SQLite, in memory, or there).

    Read-only commands check this first: opening it would create an empty database file.
    """
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def _prepare_prefect() -> None:
    # No telemetry (no DNS here and none wanted), and keep the console for our own report: flow
    # and task logs still reach the Prefect API and UI at INFO.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Prefect waits 20 s for its ephemeral API by default; a busy 2-core machine needed more.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # Prefect's logging with run logs kept off the root console (see the file's header): without
    # it each failed page and each failed delivery was printed twice, besides our summary.
    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(prefect_logging_config()))
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    # Failures are listed in our own summary; a run that fails prints its error (traceback) once.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_RUNS_CONSOLE_LEVEL", "ERROR")


def prefect_logging_config() -> Path:
    """newsmon's Prefect logging.yml (shipped in newsmon.tasks; no Prefect import needed)."""
    import newsmon.tasks

    return Path(newsmon.tasks.__file__).parent / "prefect-logging.yml"


@contextmanager
def _status(message: str) -> Iterator[None]:
    with stderr.status(message, spinner="dots"):
        yield


# --- ingest -----------------------------------------------------------------------------------


@app.command()
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

    settings, loaded = _settings_and_config(config)
    if shard is not None:
        try:
            parse_shard(shard)
        except ValueError as err:
            fail(f"--shard: {err}", 2)
    is_sqlite = settings.database_url.startswith("sqlite")
    engine = _prepared_engine(settings, upgrade=is_sqlite)
    summary = run_ingest(loaded, force=force, shard=shard)
    print_summary(summary)
    if not summary["sources_polled"]:
        stdout.print(_nothing_due(engine, settings, loaded), highlight=False, soft_wrap=True)


def _nothing_due(engine: Any, settings: Settings, config: Config) -> str:
    """Why a pass polled nothing, when the next poll is, and how to poll now."""
    from sqlalchemy.orm import Session

    from newsmon.fetch.schedule import PollPolicy
    from newsmon.store.sources import source_health

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
    _prepare_prefect()
    with _status("starting Prefect and the ingest flow..."):
        from newsmon.flows.ingest import ingest as ingest_flow
        from newsmon.tasks.runtime import close_extractors, close_network

        try:
            return ingest_flow(
                config_dir=str(config.directory), force=force, sources=sources, shard=shard
            )
        except Exception as err:
            # The run could not finish (e.g. the database went away): what was committed stays,
            # queued entries and pending alerts are picked up by the next run.
            fail(f"the ingest run failed and will catch up next time: {_reason(err)}", 1)
        finally:
            close_extractors()
            close_network()


def _reason(err: BaseException) -> str:
    """One line naming what failed, with any database password hidden."""
    from newsmon.store.db import describe

    text = " ".join(str(getattr(err, "orig", None) or err).split()) or type(err).__name__
    settings = Settings()
    url = settings.database_url
    return text.replace(url, describe(url))[:500]


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


# --- backfill ---------------------------------------------------------------------------------


@app.command()
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
    settings, loaded = _settings_and_config(config)
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
    _prepared_engine(settings, upgrade=settings.database_url.startswith("sqlite"))
    _prepare_prefect()
    with _status(f"backfill ({mode}): starting Prefect..."):
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
            summary = state.result(raise_on_failure=False)
        except KeyboardInterrupt:
            fail("interrupted: run the same command again to resume where it stopped", 130)
        except Exception as err:
            fail(f"the backfill stopped; run it again to resume: {_reason(err)}", 1)
        finally:
            close_extractors()
            close_network()
    if isinstance(summary, BaseException):
        fail(f"the backfill stopped; run it again to resume: {_reason(summary)}", 1)
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


# --- export -----------------------------------------------------------------------------------


FormatOption = Annotated[str, typer.Option("--format", help="Output format (jsonl).")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
]


def _export(kind: str, fmt: str, output: Path | None) -> None:
    from sqlalchemy.orm import Session

    from newsmon.store.archive import iter_alerts, iter_articles, iter_clusters

    if fmt != "jsonl":
        fail(f"unknown export format {fmt!r}: use jsonl", 2)
    settings = _settings()
    engine = _prepared_engine(settings, upgrade=False)
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


@export_app.command("articles")
def export_articles(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every stored article, one JSON object per line."""
    _export("articles", fmt, output)


@export_app.command("clusters")
def export_clusters(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every story cluster of two or more articles (size, outlets, first/last seen), largest first."""
    _export("clusters", fmt, output)


@export_app.command("stories")
def export_stories(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every story (id, headline, first/last seen, articles, outlets, languages), oldest first."""
    _export("stories", fmt, output)


@export_app.command("alerts")
def export_alerts(fmt: FormatOption = "jsonl", output: OutputOption = None) -> None:
    """Every alert, one JSON object per line."""
    _export("alerts", fmt, output)


# --- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from newsmon.store.db import current_revision, describe

    settings = _settings()
    engine = _prepared_engine(settings, upgrade=True)
    stderr.print(
        f"database {describe(settings.database_url)} is at revision {current_revision(engine)}"
    )


# --- extract ----------------------------------------------------------------------------------


@app.command()
def extract(
    path_or_url: Annotated[str, typer.Argument(help="An HTML file or an http(s) URL.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print title, text and metadata as JSON.")
    ] = False,
    ignore_robots: Annotated[
        bool,
        typer.Option("--ignore-robots", help="Fetch the URL even if robots.txt disallows it."),
    ] = False,
) -> None:
    """Extract one page as ingest would: clean text, or metadata with --json."""
    from newsmon.extract.page import ExtractionError, extract_page
    from newsmon.urls import canonical_url, is_http_url

    url: str | None = None
    if is_http_url(path_or_url):
        html, url = _fetch_one(path_or_url, robots=not ignore_robots)
    else:
        path = Path(path_or_url)
        if not path.is_file():
            fail(f"{path_or_url}: no such file (give an HTML file or an http(s) URL)", 2)
        html = _decode_file(path)
    try:
        result = extract_page(html, url)
    except ExtractionError as err:
        fail(f"{path_or_url}: {err}", 1)
    if not as_json:
        sys.stdout.write(result.text + "\n")
        return
    canonical = result.canonical_url or url
    record = {
        "title": result.title,
        "text": result.text,
        "published_at": result.published_at.isoformat().replace("+00:00", "Z")
        if result.published_at
        else None,
        "author": result.author,
        "language": result.language,
        "canonical_url": canonical_url(canonical) if canonical else None,
    }
    sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")


def _decode_file(path: Path) -> str:
    from newsmon.fetch.http import decode_body

    return decode_body(path.read_bytes(), content_type=None)


def _fetch_one(url: str, *, robots: bool = True) -> tuple[str, str]:
    import asyncio
    import functools

    from newsmon.fetch.concurrent import http_policy
    from newsmon.fetch.http import Fetcher, FetchError
    from newsmon.fetch.robots import RobotsCache

    settings = _settings()

    async def run() -> tuple[str, str]:
        async with Fetcher(http_policy(settings)) as fetcher:
            # The same rules as ingest: the page's robots.txt first.
            check = functools.partial(RobotsCache().check, fetcher) if robots else None
            result = await fetcher.fetch(url, check=check)
            return result.text(), result.final_url

    try:
        return asyncio.run(run())
    except FetchError as err:
        fail(str(err), 1)


# --- sources and rules ------------------------------------------------------------------------


@app.command()
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

    settings, loaded = _settings_and_config(config)
    names = {s.name for s in loaded.sources}
    unknown = [name for name in unpark or [] if name not in names]
    if unknown:
        fail(
            f"--unpark: no source named {', '.join(unknown)} "
            f"in {loaded.directory / 'sources.yaml'}",
            2,
        )
    engine = _prepared_engine(settings, upgrade=False)
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


@rules_app.command("check")
def rules_check(config: ConfigOption = None) -> None:
    """Validate the config files and explain any error (queries shown with a caret)."""
    from newsmon.app.rules_cli import run_check

    settings, problems = _read_settings()  # reported with the config's, not before them
    for problem in problems:
        stderr.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    folder = config or (
        settings.config_dir if settings else Path(os.environ.get("NEWSMON_CONFIG_DIR") or "config")
    )
    code = run_check(folder, stdout, stderr)
    if code or problems:
        raise typer.Exit(code or 2)


@rules_app.command("test")
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

    settings = _settings()
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
        lambda: _prepared_engine(settings, upgrade=False),
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


@app.command()
def serve(
    config: ConfigOption = None,
    cron: Annotated[
        str, typer.Option("--cron", help="Ingest schedule (cron syntax, UTC).")
    ] = "*/15 * * * *",
    grace: Annotated[
        float,
        typer.Option(
            "--grace", help="On SIGTERM/SIGINT, seconds to let runs in progress finish.", min=0
        ),
    ] = 60.0,
) -> None:
    """Serve the deployments with their schedules: ingest (every 15 minutes) and backfill.

    Needs a Prefect server (PREFECT_API_URL): Prefect's temporary API runs no scheduler.
    """
    settings, loaded = _settings_and_config(config)
    # A service's console is its log (journald, docker logs): the runner's INFO lines (runs
    # submitted, finished) belong there, and the runs' warnings; not every task's INFO line
    # (the UI has them all).
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_RUNS_CONSOLE_LEVEL", "WARNING")
    _prepare_prefect()
    from newsmon.flows.deployments import newsmon_deployments, serve_until_stopped

    # The runs (processes the runner starts) read the config the deployments were made from.
    os.environ["NEWSMON_CONFIG_DIR"] = str(loaded.directory.resolve())
    try:
        deployments = newsmon_deployments(str(loaded.directory.resolve()), ingest_cron=cron)
    except ValueError as err:
        fail(f"invalid --cron {cron!r}: {' '.join(str(err).split())}", 2)
    _prepared_engine(settings, upgrade=settings.database_url.startswith("sqlite"))
    api_url = _prefect_api_url()
    ui_url = api_url.removesuffix("/").removesuffix("/api")

    def ready() -> None:
        names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
        stderr.print(f"serving {names} from {api_url}; UI: {ui_url}/deployments", soft_wrap=True)

    serve_until_stopped(deployments, grace_s=grace, on_ready=ready)
    stderr.print("stopped")


def _prefect_api_url() -> str:
    """The Prefect API `serve` registers with: set and answering, or one clear line and exit."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        fail(
            "newsmon serve needs a Prefect server: start one (`prefect server start`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (without it Prefect would use a "
            "temporary API that runs no scheduler, so nothing would ever run)",
            2,
        )
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is not None:
        fail(f"cannot reach the Prefect API at {url}: {' '.join(str(error).split())}", 3)
    return str(url)


# --- init and demo ----------------------------------------------------------------------------


@app.command()
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


@app.command()
def demo(
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Keep the demo database and config in this folder."),
    ] = None,
) -> None:
    """The whole pipeline offline, against a bundled sample news site served on 127.0.0.1."""
    from newsmon.app.demo.run import run_demo

    _prepare_prefect()
    run_demo(
        stdout,
        stderr,
        ingest=lambda config: run_ingest(config, force=True),
        show=print_summary,
        keep=keep,
    )


def _show_version(value: bool) -> None:
    if value:
        from newsmon import __version__

        sys.stdout.write(f"newsmon {__version__}\n")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """News monitoring: feeds -> clean text -> story clusters -> topics -> alerts."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
