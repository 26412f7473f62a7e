"""The one summary builder and the one time series, from tallies of either engine."""

from __future__ import annotations

import math

import pytest

from results.identity import RunIdentity
from results.stats import rate_interval, wilson_interval
from results.summary import FROM_BEHAVIOUR_MODEL, build_summary, timeseries
from results.tally import Tally
from scenarios.schema import Scenario
from scenarios.taxonomy import OutcomeClass


def tally_of(names: list[str], payments: list[tuple[float, str, bool, float]]) -> Tally:
    """(t, acquirer, approved, latency ms) per payment, one attempt each, fee 1 per attempt."""
    t = Tally(names, 180.0, 60.0)
    for at, acquirer, approved, latency in payments:
        a = t.acquirer_index(acquirer)
        t.attempt(a, at, approved, 1.0)
        outcome = OutcomeClass.APPROVED if approved else OutcomeClass.SOFT_DECLINE
        t.payment(at, a, 1, approved, "00" if approved else "05", outcome, latency, 1_000)
    return t


def identity(replications: int, engine: str = "simulator") -> RunIdentity:
    return RunIdentity.model_validate(
        {
            "scenario_hash": "0" * 64,
            "policy": "priority",
            "policy_hash": None,
            "seed": 9,
            "replications": replications,
            "engine": engine,
            "timeline_s": 1800.0,
            "time_scale": 1.0,
            "rate_scale": 1.0,
        }
    )


def test_replications_pool_into_one_summary(baseline: Scenario) -> None:
    names = baseline.acquirer_names
    reps = [
        tally_of(names, [(70.0, "acq_a", True, 100.0), (80.0, "acq_b", False, 300.0)]),
        tally_of(names, [(75.0, "acq_a", True, 110.0), (130.0, "acq_a", True, 120.0)]),
        tally_of(names, [(65.0, "acq_b", True, 90.0), (140.0, "acq_x", False, 500.0)]),
    ]
    reps[1].timeouts, reps[1].settled, reps[2].reversed_approvals = 2, 1, 1
    s = build_summary(
        reps,
        baseline,
        identity(3),
        duration_s=1800.0,
        warmup_s=60.0,
        wall_seconds=0.5,
        reversed_approvals_source=FROM_BEHAVIOUR_MODEL,
        engine_figures={"sim_payments_per_second": 12.0},
    )
    auth = rate_interval([1, 2, 1], [2, 2, 2])
    assert (s.payments, s.approved, s.replications, s.ci_method) == (6, 4, 3, "t")
    assert s.auth_rate == round(auth.estimate, 6) == round(4 / 6, 6)
    assert s.auth_rate_ci95 == (round(auth.low, 6), round(auth.high, 6))
    # the scenario's acquirers in its order, then one it does not name
    assert list(s.acquirer_share) == [*names, "acq_x"]
    assert s.acquirer_share["acq_a"] == round(3 / 6, 6) and s.acquirer_share["acq_c"] == 0.0
    assert s.acquirer_auth_rate["acq_b"] == 0.5 and math.isnan(s.acquirer_auth_rate["acq_c"] or 0)
    assert s.declines_by_code == {"05": 2} and s.declines_by_class == {"soft_decline": 2}
    assert s.timeouts == {"timeouts": 2, "settled": 1, "unsettled": 0, "reversed_approvals": 1}
    assert s.cost.total == 6.0 and s.cost.per_approved == 1.5 and s.cost.bps == 15.0
    assert [r.seed_index for r in s.per_replication] == [0, 1, 2]
    assert [r.approved for r in s.per_replication] == [1, 2, 1]
    assert s.per_replication[2].acquirer_share["acq_x"] == 0.5
    assert s.identity == identity(3) and s.sim_payments_per_second == 12.0
    assert [i.name for i in s.incidents] == []  # baseline has none
    with pytest.raises(ValueError, match="2 tallies for a run of 3 replications"):
        build_summary(
            reps[:2],
            baseline,
            identity(3),
            duration_s=1.0,
            warmup_s=0.0,
            wall_seconds=0.0,
            reversed_approvals_source=None,
        )


def test_one_run_gets_a_wilson_interval_and_unknown_reversals(baseline: Scenario) -> None:
    one = tally_of(baseline.acquirer_names, [(70.0, "acq_a", True, 100.0)] * 9)
    one.payment(71.0, -1, 0, False, "68", OutcomeClass.TIMEOUT, 50.0, 10)
    s = build_summary(
        [one],
        baseline,
        identity(1, "live"),
        duration_s=30.0,
        warmup_s=1.0,
        wall_seconds=31.0,
        reversed_approvals_source=None,
    )
    wilson = wilson_interval(9, 10)
    assert s.engine == "live" and s.ci_method == "wilson"
    assert s.auth_rate_ci95 == (round(wilson.low, 6), round(wilson.high, 6))
    assert s.timeouts["reversed_approvals"] is None and s.reversed_approvals_source is None
    assert s.acquirer_share["acq_a"] == 0.9  # the payment without attempts had no first


def test_the_time_series_sums_the_tallies_bucket_by_bucket(baseline: Scenario) -> None:
    names = baseline.acquirer_names
    a = tally_of(names, [(10.0, "acq_a", True, 100.0), (70.0, "acq_b", False, 200.0)])
    b = tally_of(names, [(20.0, "acq_a", False, 300.0), (170.0, "acq_c", True, 400.0)])
    rows = timeseries([a, b], baseline)
    assert [r["t_start_s"] for r in rows] == [0.0, 60.0, 120.0]
    assert [(r["payments"], r["approved"]) for r in rows] == [(2, 1), (1, 0), (1, 1)]
    assert rows[0]["auth_rate"] == 0.5 and rows[0]["mean_latency_ms"] == 200.0
    assert [rows[0][f"attempts_{n}"] for n in names] == [2, 0, 0]
    assert list(rows[0]) == [
        "t_start_s",
        "payments",
        "approved",
        "auth_rate",
        "mean_latency_ms",
        *[f"attempts_{n}" for n in names],
    ]
    # a live run's buckets: wall seconds on the scenario's timeline, cut to the plan's
    # length (later buckets in the last), with columns of its own
    fast = timeseries(
        [a, b], baseline, time_scale=30.0, n_buckets=2, extra_columns={"t_wall_s": [0.0, 60.0]}
    )
    assert [r["t_start_s"] for r in fast] == [0.0, 1800.0]
    assert [r["payments"] for r in fast] == [2, 2] and fast[1]["t_wall_s"] == 60.0
    empty = timeseries([Tally(names, 180.0, 60.0)], baseline)
    assert empty[0]["auth_rate"] == "" and empty[0]["mean_latency_ms"] == ""
