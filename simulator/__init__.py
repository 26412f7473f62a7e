"""The SimPy simulator: runs a scenario's routing policy in virtual time."""

from runtime.compiled import ensure_fresh

ensure_fresh()  # first: no stale compiled module may load (runtime/compiled.py)

from simulator.run import SimulationResult, simulate  # noqa: E402 (after the guard)

__all__ = ["SimulationResult", "simulate"]
