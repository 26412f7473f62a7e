"""Statistics over replications and the run result files every report reads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from results.contract import (
    HISTOGRAM,
    SUMMARY,
    TIMESERIES,
    Cost,
    IncidentWindow,
    LatencyHistogram,
    LatencySummary,
    ReplicationFigures,
    RunSummary,
    read_summary,
    read_timeseries,
    write_run,
)
from results.identity import RunIdentity
from results.stats import (
    Interval,
    paired_difference,
    prediction_interval,
    rate_interval,
    t_interval,
    welch_difference,
    wilson_interval,
)

# --- intervals -------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("values", [[0.91, 0.93, 0.92, 0.95, 0.9], [1.0, 2.0], list(range(30))])
def test_t_interval_matches_scipy(values: list[float], level: float) -> None:
    x = np.asarray(values, dtype=float)
    got = t_interval(values, level)
    lo, hi = sps.t.interval(level, x.size - 1, loc=x.mean(), scale=sps.sem(x))
    assert got.method == "t" and got.n == x.size
    assert got.estimate == pytest.approx(x.mean())
    assert got.low == pytest.approx(lo) and got.high == pytest.approx(hi)
    assert got.half_width == pytest.approx((hi - lo) / 2)


def test_t_interval_needs_two_values() -> None:
    one = t_interval([0.93])
    assert one.method == "none" and one.estimate == 0.93
    assert one.low == -math.inf and one.high == math.inf
    assert math.isnan(t_interval([]).estimate)


def test_prediction_interval_covers_one_more_replication() -> None:
    values = [0.42, 0.51, 0.47, 0.38, 0.55]
    x = np.asarray(values)
    got = prediction_interval(values)
    half = sps.t.ppf(0.975, 4) * x.std(ddof=1) * math.sqrt(1 + 1 / 5)
    assert got.method == "t-prediction" and got.n == 5
    assert got.low == pytest.approx(x.mean() - half) and got.high == pytest.approx(x.mean() + half)
    # wider than the interval for the mean by sqrt(n + 1)
    assert got.half_width == pytest.approx(t_interval(values).half_width * math.sqrt(6))
    # and about 95 % of new draws from the same distribution land inside it
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(4_000):
        sample = rng.normal(0.0, 1.0, 6)
        pi = prediction_interval(sample[:5])
        hits += pi.low <= sample[5] <= pi.high
    assert 0.94 < hits / 4_000 < 0.96
    assert prediction_interval([0.3]).low == -math.inf


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_against_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    got = wilson_interval(successes, trials)
    assert got.method == "wilson" and got.n == trials
    assert got.estimate == successes / trials
    assert got.low == pytest.approx(low, abs=5e-5)
    assert got.high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges() -> None:
    full = wilson_interval(50, 50)
    assert full.high == 1.0 and 0.9 < full.low < 1.0
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.estimate) and (empty.low, empty.high) == (0.0, 1.0)


def test_rate_interval_is_centred_on_the_pooled_rate() -> None:
    successes, trials = [80, 190, 270], [100, 200, 300]
    got = rate_interval(successes, trials)
    pooled = 540 / 600
    per_rep = t_interval([0.8, 0.95, 0.9])
    assert got.estimate == pytest.approx(pooled)
    assert got.method == "t" and got.n == 3
    assert got.half_width == pytest.approx(per_rep.half_width)
    assert (got.low + got.high) / 2 == pytest.approx(pooled)


def test_rate_interval_skips_empty_replications_and_falls_back_to_wilson() -> None:
    got = rate_interval([80, 0, 190], [100, 0, 200])
    assert got.n == 2 and got.estimate == pytest.approx(270 / 300)
    single = rate_interval([90], [100])
    wilson = wilson_interval(90, 100)
    assert single.method == "wilson"
    assert (single.low, single.high) == (wilson.low, wilson.high)


def test_paired_difference_matches_a_paired_t_test() -> None:
    rng = np.random.default_rng(3)
    common = rng.normal(0.9, 0.02, 10)  # the same payments for both policies
    a = common + rng.normal(0, 0.002, 10)
    b = common + 0.004 + rng.normal(0, 0.002, 10)
    got = paired_difference(b.tolist(), a.tolist())
    ci = sps.ttest_rel(b, a).confidence_interval(0.95)
    assert got.method == "paired-t" and got.n == 10
    assert got.estimate == pytest.approx(float(np.mean(b - a)))
    assert got.low == pytest.approx(ci.low) and got.high == pytest.approx(ci.high)
    assert got.excludes_zero
    # ignoring the pairing throws the common noise back in: far wider, no longer significant
    unpaired = welch_difference(b.tolist(), a.tolist())
    assert unpaired.half_width > 3 * got.half_width
    assert not unpaired.excludes_zero
    with pytest.raises(ValueError, match="same count"):
        paired_difference([1.0, 2.0], [1.0])


def test_welch_difference_matches_scipy() -> None:
    a, b = [0.90, 0.92, 0.91, 0.95], [0.96, 0.93, 0.99, 0.94, 0.97, 0.95]
    got = welch_difference(b, a)
    ci = sps.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert got.estimate == pytest.approx(np.mean(b) - np.mean(a))
    assert got.low == pytest.approx(ci.low) and got.high == pytest.approx(ci.high)
    assert welch_difference([1.0], [2.0, 3.0]).method == "none"


def test_interval_helpers() -> None:
    i = Interval(0.5, 0.2, 0.8, "t", 5)
    assert i.half_width == pytest.approx(0.3)
    assert i.contains(0.2) and i.contains(0.8) and not i.contains(0.81)
    assert i.excludes_zero
    assert not Interval(0.1, -0.1, 0.3, "t", 5).excludes_zero
    assert Interval(-0.5, -0.8, -0.2, "t", 5).excludes_zero


# --- latency histogram -----------------------------------------------------------------


def _histogram(values: np.ndarray) -> LatencyHistogram:
    hist = LatencyHistogram()
    for v in values.tolist():
        hist.record(v)
    return hist


@pytest.mark.parametrize(("median", "sigma"), [(280.0, 0.35), (190.0, 0.9), (5.0, 1.5)])
def test_histogram_quantiles_track_numpy(median: float, sigma: float) -> None:
    samples = median * np.exp(sigma * np.random.default_rng(17).standard_normal(50_000))
    hist = _histogram(samples)
    assert hist.total == samples.size
    for q in (0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999):
        assert hist.quantile(q) == pytest.approx(float(np.quantile(samples, q)), rel=0.02), q
    assert hist.mean() == pytest.approx(float(samples.mean()), rel=0.01)
    p = hist.percentiles()
    assert set(p) == {"p50", "p95", "p99", "mean"}
    assert p["p50"] < p["p95"] < p["p99"]


def test_histogram_quantile_is_the_value_a_fraction_q_falls_at_or_below() -> None:
    hist = _histogram(np.array([1.0, 100.0]))
    assert hist.quantile(0.5) == pytest.approx(1.0, rel=0.02)  # half the payments at 1 ms
    assert hist.quantile(0.51) == pytest.approx(100.0, rel=0.02)
    assert hist.quantile(1.0) == pytest.approx(100.0, rel=0.02)


def test_histogram_extremes_and_empty() -> None:
    hist = LatencyHistogram()
    assert math.isnan(hist.quantile(0.5)) and math.isnan(hist.mean())
    hist.record(0.0)
    hist.record(1e12)  # far beyond the top bucket
    assert hist.counts[0] == 1 and hist.counts[-1] == 1
    assert LatencyHistogram.index(LatencyHistogram.LOW_MS) == 0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.0, 1e8, allow_nan=False), max_size=200),
    st.lists(st.floats(0.0, 1e8, allow_nan=False), max_size=200),
)
def test_histogram_merge_equals_recording_everything(left: list[float], right: list[float]) -> None:
    a, b = _histogram(np.array(left)), _histogram(np.array(right))
    a.merge(b)
    assert a.counts == _histogram(np.array(left + right)).counts


def test_histogram_csv_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    samples = np.concatenate(
        [
            300 * np.exp(0.6 * rng.standard_normal(20_000)),
            rng.uniform(0.0, 0.05, 200),  # the finest buckets, where edges print with 4 decimals
            [0.0, 3e7, 1e11],
        ]
    )
    hist = _histogram(samples)
    path = tmp_path / "h.csv"
    hist.write_csv(path)
    back = LatencyHistogram.read_csv(path)
    assert back.counts == hist.counts
    rows = path.read_text().splitlines()
    assert rows[0] == "low_ms,high_ms,count"
    assert len(rows) - 1 == sum(c > 0 for c in hist.counts)  # empty buckets are not written


# --- run summary -----------------------------------------------------------------------


def summary() -> RunSummary:
    return RunSummary(
        engine="simulator",
        scenario="baseline",
        policy="sr",
        seed=20261121,
        replications=2,
        duration_s=1800.0,
        warmup_s=60.0,
        payments=1000,
        approved=913,
        auth_rate=0.913,
        auth_rate_ci95=(0.9, 0.926),
        ci_method="t",
        first_attempt_auth_rate=0.9,
        first_attempt_auth_rate_ci95=(0.89, 0.91),
        attempts_per_payment=1.07,
        latency_ms=LatencySummary(p50=281.2, p95=560.0, p99=812.5, mean=300.1),
        acquirer_share={"acq_a": 0.6, "acq_b": 0.4},
        acquirer_auth_rate={"acq_a": 0.92, "acq_b": 0.9},
        declines_by_code={"51": 50, "05": 30, "96": 7},
        declines_by_class={"soft_decline": 80},
        cascade={"attempted": 40, "recovered": 25},
        timeouts={"timeouts": 4, "settled": 3, "unsettled": 1, "reversed_approvals": None},
        cost=Cost(total=1234.5, per_approved=1.35, bps=105.2),
        incidents=[IncidentWindow(acquirer="acq_a", name="outage", start_s=600, end_s=900)],
        per_replication=[
            ReplicationFigures(
                seed_index=k,
                payments=500,
                approved=456 + k,
                auth_rate=(456 + k) / 500,
                first_attempt_auth_rate=0.9,
                attempts_per_payment=1.07,
                cost_per_approved=1.35,
                cost_bps=105.0,
                latency_p95_ms=560.0,
            )
            for k in range(2)
        ],
        wall_seconds=1.5,
        identity=RunIdentity(
            scenario_hash="ab" * 32,
            policy="sr",
            policy_hash="cd" * 32,
            seed=20261121,
            replications=2,
            engine="simulator",
            timeline_s=1800.0,
            time_scale=1.0,
            rate_scale=1.0,
        ),
        sim_payments_per_second=250_000.0,
    )


def test_summary_round_trip(tmp_path: Path) -> None:
    original = summary()
    hist = _histogram(np.array([100.0, 200.0, 300.0]))
    series = [
        {"t_s": 0.0, "payments": 10.0, "approved": 9.0},
        {"t_s": 60.0, "payments": 12.0, "approved": 11.0},
    ]
    path = write_run(tmp_path / "run", original, series, hist)
    assert path == tmp_path / "run" / SUMMARY
    back = read_summary(tmp_path / "run")
    assert back == original
    assert back.auth_rate_ci95 == (0.9, 0.926)
    assert back.offered_rate is None and back.reconciliation is None  # live-only fields
    assert read_timeseries(tmp_path / "run") == series
    assert LatencyHistogram.read_csv(tmp_path / "run" / HISTOGRAM).counts == hist.counts


def test_a_summary_written_before_identities_still_loads() -> None:
    old = Path(__file__).parent / "data" / "written_before_identity" / "priority"
    summary = read_summary(old)
    assert summary.identity is None and summary.reversed_approvals_source is None
    assert summary.timeouts == {"timeouts": 92, "voided_late_approvals": 62}
    assert summary.payments == 151_368 and summary.replications == 3


def test_run_without_timeseries(tmp_path: Path) -> None:
    write_run(tmp_path, summary(), [], LatencyHistogram())
    assert not (tmp_path / TIMESERIES).exists()
    assert read_timeseries(tmp_path) == []
    assert read_summary(tmp_path).payments == 1000


def test_summary_rejects_unknown_keys() -> None:
    data = summary().model_dump(mode="json")
    data["auth_rte"] = 0.9
    with pytest.raises(ValueError, match="auth_rte"):
        RunSummary.model_validate(data)
