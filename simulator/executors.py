"""Executors: where a run's replications are computed (this process, local processes, Dask).

A replication is a picklable :class:`ReplicationTask` (which scenario, which policy, the
run's seed and the replication's index) and its result a :class:`ReplicationOutcome`
(the replication's :class:`~results.tally.Tally` plus the few figures a run reports
beside it). Replication ``r`` of seed ``s`` draws from ``SeedSequence(s, spawn_key=(r,))``,
which is ``replication_seeds(s, n)[r]`` for any ``n``: so every executor, every worker
count and every order of completion gives the same tallies, and a sweep that adds
replications reuses those it already has.

Three executors run the same tasks through :func:`run_replication`:

- :class:`SerialExecutor`: one after another in this process;
- :class:`ProcessExecutor`: a ``concurrent.futures.ProcessPoolExecutor`` of ``spawn``
  processes (fresh interpreters: no numpy/OpenBLAS thread or lock state copied by
  ``fork``, nothing of the parent's threads; the pool costs one interpreter start per
  worker, once);
- :class:`DaskExecutor` (:mod:`simulator.dask_executor`): a ``dask.distributed`` cluster.

Scenarios travel once per worker where the executor can: the process pool's workers get
the table of scenarios when they start, and a scenario a later call brings travels with
its tasks as bytes pickled once and unpickled once per worker; Dask scatters each
scenario to every worker once. Progress and Ctrl-C behave alike on all of them:
``on_done`` is called in the caller's thread for every finished task, ``on_progress``
with a replication's fraction where that is cheap (this process, local processes); a
KeyboardInterrupt cancels what has not finished and raises :class:`Interrupted` holding
what has.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from results.identity import content_hash
from results.tally import Tally
from scenarios.schema import Scenario
from simulator.attempt_log import AttemptLog
from simulator.model import Replication

# on_done(task number, outcome); on_progress(task number, fraction of that replication)
OnDone = Callable[[int, "ReplicationOutcome"], None]
OnProgress = Callable[[int, float], None]

START_METHOD = "spawn"
PROGRESS_STEPS = 50  # the same on every executor: a replication runs in the same steps
_POLL_S = 0.1


def scenario_key(scenario: Scenario) -> str:
    """The key a scenario is known by in a batch: the hash of its whole content."""
    return content_hash(scenario.model_dump(mode="json"))


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class ReplicationTask:
    """One replication: the scenario (by :func:`scenario_key`), the policy, the seed."""

    scenario: str
    policy: str
    seed: int  # the run's seed: the entropy of its seed sequence
    replication: int  # r: the r-th child of SeedSequence(seed)
    # a file the replication writes its attempt log to ("": none); on a cluster it must
    # be a path the worker can write and the caller read (a shared folder)
    attempt_log: str = ""

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed, spawn_key=(self.replication,))


@dataclass(frozen=True, slots=True)
class ReplicationOutcome:
    """What one replication gives back: its tally and what a run reports beside it."""

    tally: Tally
    simulated: int  # payments simulated, warm-up included
    queue_wait_ms: tuple[float, ...]  # mean wait in each acquirer's capacity queue
    compute_s: float  # wall seconds the worker spent running the replication
    # where and when it ran (for overhead figures; not part of any result)
    worker: str = ""
    started_at: float = 0.0  # time.time() on the worker when the replication started
    cpu_s: float = 0.0  # CPU seconds of the worker process meanwhile (below compute_s: shared)

    def report(self) -> dict[str, Any]:
        """Plain data (JSON-safe), for a store of finished tasks."""
        return {
            "tally": self.tally.report(),
            "simulated": self.simulated,
            "queue_wait_ms": list(self.queue_wait_ms),
            "compute_s": self.compute_s,
            "worker": self.worker,
            "started_at": self.started_at,
            "cpu_s": self.cpu_s,
        }

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> ReplicationOutcome:
        return cls(
            Tally.from_report(data["tally"]),
            int(data["simulated"]),
            tuple(float(w) for w in data["queue_wait_ms"]),
            float(data["compute_s"]),
            str(data.get("worker", "")),
            float(data.get("started_at", 0.0)),
            float(data.get("cpu_s", 0.0)),
        )


def run_replication(
    scenario: Scenario,
    task: ReplicationTask,
    progress: Callable[[float], None] | None = None,
) -> ReplicationOutcome:
    """Run one replication: the one function every executor calls."""
    started_at = time.time()
    started = time.perf_counter()
    cpu = time.process_time()
    log = None
    if task.attempt_log:
        log = AttemptLog.to_file(Path(task.attempt_log))
        log.next_replication(task.replication)
    replication = Replication(
        scenario,
        scenario.policy(task.policy),
        task.seed_sequence(),
        progress=progress or _ignore,  # always stepped alike, whoever watches
        progress_steps=PROGRESS_STEPS,
        observer=log,
        propensities=log is not None,
    )
    try:
        tally = replication.run()
    finally:
        if log is not None:
            log.close()
    return ReplicationOutcome(
        tally,
        replication.arrived,
        tuple(q.mean_wait_s * 1000.0 for q in replication.queues),
        time.perf_counter() - started,
        f"{socket.gethostname()}:{os.getpid()}",
        started_at,
        time.process_time() - cpu,
    )


def _ignore(fraction: float) -> None:
    pass


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: outstanding tasks were cancelled; ``finished`` holds the rest."""

    def __init__(self, finished: dict[int, ReplicationOutcome], total: int) -> None:
        super().__init__(f"interrupted: {len(finished)} of {total} tasks finished")
        self.finished = finished
        self.total = total


