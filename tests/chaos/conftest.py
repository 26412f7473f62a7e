"""The chaos suite: real router and mock processes on 127.0.0.1, faults, crashes, floods.

Every test here is marked ``chaos`` and ``e2e``, starts and stops its own processes on
ephemeral ports, and bounds every load loop in time. Figures a test measures (latency
quantiles, counts) are printed in a section at the end of the pytest run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos_kit import FIGURES  # pytest puts this folder on sys.path (rootdir-relative import)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
