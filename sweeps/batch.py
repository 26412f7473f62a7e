"""The (point, replication) tasks of a sweep or a tuning: stored ones reused, the rest run.

A :class:`Batch` looks every task up in the :class:`~sweeps.store.TaskStore` first, runs
only the missing ones on an executor, stores each as it finishes (so Ctrl-C loses only
the replications that were running), and gives every point's outcomes back in
replication order. Replication ``r`` of every point uses the same seed (common random
numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulator.executors import Executor, Interrupted, ReplicationOutcome, ReplicationTask
from simulator.run import SimulationResult, result_of
from sweeps.plan import SweepPoint
from sweeps.store import TaskStore

# progress(task number in the batch, fraction of that replication done)
TaskProgress = Callable[[int, float], None]


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: ``finished`` of ``total`` tasks are done (and stored)."""

    def __init__(self, finished: int, total: int) -> None:
        super().__init__(f"{finished} of {total} tasks finished")
        self.finished = finished
        self.total = total


@dataclass(frozen=True)
class Job:
    point: SweepPoint
    replication: int


class Batch:
    """Every point of ``points`` × replications ``0..replications-1``, with ``seed``."""

    def __init__(
        self,
        points: Sequence[SweepPoint],
        seed: int,
        replications: int,
        store: TaskStore | None = None,
    ) -> None:
        self.points = list(points)
        self.seed = seed
        self.replications = replications
        self.store = store
        self.jobs = [Job(p, r) for p in self.points for r in range(replications)]
        self.outcomes: dict[int, ReplicationOutcome] = {}
        for j, job in enumerate(self.jobs):
            found = store.load(self._key(job)) if store is not None else None
            if found is not None:
                self.outcomes[j] = found
        self.stored = sorted(self.outcomes)  # task numbers found in the store

    def _key(self, job: Job) -> str:
        return job.point.task_key(self.seed, job.replication)

    @property
    def total(self) -> int:
        return len(self.jobs)

    @property
    def todo(self) -> list[int]:
        return [j for j in range(len(self.jobs)) if j not in self.outcomes]

    def run(self, executor: Executor, progress: TaskProgress | None = None) -> None:
        """Run the missing tasks; raises :class:`BatchInterrupted` on Ctrl-C."""
        todo = self.todo
        if not todo:
            return
        tasks = [
            ReplicationTask(
                self.jobs[j].point.executor_key,
                self.jobs[j].point.policy,
                self.seed,
                self.jobs[j].replication,
            )
            for j in todo
        ]
        scenarios = {p.executor_key: p.scenario for p in self.points}

        def done(i: int, outcome: ReplicationOutcome) -> None:
            j = todo[i]
            self.outcomes[j] = outcome
            if self.store is not None:
                job = self.jobs[j]
                about = {
                    "point": job.point.text,
                    "policy": job.point.policy,
                    "seed": self.seed,
                    "replication": job.replication,
                }
                self.store.save(self._key(job), outcome, about)
            if progress:
                progress(j, 1.0)

        def step(i: int, fraction: float) -> None:
            if progress:
                progress(todo[i], fraction)

        try:
            executor.run(scenarios, tasks, done, step)
        except Interrupted:
            raise BatchInterrupted(len(self.outcomes), self.total) from None

    def point_outcomes(self, point: SweepPoint) -> list[ReplicationOutcome]:
        """``point``'s outcomes in replication order (after :meth:`run`)."""
        k = self.points.index(point) * self.replications
        return [self.outcomes[j] for j in range(k, k + self.replications)]

    def results(self) -> dict[str, SimulationResult]:
        """Each point's pooled run, by label. A point's ``wall_seconds`` is the compute
        time of its replications (they may have run anywhere, in any order)."""
        results: dict[str, SimulationResult] = {}
        for point in self.points:
            outcomes = self.point_outcomes(point)
            compute = sum(o.compute_s for o in outcomes)
            results[point.label] = result_of(
                point.scenario, point.policy, self.seed, outcomes, compute
            )
        return results