class ExecutorError(RuntimeError):
    """An executor cannot run tasks (a worker that died, a scheduler out of reach)."""


class SchedulerError(ExecutorError):
    """The cluster asked for cannot be used: out of reach, no workers, other versions."""


class Executor(Protocol):
    """Runs replication tasks; see the module docstring for what every executor promises."""

    name: str

    @property
    def workers(self) -> int:
        """How many tasks it runs at once."""
        ...

    def run(
        self,
        scenarios: Mapping[str, Scenario],
        tasks: Sequence[ReplicationTask],
        on_done: OnDone | None = None,
        on_progress: OnProgress | None = None,
    ) -> list[ReplicationOutcome]:
        """Every task's outcome, in the order of ``tasks`` (raises :class:`Interrupted`)."""
        ...

    def close(self) -> None: ...


class _Closing:
    """Context-manager plumbing every executor shares."""

    def close(self) -> None:
        pass

    def __enter__(self) -> _Closing:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _in_order(outcomes: dict[int, ReplicationOutcome], n: int) -> list[ReplicationOutcome]:
    return [outcomes[i] for i in range(n)]


class SerialExecutor(_Closing):
    """Tasks one after another, in this process."""

    name = "serial"

    @property
    def workers(self) -> int:
        return 1

    def run(
        self,
        scenarios: Mapping[str, Scenario],
        tasks: Sequence[ReplicationTask],
        on_done: OnDone | None = None,
        on_progress: OnProgress | None = None,
    ) -> list[ReplicationOutcome]:
        finished: dict[int, ReplicationOutcome] = {}
        try:
            for i, task in enumerate(tasks):
                report = (lambda f, i=i: on_progress(i, f)) if on_progress else None
                outcome = run_replication(scenarios[task.scenario], task, report)
                finished[i] = outcome
                if on_done:
                    on_done(i, outcome)
        except KeyboardInterrupt:
            raise Interrupted(finished, len(tasks)) from None
        return _in_order(finished, len(tasks))


# --- local processes -------------------------------------------------------------------

# a worker process's own state: the scenarios it was given, where it reports progress
_worker_scenarios: dict[str, Scenario] = {}
_worker_channel: dict[str, Any] = {}


