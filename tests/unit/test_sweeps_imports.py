"""Layers, read from the source with ``ast``: sweeps sits on the simulator and results,
and nothing below it imports it (nor the command line)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    "sweeps",
}
# of our packages, what each may import (reports only for its chart style and templates)
ALLOWED = {
    "sweeps": {"sweeps", "scenarios", "results", "simulator", "reports", "runtime"},
    "simulator": {"simulator", "scenarios", "router", "mock_acquirers", "results", "runtime"},
}


def imports(package: str) -> dict[str, set[str]]:
    """Module file -> the top-level packages of ours it imports (anywhere in the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & OURS
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_its_layers(package: str) -> None:
    breaches = {
        module: sorted(names - ALLOWED[package])
        for module, names in imports(package).items()
        if names - ALLOWED[package]
    }
    assert not breaches


def test_simulator_router_and_results_never_import_sweeps() -> None:
    for package in ("simulator", "router", "results", "scenarios", "reports"):
        for module, names in imports(package).items():
            assert "sweeps" not in names, module
