"""A live run's tally turned into the result contract both engines share (``RunSummary``).

Only what the run measured goes in. One run is one replication, so confidence
intervals are Wilson intervals over its payments (``ci_method: wilson``), which assume
independent payments: a lower bound on the real uncertainty when routing adapts.
Latency is end to end from the intended send time (corrected for coordinated
omission). Cost applies the scenario's fee schedule to the attempts the router
reported, as the simulator applies it to simulated attempts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from loadtests.live_tally import SERIES, LiveTally
from loadtests.plan import RunPlan
from results.contract import (
    Cost,
    IncidentWindow,
    LatencySummary,
    ReplicationFigures,
    RunSummary,
)
from results.stats import wilson_interval


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _round(value: float, digits: int = 6) -> float:
    return value if math.isnan(value) else round(value, digits)


@dataclass(frozen=True)
class RateFigures:
    """How much load was offered and how much the router answered, after warm-up."""

    offered_rate: float | None  # arrivals scheduled per second (None: closed model)
    achieved_rate: float  # payments answered per second
    http_error_rate: float  # requests without a payment answer / requests sent
    window_s: float  # the seconds ``achieved_rate`` is over

    @property
    def achieved_ratio(self) -> float | None:
        if not self.offered_rate:
            return None
        return self.achieved_rate / self.offered_rate


def rate_figures(tally: LiveTally, plan: RunPlan) -> RateFigures:
    """Offered and achieved rates over the measured window.

    If the generator fell behind and its last send went out after the run's end, the
    window stretches to that send: lag shows as a lower achieved rate, never hidden.
    """
    c = tally.counts
    measured = plan.measured_s
    window = max(plan.duration_s, tally.maxima["last_send_s"]) - plan.warmup_s
    offered = c["scheduled"] / measured if plan.open_model else None
    errors = sum(tally.counters["http_errors"].values())
    return RateFigures(offered, _ratio(c["payments"], window), _ratio(errors, c["sent"]), window)


def build_summary(
    tally: LiveTally,
    plan: RunPlan,
    *,
    policy: str,
    wall_seconds: float,
    reconciliation: dict[str, int] | None,
) -> RunSummary:
    """The run's ``summary.json`` contents."""
    scenario = plan.scenario
    c = tally.counts
    counters = tally.counters
    payments, approved = int(c["payments"]), int(c["approved"])
    auth = wilson_interval(approved, payments)
    first = wilson_interval(int(c["first_attempt_approved"]), payments)
    latency = tally.histogram("latency")
    rates = rate_figures(tally, plan)
    acquirers = list(scenario.acquirer_names)
    acquirers += sorted(set(counters["attempts_by_acquirer"]) - set(acquirers))  # unknown ones
    cost = c["cost"]
    per_approved = _ratio(cost, approved)
    bps = _ratio(cost * 10_000.0, c["approved_amount"])
    span = plan.timeline.scenario_span_s
    shares = {a: _round(_ratio(counters["first_attempts"][a], payments)) for a in acquirers}
    return RunSummary(
        engine="live",
        scenario=scenario.name,
        policy=policy,
        seed=plan.seed,
        replications=1,
        duration_s=round(plan.duration_s, 3),
        warmup_s=round(plan.warmup_s, 3),
        payments=payments,
        approved=approved,
        auth_rate=_round(auth.estimate),
        auth_rate_ci95=(_round(auth.low), _round(auth.high)),
        ci_method=auth.method,
        first_attempt_auth_rate=_round(first.estimate),
        first_attempt_auth_rate_ci95=(_round(first.low), _round(first.high)),
        attempts_per_payment=_round(_ratio(c["attempts"], payments)),
        latency_ms=LatencySummary(**latency.percentiles()),
        acquirer_share=shares,
        acquirer_auth_rate={
            a: _round(
                _ratio(counters["approvals_by_acquirer"][a], counters["attempts_by_acquirer"][a])
            )
            for a in acquirers
        },
        declines_by_code=dict(sorted(counters["declines_by_code"].items(), key=lambda kv: -kv[1])),
        declines_by_class=dict(counters["declines_by_class"]),
        cascade={"cascaded": int(c["cascaded"]), "recovered": int(c["recovered"])},
        timeouts={
            "timeouts": int(c["timeouts"]),
            "voided_late_approvals": int(c["voided_late_approvals"]),
        },
        cost=Cost(total=round(cost, 2), per_approved=_round(per_approved, 4), bps=_round(bps, 4)),
        incidents=[
            IncidentWindow(acquirer=a.name, name=i.name, start_s=i.start_s, end_s=i.end_s)
            for a in scenario.acquirers
            for i in a.incidents
            if i.start_s < span
        ],
        per_replication=[
            ReplicationFigures(
                seed_index=0,
                payments=payments,
                approved=approved,
                auth_rate=_round(auth.estimate),
                first_attempt_auth_rate=_round(first.estimate),
                attempts_per_payment=_round(_ratio(c["attempts"], payments)),
                cost_per_approved=_round(per_approved, 4),
                cost_bps=_round(bps, 4),
                latency_p95_ms=round(latency.quantile(0.95), 2) if payments else math.nan,
                acquirer_share=shares,
            )
        ],
        wall_seconds=round(wall_seconds, 3),
        offered_rate=None if rates.offered_rate is None else round(rates.offered_rate, 3),
        achieved_rate=round(rates.achieved_rate, 3) if payments else 0.0,
        http_error_rate=_round(rates.http_error_rate),
        reconciliation=reconciliation,
    )


def timeseries(tally: LiveTally, plan: RunPlan) -> list[dict[str, Any]]:
    """Per-bucket rows: the simulator's columns first, then what only a live run has.

    ``t_start_s`` is on the scenario's timeline (so charts line up with simulated runs
    and incident windows), ``t_wall_s`` on the run's clock.
    """
    acquirers = plan.scenario.acquirer_names
    k = plan.timeline.compression
    n_buckets = max(1, math.ceil(plan.duration_s / plan.bucket_s - 1e-9))
    col = {name: i for i, name in enumerate(SERIES)}
    attempts = tally.counters["series_attempts"]
    rows: list[dict[str, Any]] = []
    for b in range(n_buckets):
        values = tally.series.get(b, [0.0] * len(SERIES))
        payments = int(values[col["payments"]])
        approved = int(values[col["approved"]])
        row: dict[str, Any] = {
            "t_start_s": round(b * plan.bucket_s * k, 3),
            "payments": payments,
            "approved": approved,
            # an empty cell where nothing was paid, as the simulator writes it
            "auth_rate": round(approved / payments, 6) if payments else "",
            "mean_latency_ms": (
                round(values[col["latency_sum_ms"]] / payments, 3) if payments else ""
            ),
        }
        for name in acquirers:
            row[f"attempts_{name}"] = attempts.get(f"{b}|{name}", 0)
        row["t_wall_s"] = round(b * plan.bucket_s, 3)
        row["scheduled"] = int(values[col["scheduled"]])
        row["http_errors"] = int(values[col["http_errors"]])
        row["dropped"] = int(values[col["dropped"]])
        rows.append(row)
    return rows
