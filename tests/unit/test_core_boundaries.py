"""The core package never imports Prefect: orchestration stays in flows/ and tasks/ (and the app shell).

This test imports every core module and looks at what got loaded; test_structure.py reads the
source for imports anywhere in a module, including inside functions.
"""

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
        if info.name.startswith(
            ("newsmon.flows", "newsmon.tasks", "newsmon.store.migrations", "newsmon.app")
        ):
            continue
        names.append(info.name)
    return names


def test_core_modules_are_found() -> None:
    modules = _core_modules()
    assert "newsmon.store" in modules and "newsmon.rules.query" in modules
    assert "newsmon.stories.assign" in modules and "newsmon.app.cli" not in modules


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
