"""The repository itself: no merge leftovers, and comments point at files that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = (
    "docs",
    "scenarios",
    "router",
    "mock_acquirers",
    "simulator",
    "results",
    "loadtests",
    "reports",
    "runtime",
    "routelab",
    "calibration",
    "sweeps",
    "benchmarks",
    "examples",
    "notebooks",
    "tests",
)
PATH = re.compile(
    r"\b((?:" + "|".join(TOP) + r")/[A-Za-z0-9_./-]+\.(?:py|md|yaml|ipynb|j2|json))\b"
)


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def test_no_merge_conflict_markers() -> None:
    marker = re.compile(r"^(<{7}|>{7}) ", re.M)
    bad = [
        str(p.relative_to(ROOT))
        for p in tracked("*.py", "*.md", "*.yaml", "*.toml", "*.ipynb", "Makefile")
        if marker.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not bad, f"merge conflict markers in {bad}"


def test_paths_named_in_code_and_docs_exist() -> None:
    missing = set()
    for path in tracked("*.py", "*.md"):
        if path.is_relative_to(ROOT / "tests"):
            continue  # tests name made-up files on purpose (temporary trees, probes)
        for found in PATH.findall(path.read_text(encoding="utf-8")):
            if not (ROOT / found).exists():
                missing.add(f"{path.relative_to(ROOT)}: {found}")
    assert not missing, "paths that do not exist:\n" + "\n".join(sorted(missing))
