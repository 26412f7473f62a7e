"""Tallies into the result contract: the one summary builder and the one time series.

Both engines call these: the simulator with one tally per replication, the live harness
with the one tally of its run. Confidence intervals are a t interval over replications
with two or more of them, else a Wilson interval over the payments (which assumes
independent payments: a lower bound on the real uncertainty when routing adapts).
Figures are pooled over replications (all approvals over all payments); the
per-replication figures are kept so comparisons can pair runs replication by
replication.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from results.contract import (
    Cost,
    IncidentWindow,
    LatencySummary,
    ReplicationFigures,
    RunSummary,
    SchemeFigures,
)
from results.identity import RunIdentity
from results.stats import rate_interval
from results.tally import Tally
from scenarios.schema import Scenario

# where each engine learns of approvals a void reversed
FROM_BEHAVIOUR_MODEL = "behaviour model"
FROM_ACQUIRER_LEDGERS = "acquirer ledgers"


class EngineFigures(TypedDict, total=False):
    """What only one engine measures, as :class:`RunSummary` names it."""

    sim_payments_per_second: float
    offered_rate: float | None
    achieved_rate: float
    http_error_rate: float
    reconciliation: dict[str, int] | None


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def pool(tallies: Sequence[Tally]) -> Tally:
    """One tally holding every tally's counts (acquirers in the order first seen)."""
    if not tallies:
        raise ValueError("nothing to pool: no tally")
    pooled = Tally([], 0.0, tallies[0].bucket_s, open_ended=True)
    for tally in tallies:
        pooled.merge(tally)
    return pooled


def acquirer_names(scenario: Scenario, tally: Tally) -> list[str]:
    """The scenario's acquirers in its order, then any other the tally counted."""
    names = list(scenario.acquirer_names)
    return names + [a for a in tally.acquirers if a not in names]


def _count(tally: Tally, counts: list[int], name: str) -> int:
    index = tally.acquirers.index(name) if name in tally.acquirers else -1
    return counts[index] if index >= 0 else 0


def replication_figures(seed_index: int, t: Tally, names: Sequence[str]) -> ReplicationFigures:
    """One replication's headline figures."""
    return ReplicationFigures(
        seed_index=seed_index,
        payments=t.payments,
        approved=t.approved,
        auth_rate=_ratio(t.approved, t.payments),
        first_attempt_auth_rate=_ratio(t.first_attempt_approved, t.payments),
        attempts_per_payment=_ratio(t.attempts, t.payments),
        cost_per_approved=_ratio(t.cost, t.approved),
        cost_bps=_ratio(t.cost * 10_000.0, t.approved_amount),
        latency_p95_ms=t.latency.quantile(0.95),
        acquirer_share={
            name: _ratio(_count(t, t.first_attempts, name), t.payments) for name in names
        },
    )


