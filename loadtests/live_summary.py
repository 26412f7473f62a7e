"""A live run's tally turned into the result contract both engines share (``RunSummary``).

The summary and the time series come from the builders the simulator uses
(``results.summary``); this module supplies what only a live run knows: its identity
(the timeline it played, how fast, at what rate), the offered and achieved rates, the
generator's per-bucket health, and the approvals a void reversed, read from the mock
acquirers' ledgers after the run. One run is one replication, so confidence intervals
are Wilson intervals over its payments (``ci_method: wilson``). Latency is end to end
from the intended send time (corrected for coordinated omission). Cost applies the
scenario's fee schedule to the attempts the router reported, as the simulator applies
it to simulated attempts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtests.live_tally import LiveTally
from loadtests.plan import RunPlan
from results.contract import RunSummary
from results.identity import RunIdentity, policy_hash, scenario_hash
from results.summary import FROM_ACQUIRER_LEDGERS, pool
from results.summary import build_summary as summarise
from results.summary import timeseries as series_of


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
    c = tally.health
    measured = plan.measured_s
    window = max(plan.duration_s, tally.maxima["last_send_s"]) - plan.warmup_s
    offered = c["scheduled"] / measured if plan.open_model else None
    errors = sum(tally.http_errors.values())
    return RateFigures(
        offered, _ratio(tally.tally.payments, window), _ratio(errors, c["sent"]), window
    )


def live_identity(plan: RunPlan, policy: str) -> RunIdentity:
    """What a live run of ``plan`` under ``policy`` ran.

    The policy's content is the scenario's policy of that name (what the stack serves
    when this run starts it); None when the scenario has no policy of that name.
    """
    scenario = plan.scenario
    known = {p.name: p for p in scenario.policies}
    return RunIdentity(
        scenario_hash=scenario_hash(scenario),
        policy=policy,
        policy_hash=policy_hash(known[policy]) if policy in known else None,
        seed=plan.seed,
        replications=1,
        engine="live",
        timeline_s=plan.timeline.scenario_span_s,
        time_scale=plan.timeline.compression,
        rate_scale=plan.options.rate_scale,
    )


def ledger_reversed_approvals(
    entries: Iterable[Mapping[str, Any]], run_id: str, counted_from_s: float
) -> int:
    """Approvals of this run that a void reversed, from the acquirers' ledger entries.

    This run's entries carry its payments' merchant references (``{run_id}-...``); only
    those booked from ``counted_from_s`` on the acquirers' scenario clock count (the end
    of the warm-up, as the tally counts payments), to within a payment's latency.
    """
    prefix = run_id + "-"
    return sum(
        1
        for e in entries
        if e.get("status") == "reversed"
        and str(e.get("reference", "")).startswith(prefix)
        and float(e.get("scenario_time_s", 0.0)) >= counted_from_s
    )


def build_summary(
    tally: LiveTally,
    plan: RunPlan,
    *,
    policy: str,
    wall_seconds: float,
    reconciliation: dict[str, int] | None,
    reversed_approvals: int | None = None,
) -> RunSummary:
    """The run's ``summary.json`` contents.

    ``reversed_approvals`` comes from the acquirers' ledgers after the run
    (:func:`ledger_reversed_approvals`); None when they could not be read: the summary
    then says None, with no source.
    """
    counted = tally.tally
    if reversed_approvals is not None:
        counted = pool([counted])  # a copy: the figure is the ledgers', not the answers'
        counted.reversed_approvals = reversed_approvals
    rates = rate_figures(tally, plan)
    payments = counted.payments
    return summarise(
        [counted],
        plan.scenario,
        live_identity(plan, policy),
        duration_s=round(plan.duration_s, 3),
        warmup_s=round(plan.warmup_s, 3),
        wall_seconds=wall_seconds,
        reversed_approvals_source=None if reversed_approvals is None else FROM_ACQUIRER_LEDGERS,
        engine_figures={
            "offered_rate": None if rates.offered_rate is None else round(rates.offered_rate, 3),
            "achieved_rate": round(rates.achieved_rate, 3) if payments else 0.0,
            "http_error_rate": _round(rates.http_error_rate),
            "reconciliation": reconciliation,
        },
    )


def timeseries(tally: LiveTally, plan: RunPlan) -> list[dict[str, Any]]:
    """Per-bucket rows: the simulator's columns first, then what only a live run has.

    ``t_start_s`` is on the scenario's timeline (so charts line up with simulated runs
    and incident windows), ``t_wall_s`` on the run's clock.
    """
    n_buckets = max(1, math.ceil(plan.duration_s / plan.bucket_s - 1e-9))
    extra: dict[str, Sequence[float]] = {
        "t_wall_s": [round(b * plan.bucket_s, 3) for b in range(n_buckets)]
    }
    extra.update(tally.health_series(n_buckets))
    return series_of(
        [tally.tally],
        plan.scenario,
        time_scale=plan.timeline.compression,
        n_buckets=n_buckets,
        extra_columns=extra,
    )
