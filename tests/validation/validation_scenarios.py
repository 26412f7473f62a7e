"""Scenarios, queueing formulas and observers shared by the simulator validation tests.

The scenarios are built as plain dicts and go through the one scenario loader, so the
tests exercise exactly what a user's YAML file would. The formulas are textbook
queueing theory, written out here independently of the simulator's own code.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from scenarios.loader import validate_scenario
from scenarios.schema import Scenario
from scenarios.streams import replication_seeds
from simulator.capacity import CapacityQueue
from simulator.model import Replication

# Large enough that the router never gives up on an attempt within these runs.
NEVER_MS = 1e9

# Seeds are fixed once, up front, and never changed to turn a test green: a check that
# fails on them is investigated (more seeds, more replications), not re-rolled.
SEED = 20261121

# Confidence levels of the checks of simulated figures against theory. The headline
# checks (mean queueing wait against Erlang C / Pollaczek-Khinchine, auth rate against
# its analytical value) use the 95 % interval the run summary itself reports. Every
# other comparison (about thirty more) uses 99.9 %, so that together they raise a
# false alarm on a correct simulator about 3 % of the time rather than four times in
# five; each such check also asserts its interval is narrow enough to have power.
LEVEL = 0.95
STRICT_LEVEL = 0.999

# One network, one domestic country, one currency: a single payment segment.
SINGLE_SEGMENT_MIX: dict[str, Any] = {
    "networks": {"visa": 1.0},
    "issuer_countries": {"DE": 1.0},
    "currencies": {"EUR": 1.0},
    "amount": {"dist": "fixed", "value": 1000},
}


def no_timeout_retry(max_attempts: int) -> dict[str, Any]:
    """A retry policy whose attempt timeout and latency budget never bite."""
    return {"max_attempts": max_attempts, "attempt_timeout_ms": NEVER_MS, "budget_ms": NEVER_MS}


def single_queue_scenario(
    latency: dict[str, Any],
    capacity: int,
    rate_per_s: float,
    duration_s: float,
    warmup_s: float = 0.0,
) -> Scenario:
    """One acquirer behind a FIFO of ``capacity`` slots fed by Poisson payments: M/G/c.

    No technical errors, no hung requests, one attempt per payment and no router
    timeout, so every payment is exactly one customer of the acquirer's queue.
    """
    return validate_scenario(
        {
            "name": "queue-validation",
            "warmup_s": warmup_s,
            "merchant": {"country": "DE"},
            "acquirers": [
                {
                    "name": "acq_a",
                    "latency": latency,
                    "capacity": capacity,
                    "technical_error_rate": 0.0,
                    "timeout_rate": 0.0,
                    "approval": {"base": 0.9},
                }
            ],
            "traffic": {
                "duration_s": duration_s,
                "arrival": {"profile": "constant", "rate_per_s": rate_per_s},
                "mix": SINGLE_SEGMENT_MIX,
                "issuer_declines": {"base": {}},
            },
            "policies": [
                {
                    "name": "only-a",
                    "strategy": {"type": "priority"},
                    "default": ["acq_a"],
                    "retry": no_timeout_retry(1),
                }
            ],
        },
        "<queue-validation>",
    )


# --- queueing theory -------------------------------------------------------------------


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arriving customer waits in M/M/c (Erlang's C formula).

    Computed through the Erlang B recursion, which stays stable for any ``servers``.
    """
    if offered_load >= servers:
        raise ValueError("offered load must be below the number of servers")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return servers * blocking / (servers - offered_load * (1.0 - blocking))


