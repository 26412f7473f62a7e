"""The behaviour model's Merchant Advice Codes, ramped incidents (drift) and latency CDF."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from mock_acquirers.behaviour import AcquirerBehaviour, latency_cdf, latency_quantile
from scenarios.sampler import Payment
from scenarios.schema import Acquirer, Incident, LatencyModel
from scenarios.taxonomy import APPROVED

MASTERCARD = Payment(5_000, "EUR", "mastercard", "credit", "DE", "512345", False)
VISA = Payment(5_000, "EUR", "visa", "credit", "DE", "412345", False)
LATENCY: TypeAdapter[LatencyModel] = TypeAdapter(LatencyModel)


def behaviour(**overrides: Any) -> AcquirerBehaviour:
    spec: dict[str, Any] = {
        "name": "acq",
        "latency": {"dist": "fixed", "ms": 200},
        "approval": {"base": 0.6},
        "technical_error_rate": 0.05,
        "timeout_rate": 0.05,
        "decline_codes": {"05": 0.9, "91": 0.1},
    }
    spec.update(overrides)
    return AcquirerBehaviour(Acquirer.model_validate(spec))


def outcomes(model: AcquirerBehaviour, payment: Payment, n: int = 40_000) -> list[Any]:
    u = np.random.default_rng(4).random((n, 2)).tolist()
    return [model.attempt(payment, 0.0, None, f, a, 200.0) for f, a in u]


# --- Merchant Advice Codes ---------------------------------------------------------------


def test_mastercard_declines_carry_advice_codes_in_the_shares_the_scenario_sets() -> None:
    model = behaviour(merchant_advice_codes={"03": 0.2, "21": 0.05, "02": 0.1})
    got = outcomes(model, MASTERCARD)
    declines = [o for o in got if o.code != APPROVED and not o.technical]
    shares = Counter(o.advice for o in declines)
    for code, share in (("03", 0.2), ("21", 0.05), ("02", 0.1), ("", 0.65)):
        assert shares[code] / len(declines) == pytest.approx(share, abs=0.012), code
    assert {o.advice for o in got if o.code == APPROVED or o.technical} == {""}


def test_advice_is_independent_of_the_decline_code_and_hung_requests_get_it_too() -> None:
    got = outcomes(behaviour(merchant_advice_codes={"03": 0.5}), MASTERCARD)
    for code in ("05", "91"):
        of_code = [o for o in got if o.code == code and not o.technical]
        share = sum(o.advice == "03" for o in of_code) / len(of_code)
        assert share == pytest.approx(0.5, abs=0.05), code
    hung = [o for o in got if o.hung and o.code != APPROVED]
    assert 0.3 < sum(o.advice == "03" for o in hung) / len(hung) < 0.7


def test_no_advice_for_other_networks_nor_without_shares() -> None:
    assert {o.advice for o in outcomes(behaviour(merchant_advice_codes={"03": 1.0}), VISA)} == {""}
    assert {o.advice for o in outcomes(behaviour(), MASTERCARD)} == {""}


def test_advice_codes_draw_nothing_and_change_no_outcome() -> None:
    plain = outcomes(behaviour(), MASTERCARD, 5_000)
    advised = outcomes(behaviour(merchant_advice_codes={"03": 0.3, "21": 0.3}), MASTERCARD, 5_000)
    assert [(o.code, o.service_ms, o.hung) for o in plain] == [
        (o.code, o.service_ms, o.hung) for o in advised
    ]


def test_advice_shares_are_checked() -> None:
    spec: dict[str, Any] = {"name": "a", "latency": {"dist": "fixed", "ms": 1}}
    spec["approval"] = {"base": 0.9}
    with pytest.raises(ValidationError, match="above 1"):
        Acquirer.model_validate({**spec, "merchant_advice_codes": {"03": 0.7, "21": 0.4}})
    with pytest.raises(ValidationError, match="pattern"):
        Acquirer.model_validate({**spec, "merchant_advice_codes": {"3": 0.1}})


# --- ramped incidents (drift) ------------------------------------------------------------


def drift(**overrides: Any) -> Incident:
    spec: dict[str, Any] = {"start_s": 100, "end_s": 500, "approval_delta": -0.4}
    spec.update(overrides)
    return Incident.model_validate(spec)


def test_a_ramped_incident_grows_and_fades_linearly() -> None:
    incident = drift(ramp_in_s=100, ramp_out_s=200)
    times = [99.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0, 499.0, 500.0]
    assert [incident.strength(t) for t in times] == pytest.approx(
        [0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.005, 0.0]
    )
    assert [drift().strength(t) for t in (99.9, 100.0, 499.9, 500.0)] == [0.0, 1.0, 1.0, 0.0]


def test_the_behaviour_model_applies_an_incident_at_its_strength() -> None:
    model = behaviour(
        incidents=[
            drift(
                ramp_in_s=200,
                error_rate=0.2,
                timeout_rate=0.1,
                latency_factor=3.0,
            ).model_dump()
        ]
    )
    half = model.conditions(VISA, 200.0)  # half way up the ramp
    assert half.approval == pytest.approx(0.6 - 0.2)
    assert half.error_rate == pytest.approx(0.05 + 0.1)
    assert half.timeout_rate == pytest.approx(0.05 + 0.05)
    assert half.latency_factor == pytest.approx(2.0)
    full = model.conditions(VISA, 350.0)
    assert (full.approval, full.latency_factor) == pytest.approx((0.2, 3.0))
    assert model.conditions(VISA, 600.0).approval == pytest.approx(0.6)


def test_ramps_must_fit_in_the_incident() -> None:
    with pytest.raises(ValidationError, match="must fit"):
        drift(ramp_in_s=300, ramp_out_s=150)


# --- the latency CDF the oracle's truth needs ----------------------------------------------

MODELS = [
    {"dist": "fixed", "ms": 250},
    {"dist": "uniform", "low_ms": 100, "high_ms": 300},
    {"dist": "exponential", "mean_ms": 180},
    {"dist": "lognormal", "median_ms": 260, "sigma": 0.35},
    {"dist": "empirical", "percentiles": {0.0: 50.0, 50.0: 200.0, 90.0: 400.0, 100.0: 900.0}},
]


@pytest.mark.parametrize("spec", MODELS, ids=[m["dist"] for m in MODELS])
def test_the_latency_cdf_inverts_the_quantile(spec: dict[str, Any]) -> None:
    model = LATENCY.validate_python(spec)
    for u in (0.05, 0.3, 0.5, 0.8, 0.97):
        ms = float(latency_quantile(model, u))
        if spec["dist"] == "fixed":
            assert latency_cdf(model, ms) == 1.0 and latency_cdf(model, ms - 1e-6) == 0.0
        else:
            assert latency_cdf(model, ms) == pytest.approx(u, abs=1e-6)
    assert latency_cdf(model, 0.0) == pytest.approx(0.0, abs=1e-9)
    assert latency_cdf(model, 1e9) == pytest.approx(1.0)


def test_the_lognormal_cdf_at_its_edges() -> None:
    step = LATENCY.validate_python({"dist": "lognormal", "median_ms": 100, "sigma": 0})
    assert latency_cdf(step, 100.0) == 1.0 and latency_cdf(step, 99.999) == 0.0
    unit = LATENCY.validate_python({"dist": "lognormal", "median_ms": 1, "sigma": 1})
    assert latency_cdf(unit, 1.0) == pytest.approx(0.5)
    assert latency_cdf(unit, 0.5) == pytest.approx(0.244108596, abs=1e-9)  # Φ(ln 0.5)
    assert latency_cdf(unit, 0.0) == 0.0 and latency_cdf(unit, -1.0) == 0.0
