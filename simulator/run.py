"""Replications of a scenario under one policy, pooled into the run result contract."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results.contract import LatencyHistogram, RunSummary, write_run
from results.identity import simulated_identity
from results.summary import FROM_BEHAVIOUR_MODEL, build_summary, pool, timeseries
from results.tally import Tally
from scenarios.schema import Scenario
from simulator.attempt_log import join_parts
from simulator.executors import (
    Executor,
    ReplicationOutcome,
    ReplicationTask,
    SerialExecutor,
    scenario_key,
)
from simulator.yardsticks import OracleRuns

# progress(replication index, fraction of that replication done)
Progress = Callable[[int, float], None]
# progress(policy, replication index, fraction of that replication done)
PolicyProgress = Callable[[str, int, float], None]
# the name progress reports the oracle's replications under (no policy can be named so)
ORACLE_TASKS = "(oracle)"


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
    executor: Executor | None = None,
    attempt_log: Path | None = None,
    oracle: OracleRuns | None = None,
) -> SimulationResult:
    """Run ``replications`` independent replications and pool them.

    Replication ``r`` of every policy uses the same seed, so policies run with the same
    ``seed`` see the same payments and acquirer answers (common random numbers). The
    replications run on ``executor`` (default: one after another in this process); the
    figures are the same on every executor. ``attempt_log`` names a file (Parquet, or
    CSV for ``.csv``) to write one row per attempt to (results/attempt_log.py);
    decisions then carry their first-choice probability even where it must be
    estimated. With ``oracle``, the oracle runs on the same seeds too (once per set-up,
    see ``simulator.yardsticks``) and the summary carries the yardsticks against it; the
    time series gains the oracle's approvals per bucket (``oracle_approved``).
    """
    chosen = scenario.policy(policy).name

    def report(name: str, r: int, fraction: float) -> None:
        if progress is not None and name == chosen:  # not the oracle's replications
            progress(r, fraction)

    results = simulate_policies(
        scenario,
        [chosen],
        seed=seed,
        replications=replications,
        progress=report if progress else None,
        executor=executor,
        attempt_logs={chosen: attempt_log} if attempt_log is not None else None,
        oracle=oracle,
    )
    return results[chosen]


def simulate_policies(
    scenario: Scenario,
    policies: Sequence[str],
    *,
    seed: int | None = None,
    replications: int | None = None,
    progress: PolicyProgress | None = None,
    executor: Executor | None = None,
    attempt_logs: Mapping[str, Path] | None = None,
    oracle: OracleRuns | None = None,
) -> dict[str, SimulationResult]:
    """:func:`simulate` for several policies at once: all their replications are tasks
    of one batch, so a parallel executor keeps every worker busy until the last one.

    ``progress(policy, replication, fraction)`` is called as replications advance (in
    any order) and with 1.0 when one finishes. A policy's ``wall_seconds`` is the run's
    wall time apportioned by the compute time of its replications. Ctrl-C raises
    :class:`~simulator.executors.Interrupted`. ``attempt_logs`` maps a policy to the file
    its attempt log goes to: each replication writes a part next to it (on a cluster, a
    folder the workers share), joined in replication order at the end. ``oracle``: see
    :func:`simulate`; the oracle replications it lacks run in the same batch, reported
    to ``progress`` as :data:`ORACLE_TASKS`, numbered from 0 (set-up by set-up).
    """
    seed = scenario.seed if seed is None else seed
    n_reps = scenario.replications if replications is None else replications
    names = [scenario.policy(name).name for name in policies]
    key = scenario_key(scenario)
    logs = attempt_logs or {}
    parts = {
        name: [logs[name].with_name(f"{logs[name].name}.r{r}.part") for r in range(n_reps)]
        for name in names
        if name in logs
    }
    tasks = [
        ReplicationTask(key, name, seed, r, str(parts[name][r]) if name in parts else "")
        for name in names
        for r in range(n_reps)
    ]
    scenarios = {key: scenario}
    oracles: list[str] = []
    wanted = (
        oracle.wanted(scenario, [scenario.policy(n) for n in names], seed, n_reps)
        if oracle
        else None
    )
    if wanted is not None:  # the oracle's replications go in the same batch
        oracle_key = scenario_key(wanted)
        scenarios[oracle_key] = wanted
        oracles = [p.name for p in wanted.policies]
        tasks += [ReplicationTask(oracle_key, o, seed, r) for o in oracles for r in range(n_reps)]
    ours = len(names) * n_reps

    def report(i: int, fraction: float) -> None:
        if progress is None:
            return
        if i < ours:
            progress(tasks[i].policy, tasks[i].replication, fraction)
        else:
            progress(ORACLE_TASKS, i - ours, fraction)

    started = time.perf_counter()
    try:
        outcomes = (executor or SerialExecutor()).run(
            scenarios, tasks, lambda i, _: report(i, 1.0), report
        )
        for name, files in parts.items():
            join_parts(logs[name], files)
    except BaseException:
        for files in parts.values():
            for part in files:
                part.unlink(missing_ok=True)
        raise
    wall = time.perf_counter() - started
    for k, name in enumerate(oracles):
        at = ours + k * n_reps
        assert oracle is not None
        oracle.keep(name, [o.tally for o in outcomes[at : at + n_reps]])
    compute = sum(o.compute_s for o in outcomes) or 1.0
    results: dict[str, SimulationResult] = {}
    for k, name in enumerate(names):
        mine = outcomes[k * n_reps : (k + 1) * n_reps]
        share = sum(o.compute_s for o in mine) / compute
        results[name] = result_of(scenario, name, seed, mine, wall * share, oracle)
    return results


def result_of(
    scenario: Scenario,
    policy: str,
    seed: int,
    outcomes: Sequence[ReplicationOutcome],
    wall_seconds: float,
    oracle: OracleRuns | None = None,
) -> SimulationResult:
    """The pooled run of ``outcomes``: replications 0..n-1 of ``policy`` with ``seed``,
    with the yardsticks against the oracle when ``oracle`` is given."""
    tallies = [o.tally for o in outcomes]
    simulated = sum(o.simulated for o in outcomes)
    rate = simulated / wall_seconds if wall_seconds > 0 else 0.0
    summary = summarise(scenario, policy, seed, tallies, wall_seconds, rate)
    extra: dict[str, list[int]] = {}
    if oracle is not None:
        chosen = scenario.policy(policy)
        yardsticks, oracle_tallies = oracle.yardsticks_for(scenario, chosen, seed, tallies)
        summary = summary.model_copy(update={"yardsticks": yardsticks})
        extra["oracle_approved"] = pool(oracle_tallies).series_approved
    histogram = LatencyHistogram()
    for tally in tallies:
        histogram.merge(tally.latency)
    waits = {
        name: sum(o.queue_wait_ms[a] for o in outcomes) / len(outcomes)
        for a, name in enumerate(scenario.acquirer_names)
    }
    return SimulationResult(
        summary=summary,
        timeseries=timeseries(tallies, scenario, extra_columns=extra),
        histogram=histogram,
        queue_wait_ms=waits,
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
