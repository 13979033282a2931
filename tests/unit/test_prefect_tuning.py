"""newsmon's commands batch the task run recorder of Prefect's temporary API (app/commands/
preflight.py): the variables are ones Prefect reads, and a value the user set is kept."""

from __future__ import annotations

import os
import subprocess
import sys

READ_BACK = (
    "from newsmon.app.commands.preflight import prepare_prefect; prepare_prefect(); "
    "from prefect.settings import get_current_settings; "
    "r = get_current_settings().server.services.task_run_recorder; "
    "print(r.batch_size, r.read_batch_size, r.flush_interval)"
)


def _read_back(script: str, cleared: str, **environ: str) -> str:
    """What `script` prints after newsmon's preflight, in a process whose environment has none
    of the variables starting with `cleared` but `environ`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(cleared)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split("\n")[-2]


def _recorder_settings(**environ: str) -> str:
    return _read_back(READ_BACK, "PREFECT_SERVER_SERVICES_TASK_RUN", **environ)


def test_prefects_task_run_recorder_is_batched() -> None:
    assert _recorder_settings() == "200 200 1.0"


def test_a_value_the_user_set_is_kept() -> None:
    assert (
        _recorder_settings(PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE="7") == "7 200 1.0"
    )


SERVICES_READ_BACK = (
    "from newsmon.app.commands.preflight import prepare_prefect; prepare_prefect(); "
    "from prefect.settings import get_current_settings; "
    "s = get_current_settings().server.services; "
    "print(s.event_persister.enabled, s.triggers.enabled)"
)


def _services(**environ: str) -> str:
    return _read_back(SERVICES_READ_BACK, "PREFECT_SERVER_SERVICES_", **environ)


def test_the_temporary_apis_event_persister_and_triggers_are_off() -> None:
    assert _services() == "False False"


def test_services_the_user_turned_on_stay_on() -> None:
    assert (
        _services(
            PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED="true",
            PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED="true",
        )
        == "True True"
    )


def test_the_temporary_api_runs_neither_service() -> None:
    """What Prefect's temporary API decides from these settings: which of its services start."""
    script = (
        "from newsmon.app.commands.preflight import prepare_prefect; prepare_prefect(); "
        "from prefect.server.services.base import RunInEphemeralServers; "
        "from prefect.server.services.perpetual_services import "
        "get_enabled_perpetual_services; "
        "print(sorted(s.__name__ for s in RunInEphemeralServers.enabled_services())); "
        "print(sorted(c.function.__name__ for c in get_enabled_perpetual_services(True, False)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    services, perpetual = result.stdout.splitlines()[-2:]
    assert "TaskRunRecorder" in services  # task runs and their states are still recorded
    for off in ("EventPersister", "ReactiveTriggers", "Actions"):
        assert off not in services
    assert "evaluate_proactive_triggers_periodic" not in perpetual
