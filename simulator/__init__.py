"""The SimPy simulator: runs a scenario's routing policy in virtual time."""

from simulator.run import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
