"""Progress bars for long runs (rich), fed by the simulator's progress callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class SimulationProgress:
    """One bar per policy; each advances over replications × simulated time."""

    def __init__(self, progress: Progress, replications: dict[str, int]) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {
            name: progress.add_task(name, total=reps * 100, replication=0, replications=reps)
            for name, reps in replications.items()
        }

    def callback(self, policy: str) -> Callable[[int, float], None]:
        task = self._tasks[policy]

        def report(replication: int, fraction: float) -> None:
            done = replication * 100 + round(fraction * 100)
            self._progress.update(task, completed=done, replication=replication + 1)

        return report


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
    columns = (
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("replication {task.fields[replication]}/{task.fields[replications]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=disable, transient=False) as progress:
        yield SimulationProgress(progress, {name: counts[name] for name in policies})
