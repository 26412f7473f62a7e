"""Run identity: what a run ran, hashed so that only what changes its payments tells runs apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from results.identity import policy_hash, scenario_hash, simulated_identity
from scenarios.loader import load_scenario
from scenarios.schema import Scenario
from scenarios.transform import compress_timeline, scenario_yaml
from simulator import simulate


def variant(data: dict[str, Any], **changes: Any) -> Scenario:
    return Scenario.model_validate({**data, **changes})


def test_what_does_not_change_a_payment_does_not_change_the_hash(
    baseline: Scenario, baseline_data: dict[str, Any]
) -> None:
    same = scenario_hash(baseline)
    assert len(same) == 64 and int(same, 16) >= 0  # sha256, hex
    assert scenario_hash(variant(baseline_data)) == same  # loaded twice
    for changes in (
        {"name": "baseline_copy"},
        {"description": "another text"},
        {"replications": 17},
        {"seed": 4},
        {"slo": {"p99_ms": 900.0}},
        {"policies": baseline_data["policies"][:1]},
    ):
        assert scenario_hash(variant(baseline_data, **changes)) == same, changes


def test_what_changes_a_payment_changes_the_hash(baseline_data: dict[str, Any]) -> None:
    same = scenario_hash(variant(baseline_data))
    acquirers = [dict(a) for a in baseline_data["acquirers"]]
    acquirers[0] = {**acquirers[0], "approval": {**acquirers[0]["approval"], "base": 0.5}}
    assert scenario_hash(variant(baseline_data, acquirers=acquirers)) != same
    traffic = {**baseline_data["traffic"], "duration_s": 900.0}
    assert scenario_hash(variant(baseline_data, traffic=traffic)) != same
    assert scenario_hash(variant(baseline_data, warmup_s=120.0)) != same


def test_a_policy_change_keeps_the_scenario_hash_and_changes_the_policy_hash(
    baseline: Scenario,
) -> None:
    policy = baseline.policies[0]
    tuned = policy.model_copy(update={"retry": policy.retry.model_copy(update={"budget_ms": 1.0})})
    tuned_scenario = baseline.with_policy(tuned)
    assert scenario_hash(tuned_scenario) == scenario_hash(baseline)
    assert policy_hash(tuned) != policy_hash(policy)
    renamed = policy.model_copy(update={"name": "another_name", "description": "words"})
    assert policy_hash(renamed) == policy_hash(policy)  # what it does, not what it is called
    assert policy_hash(baseline.policies[1]) != policy_hash(policy)


def test_a_simulated_run_records_its_identity(baseline: Scenario) -> None:
    short = compress_timeline(baseline, 60.0)
    summary = simulate(short, "priority", seed=3, replications=2).summary
    assert summary.identity == simulated_identity(short, short.policy("priority"), 3, 2)
    identity = summary.identity
    assert identity is not None
    assert (identity.engine, identity.seed, identity.replications) == ("simulator", 3, 2)
    assert (identity.timeline_s, identity.time_scale, identity.rate_scale) == (60.0, 1.0, 1.0)
    assert identity.scenario_hash == scenario_hash(short) != scenario_hash(baseline)
    assert identity.policy_hash == policy_hash(short.policy("priority"))
    assert summary.reversed_approvals_source == "behaviour model"


def test_the_demos_short_scenario_written_and_loaded_keeps_its_hash(tmp_path: Path) -> None:
    """The demo simulates the short scenario in memory and load-tests it from its file:
    the two must be the same experiment."""
    short = compress_timeline(load_scenario("acquirer_outage"), 45.0)
    path = tmp_path / f"{short.name}.yaml"
    path.write_text(scenario_yaml(short), encoding="utf-8")
    assert scenario_hash(load_scenario(path)) == scenario_hash(short)


@pytest.mark.parametrize("name", ["baseline", "acquirer_outage", "cross_border", "latency_spike"])
def test_bundled_scenarios_are_different_experiments(name: str) -> None:
    others = {
        scenario_hash(load_scenario(n))
        for n in ("baseline", "acquirer_outage", "cross_border", "latency_spike")
        if n != name
    }
    assert scenario_hash(load_scenario(name)) not in others
