"""The core package never imports Prefect: orchestration stays in flows/ and tasks/."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import newsmon

CORE = Path(newsmon.__file__).parent


def _core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(CORE)], prefix="newsmon."):
        if info.name.startswith(("newsmon.flows", "newsmon.tasks", "newsmon.migrations")):
            continue
        names.append(info.name)
    return names


def test_core_modules_are_found() -> None:
    modules = _core_modules()
    assert "newsmon.store" in modules and "newsmon.query" in modules and "newsmon.cli" in modules


def test_importing_every_core_module_does_not_import_prefect() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print(len(loaded))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "0"


def test_no_core_source_file_imports_prefect_at_top_level() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import prefect", "from prefect")) and not line.startswith(" "):
                offenders.append(f"{path.relative_to(CORE)}: {stripped}")
    assert offenders == []