def _start_worker(scenarios: dict[str, Scenario], progress: Any) -> None:
    """Process-pool initializer: Ctrl-C is the parent's business; keep the scenarios."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_scenarios.update(scenarios)
    _worker_channel["progress"] = progress


def _run_in_worker(ticket: tuple[int, int], task: ReplicationTask, shipped: bytes | None) -> Any:
    scenario = _worker_scenarios.get(task.scenario)
    if scenario is None:
        if shipped is None:
            raise ExecutorError(f"worker {os.getpid()} was given no scenario {task.scenario}")
        scenario = _worker_scenarios[task.scenario] = pickle.loads(shipped)
    channel: Any = _worker_channel.get("progress")

    def report(fraction: float) -> None:
        if fraction < 1.0:  # the finished task itself says 1.0
            channel.put((ticket, fraction))

    return run_replication(scenario, task, report if channel is not None else None)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes are spawned: they inherit the disposition
    across exec, so a Ctrl-C at the terminal (sent to the whole process group) never
    interrupts a worker mid-start; the parent handles it and stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ProcessExecutor(_Closing):
    """Tasks in ``workers`` local processes (``spawn``), kept for the executor's life.

    The pool starts at the first :meth:`run` with that call's scenarios in every
    worker; a scenario a later call brings travels with its tasks, pickled once here.
    """

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or default_workers()
        if self._workers < 1:
            raise ValueError(f"workers must be at least 1, got {self._workers}")
        self._pool: ProcessPoolExecutor | None = None
        self._installed: set[str] = set()
        self._shipped: dict[str, bytes] = {}
        self._progress: Any = None
        self._run_number = 0

    @property
    def workers(self) -> int:
        return self._workers

    def _ensure_pool(self, scenarios: Mapping[str, Scenario]) -> ProcessPoolExecutor:
        if self._pool is None:
            context = get_context(START_METHOD)
            self._progress = context.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(dict(scenarios), self._progress),
            )
            self._installed = set(scenarios)
        return self._pool

    def _payload(self, key: str, scenarios: Mapping[str, Scenario]) -> bytes | None:
        if key in self._installed:
            return None
        if key not in self._shipped:
            self._shipped[key] = pickle.dumps(scenarios[key], protocol=pickle.HIGHEST_PROTOCOL)
        return self._shipped[key]

    def run(
        self,
        scenarios: Mapping[str, Scenario],
        tasks: Sequence[ReplicationTask],
        on_done: OnDone | None = None,
        on_progress: OnProgress | None = None,
    ) -> list[ReplicationOutcome]:
        self._run_number += 1
        run_number = self._run_number
        finished: dict[int, ReplicationOutcome] = {}
        futures: dict[Future[Any], int] = {}
        try:
            with _sigint_ignored():
                pool = self._ensure_pool(scenarios)
                for i, task in enumerate(tasks):
                    payload = self._payload(task.scenario, scenarios)
                    futures[pool.submit(_run_in_worker, (run_number, i), task, payload)] = i
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                self._drain_progress(run_number, on_progress)
                for future in done:
                    i = futures[future]
                    finished[i] = future.result()
                    if on_done:
                        on_done(i, finished[i])
        except KeyboardInterrupt:
            self._abandon()
            raise Interrupted(finished, len(tasks)) from None
        except BrokenProcessPool as exc:
            self._abandon()
            raise ExecutorError(f"a worker process died: {exc}") from None
        except BaseException:
            self._abandon()  # a task failed: stop the others, the caller sees its error
            raise
        return _in_order(finished, len(tasks))

    def _drain_progress(self, run_number: int, on_progress: OnProgress | None) -> None:
        channel = self._progress
        while channel is not None and not channel.empty():
            (number, i), fraction = channel.get()
            if on_progress and number == run_number:
                on_progress(i, fraction)

    def _abandon(self) -> None:
        """Cancel what has not started, stop the workers now (a replication running in
        one is lost, not waited for) and forget the pool."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor has no public way to stop a running task before 3.14
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)
        self._installed = set()
        self._progress = None  # a worker stopped mid-put may hold the queue's lock

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def make_executor(
    workers: int | None = None, scheduler: str | None = None, tasks: int | None = None
) -> Executor:
    """The executor the command line asks for: a Dask cluster at ``scheduler``, else
    ``workers`` local processes (default: the machine's cores, never more than
    ``tasks``), and this process alone when that makes one."""
    if scheduler is not None:
        from simulator.dask_executor import DaskExecutor

        return DaskExecutor.connect(scheduler)
    count = workers or default_workers()
    if tasks is not None:
        count = min(count, max(1, tasks))
    return SerialExecutor() if count == 1 else ProcessExecutor(count)
