"""Replications of a scenario under one policy, pooled into the run result contract."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results.contract import LatencyHistogram, RunSummary, write_run
from results.identity import simulated_identity
from results.summary import FROM_BEHAVIOUR_MODEL, build_summary, pool, timeseries
from results.tally import Tally
from scenarios.schema import Scenario
from scenarios.streams import replication_seeds
from simulator.attempt_log import AttemptLog
from simulator.model import Replication
from simulator.yardsticks import OracleRuns

# progress(replication index, fraction of that replication done)
Progress = Callable[[int, float], None]


@dataclass
class SimulationResult:
    """A finished simulated run: the summary plus the files that go next to it."""

    summary: RunSummary
    timeseries: list[dict[str, Any]]
    histogram: LatencyHistogram
    queue_wait_ms: dict[str, float]

    def write(self, out_dir: Path) -> Path:
        return write_run(out_dir, self.summary, self.timeseries, self.histogram)


def simulate(
    scenario: Scenario,
    policy: str | None = None,
    *,
    seed: int | None = None,
    replications: int | None = None,
    progress: Progress | None = None,
    attempt_log: Path | None = None,
    oracle: OracleRuns | None = None,
) -> SimulationResult:
    """Run ``replications`` independent replications and pool them.

    Replication ``r`` of every policy uses the same seed, so policies run with the same
    ``seed`` see the same payments and acquirer answers (common random numbers).
    ``attempt_log`` names a file (Parquet, or CSV for ``.csv``) to write one row per
    attempt to (results/attempt_log.py); decisions then carry their first-choice
    probability even where it must be estimated. With ``oracle``, the oracle runs on the
    same seeds too (once per set-up, see ``simulator.yardsticks``) and the summary carries
    the yardsticks against it; the time series gains the oracle's approvals per bucket
    (``oracle_approved``).
    """
    chosen = scenario.policy(policy)
    seed = scenario.seed if seed is None else seed
    n_reps = scenario.replications if replications is None else replications
    started = time.perf_counter()
    tallies: list[Tally] = []
    waits: dict[str, list[float]] = {a: [] for a in scenario.acquirer_names}
    simulated = 0
    log = AttemptLog.to_file(attempt_log) if attempt_log is not None else None
    for r, seq in enumerate(replication_seeds(seed, n_reps)):
        report = (lambda f, r=r: progress(r, f)) if progress else None
        if log is not None:
            log.next_replication(r)
        replication = Replication(
            scenario, chosen, seq, progress=report, observer=log, propensities=log is not None
        )
        tallies.append(replication.run())
        simulated += replication.arrived
        for name, queue in zip(scenario.acquirer_names, replication.queues, strict=True):
            waits[name].append(queue.mean_wait_s * 1000.0)
    if log is not None:
        log.close()
    wall = time.perf_counter() - started
    summary = summarise(scenario, chosen.name, seed, tallies, wall, simulated / wall)
    extra: dict[str, list[int]] = {}
    if oracle is not None:
        yardsticks, oracle_tallies = oracle.yardsticks_for(scenario, chosen, seed, tallies)
        summary = summary.model_copy(update={"yardsticks": yardsticks})
        extra["oracle_approved"] = pool(oracle_tallies).series_approved
    histogram = LatencyHistogram()
    for tally in tallies:
        histogram.merge(tally.latency)
    return SimulationResult(
        summary=summary,
        timeseries=timeseries(tallies, scenario, extra_columns=extra),
        histogram=histogram,
        queue_wait_ms={a: sum(w) / len(w) for a, w in waits.items()},
    )


def summarise(
    scenario: Scenario,
    policy: str,
    seed: int,
    tallies: list[Tally],
    wall_seconds: float,
    payments_per_second: float,
) -> RunSummary:
    """Pool replication tallies into one :class:`RunSummary` with 95 % CIs."""
    return build_summary(
        tallies,
        scenario,
        simulated_identity(scenario, scenario.policy(policy), seed, len(tallies)),
        duration_s=scenario.traffic.duration_s,
        warmup_s=scenario.warmup_s,
        wall_seconds=wall_seconds,
        reversed_approvals_source=FROM_BEHAVIOUR_MODEL,
        engine_figures={"sim_payments_per_second": round(payments_per_second, 1)},
    )