def mmc_mean_wait_s(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean time in queue of M/M/c: Wq = C(c, a) / (c·mu − lambda)."""
    offered = arrival_rate / service_rate
    return erlang_c(servers, offered) / (servers * service_rate - arrival_rate)


def mg1_mean_wait_s(arrival_rate: float, mean_service_s: float, second_moment_s2: float) -> float:
    """Mean time in queue of M/G/1 (Pollaczek-Khinchine): lambda·E[S²] / (2(1 − rho))."""
    rho = arrival_rate * mean_service_s
    if rho >= 1.0:
        raise ValueError("utilisation must be below 1")
    return arrival_rate * second_moment_s2 / (2.0 * (1.0 - rho))


# --- observing a replication from inside its SimPy environment -------------------------


class QueueObserver:
    """Watches one acquirer's queue of a replication without touching the simulator.

    It adds two SimPy processes to the replication's environment before it runs:

    - a snapshot at ``start_s`` of the queue's admitted count and summed wait, so the
      mean wait can be taken over arrivals after the warm-up only (the queue's own
      ``mean_wait_s`` covers the whole run, empty start included);
    - a probe at Poisson instants in ``[start_s, end_s)`` reading ``in_system``: by
      PASTA its samples are unbiased for the time-average number in system and for the
      fraction of time every slot is busy.
    """

    def __init__(
        self,
        replication: Replication,
        acquirer: int,
        start_s: float,
        end_s: float,
        probe_rate_per_s: float,
        rng: np.random.Generator,
    ) -> None:
        self.queue: CapacityQueue = replication.queues[acquirer]
        self.start_s = start_s
        self.end_s = end_s
        self._probe_rate = probe_rate_per_s
        self._rng = rng
        self.in_system: list[int] = []
        self._admitted_at_start = 0
        self._wait_at_start_s = 0.0
        env = replication.env
        env.process(self._snapshot(env))
        env.process(self._probe(env))

    def _snapshot(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        # Created before the source process, so at an equal time this fires first:
        # the snapshot never includes a payment arriving exactly at start_s.
        yield env.timeout(self.start_s)
        self._admitted_at_start = self.queue.admitted
        self._wait_at_start_s = self.queue.total_wait_s

    def _probe(self, env: simpy.Environment) -> Generator[simpy.Event, object, None]:
        n_expected = int(self._probe_rate * (self.end_s - self.start_s) * 1.2) + 100
        gaps = self._rng.exponential(1.0 / self._probe_rate, n_expected)
        t = self.start_s
        for gap in gaps.tolist():
            t += gap
            if t >= self.end_s:
                return
            yield env.timeout(t - env.now)
            self.in_system.append(self.queue.in_system(t))
        raise RuntimeError("probe ran out of pre-drawn gaps")  # cannot happen at 1.2x margin

    @property
    def mean_wait_after_start_s(self) -> float:
        """Mean queueing wait of the attempts admitted at or after ``start_s``."""
        admitted = self.queue.admitted - self._admitted_at_start
        return (self.queue.total_wait_s - self._wait_at_start_s) / admitted

    @property
    def mean_in_system(self) -> float:
        """Time-average number of attempts queued or in service (from the probes)."""
        return float(np.mean(self.in_system))

    def fraction_all_busy(self) -> float:
        """Fraction of probe instants at which every slot was taken."""
        samples = np.asarray(self.in_system)
        return float(np.mean(samples >= self.queue.capacity))


def warm_mean_waits_s(scenario: Scenario, seed: int, replications: int) -> list[float]:
    """Per replication, the mean queueing wait of attempts arriving after the warm-up."""
    waits = []
    for r, seq in enumerate(replication_seeds(seed, replications)):
        _, observer = run_observed(scenario, seq, probe_rate_per_s=1.0, probe_seed=r)
        waits.append(observer.mean_wait_after_start_s)
    return waits


def run_observed(
    scenario: Scenario, seed: np.random.SeedSequence, probe_rate_per_s: float, probe_seed: int
) -> tuple[Replication, QueueObserver]:
    """Run one replication of the scenario's first policy with a :class:`QueueObserver`
    on its first acquirer over ``[warmup_s, duration_s)``."""
    replication = Replication(scenario, scenario.policy(), seed)
    observer = QueueObserver(
        replication,
        0,
        scenario.warmup_s,
        scenario.traffic.duration_s,
        probe_rate_per_s,
        np.random.default_rng(probe_seed),
    )
    replication.run()
    return replication, observer
