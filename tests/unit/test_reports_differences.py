"""Differences between runs: the right interval for each pair of runs, and the verdict.

Paired intervals must be used only when two simulated runs share scenario, seed and
replications (common random numbers), Welch for other multi-replication pairs, and
Newcombe's two-proportion interval when a side has a single replication (a live run).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reports.differences import (
    difference,
    is_paired,
    newcombe_difference,
    run_pair_method,
)
from reports.metrics import AUTH_RATE, COST_BPS, LATENCY_P50, LATENCY_P95
from reports.verdict import comparison_sentence
from results.contract import RunSummary, read_summary
from results.stats import wilson_interval
from scenarios.loader import load_scenario
from simulator import simulate


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    """acquirer_outage under two policies with the same seed, plus one with another seed."""
    scenario = load_scenario("acquirer_outage")
    out = tmp_path_factory.mktemp("runs")
    runs = {
        "priority": simulate(scenario, "priority", replications=3),
        "sr_window": simulate(scenario, "sr_window", replications=3),
        "sr_window_seed2": simulate(scenario, "sr_window", seed=2, replications=3),
        "single": simulate(scenario, "sr_window", seed=3, replications=1),
    }
    for name, result in runs.items():
        result.write(out / name)
    return {name: read_summary(out / name) for name in runs}


def test_newcombe_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 vs 48/80
    b, a = wilson_interval(56, 70), wilson_interval(48, 80)
    d, low, high = newcombe_difference((b.estimate, b.low, b.high), (a.estimate, a.low, a.high))
    assert d == pytest.approx(0.2)
    assert low == pytest.approx(0.0524, abs=5e-4)
    assert high == pytest.approx(0.3339, abs=5e-4)


def test_same_seed_simulator_runs_are_paired(outage: dict[str, RunSummary]) -> None:
    base, other = outage["priority"], outage["sr_window"]
    assert is_paired(base, other)
    assert run_pair_method(base, other) == "paired"
    d = difference(AUTH_RATE, base, other)
    assert d.method == "paired" and d.n == 3
    per_rep = [
        o.auth_rate - b.auth_rate
        for o, b in zip(other.per_replication, base.per_replication, strict=True)
    ]
    assert d.estimate == pytest.approx(sum(per_rep) / 3)
    assert d.low is not None and d.high is not None and d.low < d.estimate < d.high


def test_common_random_numbers_make_the_interval_tighter(outage: dict[str, RunSummary]) -> None:
    """The point of pairing: the same payments under both policies cancel most noise."""
    paired = difference(AUTH_RATE, outage["priority"], outage["sr_window"])
    welch = difference(AUTH_RATE, outage["priority"], outage["sr_window_seed2"])
    assert welch.method == "welch"
    assert paired.low is not None and paired.high is not None
    assert welch.low is not None and welch.high is not None
    assert paired.high - paired.low < welch.high - welch.low


def test_a_single_replication_gets_the_two_proportion_interval(
    outage: dict[str, RunSummary],
) -> None:
    base, single = outage["sr_window"], outage["single"]
    assert run_pair_method(base, single) == "two-proportion"
    auth = difference(AUTH_RATE, base, single)
    assert auth.method == "two-proportion"
    assert auth.has_interval and auth.low is not None and auth.high is not None
    assert auth.low < auth.estimate < auth.high
    # no honest interval for a single run's cost: point estimate only, said plainly
    cost = difference(COST_BPS, base, single)
    assert cost.method == "none" and not cost.has_interval and cost.significant is None
    assert cost.format().endswith("(no interval)")


def test_metrics_not_kept_per_replication_get_no_interval(outage: dict[str, RunSummary]) -> None:
    d = difference(LATENCY_P50, outage["priority"], outage["sr_window"])
    assert d.method == "none" and d.estimate is not None
    assert d.estimate == pytest.approx(
        outage["sr_window"].latency_ms.p50 - outage["priority"].latency_ms.p50
    )


def test_undefined_values_give_no_difference(outage: dict[str, RunSummary]) -> None:
    empty = outage["single"].model_copy(update={"auth_rate": None})
    d = difference(AUTH_RATE, outage["sr_window"], empty)
    assert d.estimate is None and d.format() == "n/a" and d.significant is None


def test_the_verdict_states_direction_interval_cost_and_significance(
    outage: dict[str, RunSummary],
) -> None:
    base, other = outage["priority"], outage["sr_window"]
    diffs = [difference(m, base, other) for m in (AUTH_RATE, COST_BPS, LATENCY_P95)]
    auth = diffs[0]
    assert auth.estimate is not None and auth.low is not None and auth.high is not None
    sentence = comparison_sentence("priority", "sr_window", diffs, base.latency_ms.p95)
    verb = "raises" if auth.estimate > 0 else "lowers"
    assert sentence.startswith(
        f"sr_window {verb} the authorisation rate by {100 * abs(auth.estimate):.2f}\u00a0pp"
    )
    lo, hi = sorted((abs(100 * auth.low), abs(100 * auth.high)))
    assert f"[{lo:.2f}, {hi:.2f}]" in sentence
    assert "compared with priority" in sentence and "bps" in sentence
    if auth.significant:
        assert "; significant (paired over 3 replications" in sentence
    else:
        assert "not significant" in sentence


def test_a_difference_whose_interval_spans_zero_is_called_not_significant(
    outage: dict[str, RunSummary],
) -> None:
    base = outage["sr_window"]
    # the same run against itself shifted by nothing: the interval must straddle zero
    jitter = [
        r.model_copy(update={"auth_rate": r.auth_rate + (0.001 if i % 2 else -0.001)})
        for i, r in enumerate(base.per_replication)
    ]
    other = base.model_copy(update={"per_replication": jitter, "policy": "twin"})
    d = difference(AUTH_RATE, base, other)
    assert d.method == "paired" and d.significant is False
    sentence = comparison_sentence("sr_window", "twin", [d])
    assert "the difference is not significant" in sentence


def test_ratios_undefined_in_the_file_read_as_none(
    tmp_path: Path, outage: dict[str, RunSummary]
) -> None:
    """NaN is written as null; it must come back as None and never crash a difference."""
    s = outage["single"].model_copy(
        update={"cost": outage["single"].cost.model_copy(update={"bps": math.nan})}
    )
    (tmp_path / "summary.json").write_text(s.model_dump_json().replace("NaN", "null"))
    d = difference(COST_BPS, outage["single"], read_summary(tmp_path))
    assert d.estimate is None and d.format() == "n/a"