def build_summary(
    tallies: Sequence[Tally],
    scenario: Scenario,
    identity: RunIdentity,
    *,
    duration_s: float,
    warmup_s: float,
    wall_seconds: float,
    reversed_approvals_source: str | None,
    engine_figures: EngineFigures | None = None,
) -> RunSummary:
    """The :class:`RunSummary` of a run: one tally per replication (one for a live run).

    ``duration_s`` and ``warmup_s`` are as the engine ran them (wall seconds for a live
    run); ``reversed_approvals_source`` says where the tallies' ``reversed_approvals``
    came from, None when they are not known (the summary then says None).
    """
    if len(tallies) != identity.replications:
        raise ValueError(
            f"{len(tallies)} tallies for a run of {identity.replications} replications"
        )
    pooled = pool(tallies)
    names = acquirer_names(scenario, pooled)
    payments, approved = pooled.payments, pooled.approved
    auth = rate_interval([t.approved for t in tallies], [t.payments for t in tallies])
    first = rate_interval(
        [t.first_attempt_approved for t in tallies], [t.payments for t in tallies]
    )
    cost = pooled.cost
    return RunSummary(
        engine=identity.engine,
        scenario=scenario.name,
        policy=identity.policy,
        seed=identity.seed,
        replications=len(tallies),
        duration_s=duration_s,
        warmup_s=warmup_s,
        payments=payments,
        approved=approved,
        auth_rate=round(auth.estimate, 6),
        auth_rate_ci95=(round(auth.low, 6), round(auth.high, 6)),
        ci_method=auth.method,
        first_attempt_auth_rate=round(first.estimate, 6),
        first_attempt_auth_rate_ci95=(round(first.low, 6), round(first.high, 6)),
        attempts_per_payment=round(_ratio(pooled.attempts, payments), 6),
        latency_ms=LatencySummary(**pooled.latency.percentiles()),
        acquirer_share={
            n: round(_ratio(_count(pooled, pooled.first_attempts, n), payments), 6) for n in names
        },
        acquirer_auth_rate={
            n: round(
                _ratio(
                    _count(pooled, pooled.approvals_by_acquirer, n),
                    _count(pooled, pooled.attempts_by_acquirer, n),
                ),
                6,
            )
            for n in names
        },
        declines_by_code=dict(sorted(pooled.declines_by_code.items(), key=lambda kv: -kv[1])),
        declines_by_class=dict(pooled.declines_by_class),
        cascade={"cascaded": pooled.cascaded, "recovered": pooled.recovered},
        timeouts={
            "timeouts": pooled.timeouts,
            "settled": pooled.settled,
            "unsettled": pooled.unsettled,
            "reversed_approvals": (
                pooled.reversed_approvals if reversed_approvals_source is not None else None
            ),
        },
        cost=Cost(
            total=round(cost, 2),
            per_approved=round(_ratio(cost, approved), 4),
            bps=round(_ratio(cost * 10_000.0, pooled.approved_amount), 4),
        ),
        incidents=[
            IncidentWindow(acquirer=a.name, name=i.name, start_s=i.start_s, end_s=i.end_s)
            for a in scenario.acquirers
            for i in a.incidents
            if i.start_s < identity.timeline_s  # those the run reached
        ],
        per_replication=[replication_figures(r, t, names) for r, t in enumerate(tallies)],
        schemes=SchemeFigures(
            fees=round(pooled.scheme_fees, 2),
            excess_attempts=pooled.excess_attempts,
            stopped_payments=pooled.scheme_stops,
        ),
        wall_seconds=round(wall_seconds, 3),
        identity=identity,
        reversed_approvals_source=reversed_approvals_source,
        **(engine_figures or {}),
    )


def timeseries(
    tallies: Sequence[Tally],
    scenario: Scenario,
    *,
    time_scale: float = 1.0,
    n_buckets: int | None = None,
    extra_columns: Mapping[str, Sequence[float | int]] | None = None,
) -> list[dict[str, Any]]:
    """Per time bucket, summed over the tallies: ``timeseries.csv``'s rows.

    ``t_start_s`` is on the scenario's timeline (a bucket of ``bucket_s`` engine seconds
    covers ``bucket_s * time_scale`` scenario seconds), so charts of both engines line
    up with the incident windows. With ``n_buckets`` the series has that many rows,
    later buckets counting in the last. ``extra_columns`` (one value per row) follow
    the shared ones. A bucket without payments has empty ratio cells.
    """
    pooled = pool(tallies)
    names = acquirer_names(scenario, pooled)
    n = pooled.n_buckets if n_buckets is None else n_buckets
    rows: list[dict[str, Any]] = []
    for b in range(n):
        # the last row takes every bucket from it on
        span = range(b, pooled.n_buckets if b == n - 1 else min(b + 1, pooled.n_buckets))
        payments = sum(pooled.series_payments[i] for i in span)
        approved = sum(pooled.series_approved[i] for i in span)
        latency_sum = sum(pooled.series_latency_sum_ms[i] for i in span)
        row: dict[str, Any] = {
            "t_start_s": round(b * pooled.bucket_s * time_scale, 6),
            "payments": payments,
            "approved": approved,
            "auth_rate": round(approved / payments, 6) if payments else "",
            "mean_latency_ms": round(latency_sum / payments, 3) if payments else "",
        }
        for name in names:
            series = (
                pooled.series_attempts[pooled.acquirers.index(name)]
                if name in pooled.acquirers
                else None
            )
            row[f"attempts_{name}"] = sum(series[i] for i in span) if series else 0
        for column, values in (extra_columns or {}).items():
            row[column] = values[b]
        rows.append(row)
    return rows
