"""The Dask executor: replication tasks on a ``dask.distributed`` cluster.

:meth:`DaskExecutor.connect` joins a running cluster (``dask scheduler`` and ``dask
worker`` started with Dask's own command line, see docs/dask.md); :meth:`DaskExecutor.local`
starts a ``LocalCluster`` of worker processes on this machine (tests, benchmarks). Each
scenario is scattered to every worker once (``broadcast``), tasks name it by its future,
and only tallies travel back. Workers must run the same routelab, numpy and simpy as
this process (the same seeds must give the same draws): :meth:`connect` asks every
worker for its versions and refuses a cluster that differs. Imported only when a Dask
executor is asked for: ``distributed`` takes a while to import.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any

from distributed import Client, Future, LocalCluster, as_completed

from scenarios.schema import Scenario
from simulator.executors import (
    Interrupted,
    OnDone,
    OnProgress,
    ReplicationOutcome,
    ReplicationTask,
    SchedulerError,
    _Closing,
    _in_order,
    run_replication,
)

CONNECT_TIMEOUT_S = 10.0
WORKERS_TIMEOUT_S = 30.0
# what must match between this process and every worker for the same seeds to give the
# same figures
MATCHED = ("routelab", "numpy", "simpy")


def versions() -> dict[str, str]:
    """This interpreter's routelab, numpy and simpy versions (and Python's)."""
    found = {name: importlib.metadata.version(name) for name in MATCHED}
    found["python"] = platform.python_version()
    return found


def _worker_versions() -> dict[str, str]:
    import simulator  # noqa: F401  (warms the worker: the first task needs no import)

    return versions()


def _run_task(scenario: Scenario, task: ReplicationTask) -> ReplicationOutcome:
    return run_replication(scenario, task)


class DaskExecutor(_Closing):
    """Tasks on the workers of a Dask cluster, one task per worker thread at a time."""

    name = "dask"

    def __init__(self, client: Client, cluster: LocalCluster | None = None) -> None:
        self.client = client
        self._cluster = cluster
        self._scattered: dict[str, Future[Scenario]] = {}
        self.startup_s = 0.0

    @classmethod
    def connect(cls, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> DaskExecutor:
        """Join the cluster whose scheduler listens at ``address`` (``tcp://HOST:PORT``)."""
        started = time.perf_counter()
        try:
            client = Client(address, timeout=timeout_s, set_as_default=False)
        except Exception as exc:  # OSError, TimeoutError, ValueError for a bad address
            raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        executor = cls(client)
        try:
            executor.check_workers()
        except BaseException:
            client.close()
            raise
        executor.startup_s = time.perf_counter() - started
        return executor

    @classmethod
    def local(cls, n_workers: int = 2, threads_per_worker: int = 1) -> DaskExecutor:
        """A ``LocalCluster`` of ``n_workers`` processes on 127.0.0.1, closed with the
        executor (no dashboard)."""
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
        started = time.perf_counter()
        executor = cls(Client(cluster, set_as_default=False), cluster)
        try:
            executor.check_workers()
        except BaseException:
            executor.close()
            raise
        executor.startup_s = time.perf_counter() - started
        return executor

    def check_workers(self) -> None:
        """Wait for a worker, then refuse workers whose versions differ from ours."""
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise SchedulerError(
                f"the Dask scheduler at {self.address} has no workers "
                f"(none joined within {WORKERS_TIMEOUT_S:g} s)"
            ) from None
        ours = versions()
        theirs: dict[str, dict[str, str]] = self.client.run(_worker_versions)
        for worker, found in sorted(theirs.items()):
            differ = [
                f"{k} {found.get(k)} (here {ours[k]})" for k in MATCHED if found.get(k) != ours[k]
            ]
            if differ:
                raise SchedulerError(
                    f"Dask worker {worker} runs {', '.join(differ)}: every worker needs the "
                    "same routelab, numpy and simpy as this machine (docs/dask.md)"
                )

    @property
    def address(self) -> str:
        return str(self.client.scheduler_info().get("address", "?"))

    @property
    def workers(self) -> int:
        return sum(self.client.nthreads().values())

    def _scenario(self, key: str, scenarios: Mapping[str, Scenario]) -> Future[Scenario]:
        future = self._scattered.get(key)
        if future is None:
            future = self.client.scatter(scenarios[key], broadcast=True, hash=False)
            self._scattered[key] = future
        return future

    def run(
        self,
        scenarios: Mapping[str, Scenario],
        tasks: Sequence[ReplicationTask],
        on_done: OnDone | None = None,
        on_progress: OnProgress | None = None,
    ) -> list[ReplicationOutcome]:
        # per-replication progress would cost a message through the scheduler per step:
        # Dask reports finished tasks only (on_progress is not called)
        finished: dict[int, ReplicationOutcome] = {}
        futures: dict[Any, int] = {}
        try:
            for i, task in enumerate(tasks):
                scenario = self._scenario(task.scenario, scenarios)
                futures[self.client.submit(_run_task, scenario, task, pure=False)] = i
            for future in as_completed(list(futures), loop=self.client.loop):
                i = futures[future]
                finished[i] = future.result()
                if on_done:
                    on_done(i, finished[i])
        except KeyboardInterrupt:
            self._cancel(futures, finished)
            raise Interrupted(finished, len(tasks)) from None
        except BaseException:
            self._cancel(futures, finished)
            raise
        return _in_order(finished, len(tasks))

    def _cancel(self, futures: Mapping[Any, int], finished: Mapping[int, Any]) -> None:
        """Cancel every task not finished; a task already running on a worker runs to
        its end there (Dask cannot stop a running function) and its result is dropped."""
        outstanding = [f for f, i in futures.items() if i not in finished]
        if outstanding:
            try:
                self.client.cancel(outstanding)
            except Exception:  # the scheduler may be gone already: nothing left to cancel
                logging.getLogger(__name__).debug("cancel failed", exc_info=True)

    def close(self) -> None:
        self._scattered.clear()
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
