"""Repository-wide pytest policy.

- In CI a test that does not run is a failure, never silent: a skip (in a test, a
  fixture or a whole module, importorskip included) and an expected failure (xfail)
  alike. `.ci/run` sets CI=true.
- The simulator's hot modules are compiled with mypyc (see setup.py); Python imports a
  compiled module in preference to its source, so a compiled module whose source changed
  since it was compiled would test stale code, and tests of stale code are worthless.
  The session stops with the fix instead: runtime/compiled.py's guard, asked to refuse,
  before any conftest or test imports a compiled module.
"""

from __future__ import annotations

import os

import pytest

from runtime.compiled import ensure_fresh

# The first call decides for the process; this one runs before tests/conftest.py imports
# anything of ours. A stale build: one line with the rebuild hint, exit code 2.
ensure_fresh("refuse")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _not_run(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """Why a report says something did not run (skip or xfail), or None."""
    if hasattr(report, "wasxfail"):
        return "xfail"
    if report.skipped:
        return "skipped"
    return None


def _fail_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _not_run(report)
    if IN_CI and reason is not None:
        if hasattr(report, "wasxfail"):
            del report.wasxfail  # pytest does not count an xfail's failure as one
        report.outcome = "failed"
        report.longrepr = f"{reason} in CI (tests that do not run fail there): {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    _fail_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    # a module-level skip (pytest.skip(allow_module_level=True), importorskip) skips
    # the whole module at collection, before any test report exists
    outcome = yield
    _fail_in_ci(outcome.get_result())
