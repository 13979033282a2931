"""A flow run ends without waiting for Prefect's heartbeat thread (tasks/runtime.py), and keeps
its heartbeats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prefect import flow, flow_engine

from newsmon.tasks.runtime import end_runs_without_heartbeat_wait


def test_the_heartbeat_thread_is_not_joined_and_the_hook_is_set_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []

    @contextmanager
    def prefects(engine: Any, join_on_exit: bool = True) -> Iterator[None]:
        calls.append(join_on_exit)
        yield

    monkeypatch.setattr(flow_engine, "_send_heartbeats", prefects)
    end_runs_without_heartbeat_wait()
    hook = flow_engine._send_heartbeats
    end_runs_without_heartbeat_wait()
    assert flow_engine._send_heartbeats is hook  # not wrapped twice
    with flow_engine._send_heartbeats(object()):
        pass
    assert calls == [False]


def test_a_real_sync_flow_run_starts_its_heartbeats_through_the_hook(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pins Prefect's engine calling the module's `_send_heartbeats` (the name the hook replaces):
    # a Prefect upgrade that stops doing so fails here instead of silently waiting again.
    original = flow_engine._send_heartbeats
    calls: list[bool] = []

    def spy(engine: Any, join_on_exit: bool = True) -> Any:
        calls.append(join_on_exit)
        return original(engine, join_on_exit)

    monkeypatch.setattr(flow_engine, "_send_heartbeats", spy)
    end_runs_without_heartbeat_wait()

    @flow(name="heartbeat-probe")
    def probe() -> int:
        return 42

    assert probe() == 42
    assert calls == [False]


def test_the_ingest_flow_module_freezes_what_was_imported() -> None:
    import gc

    import newsmon.flows.ingest

    assert newsmon.flows.ingest.ingest is not None
    assert gc.get_freeze_count() > 100_000  # Prefect's and newsmon's import-time objects
