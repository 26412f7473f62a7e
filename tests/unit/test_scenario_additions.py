"""The scenario format's additions for the oracle's work: ramped incidents through the
timeline transform, sticky's inner strategy checked like any, the objective and the
schemes' numbers bounded, and the new bundled scenarios loading with their questions."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from scenarios.loader import ScenarioError, load_scenario, validate_scenario
from scenarios.transform import compress_timeline

DRIFTING = load_scenario("drifting")


def data(**changes: Any) -> dict[str, Any]:
    out = DRIFTING.model_dump(mode="python", by_alias=True)
    out.update(changes)
    return out


def test_compressing_a_timeline_scales_the_ramps_too() -> None:
    factor = 240.0 / DRIFTING.traffic.duration_s
    short = compress_timeline(DRIFTING, 240.0)
    (incident,) = short.acquirers[0].incidents
    original = DRIFTING.acquirers[0].incidents[0]
    assert (incident.start_s, incident.end_s) == pytest.approx(
        (original.start_s * factor, original.end_s * factor)
    )
    assert incident.ramp_in_s == pytest.approx(original.ramp_in_s * factor)
    assert incident.ramp_out_s == pytest.approx(original.ramp_out_s * factor)
    assert original.ramp_out_s > 0
    assert incident.strength(incident.start_s + incident.ramp_in_s / 2) == pytest.approx(0.5)


def test_a_sticky_policys_inner_volume_split_is_checked_where_it_is() -> None:
    policy = DRIFTING.policies[0].model_dump(mode="python", by_alias=True)
    policy["name"] = "sticky_split"
    policy["strategy"] = {"type": "sticky", "inner": {"type": "weighted", "weights": {"acq_x": 1}}}
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data(policies=[policy]), "s.yaml")
    fields = [field for field, _ in caught.value.problems]
    assert "policies[0].strategy.inner.weights.acq_x" in fields


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"objective": {"lambda_pp_per_bps": -1}}, "objective.lambda_pp_per_bps"),
        ({"objective": {}}, "objective.lambda_pp_per_bps"),
        ({"schemes": {"visa": {"retry_limit": 101}}}, "schemes.visa.retry_limit"),
        ({"schemes": {"visa": {"over_limit": "ignore"}}}, "schemes.visa.over_limit"),
        ({"schemes": {"mastercard": {"excess_decline_fee": -5}}}, "schemes.mastercard"),
        ({"schemes": {"amex": {}}}, "schemes.amex"),
    ],
)
def test_the_objective_and_the_schemes_numbers_are_checked(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        validate_scenario(data(**changes), "s.yaml")


@pytest.mark.parametrize("name", ["drifting", "flapping", "mid_warming", "cost_vs_approval"])
def test_the_new_scenarios_load_and_ship_the_reference_policies(name: str) -> None:
    scenario = load_scenario(name)
    assert {"priority", "sr_window"} <= {p.name for p in scenario.policies}
    reference = scenario.policy("sr_window").strategy
    assert reference.model_dump() == reference.model_validate({"type": "sr_window"}).model_dump()


def test_what_each_new_scenario_is_about_is_in_it() -> None:
    assert any(i.ramp_in_s > 0 for a in DRIFTING.acquirers for i in a.incidents)
    flaps = load_scenario("flapping").acquirers[0].incidents
    assert len(flaps) >= 5 and all(b.start_s > a.end_s for a, b in itertools.pairwise(flaps))
    warming = load_scenario("mid_warming")
    new = warming.acquirer("acq_new")
    assert new.incidents and max(i.end_s for i in new.incidents) < warming.traffic.duration_s / 2
    assert new.fees.default.pct_bps < warming.acquirer("acq_old").fees.default.pct_bps
    costly = load_scenario("cost_vs_approval")
    assert costly.objective is not None and costly.objective.lambda_pp_per_bps > 0
    cheap, premium = costly.acquirer("acq_cheap"), costly.acquirer("acq_premium")
    assert cheap.approval.base < premium.approval.base
    assert cheap.fees.default.pct_bps < premium.fees.default.pct_bps
