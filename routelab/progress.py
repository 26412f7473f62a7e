"""Progress bars for long runs (rich), fed by the executors' progress callbacks.

Replications finish in any order when they run in parallel, so a bar counts the
fraction done of every replication (1.0 once it finished; Dask reports finished
replications only) rather than assuming they run one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class FractionBar:
    """One bar over ``total`` tasks, each counted by the fraction of it done."""

    def __init__(self, progress: Progress, label: str, total: int, done: int = 0) -> None:
        self._progress = progress
        self._fractions = [1.0] * done + [0.0] * (total - done)
        self._task = progress.add_task(label, total=max(total, 1) * 100, done=done, tasks=total)
        self._refresh()

    def advance(self, index: int, fraction: float) -> None:
        """Task ``index`` (from 0) is ``fraction`` done; 1.0 once it finished."""
        if fraction > self._fractions[index]:
            self._fractions[index] = min(1.0, fraction)
            self._refresh()

    def _refresh(self) -> None:
        done = sum(1 for f in self._fractions if f >= 1.0)
        completed = round(100 * sum(self._fractions))
        self._progress.update(self._task, completed=completed, done=done)


def _columns(unit: str) -> tuple[ProgressColumn, ...]:
    return (
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn(f"{{task.fields[done]}}/{{task.fields[tasks]}} {unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


class SimulationProgress:
    """One bar per policy; each advances over its replications."""

    def __init__(self, progress: Progress, replications: dict[str, int]) -> None:
        self._bars = {
            name: FractionBar(progress, name, reps) for name, reps in replications.items()
        }

    def callback(self, policy: str) -> Callable[[int, float], None]:
        """``progress(replication, fraction)`` for one policy's bar."""
        return self._bars[policy].advance

    def report(self, policy: str, replication: int, fraction: float) -> None:
        """``progress(policy, replication, fraction)``, as ``simulate_policies`` calls it."""
        self._bars[policy].advance(replication, fraction)


@contextmanager
def simulation_progress(
    console: Console,
    policies: list[str],
    replications: int | dict[str, int],
    disable: bool = False,
) -> Iterator[SimulationProgress]:
    """Bars for ``policies``; ``replications`` is one count for all, or one per policy."""
    counts = (
        replications if isinstance(replications, dict) else dict.fromkeys(policies, replications)
    )
    columns = _columns("replications")
    with Progress(*columns, console=console, disable=disable, transient=False) as progress:
        yield SimulationProgress(progress, {name: counts[name] for name in policies})


@contextmanager
def task_progress(
    console: Console, label: str, total: int, done: int = 0, disable: bool = False
) -> Iterator[FractionBar]:
    """One bar over ``total`` tasks of which ``done`` finished before (a resumed sweep)."""
    with Progress(*_columns("tasks"), console=console, disable=disable) as progress:
        yield FractionBar(progress, label, total, done)
