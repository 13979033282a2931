"""What the README's test command leaves out on a bare machine, and CI leaving out nothing.

Tests marked `needs("chromium")` or `needs("systemd-analyze")` use a Debian program that a machine
with only Python and pip lacks; PostgreSQL tests need NEWSMON_TEST_POSTGRES_URL, the real-web
tests the corpora. Where those are missing the tests are deselected and the run ends with ONE
line naming what was left out and how to include it. Under CI (`CI` set) nothing is left out: such a test runs
(and fails if its program is missing), and any skip at all is turned into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

# program -> (how to find it, the Debian package that has it)
SYSTEM_PROGRAMS: dict[str, tuple[str, str]] = {
    "chromium": ("/usr/bin/chromium", "chromium"),
    "systemd-analyze": ("systemd-analyze", "systemd"),
}

_LEFT_OUT = pytest.StashKey[dict[str, int]]()


def under_ci() -> bool:
    return bool(os.environ.get("CI"))


def program_present(name: str) -> bool:
    where, _ = SYSTEM_PROGRAMS[name]
    return Path(where).exists() if where.startswith("/") else shutil.which(where) is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(program): needs a Debian program (chromium, systemd-analyze)"
    )


# What else a bare machine lacks -> how to include the tests that need it.
SETTINGS: dict[str, str] = {
    "PostgreSQL": "set NEWSMON_TEST_POSTGRES_URL",
    "the real-web corpora": "set NEWSMON_CORPORA or put them at ../shared/corpora",
}


def _missing(item: pytest.Item) -> list[str]:
    """What this test needs that this machine lacks (programs, PostgreSQL, the corpora)."""
    missing = [m.args[0] for m in item.iter_markers("needs") if not program_present(m.args[0])]
    fixtures = getattr(item, "fixturenames", ())
    wants_postgres = "postgres_url" in fixtures or any(item.iter_markers("postgres"))
    if wants_postgres and not os.environ.get("NEWSMON_TEST_POSTGRES_URL"):
        missing.append("PostgreSQL")
    if "corpora" in fixtures:
        from tests.realweb.conftest import corpora_path

        if corpora_path() is None:
            missing.append("the real-web corpora")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if under_ci():
        return
    left_out: dict[str, int] = {}
    kept, dropped = [], []
    for item in items:
        missing = _missing(item)
        if missing:
            dropped.append(item)
            for name in missing:
                left_out[name] = left_out.get(name, 0) + 1
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    config.stash[_LEFT_OUT] = left_out


def left_out_line(left_out: dict[str, int]) -> str | None:
    """The one line saying what a run left out and how to include it (None: nothing)."""
    if not left_out:
        return None
    names = sorted(left_out)
    tests = ", ".join(f"{left_out[n]} needing {n}" for n in names)
    packages = sorted({SYSTEM_PROGRAMS[n][1] for n in names if n in SYSTEM_PROGRAMS})
    how = [f"apt-get install {' '.join(packages)}"] if packages else []
    how += [SETTINGS[n] for n in names if n in SETTINGS]
    return f"left out: {tests} (to include them: {'; '.join(how)})"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    line = left_out_line(config.stash.get(_LEFT_OUT, {}))
    if line:
        terminalreporter.write_line(line, yellow=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if under_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where nothing may be left out: {reason}"
