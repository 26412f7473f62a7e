"""Replications of a scenario under one policy, pooled into the run result contract."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results.contract import (
    Cost,
    IncidentWindow,
    LatencyHistogram,
    LatencySummary,
    ReplicationFigures,
    RunSummary,
    write_run,
)
from results.stats import rate_interval
from results.tally import Tally
from scenarios.schema import Scenario
from scenarios.streams import replication_seeds
from simulator.model import Replication

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
) -> SimulationResult:
    """Run ``replications`` independent replications and pool them.

    Replication ``r`` of every policy uses the same seed, so policies run with the same
    ``seed`` see the same payments and acquirer answers (common random numbers).
    """
    chosen = scenario.policy(policy)
    seed = scenario.seed if seed is None else seed
    n_reps = scenario.replications if replications is None else replications
    started = time.perf_counter()
    tallies: list[Tally] = []
    waits: dict[str, list[float]] = {a: [] for a in scenario.acquirer_names}
    simulated = 0
    for r, seq in enumerate(replication_seeds(seed, n_reps)):
        report = (lambda f, r=r: progress(r, f)) if progress else None
        replication = Replication(scenario, chosen, seq, progress=report)
        tallies.append(replication.run())
        simulated += replication.arrived
        for name, queue in zip(scenario.acquirer_names, replication.queues, strict=True):
            waits[name].append(queue.mean_wait_s * 1000.0)
    wall = time.perf_counter() - started
    summary = summarise(scenario, chosen.name, seed, tallies, wall, simulated / wall)
    histogram = LatencyHistogram()
    for tally in tallies:
        histogram.merge(tally.latency)
    return SimulationResult(
        summary=summary,
        timeseries=pooled_timeseries(tallies),
        histogram=histogram,
        queue_wait_ms={a: sum(w) / len(w) for a, w in waits.items()},
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _figures(r: int, t: Tally) -> ReplicationFigures:
    return ReplicationFigures(
        seed_index=r,
        payments=t.payments,
        approved=t.approved,
        auth_rate=_ratio(t.approved, t.payments),
        first_attempt_auth_rate=_ratio(t.first_attempt_approved, t.payments),
        attempts_per_payment=_ratio(t.attempts, t.payments),
        cost_per_approved=_ratio(t.cost, t.approved),
        cost_bps=_ratio(t.cost * 10_000.0, t.approved_amount),
        latency_p95_ms=t.latency.quantile(0.95),
        acquirer_share={
            name: _ratio(firsts, t.payments)
            for name, firsts in zip(t.acquirers, t.first_attempts, strict=True)
        },
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
    names = scenario.acquirer_names
    payments = sum(t.payments for t in tallies)
    approved = sum(t.approved for t in tallies)
    attempts = sum(t.attempts for t in tallies)
    cost = sum(t.cost for t in tallies)
    approved_amount = sum(t.approved_amount for t in tallies)
    auth = rate_interval([t.approved for t in tallies], [t.payments for t in tallies])
    first = rate_interval(
        [t.first_attempt_approved for t in tallies], [t.payments for t in tallies]
    )
    histogram = LatencyHistogram()
    declines: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    for t in tallies:
        histogram.merge(t.latency)
        declines.update(t.declines_by_code)
        classes.update(t.declines_by_class)
    first_attempts = [sum(t.first_attempts[a] for t in tallies) for a in range(len(names))]
    by_acq_attempts = [sum(t.attempts_by_acquirer[a] for t in tallies) for a in range(len(names))]
    by_acq_approved = [sum(t.approvals_by_acquirer[a] for t in tallies) for a in range(len(names))]
    return RunSummary(
        engine="simulator",
        scenario=scenario.name,
        policy=policy,
        seed=seed,
        replications=len(tallies),
        duration_s=scenario.traffic.duration_s,
        warmup_s=scenario.warmup_s,
        payments=payments,
        approved=approved,
        auth_rate=round(auth.estimate, 6),
        auth_rate_ci95=(round(auth.low, 6), round(auth.high, 6)),
        ci_method=auth.method,
        first_attempt_auth_rate=round(first.estimate, 6),
        first_attempt_auth_rate_ci95=(round(first.low, 6), round(first.high, 6)),
        attempts_per_payment=round(_ratio(attempts, payments), 6),
        latency_ms=LatencySummary(**histogram.percentiles()),
        acquirer_share={
            n: round(_ratio(first_attempts[a], payments), 6) for a, n in enumerate(names)
        },
        acquirer_auth_rate={
            n: round(_ratio(by_acq_approved[a], by_acq_attempts[a]), 6) for a, n in enumerate(names)
        },
        declines_by_code=dict(sorted(declines.items(), key=lambda kv: -kv[1])),
        declines_by_class=dict(classes),
        cascade={
            "cascaded": sum(t.cascaded for t in tallies),
            "recovered": sum(t.recovered for t in tallies),
        },
        timeouts={
            "timeouts": sum(t.timeouts for t in tallies),
            "voided_late_approvals": sum(t.reversed_approvals for t in tallies),
        },
        cost=Cost(
            total=round(cost, 2),
            per_approved=round(_ratio(cost, approved), 4),
            bps=round(_ratio(cost * 10_000.0, approved_amount), 4),
        ),
        incidents=[
            IncidentWindow(acquirer=a.name, name=i.name, start_s=i.start_s, end_s=i.end_s)
            for a in scenario.acquirers
            for i in a.incidents
        ],
        per_replication=[_figures(r, t) for r, t in enumerate(tallies)],
        wall_seconds=round(wall_seconds, 3),
        sim_payments_per_second=round(payments_per_second, 1),
    )


def pooled_timeseries(tallies: list[Tally]) -> list[dict[str, Any]]:
    """Per-bucket counts summed over replications (rates recomputed from the sums)."""
    rows = [t.timeseries() for t in tallies]
    pooled: list[dict[str, Any]] = []
    for bucket_rows in zip(*rows, strict=True):
        row: dict[str, Any] = {"t_start_s": bucket_rows[0]["t_start_s"]}
        for key in bucket_rows[0]:
            if key in ("t_start_s", "auth_rate", "mean_latency_ms"):
                continue
            row[key] = sum(int(r[key]) for r in bucket_rows)
        payments = row["payments"]
        latency_sum = sum(
            r["mean_latency_ms"] * r["payments"] for r in bucket_rows if r["payments"]
        )
        row["auth_rate"] = round(row["approved"] / payments, 6) if payments else ""
        row["mean_latency_ms"] = round(latency_sum / payments, 3) if payments else ""
        pooled.append(row)
    return pooled
