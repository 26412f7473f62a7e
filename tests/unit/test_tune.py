"""Tuning: parameters and bounds read and checked before anything runs, TPE finds the
known best value of a constructed scenario, the winner is re-measured on fresh seeds,
and the tuned scenario is ready to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.loader import ScenarioError, load_scenario, parse_scenario
from scenarios.overrides import OverrideError
from scenarios.schema import Scenario
from simulator import ProcessExecutor, simulate
from sweeps import Tuning, parse_objective, parse_param, write_tune
from sweeps.analysis import OBJECTIVE

GOOD = "policies[split].strategy.weights.good"
POOR = "policies[split].strategy.weights.poor"

# Two acquirers, one far better, a weighted split with no cascade: the auth rate grows
# with the good acquirer's share of the split, so the best weight for it is the upper
# bound and the best weight for the poor one the lower bound.
SPLIT = """
name: split
seed: 11
replications: 3
warmup_s: 0
bucket_s: 10
merchant: {name: shop, country: DE}
acquirers:
  - name: good
    dialect: psp
    latency: {dist: lognormal, median_ms: 200, sigma: 0.3}
    capacity: 500
    approval: {base: 0.95}
    fees: {default: {pct_bps: 100, fixed: 10}}
  - name: poor
    dialect: iso8583
    latency: {dist: lognormal, median_ms: 200, sigma: 0.3}
    capacity: 500
    approval: {base: 0.75}
    fees: {default: {pct_bps: 100, fixed: 10}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 50}
  mix:
    networks: {visa: 1.0}
    card_types: {credit: 1.0}
    issuer_countries: {DE: 1.0}
    currencies: {EUR: 1.0}
    amount: {dist: lognormal, median: 4500, sigma: 0.5}
  issuer_declines: {base: {"51": 0.02}}
policies:
  - name: split
    strategy: {type: weighted, weights: {good: 0.5, poor: 1.0}}
    default: [good, poor]
    retry: {max_attempts: 1}
"""


@pytest.fixture(scope="module")
def split() -> Scenario:
    return parse_scenario(SPLIT, "split.yaml")


def test_parameters_read_as_ranges() -> None:
    window = parse_param("policies[sr_window].strategy.window=20..500")
    assert (window.low, window.high, window.integer, window.log) == (20, 500, True, False)
    rate = parse_param("policies[sr_window].strategy.exploration = 0.001..0.3:log")
    assert (rate.integer, rate.log, rate.path) == (
        False,
        True,
        "policies[sr_window].strategy.exploration",
    )
    assert parse_param("acquirers[0].approval.base=0..1.0").integer is False  # one float bound


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("window", "expected PATH=LOW..HIGH"),
        ("a.b=5", "not a range"),
        ("a.b=5..1", "must be below"),
        ("a.b=0..1:log", "positive low bound"),
        ("a[.b=1..2", "never closed"),
    ],
)
def test_a_bad_parameter_says_why(text: str, message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        parse_param(text)


def test_bounds_are_validated_before_anything_runs(split: Scenario) -> None:
    goal = parse_objective("auth_rate")
    with pytest.raises(
        ScenarioError, match=r"policies\[split\].retry.max_attempts: .*less than or equal to 10"
    ):
        Tuning(
            split,
            "split.yaml",
            [parse_param("policies[split].retry.max_attempts=1..40")],
            goal,
            trials=2,
            replications=2,
        )
    with pytest.raises(ScenarioError, match="unknown key"):
        Tuning(
            split,
            "split.yaml",
            [parse_param("policies[split].retry.max_atempts=1..4")],
            goal,
            trials=2,
            replications=2,
        )
    with pytest.raises(ValueError, match="seed the search did not use"):
        Tuning(
            split,
            "split.yaml",
            [parse_param(f"{GOOD}=0..8")],
            goal,
            trials=2,
            replications=2,
            seed=3,
            confirm_seed=3,
        )


def test_tuning_finds_the_known_best_and_confirms_it_on_fresh_seeds(
    split: Scenario, tmp_path: Path
) -> None:
    tuning = Tuning(
        split,
        "split.yaml",
        [parse_param(f"{GOOD}=0..8"), parse_param(f"{POOR}=0.0..2.0")],
        parse_objective("auth_rate"),
        trials=16,
        replications=2,
        confirm=2,
        out=tmp_path,
    )
    assert tuning.confirm_seed != tuning.seed
    result = tuning.run()
    best = result.recommended
    good, poor = best.point.values[GOOD], best.point.values[POOR]
    assert isinstance(good, int)  # integer bounds: an integer parameter
    # the known optimum: (nearly) every first attempt to the good acquirer
    assert good >= 6 and poor <= 0.25, best.point.values
    assert best.summary.acquirer_share["good"] >= 0.95
    # re-measured on the fresh seed, paired with the scenario's own weights (good share 1/3)
    assert best.summary.seed == result.confirm_seed == split.seed + 1
    assert best.summary.replications == 4
    diff = best.differences[OBJECTIVE]
    assert diff.estimate > 0.08 and result.significant
    baseline = result.confirmation.baseline
    assert baseline.point.values == {GOOD: 0.5, POOR: 1.0}
    assert baseline.summary.acquirer_share["good"] == pytest.approx(1 / 3, abs=0.03)
    # the tuned scenario holds the values and runs as it is
    paths = write_tune(result, tmp_path)
    tuned = load_scenario(paths["scenario"])
    assert tuned.policy("split").strategy.model_dump()["weights"] == {"good": good, "poor": poor}
    rerun = simulate(tuned, replications=2, seed=result.confirm_seed)
    assert rerun.summary.acquirer_share["good"] >= 0.95
    data = json.loads(paths["json"].read_text())
    assert len(data["trials"]) == 16 and data["recommended"]["significant"] is True
    assert data["confirmation"]["seed"] == split.seed + 1
    assert "tuned.yaml" in paths["html"].read_text()
    # started again, it proposes the same trials and reads every replication back
    stored = len(list((tmp_path / "tasks").glob("*.json")))
    with ProcessExecutor(2) as executor:
        again = tuning.run(executor)
    assert len(list((tmp_path / "tasks").glob("*.json"))) == stored
    assert [t.values for t in again.trials] == [t.values for t in result.trials]
    assert again.recommended.point.values == best.point.values


def test_trials_without_an_objective_value_fail_and_are_never_recommended(
    split: Scenario,
) -> None:
    undefined = parse_objective("auth_rate / (cost_bps - cost_bps)")  # always 0 / 0
    tuning = Tuning(
        split, "split.yaml", [parse_param(f"{GOOD}=0..8")], undefined, trials=3, replications=2
    )
    with pytest.raises(ScenarioError, match="no trial gave a defined objective"):
        tuning.run()
