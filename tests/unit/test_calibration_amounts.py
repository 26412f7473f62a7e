"""The empirical amount distribution: validated by the format, drawn by the one sampler."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scenarios.loader import ScenarioError, validate_scenario
from scenarios.sampler import PaymentSampler
from scenarios.schema import EmpiricalAmount, Scenario

PERCENTILES = {0: 500.0, 50: 2000.0, 90: 9000.0, 100: 20000.0}


def with_amount(data: dict[str, Any], amount: dict[str, Any]) -> Scenario:
    data["traffic"]["mix"]["amount"] = amount
    return validate_scenario(data, "test.yaml")


def test_draws_follow_the_percentiles(baseline_data: dict[str, Any]) -> None:
    scenario = with_amount(baseline_data, {"dist": "empirical", "percentiles": PERCENTILES})
    assert isinstance(scenario.traffic.mix.amount, EmpiricalAmount)
    sampler = PaymentSampler(scenario.traffic, "DE", np.random.default_rng(3))
    amounts = np.array([p.amount for p in sampler.draw(200_000)])
    assert amounts.min() >= 500 and amounts.max() <= 20000
    assert np.median(amounts) == pytest.approx(2000, rel=0.02)
    assert np.quantile(amounts, 0.9) == pytest.approx(9000, rel=0.02)
    assert np.quantile(amounts, 0.25) == pytest.approx(
        500 + 0.5 * 1500, rel=0.03
    )  # linear in between


def test_the_amount_model_changes_no_other_draw(baseline_data: dict[str, Any]) -> None:
    empirical = with_amount(dict(baseline_data), {"dist": "empirical", "percentiles": PERCENTILES})
    base = validate_scenario(
        baseline_data
        | {
            "traffic": {
                **baseline_data["traffic"],
                "mix": {
                    **baseline_data["traffic"]["mix"],
                    "amount": {"dist": "fixed", "value": 100},
                },
            }
        }
    )
    a = PaymentSampler(empirical.traffic, "DE", np.random.default_rng(9)).draw(1000)
    b = PaymentSampler(base.traffic, "DE", np.random.default_rng(9)).draw(1000)
    assert [p[1:] for p in a] == [p[1:] for p in b]  # common random numbers


@pytest.mark.parametrize(
    ("percentiles", "message"),
    [({50: 100.0}, "at least two percentiles"), ({0: 900.0, 100: 100.0}, "must not decrease")],
)
def test_bad_percentiles_are_named(
    baseline_data: dict[str, Any], percentiles: dict[int, float], message: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        with_amount(baseline_data, {"dist": "empirical", "percentiles": percentiles})
    assert "traffic.mix.amount.percentiles" in str(info.value) and message in str(info.value)
