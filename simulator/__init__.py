"""The SimPy simulator: runs a scenario's routing policy in virtual time.

The run functions (:mod:`simulator.run`) load on first use: a worker process that only
runs replications (:mod:`simulator.executors`) never imports the summary builder and its
statistics (scipy.stats), which saves a fraction of a second per worker start.
"""

from typing import TYPE_CHECKING, Any

from runtime.compiled import ensure_fresh

ensure_fresh()  # first: no stale compiled module may load (runtime/compiled.py)

from simulator.executors import (  # noqa: E402 (after the guard)
    Executor,
    ExecutorError,
    Interrupted,
    ProcessExecutor,
    ReplicationOutcome,
    ReplicationTask,
    SerialExecutor,
    make_executor,
)

if TYPE_CHECKING:
    from simulator.run import SimulationResult, result_of, simulate, simulate_policies

_RUN = ("SimulationResult", "result_of", "simulate", "simulate_policies")


def __getattr__(name: str) -> Any:
    if name in _RUN:
        from simulator import run

        return getattr(run, name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


__all__ = [
    "Executor",
    "ExecutorError",
    "Interrupted",
    "ProcessExecutor",
    "ReplicationOutcome",
    "ReplicationTask",
    "SerialExecutor",
    "SimulationResult",
    "make_executor",
    "result_of",
    "simulate",
    "simulate_policies",
]
