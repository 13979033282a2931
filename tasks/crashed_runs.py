"""Runs whose process died (`kill -9`, OOM) are marked Crashed instead of Running for ever.

Prefect marks a flow run Crashed when its process sees the crash; a process killed outright sees
nothing, and a run started by `newsmon ingest` (not by a worker) has no heartbeat for the server
to notice. So each run labels itself with the process running it (host, pid, the process's start
time, which tells a reused pid apart), and each run, as it starts, marks Crashed the Running runs
of this host whose process is gone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from uuid import UUID

LABEL = "newsmon.process"
_MAX_RUNNING = 200  # runs read per check: a host never has more than a few at once


def process_identity(pid: int) -> str | None:
    """`host:pid:start` for a live process (start in clock ticks since boot), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None if Path("/proc/self/stat").exists() else f"{socket.gethostname()}:{pid}:?"
    start = stat.rpartition(")")[2].split()[19]
    return f"{socket.gethostname()}:{pid}:{start}"


def _dead(identity: str) -> bool:
    host, _, rest = identity.partition(":")
    pid, _, _start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run: only it can tell
    return process_identity(int(pid)) != identity


def claim_and_mark_crashed(flow_run_id: UUID | str) -> list[str]:
    """Label this run with its process; mark Crashed this host's Running runs whose process is
    gone. Returns the names of the runs marked."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    me = process_identity(os.getpid())
    marked: list[str] = []
    with get_client(sync_client=True) as client:
        if me is not None:
            client.update_flow_run_labels(UUID(str(flow_run_id)), {LABEL: me})
        running = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
            limit=_MAX_RUNNING,
        )
        for run in running:
            identity = (run.labels or {}).get(LABEL)
            if str(run.id) == str(flow_run_id) or not isinstance(identity, str):
                continue
            if _dead(identity):
                host, _, rest = identity.partition(":")
                client.set_flow_run_state(
                    run.id,
                    Crashed(message=f"its process ({rest.partition(':')[0]} on {host}) is gone"),
                    force=True,
                )
                marked.append(run.name)
    return marked
