"""The deployments `newsmon serve` serves: ingest on a schedule, backfill on demand.

deploy/prefect.yaml declares the same two deployments (same names, schedule and defaults) for the
work-pool route (`prefect deploy --all` + `prefect worker start`); tests/deploy checks they agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments.runner import RunnerDeployment
from prefect.logging import get_logger
from prefect.runner import Runner
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelled, Cancelling
from prefect.types.entrypoint import EntrypointType

from newsmon import __version__

INGEST_CRON = "*/15 * * * *"
TAGS = ["newsmon"]

INGEST_DESCRIPTION = (
    "Poll the feeds that are due, fetch and extract new articles, fold duplicates, tag topics, "
    "store them and deliver alerts. Runs on its schedule; a custom run can force every source "
    "(`force`) or name a few (`sources`)."
)
BACKFILL_DESCRIPTION = (
    "Fill a date window after the fact. `discover` finds older articles of the sources (sitemaps, "
    "feed archives) and ingests them; `reprocess` re-tags the stored articles of the window with "
    "the current rules and raises the alerts they now match (delivered only with "
    "`deliver_alerts`). Start it with Run > Custom run and fill in the dates."
)


def server_api() -> tuple[str | None, str | None]:
    """The Prefect API `serve` would register with, and why it cannot (None when it answers).

    (None, None): no API is set (Prefect would fall back to a temporary one that runs no
    scheduler); (url, reason): set, but its health check failed.
    """
    url = PREFECT_API_URL.value()
    if not url:
        return None, None
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    return str(url), None if error is None else " ".join(str(error).split())


def newsmon_deployments(
    config_dir: str, *, ingest_cron: str = INGEST_CRON
) -> list[RunnerDeployment]:
    """The ingest (scheduled) and backfill (on demand) deployments, for `prefect.serve`.

    Their forms offer the sources of `config_dir` by name; `config_dir` itself is no parameter
    (a server path, not for a UI without login to change): the serving process exports it as
    NEWSMON_CONFIG_DIR, which its runs inherit. An invalid `ingest_cron` raises ValueError.
    Entrypoints are module paths (`newsmon.flows.ingest.ingest`): they do not depend on the
    working directory, only on newsmon being installed.
    """
    from prefect.utilities.callables import ParameterSchema

    from newsmon.config.loading import load_config
    from newsmon.flows.backfill import backfill
    from newsmon.flows.forms import form_schema
    from newsmon.flows.ingest import ingest

    names = [source.name for source in load_config(config_dir).sources]
    built = [
        ingest.to_deployment(
            name="ingest",
            schedule=Cron(ingest_cron, timezone="UTC"),
            description=INGEST_DESCRIPTION,
            tags=TAGS,
            version=__version__,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        backfill.to_deployment(
            name="backfill",
            description=BACKFILL_DESCRIPTION,
            tags=TAGS,
            version=__version__,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]
    deployments: list[RunnerDeployment] = []
    for deployment, flow in zip(built, ("ingest", "backfill"), strict=True):
        # `to_deployment` gives a coroutine only when called from async code (its type has both).
        if not isinstance(deployment, RunnerDeployment):
            raise TypeError(f"{flow}.to_deployment() gave {deployment!r}, not a deployment")
        # Prefect keeps the derived schema in a private attribute and offers no hook to shape it.
        derived = deployment._parameter_openapi_schema.model_dump()
        deployment._parameter_openapi_schema = ParameterSchema(**form_schema(derived, flow, names))
        deployments.append(deployment)
    return deployments


# --- serving ------------------------------------------------------------------------------------

GRACE_S = 60.0
CANCEL_WAIT_S = 30.0
STOP_MESSAGE = "newsmon serve is stopping"


class Shutdown:
    """SIGTERM/SIGINT as flags: the first asks for a graceful stop, the second for a quick one."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.hurry = threading.Event()

    def __call__(self, signum: int, frame: object) -> None:
        (self.hurry if self.requested.is_set() else self.requested).set()

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self)


