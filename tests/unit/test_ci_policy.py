"""The README's test command on a bare machine leaves out what needs Debian programs, in one line;
under CI nothing is left out and any skip fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.ci_policy import left_out_line

REPO = Path(__file__).resolve().parents[2]

SAMPLE = """
import pytest

@pytest.mark.needs("chromium")
def test_browser():
    pass

def test_plain():
    pytest.skip("no database here")
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_policy",
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path / "test_sample.py"),
            "--rootdir",
            str(tmp_path),
        ],
        cwd=REPO,
        env={**clean, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_any_skip_fails_under_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout
    assert "skipped under CI, where nothing may be left out: no database here" in result.stdout
    assert "1 failed, 1 passed" in result.stdout  # the Chromium test was not left out


def test_without_ci_a_skip_is_a_skip(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_left_out_programs_are_named_in_one_line_with_the_way_to_include_them() -> None:
    line = left_out_line({"chromium": 3, "systemd-analyze": 1})
    assert line == (
        "left out: 3 needing chromium, 1 needing systemd-analyze "
        "(to include them: apt-get install chromium systemd)"
    )
    assert left_out_line({}) is None
    assert left_out_line({"PostgreSQL": 40, "chromium": 2}) == (
        "left out: 40 needing PostgreSQL, 2 needing chromium "
        "(to include them: apt-get install chromium; set NEWSMON_TEST_POSTGRES_URL)"
    )
