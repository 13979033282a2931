"""docs/RELIABILITY.md names only tests that exist, and lists every test under tests/hostile/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "RELIABILITY.md"
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def names_of_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_reliability_table_names_exists() -> None:
    named = _REFERENCE.findall(DOC.read_text(encoding="utf-8"))
    assert len(named) > 20
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (ROOT / path).is_file() or name not in names_of_tests(ROOT / path)
    ]
    assert missing == []


def test_every_hostile_test_is_in_the_reliability_table() -> None:
    named = set(_REFERENCE.findall(DOC.read_text(encoding="utf-8")))
    unlisted = [
        f"{path.relative_to(ROOT)}::{name}"
        for path in sorted((ROOT / "tests" / "hostile").glob("test_*.py"))
        for name in sorted(names_of_tests(path))
        if (str(path.relative_to(ROOT)), name) not in named
    ]
    assert unlisted == []
