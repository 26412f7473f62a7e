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

    def __init__(self, progress: Progress, policies: list[str], replications: int) -> None:
        self._progress = progress
        self._replications = replications
        self._tasks: dict[str, TaskID] = {
            name: progress.add_task(name, total=replications * 100, replication=0)
            for name in policies
        }

    def callback(self, policy: str) -> Callable[[int, float], None]:
        task = self._tasks[policy]

        def report(replication: int, fraction: float) -> None:
            done = replication * 100 + round(fraction * 100)
            self._progress.update(task, completed=done, replication=replication + 1)

        return report


@contextmanager
def simulation_progress(
    console: Console, policies: list[str], replications: int, disable: bool = False
) -> Iterator[SimulationProgress]:
    columns = (
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn(f"replication {{task.fields[replication]}}/{replications}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=disable, transient=False) as progress:
        yield SimulationProgress(progress, policies, replications)
