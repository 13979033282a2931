"""Crash safety, short version of tests/faults/kill_loop.py: runs killed with SIGKILL lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.kill_loop import EXPECTED_ALERTS, EXPECTED_ARTICLES, run_kill_loop


@pytest.mark.slow
def test_ingest_killed_at_random_points_stores_and_alerts_everything_exactly_once(
    tmp_path: Path,
) -> None:
    figures = run_kill_loop(kills=2, seed=11, workdir=tmp_path)
    assert figures["runs_killed"] == 2
    assert figures["integrity"] == "ok"
    assert (figures["articles"], figures["articles_distinct"]) == (
        EXPECTED_ARTICLES,
        EXPECTED_ARTICLES,
    )
    assert (figures["alerts"], figures["alerts_distinct"]) == (EXPECTED_ALERTS, EXPECTED_ALERTS)
    assert figures["alerts_delivered"] == EXPECTED_ALERTS
    assert figures["messages_received"] == EXPECTED_ALERTS and figures["messages_duplicated"] == 0
