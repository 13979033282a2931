"""The shape of the package, read from the source (AST), not from what happens to get imported.

- The core (src/newsmon except the app shell, newsmon.app) never imports Prefect, flows or tasks:
  not at the top of a module and not inside a function either (an import inside a function is
  still a dependency; it only runs later).
- No import cycle among newsmon's modules (src/newsmon, flows/, tasks/).
- docs/ARCHITECTURE.md names every module, so the map keeps up with the tree.
- No module over 400 lines.
- Only flows/ and tasks/ import Prefect (the app shell reaches it through them).

Which imports count: every `import`/`from ... import` anywhere in a module (top level, functions,
methods, try blocks), relative ones resolved. Not counted: imports under `if TYPE_CHECKING:` (they
never run, and with `from __future__ import annotations` they serve annotations only), and the
implicit import of parent packages (their __init__ files hold no code that imports back).
`from newsmon.pkg import name` counts as an edge to the module `newsmon.pkg.name` when that is a
module, otherwise to `newsmon.pkg`.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = {
    "newsmon": ROOT / "src" / "newsmon",
    "newsmon.flows": ROOT / "flows",
    "newsmon.tasks": ROOT / "tasks",
}
APP = "newsmon.app"
# Orchestration: the core reaches none of it, by any path.
ORCHESTRATION = ("prefect", "newsmon.flows", "newsmon.tasks", APP)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, directory in PACKAGE_DIRS.items():
        for path in sorted(directory.rglob("*.py")):
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(directory).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if package == "newsmon" and name.startswith(("newsmon.flows", "newsmon.tasks")):
                continue
            found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (their `else:` branch does run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_names(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Dotted names a module imports at run time, anywhere in it (`from a import b` gives a.b)."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = imported_names(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
        graph[name] = {m for m in map(owner, imported) if m is not None and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per strongly connected component, as a path a -> ... -> a."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is ~100 modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    found = []
    for component in components:
        start = min(component)
        came_from: dict[str, str] = {}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = came_from[node]
                    found.append([start, *reversed(path[1:]), start])
                    queue.clear()
                    break
                if nxt not in came_from:
                    came_from[nxt] = node
                    queue.append(nxt)
    return sorted(found)


def test_the_module_walk_finds_core_app_flows_and_tasks() -> None:
    modules = _modules()
    for name in (
        "newsmon.store",
        "newsmon.app.cli",
        "newsmon.app.demo.run",
        "newsmon.flows.ingest",
    ):
        assert name in modules
    assert "newsmon.tasks.runtime" in modules and "newsmon.stories.assign" in modules


def test_imports_inside_functions_are_seen_and_type_only_ones_are_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from newsmon.settings import Config\n"
        "def run():\n    from prefect import flow\n    from . import store\n"
        "    import importlib\n    importlib.import_module('newsmon.flows.ingest')\n"
    )
    names = imported_names(source, "newsmon.summary")
    assert {"prefect.flow", "newsmon.store", "newsmon.flows.ingest"} <= names
    assert "newsmon.settings" not in names


def test_the_core_never_imports_prefect_flows_tasks_or_the_app() -> None:
    offenders = []
    for name, path in _modules().items():
        if name.startswith(("newsmon.flows", "newsmon.tasks", APP)):
            continue
        imported = imported_names(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
        for target in sorted(imported):
            if any(target == o or target.startswith(o + ".") for o in ORCHESTRATION):
                offenders.append(f"{path.relative_to(ROOT)} imports {target}")
    assert offenders == [], "\n".join(offenders)


def test_prefect_is_imported_only_in_flows_and_tasks() -> None:
    """Everything under src/newsmon, the app shell included, reaches Prefect through flows/ and
    tasks/ (the app imports those inside its commands' bodies), never by importing it itself."""
    offenders = []
    for name, path in _modules().items():
        if name.startswith(("newsmon.flows", "newsmon.tasks")):
            continue
        imported = imported_names(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
        offenders += [
            f"{path.relative_to(ROOT)} imports {target}"
            for target in sorted(imported)
            if target == "prefect" or target.startswith("prefect.")
        ]
    assert offenders == [], "\n".join(offenders)


def test_the_cycle_finder_names_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "e2", "e"]]


def test_no_import_cycle_among_newsmon_modules() -> None:
    found = [" -> ".join(cycle) for cycle in cycles(import_graph())]
    assert found == [], "import cycles:\n" + "\n".join(found)


WHOLE_FOLDERS = {"store/migrations/", "app/demo/", "app/starter/"}
MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    """Issue 13: a module a newcomer can read in a sitting; a longer one is two concerns."""
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in _modules().values()
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert long == [], "over 400 lines:\n" + "\n".join(long)


def test_the_architecture_map_names_every_module() -> None:
    """docs/ARCHITECTURE.md is where a newcomer looks a module up: a new module gets its line."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    folders = {"newsmon": "", "newsmon.flows": "flows/", "newsmon.tasks": "tasks/"}
    unnamed = []
    for name, path in _modules().items():
        if path.name == "__init__.py":
            continue
        package = (
            "newsmon.flows"
            if name.startswith("newsmon.flows")
            else ("newsmon.tasks" if name.startswith("newsmon.tasks") else "newsmon")
        )
        relative = path.relative_to(PACKAGE_DIRS[package]).as_posix()
        # Only a folder of data or generated code named as a whole covers the files in it: a stage
        # package (`fetch/`) does not, each of its modules has its own line.
        enclosing = [
            folder
            for n in range(1, relative.count("/") + 1)
            if (folder := relative.rsplit("/", n)[0] + "/") in WHOLE_FOLDERS
        ]
        if f"`{folders[package]}{relative}`" in text or f"`{relative}`" in text:
            continue
        if any(f"`{folders[package]}{folder}`" in text for folder in enclosing):
            continue
        unnamed.append(f"{folders[package]}{relative}")
    assert unnamed == [], "docs/ARCHITECTURE.md does not name: " + ", ".join(sorted(unnamed))
