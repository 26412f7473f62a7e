"""Repository-wide pytest policy.

- In CI a skipped test is a failure, never silent.
- The simulator's hot modules are compiled with mypyc (see setup.py); Python imports a
  compiled module in preference to its source, so a compiled module older than its
  source would test stale code. The session stops with the fix instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parent


def stale_compiled_modules() -> list[str]:
    stale = []
    for compiled in ROOT.glob("*/**/*.cpython-*.so"):
        if ".venv" in compiled.parts:
            continue
        source = compiled.with_name(compiled.name.split(".", 1)[0] + ".py")
        if source.exists() and source.stat().st_mtime > compiled.stat().st_mtime:
            stale.append(str(source.relative_to(ROOT)))
    return stale


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = stale_compiled_modules()
    if stale:
        pytest.exit(
            f"compiled modules are older than their source ({', '.join(stale)}): "
            "run `make install` to recompile (or `make clean` for pure Python)",
            returncode=2,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (skips are not allowed there): {report.longrepr}"
