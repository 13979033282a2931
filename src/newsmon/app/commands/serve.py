"""`newsmon serve`: the deployments served with their schedules (needs a Prefect server)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from newsmon.app.commands.output import fail, stderr
from newsmon.app.commands.preflight import (
    ConfigOption,
    prepare_prefect,
    prepared_engine,
    settings_and_config,
)


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
    settings, loaded = settings_and_config(config)
    # A service's console is its log (journald, docker logs): the runner's INFO lines (runs
    # submitted, finished) belong there, and the runs' warnings; not every task's INFO line
    # (the UI has them all).
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_RUNS_CONSOLE_LEVEL", "WARNING")
    prepare_prefect()
    from newsmon.flows.deployments import newsmon_deployments, serve_until_stopped

    # The runs (processes the runner starts) read the config the deployments were made from.
    os.environ["NEWSMON_CONFIG_DIR"] = str(loaded.directory.resolve())
    try:
        deployments = newsmon_deployments(str(loaded.directory.resolve()), ingest_cron=cron)
    except ValueError as err:
        fail(f"invalid --cron {cron!r}: {' '.join(str(err).split())}", 2)
    prepared_engine(settings, upgrade=settings.database_url.startswith("sqlite"))
    api_url = _prefect_api_url()
    ui_url = api_url.removesuffix("/").removesuffix("/api")

    def ready() -> None:
        names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
        stderr.print(f"serving {names} from {api_url}; UI: {ui_url}/deployments", soft_wrap=True)

    serve_until_stopped(deployments, grace_s=grace, on_ready=ready)
    stderr.print("stopped")


def _prefect_api_url() -> str:
    """The Prefect API `serve` registers with: set and answering, or one clear line and exit."""
    from newsmon.flows.deployments import server_api

    url, error = server_api()
    if not url:
        fail(
            "newsmon serve needs a Prefect server: start one (`prefect server start`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (without it Prefect would use a "
            "temporary API that runs no scheduler, so nothing would ever run)",
            2,
        )
    if error is not None:
        fail(f"cannot reach the Prefect API at {url}: {error}", 3)
    return url
