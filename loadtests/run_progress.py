"""A live run's progress bar (rich), fed from the snapshots the Locust master writes.

The master writes ``{answered_all, expected_payments, approved, payments, ...}`` to its
``--progress-file`` every second; the orchestrator polls the file and moves the bar.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The latest progress snapshot, or None before the first one (or mid-replace)."""
    try:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return data


def describe(snapshot: dict[str, Any]) -> str:
    """One line of what the run is doing: rate, auth rate, trouble if any."""
    elapsed = max(float(snapshot.get("elapsed_s", 0.0)), 1e-9)
    answered = int(snapshot.get("answered_all", 0))
    payments = int(snapshot.get("payments", 0))
    parts = [f"{answered / elapsed:6.1f}/s"]
    if payments:
        parts.append(f"auth {int(snapshot.get('approved', 0)) / payments:.1%}")
    for key, label in (("errors_all", "errors"), ("late_all", "late"), ("dropped_all", "dropped")):
        if snapshot.get(key):
            parts.append(f"{label} {int(snapshot[key])}")
    return "  ".join(parts)


class LoadProgress:
    """A bar over the expected payments of the run (open model) or its seconds (closed)."""

    def __init__(
        self,
        console: Console,
        expected_payments: float | None,
        duration_s: float,
        disable: bool = False,
    ) -> None:
        self._by_payments = expected_payments is not None and math.isfinite(expected_payments)
        total = expected_payments if self._by_payments else duration_s
        self._progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            disable=disable,
            transient=False,
        )
        self._task = self._progress.add_task(
            "starting",
            total=round(total or 1.0),
            unit="payments" if self._by_payments else "s",
            detail="",
        )

    def __enter__(self) -> LoadProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def phase(self, name: str) -> None:
        self._progress.update(self._task, description=name)

    def update(self, snapshot: dict[str, Any]) -> None:
        done = (
            snapshot.get("answered_all", 0) + snapshot.get("errors_all", 0)
            if self._by_payments
            else snapshot.get("elapsed_s", 0.0)
        )
        self._progress.update(
            self._task, completed=round(done), description="load", detail=describe(snapshot)
        )
