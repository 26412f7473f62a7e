"""The package layering of docs/architecture.md, checked against every import in the code.

Each package may import only the packages its row of the table names (imports inside
functions and under TYPE_CHECKING count too: a lazy import is still a dependency), and
no module imports itself back through others at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package (or sub-package) -> what it may import besides itself; the most specific row
# wins. runtime.compiled (the stale-build guard) must run before any compiled module
# loads, so every package with compiled modules imports it first thing.
GUARD = "runtime.compiled"
ALLOWED: dict[str, set[str]] = {
    "scenarios": {GUARD},
    "router.engine": {"scenarios", GUARD},
    "router": {"router.engine", "scenarios", "results", "runtime"},
    "mock_acquirers": {"scenarios", "runtime"},
    "simulator": {"scenarios", "router.engine", "mock_acquirers.behaviour", "results", GUARD},
    "results": {"scenarios", GUARD},
    "loadtests": {"scenarios", "results", "runtime"},
    "reports": {"results", "scenarios"},
    "runtime": set(),
    "routelab": {"*"},
}
OPTIONAL: dict[str, set[str]] = {
    # packages added by later work; their rows hold once they exist
    "calibration": {"scenarios", "results", "reports.figures", GUARD},
    "sweeps": {"scenarios", "results", "simulator", "reports", GUARD},
}
PACKAGES = sorted({p.split(".")[0] for p in [*ALLOWED, *OPTIONAL]})


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] in PACKAGES}


def row(module: str) -> set[str]:
    table = {**ALLOWED, **OPTIONAL}
    for prefix in sorted(table, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return table[prefix] | {prefix}
    raise AssertionError(f"{module} is in no row of the layering table")


def allowed(target: str, permitted: set[str]) -> bool:
    return "*" in permitted or any(target == p or target.startswith(p + ".") for p in permitted)


def test_every_import_follows_the_layering_table() -> None:
    bad = []
    for module, path in sorted(modules().items()):
        permitted = row(module)
        for target in sorted(imports(path, top_level_only=False)):
            known = modules()
            # "from pkg import name" also yields "pkg.name", which may be a class
            if target not in known and target.rpartition(".")[0] in known:
                continue
            if not allowed(target, permitted):
                bad.append(f"{module} imports {target}")
    assert not bad, "imports against docs/architecture.md:\n" + "\n".join(bad)


def test_no_import_circles_at_import_time() -> None:
    mods = modules()
    graph: dict[str, set[str]] = {}
    for module, path in mods.items():
        edges = set()
        for name in imports(path, top_level_only=True):
            target = name
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.add(target)
        graph[module] = edges
    circles: list[str] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                # a package importing its own submodules is how packages work
                cycle = stack[stack.index(nxt) :]
                if not all(m.startswith(nxt + ".") or m == nxt for m in cycle):
                    circles.append(" -> ".join([*cycle, nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_package_of_the_table_exists(package: str) -> None:
    assert (ROOT / package.replace(".", "/")).is_dir()