def serve_until_stopped(
    deployments: Sequence[RunnerDeployment],
    *,
    grace_s: float = GRACE_S,
    limit: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve `deployments` until SIGTERM or SIGINT, then stop cleanly.

    `prefect.serve` (Prefect 3.8) exits on SIGTERM at once, and a run in progress stays marked
    Running for ever, its process gone. Here the first signal pauses the schedules (no new
    scheduled runs; the next `serve` resumes them), lets the runs in progress finish for up to
    `grace_s` seconds, cancels what is left through the API (the runs end Cancelled, visible in
    the UI; a backfill started again resumes, ingest is idempotent) and returns. A second signal
    skips the wait. The runner works in its own thread so that Prefect does not install its own
    SIGTERM handler (it does so only in the main thread).
    """
    shutdown = Shutdown()
    shutdown.install()
    runner = Runner(name="newsmon-serve", pause_on_shutdown=True, limit=limit)
    failure: list[BaseException] = []

    async def serve() -> None:
        started = datetime.now(UTC)
        ids = [await runner.aadd_deployment(deployment) for deployment in deployments]
        if on_ready is not None:
            on_ready()
        serving = asyncio.create_task(runner.start())
        while not serving.done() and not shutdown.requested.is_set():
            await asyncio.sleep(0.2)  # watching the flag that the signal handler sets
        if serving.done():
            serving.result()  # the runner stopped by itself: its error is serve's
            return
        try:
            await _wind_down(ids, started, grace_s, shutdown.hurry)
        except Exception:  # the API gone too: stop anyway, the runs go with the runner
            get_logger("newsmon.serve").exception("stopping: could not wind down the runs")
        # Not Runner.astop(): it cancels every process it still tracks, and one that has just
        # finished is then marked Cancelled over its Completed state.
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as err:  # re-raised in the main thread
            failure.append(err)

    thread = threading.Thread(target=run, name="newsmon-runner")
    thread.start()
    while thread.is_alive():
        thread.join(0.5)  # a timed join lets the main thread run the signal handler
    if failure:
        raise failure[0]


async def _wind_down(
    deployment_ids: list[UUID], started: datetime, grace_s: float, hurry: threading.Event
) -> None:
    """Pause the deployments, let their runs in progress end (up to `grace_s`), cancel the rest."""
    logger = get_logger("newsmon.serve")
    ours = FlowRunFilterDeploymentId(any_=deployment_ids)
    # Runs this process is running: a run left Running by an earlier process that was killed
    # (its state never updated) started before this one did, and is not waited for.
    running = FlowRunFilter(
        deployment_id=ours,
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.CANCELLING])
        ),
        # model_validate: Prefect types the field as its own DateTime, built from a datetime.
        start_time=FlowRunFilterStartTime.model_validate({"after_": started}),
    )
    pending = FlowRunFilter(
        deployment_id=ours,
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PENDING])),
    )
    async with get_client() as client:

        async def find(which: FlowRunFilter) -> list[FlowRun]:
            return await client.read_flow_runs(
                flow_run_filter=which, limit=200, sort=FlowRunSort.ID_DESC
            )

        for deployment_id in deployment_ids:
            await client.pause_deployment(deployment_id)
        deadline = time.monotonic() + grace_s
        announced = False
        while True:
            left = await find(running) + await find(pending)
            if not left:
                return
            if time.monotonic() >= deadline or hurry.is_set():
                break
            if not announced:
                names = ", ".join(repr(run.name) for run in left)
                logger.info("stopping: waiting up to %.0f s for %s", grace_s, names)
                announced = True
            await asyncio.sleep(0.5)

        names = ", ".join(repr(run.name) for run in left)
        logger.warning("stopping: cancelling %s", names)
        for run in left:
            if run.state_type == StateType.PENDING:
                # No process of ours runs it yet (or its start is aborted by this state).
                await client.set_flow_run_state(run.id, Cancelled(message=STOP_MESSAGE))
            elif run.state_type == StateType.RUNNING:
                # The runner sees Cancelling, stops the process and marks the run Cancelled.
                # The server refuses it if the run has just finished: a final state stays.
                await client.set_flow_run_state(run.id, Cancelling(message=STOP_MESSAGE))
        deadline = time.monotonic() + CANCEL_WAIT_S
        while await find(running) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
