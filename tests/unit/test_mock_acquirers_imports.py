"""The mock acquirers' imports, read from the source with ``ast``: no circle, no layer breach.

Every import counts, inside functions and ``if TYPE_CHECKING:`` blocks included: an
import that only type checkers follow is still a dependency a reader has to untangle.
Importing ``a.b.c`` also runs ``a/b/__init__.py``, so the packages on the way count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "mock_acquirers"
# the layering rule: of our packages, mock_acquirers may import scenarios and runtime only
ALLOWED = {PACKAGE, "scenarios", "runtime"}
OURS = {
    "routelab",
    "scenarios",
    "router",
    "mock_acquirers",
    "simulator",
    "results",
    "loadtests",
    "reports",
    "runtime",
}


def module_files(package: str) -> dict[str, Path]:
    """Module name -> source file, for every module of ``package``."""
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Every absolute module name ``module`` imports (``from x import y``: x and x.y)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, with the packages on the way."""
    modules = module_files(package)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for name in imported_names(module, path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != module:
                    edges.add(prefix)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_mock_acquirers_have_no_import_circle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import circle in mock_acquirers: " + " -> ".join(cycle or [])


def test_the_mock_acquirers_import_only_their_layers() -> None:
    breaches = sorted(
        f"{module} imports {name}"
        for module, path in module_files(PACKAGE).items()
        for name in imported_names(module, path)
        if name.split(".")[0] in OURS - ALLOWED
    )
    assert not breaches, breaches


def test_the_admin_api_does_not_know_the_app() -> None:
    graph = import_graph(PACKAGE)
    assert "mock_acquirers.app" not in graph["mock_acquirers.admin"]
    assert "mock_acquirers.admin" in graph["mock_acquirers.app"]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_the_cycle_finder_finds_circles(
    graph: dict[str, set[str]], expected: list[str] | None
) -> None:
    assert find_cycle(graph) == expected


def test_the_walker_sees_imports_under_type_checking_and_in_functions(tmp_path: Path) -> None:
    source = tmp_path / "admin.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from mock_acquirers.app import MockAcquirerService\n"
        "def f():\n"
        "    import mock_acquirers.state\n"
        "from .faults import Fault\n",
        encoding="utf-8",
    )
    names = imported_names("mock_acquirers.admin", source)
    assert {"mock_acquirers.app", "mock_acquirers.state", "mock_acquirers.faults"} <= names
