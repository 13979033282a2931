"""What a command checks before it does anything: settings, config, database, Prefect.

Invalid settings or config exit 2 naming every problem at once; an unusable database exits 3; both
with one clear line per problem on stderr (the exit codes of docs/CONTRACT-EXTENSIONS.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from newsmon.app.commands.output import fail, stderr
from newsmon.config.loading import ConfigError, load_config
from newsmon.config.models import Config
from newsmon.settings import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Config folder (default: NEWSMON_CONFIG_DIR or ./config)."),
]


def settings_or_exit() -> Settings:
    """The settings, or exit 2 naming every problem with them."""
    settings, problems = read_settings()
    if settings is None:
        fail("\n".join(problems), 2)
    return settings


def read_settings() -> tuple[Settings | None, list[str]]:
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


def settings_and_config(directory: Path | None) -> tuple[Settings, Config]:
    """Settings and config, or exit 2 naming every problem with either at once (not in stages)."""
    settings, problems = read_settings()
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


def prepared_engine(settings: Settings, *, upgrade: bool) -> Any:
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


# Prefect's task run recorder writes each task-run event in its own transaction by default: ~20 ms
# of the API server's CPU per task run, about a tenth of a run's CPU per article. In batches of up
# to 200 (flushed every second, so the UI lags by a second at most) ~10 ms (benchmarks/run.py,
# docs/BENCHMARKS.md). Prefect's temporary API gets these unless they are set; deploy/ sets them
# for the server.
PREFECT_SERVER_TUNING = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}

# Services of Prefect's temporary API that newsmon's one-off runs have no use for, off (the
# temporary API serves no UI, and dies with the run). Each task run sends three state events;
# the event persister stored each in the API's database (events + their related resources), and
# the triggers service matched each against automations (and swept for proactive ones every
# 5 s): together ~3 of the ~11 ms of the API's CPU per task run (benchmarks/prefect_cpu.py).
# Task runs, states, logs and artifacts are recorded without them (the task run recorder reads
# the same events from the API's own message bus). What this gives up on the temporary API only:
# its events feed, and automations (they were racy there: the API dies with the run). A Prefect
# server (deploy/, PREFECT_API_URL) keeps both; these variables never reach it.
PREFECT_TEMPORARY_API_SERVICES_OFF = {
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
}


def prepare_prefect() -> None:
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
    for name, value in {**PREFECT_SERVER_TUNING, **PREFECT_TEMPORARY_API_SERVICES_OFF}.items():
        os.environ.setdefault(name, value)


def prefect_logging_config() -> Path:
    """newsmon's Prefect logging.yml (shipped in newsmon.tasks; no Prefect import needed)."""
    import newsmon.tasks

    return Path(newsmon.tasks.__file__).parent / "prefect-logging.yml"
