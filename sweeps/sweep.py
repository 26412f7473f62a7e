"""Running a sweep: every (point, replication) task of a plan, resumable, then the analysis.

``Sweep(plan, out)`` looks up the tasks already stored under ``out/tasks`` (see
:mod:`sweeps.store`); :meth:`Sweep.run` runs the rest on an executor and pools every
point. Started again after Ctrl-C, or with a changed grid, it runs only the tasks it
does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.executors import Executor, SerialExecutor
from simulator.run import SimulationResult
from sweeps.analysis import Direction, SweepAnalysis, analyse
from sweeps.batch import Batch, TaskProgress
from sweeps.objective import Objective, parse_objective
from sweeps.plan import SweepPlan
from sweeps.store import TASKS_DIR, TaskStore

DEFAULT_OBJECTIVE = "auth_rate"


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: every point's pooled run and what the analysis found."""

    plan: SweepPlan
    results: dict[str, SimulationResult]
    analysis: SweepAnalysis
    ran: int  # tasks run this time
    reused: int  # tasks found in the store


class Sweep:
    """A plan's tasks, with those already stored in ``out`` (if given) counted as done."""

    def __init__(self, plan: SweepPlan, out: Path | None = None) -> None:
        self.plan = plan
        store = TaskStore(out / TASKS_DIR) if out is not None else None
        self.batch = Batch(plan.points, plan.seed, plan.replications, store)

    @property
    def total(self) -> int:
        return self.batch.total

    @property
    def stored(self) -> list[int]:
        """Numbers of the tasks found in the store (0 .. total-1)."""
        return list(self.batch.stored)

    def run(
        self,
        executor: Executor | None = None,
        progress: TaskProgress | None = None,
        objective: Objective | str = DEFAULT_OBJECTIVE,
        direction: Direction = "maximize",
    ) -> SweepResult:
        """Run the missing tasks (default: in this process) and analyse every point.

        Raises :class:`~sweeps.batch.BatchInterrupted` on Ctrl-C, after storing every
        task that finished.
        """
        chosen = parse_objective(objective) if isinstance(objective, str) else objective
        reused = len(self.batch.stored)
        self.batch.run(executor or SerialExecutor(), progress)
        results = self.batch.results()
        analysis = analyse(self.plan.points, results, chosen, direction)
        return SweepResult(self.plan, results, analysis, self.total - reused, reused)


def run_sweep(
    plan: SweepPlan,
    out: Path | None = None,
    executor: Executor | None = None,
    objective: Objective | str = DEFAULT_OBJECTIVE,
    direction: Direction = "maximize",
) -> SweepResult:
    """``Sweep(plan, out).run(executor, objective=objective, direction=direction)``."""
    return Sweep(plan, out).run(executor, objective=objective, direction=direction)
