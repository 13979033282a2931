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


def _recorder_settings(**environ: str) -> str:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES_TASK_RUN")
    }
    result = subprocess.run(
        [sys.executable, "-c", READ_BACK],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split("\n")[-2]


def test_prefects_task_run_recorder_is_batched() -> None:
    assert _recorder_settings() == "200 200 1.0"


def test_a_value_the_user_set_is_kept() -> None:
    assert (
        _recorder_settings(PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE="7") == "7 200 1.0"
    )
