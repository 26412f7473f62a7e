"""The acquirer behaviour model: latency quantiles, attempt outcomes, incidents, fees, issuer."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from scipy import integrate
from scipy import stats as sps

from mock_acquirers.behaviour import (
    AcquirerBehaviour,
    IssuerModel,
    latency_mean,
    latency_quantile,
)
from scenarios.sampler import Payment
from scenarios.schema import Acquirer, Incident, IssuerDeclines, LatencyModel

LATENCY: TypeAdapter[LatencyModel] = TypeAdapter(LatencyModel)
GRID = np.array([1e-6, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.999999])


def latency(**spec: Any) -> LatencyModel:
    return LATENCY.validate_python(spec)


def pay(
    *,
    amount: int = 5_000,
    network: str = "visa",
    card_type: str = "credit",
    issuer_country: str = "DE",
    bin: str = "411111",
    currency: str = "EUR",
    cross_border: bool | None = None,
) -> Payment:
    """A payment for a merchant in DE unless ``cross_border`` says otherwise."""
    if cross_border is None:
        cross_border = issuer_country != "DE"
    return Payment(amount, currency, network, card_type, issuer_country, bin, cross_border)


def acquirer(**overrides: Any) -> AcquirerBehaviour:
    spec: dict[str, Any] = {
        "name": "acq",
        "latency": {"dist": "fixed", "ms": 200},
        "approval": {"base": 0.9},
        "decline_codes": {"05": 0.8, "91": 0.1, "96": 0.1},
    }
    spec.update(overrides)
    return AcquirerBehaviour(Acquirer.model_validate(spec))


# --- latency ---------------------------------------------------------------------------


def test_fixed_latency() -> None:
    model = latency(dist="fixed", ms=250)
    assert latency_quantile(model, 0.3) == 250.0
    assert np.array_equal(latency_quantile(model, GRID), np.full(GRID.size, 250.0))
    assert latency_mean(model) == 250.0


def test_uniform_latency_matches_scipy() -> None:
    model = latency(dist="uniform", low_ms=100, high_ms=300)
    assert np.allclose(latency_quantile(model, GRID), sps.uniform(100, 200).ppf(GRID))
    assert latency_quantile(model, 0.5) == 200.0
    assert latency_mean(model) == 200.0


def test_exponential_latency_matches_scipy() -> None:
    model = latency(dist="exponential", mean_ms=180)
    assert np.allclose(latency_quantile(model, GRID), sps.expon(scale=180).ppf(GRID), rtol=1e-9)
    assert latency_quantile(model, 0.5) == pytest.approx(180 * np.log(2))
    assert np.isfinite(latency_quantile(model, 1.0))  # u = 1 must not give infinity
    assert latency_mean(model) == 180.0


@pytest.mark.parametrize(("median", "sigma"), [(280.0, 0.35), (420.0, 0.45), (50.0, 1.5)])
def test_lognormal_latency_matches_scipy(median: float, sigma: float) -> None:
    model = latency(dist="lognormal", median_ms=median, sigma=sigma)
    assert latency_quantile(model, 0.5) == pytest.approx(median)
    expected = sps.lognorm(s=sigma, scale=median).ppf(GRID)
    assert np.allclose(latency_quantile(model, GRID), expected, rtol=1e-9)
    assert latency_mean(model) == pytest.approx(sps.lognorm(s=sigma, scale=median).mean())
    assert np.isfinite(latency_quantile(model, 0.0)) and np.isfinite(latency_quantile(model, 1.0))


def test_lognormal_with_zero_sigma_is_the_median() -> None:
    model = latency(dist="lognormal", median_ms=300, sigma=0)
    assert np.allclose(latency_quantile(model, GRID), 300.0)


def test_empirical_latency_interpolates_and_clamps() -> None:
    model = latency(dist="empirical", percentiles={50: 200, 90: 600, 99: 1500})
    assert latency_quantile(model, 0.5) == 200.0
    assert latency_quantile(model, 0.7) == pytest.approx(400.0)
    assert latency_quantile(model, 0.945) == pytest.approx(1050.0)
    assert latency_quantile(model, 0.1) == 200.0  # below the lowest listed percentile
    assert latency_quantile(model, 0.999) == 1500.0  # above the highest
    full = latency(dist="empirical", percentiles={0: 100, 50: 200, 100: 1000})
    assert np.allclose(
        latency_quantile(full, np.array([0.0, 0.25, 0.75, 1.0])), [100.0, 150.0, 600.0, 1000.0]
    )
    # mean = ∫ Q(u) du: two trapezoids, 0.5 * 150 + 0.5 * 600
    assert latency_mean(full) == pytest.approx(375.0, rel=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "uniform", "low_ms": 50, "high_ms": 90},
        {"dist": "exponential", "mean_ms": 300},
        {"dist": "lognormal", "median_ms": 200, "sigma": 0.8},
        {"dist": "empirical", "percentiles": {10: 100, 60: 250, 95: 900}},
    ],
)
def test_latency_mean_is_the_integral_of_the_quantile(spec: dict[str, Any]) -> None:
    model = latency(**spec)
    numeric = integrate.quad(lambda u: float(latency_quantile(model, u)), 0.0, 1.0, limit=200)[0]
    assert latency_mean(model) == pytest.approx(numeric, rel=2e-3)


# --- one attempt -----------------------------------------------------------------------


def test_technical_error_below_the_error_rate() -> None:
    acq = acquirer(technical_error_rate=0.01, timeout_rate=0.02, technical_error_code="91")
    out = acq.attempt(pay(), 0.0, "51", u_fault=0.0099, u_approve=0.0, base_latency_ms=180.0)
    assert out.code == "91" and out.technical and not out.hung and not out.approved
    assert out.service_ms == 180.0
    ok = acq.attempt(pay(), 0.0, None, u_fault=0.031, u_approve=0.0, base_latency_ms=180.0)
    assert ok.approved and not ok.technical and not ok.hung


def test_hung_attempt_within_the_timeout_band() -> None:
    acq = acquirer(technical_error_rate=0.01, timeout_rate=0.02, hang_ms=25_000)
    hung = acq.attempt(pay(), 0.0, None, u_fault=0.01, u_approve=0.0, base_latency_ms=180.0)
    assert hung.hung and not hung.technical
    assert hung.service_ms == 25_000.0
    # an unknown outcome: the authorisation itself may well have gone through
    assert hung.approved
    edge = acq.attempt(pay(), 0.0, None, u_fault=0.0299, u_approve=0.95, base_latency_ms=1.0)
    assert edge.hung and edge.code in {"05", "91", "96"}
    assert not acq.attempt(pay(), 0.0, None, 0.03, 0.0, 1.0).hung


@pytest.mark.parametrize("issuer_code", ["51", "54", "41", "05"])
def test_issuer_code_always_wins(issuer_code: str) -> None:
    acq = acquirer(approval={"base": 1.0})
    for u in (0.0, 0.5, 0.999):
        out = acq.attempt(pay(), 0.0, issuer_code, u_fault=0.9, u_approve=u, base_latency_ms=1.0)
        assert out.code == issuer_code and not out.technical


def test_approval_is_base_plus_matching_deltas() -> None:
    acq = acquirer(
        approval={
            "base": 0.9,
            "effects": [
                {"when": {"cross_border": True}, "delta": -0.1},
                {"when": {"network": "amex"}, "delta": -0.05},
                {"when": {"card_type": "debit"}, "delta": 0.03},
                {"when": {"amount": {"min": 100_000}}, "delta": -0.2},
            ],
        }
    )
    cases = [
        (pay(), 0.9),
        (pay(network="amex", card_type="debit", issuer_country="US"), 0.78),
        (pay(card_type="debit", amount=100_000), 0.73),
        (pay(card_type="debit", amount=99_999), 0.93),
    ]
    for payment, p in cases:
        assert acq.base_approval(payment) == pytest.approx(p)
        assert acq.attempt(payment, 0.0, None, 0.5, p - 1e-9, 1.0).approved
        assert not acq.attempt(payment, 0.0, None, 0.5, p + 1e-9, 1.0).approved


def test_approval_is_clipped_to_0_1() -> None:
    high = acquirer(approval={"base": 0.98, "effects": [{"when": {}, "delta": 0.05}]})
    assert high.base_approval(pay()) == 1.0
    assert high.attempt(pay(), 0.0, None, 0.5, 0.9999999, 1.0).approved
    low = acquirer(approval={"base": 0.02, "effects": [{"when": {}, "delta": -0.05}]})
    assert low.base_approval(pay()) == 0.0
    assert not low.attempt(pay(), 0.0, None, 0.5, 0.0, 1.0).approved


def test_decline_code_mix_matches_the_weights() -> None:
    acq = acquirer(decline_codes={"05": 0.75, "59": 0.05, "91": 0.1, "96": 0.1})
    rng = np.random.default_rng(21)
    n = 200_000
    codes = Counter(acq.attempt(pay(), 0.0, None, 0.5, u, 1.0).code for u in rng.random(n).tolist())
    lo, hi = sps.binom.interval(0.999, n, 0.9)
    assert lo <= codes["00"] <= hi
    declined = n - codes["00"]
    observed = [codes[c] for c in ("05", "59", "91", "96")]
    assert sum(observed) == declined
    _, p_value = sps.chisquare(observed, [w * declined for w in (0.75, 0.05, 0.1, 0.1)])
    assert p_value > 0.001, codes


def test_decline_code_boundaries_follow_the_rescaled_uniform() -> None:
    acq = acquirer(approval={"base": 0.6}, decline_codes={"05": 1, "51": 1, "96": 2})
    # declines take [0.6, 1): 05 gets [0.6, 0.7), 51 [0.7, 0.8), 96 [0.8, 1)
    for u, code in [
        (0.6, "05"),
        (0.69, "05"),
        (0.71, "51"),
        (0.79, "51"),
        (0.81, "96"),
        (0.999999, "96"),
    ]:
        assert acq.attempt(pay(), 0.0, None, 0.5, u, 1.0).code == code, u


# --- incidents -------------------------------------------------------------------------

INCIDENTS = [
    {
        "name": "visa-outage",
        "start_s": 100,
        "end_s": 200,
        "when": {"network": "visa"},
        "approval_delta": -0.2,
        "error_rate": 0.1,
        "timeout_rate": 0.05,
        "latency_factor": 2.0,
    },
    {
        "name": "slow",
        "start_s": 150,
        "end_s": 300,
        "approval_delta": -0.1,
        "error_rate": 0.05,
        "latency_factor": 3.0,
    },
]


@pytest.mark.parametrize(
    ("t", "network", "approval", "error", "timeout", "factor"),
    [
        (99.999, "visa", 0.9, 0.01, 0.002, 1.0),
        (100.0, "visa", 0.7, 0.11, 0.052, 2.0),
        (150.0, "visa", 0.6, 0.16, 0.052, 6.0),
        (150.0, "mastercard", 0.8, 0.06, 0.002, 3.0),
        (199.999, "visa", 0.6, 0.16, 0.052, 6.0),
        (200.0, "visa", 0.8, 0.06, 0.002, 3.0),
        (300.0, "visa", 0.9, 0.01, 0.002, 1.0),
    ],
)
def test_incidents_combine_in_their_window_for_matching_payments(
    *,
    t: float,
    network: str,
    approval: float,
    error: float,
    timeout: float,
    factor: float,
) -> None:
    acq = acquirer(technical_error_rate=0.01, timeout_rate=0.002, incidents=INCIDENTS)
    cond = acq.conditions(pay(network=network), t)
    assert cond.approval == pytest.approx(approval)
    assert cond.error_rate == pytest.approx(error)
    assert cond.timeout_rate == pytest.approx(timeout)
    assert cond.latency_factor == pytest.approx(factor)
    # attempt() applies the same conditions
    assert acq.attempt(pay(network=network), t, None, 0.9, 0.0, 100.0).service_ms == (
        pytest.approx(100.0 * factor)
    )
    assert acq.attempt(pay(network=network), t, None, error - 1e-9, 0.0, 1.0).technical
    assert not acq.attempt(pay(network=network), t, None, error + 1e-9, 0.0, 1.0).technical
    hung = acq.attempt(pay(network=network), t, None, error + timeout - 1e-9, 0.0, 1.0)
    assert hung.hung and hung.service_ms == 30_000.0  # hang_ms, whatever the latency factor
    assert acq.attempt(pay(network=network), t, None, 0.99, approval - 1e-9, 1.0).approved
    assert not acq.attempt(pay(network=network), t, None, 0.99, approval + 1e-9, 1.0).approved


def test_incident_rates_are_capped() -> None:
    acq = acquirer(
        technical_error_rate=0.5,
        incidents=[{"start_s": 0, "end_s": 10, "error_rate": 0.8, "approval_delta": -1.0}],
    )
    cond = acq.conditions(pay(), 5.0)
    assert cond.error_rate == 1.0 and cond.approval == 0.0


def test_active_incidents_and_injection() -> None:
    acq = acquirer(incidents=INCIDENTS)
    assert acq.active_incidents(120.0) == ["visa-outage"]
    assert acq.active_incidents(160.0) == ["visa-outage", "slow"]
    acq.inject(Incident(name="injected", start_s=0, end_s=1_000, error_rate=1.0))
    assert acq.active_incidents(50.0) == ["injected"]
    assert acq.attempt(pay(), 50.0, None, 0.99, 0.0, 1.0).technical
    assert acq.clear_injected() == 1
    assert acq.active_incidents(50.0) == []
    assert acq.active_incidents(160.0) == ["visa-outage", "slow"]
    assert not acq.attempt(pay(), 50.0, None, 0.99, 0.0, 1.0).technical


# --- fees ------------------------------------------------------------------------------


def test_fee_per_network() -> None:
    acq = acquirer(
        fees={
            "default": {"pct_bps": 100, "fixed": 10, "per_attempt": 2},
            "by_network": {"amex": {"pct_bps": 250}},
        }
    )
    assert acq.fee(pay(amount=10_000), approved=True) == pytest.approx(2 + 100 + 10)
    assert acq.fee(pay(amount=10_000), approved=False) == 2.0
    assert acq.fee(pay(amount=10_000, network="amex"), approved=True) == pytest.approx(250.0)
    assert acq.fee(pay(amount=10_000, network="amex"), approved=False) == 0.0
    assert acquirer().fee(pay(), approved=True) == 0.0


# --- issuer ----------------------------------------------------------------------------

ISSUER = {
    "base": {"51": 0.04, "05": 0.01, "54": 0.004},
    "effects": [
        {"when": {"card_type": "debit"}, "factor": 1.5},
        {"when": {"cross_border": True}, "factor": 2.0},
    ],
}


@pytest.mark.parametrize(
    ("payment", "factor"),
    [
        (pay(), 1.0),
        (pay(card_type="debit"), 1.5),
        (pay(issuer_country="US"), 2.0),
        (pay(card_type="debit", issuer_country="US"), 3.0),
    ],
)
def test_issuer_probabilities_per_segment(payment: Payment, factor: float) -> None:
    issuer = IssuerModel(IssuerDeclines.model_validate(ISSUER))
    p51, p05, p54 = 0.04 * factor, 0.01 * factor, 0.004 * factor
    total = p51 + p05 + p54
    assert issuer.decline_probability(payment) == pytest.approx(total)
    # the codes partition [0, total) in the order listed
    for u, code in [
        (0.0, "51"),
        (p51 - 1e-9, "51"),
        (p51 + 1e-9, "05"),
        (p51 + p05 - 1e-9, "05"),
        (p51 + p05 + 1e-9, "54"),
        (total - 1e-9, "54"),
        (issuer.decline_probability(payment), None),
        (total + 1e-9, None),
        (0.999, None),
    ]:
        assert issuer.decline_code(payment, u) == code, (u, code)


def test_issuer_declines_are_capped_at_certainty() -> None:
    issuer = IssuerModel(
        IssuerDeclines.model_validate(
            {"base": {"51": 0.2, "05": 0.1}, "effects": [{"when": {}, "factor": 20}]}
        )
    )
    assert issuer.decline_probability(pay()) == pytest.approx(1.0)
    assert issuer.decline_code(pay(), 0.66) == "51"
    assert issuer.decline_code(pay(), 0.67) == "05"
    assert IssuerModel(IssuerDeclines(base={})).decline_code(pay(), 0.0) is None


# --- segment caching -------------------------------------------------------------------

effect_whens = st.sampled_from(
    [
        {},
        {"network": "amex"},
        {"cross_border": True},
        {"card_type": ["debit"]},
        {"amount": {"min": 1_000, "max": 5_000}},
        {"amount": {"min": 5_000}},
        {"amount": 250},
        {"bin": "4111"},
        {"issuer_country": ["US", "FR"], "card_type": "debit"},
    ]
)
payments = st.builds(
    pay,
    amount=st.sampled_from([250, 999, 1_000, 4_999, 5_000, 80_000]),
    network=st.sampled_from(["visa", "amex"]),
    card_type=st.sampled_from(["credit", "debit"]),
    issuer_country=st.sampled_from(["DE", "US", "FR"]),
    bin=st.sampled_from(["411111", "400000"]),
    cross_border=st.booleans(),
)


@settings(max_examples=100, deadline=None)
@given(
    whens=st.lists(effect_whens, min_size=1, max_size=4),
    batch=st.lists(payments, min_size=1, max_size=30),
)
def test_segment_caches_do_not_change_answers(
    whens: list[dict[str, Any]], batch: list[Payment]
) -> None:
    acq = acquirer(
        approval={
            "base": 0.8,
            "effects": [{"when": w, "delta": 0.05 * (i + 1)} for i, w in enumerate(whens)],
        }
    )
    issuer = IssuerModel(
        IssuerDeclines.model_validate(
            {
                "base": {"51": 0.05},
                "effects": [{"when": w, "factor": 1.0 + i} for i, w in enumerate(whens)],
            }
        )
    )
    for _ in range(2):
        for p in batch:
            assert acq.base_approval(p) == acq._approval_for(p)
            assert issuer._cdf(p) == issuer._cdf_for(p)


# --- edges the mutation run found unpinned ------------------------------------------------


def test_an_incident_starts_at_its_start_and_is_over_at_its_end() -> None:
    acq = acquirer(incidents=[{"name": "down", "start_s": 100, "end_s": 200, "error_rate": 1.0}])
    assert (
        acq.active_incidents(100.0) == ["down"] and acq.conditions(pay(), 100.0).error_rate == 1.0
    )
    assert acq.active_incidents(200.0) == [] and acq.conditions(pay(), 200.0).error_rate == 0.0
    assert acq.active_incidents(99.999) == [] and acq.active_incidents(199.999) == ["down"]


def test_conditions_never_pass_certainty() -> None:
    acq = acquirer(
        timeout_rate=0.5,
        incidents=[{"start_s": 0, "end_s": 10, "approval_delta": 0.5, "timeout_rate": 0.8}],
    )
    cond = acq.conditions(pay(), 5.0)
    assert (cond.approval, cond.timeout_rate) == (1.0, 1.0)


def test_an_issuer_without_codes_never_declines() -> None:
    issuer = IssuerModel(IssuerDeclines.model_validate({"base": {}}))
    assert issuer.decline_probability(pay()) == 0.0
    assert issuer.decline_code(pay(), 0.0) is None


def test_issuer_declines_between_one_and_two_are_scaled_to_certainty() -> None:
    issuer = IssuerModel(
        IssuerDeclines.model_validate(
            {
                "base": {"51": 0.3, "05": 0.3},
                "effects": [{"when": {"network": "mastercard"}, "factor": 3.0}],
            }
        )
    )
    assert issuer.decline_probability(pay()) == pytest.approx(0.6)
    # 0.9 + 0.9 = 1.8: scaled to 1.0, the codes keep their shares
    assert issuer.decline_probability(pay(network="mastercard")) == pytest.approx(1.0)
    assert issuer.decline_code(pay(network="mastercard"), 0.49) == "51"
    assert issuer.decline_code(pay(network="mastercard"), 0.51) == "05"


def test_void_and_status_answers_take_their_own_latency_or_the_attempts_median() -> None:
    plain = acquirer(latency={"dist": "lognormal", "median_ms": 200, "sigma": 0.5})
    # no void/status latency of its own: the median of the attempt latency, every time
    assert plain.median_ms == pytest.approx(200.0)
    assert plain.void_fixed_ms == pytest.approx(200.0) and plain.void_ms(0.9) == pytest.approx(
        200.0
    )
    assert plain.status_ms(0.1) == pytest.approx(200.0)
    own = acquirer(
        latency={"dist": "lognormal", "median_ms": 200, "sigma": 0.5},
        void_latency={"dist": "uniform", "low_ms": 10, "high_ms": 30},
        status_latency={"dist": "uniform", "low_ms": 60, "high_ms": 80},
    )
    assert own.void_fixed_ms is None  # drawn per void, from the void latency
    assert own.void_ms(0.5) == pytest.approx(20.0) and own.void_ms(0.75) == pytest.approx(25.0)
    assert own.status_fixed_ms is None and own.status_ms(0.5) == pytest.approx(70.0)
    fixed = acquirer(void_latency={"dist": "fixed", "ms": 45})
    assert fixed.void_fixed_ms == 45.0 and fixed.void_ms(0.99) == 45.0


def test_a_bin_effect_is_judged_per_payment_not_per_segment() -> None:
    acq = acquirer(approval={"base": 0.9, "effects": [{"when": {"bin": "4111"}, "delta": -0.5}]})
    assert acq.base_approval(pay(bin="411111")) == pytest.approx(0.4)
    assert acq.base_approval(pay(bin="422222")) == pytest.approx(0.9)  # same segment
    assert acq.base_approval(pay(bin="411199")) == pytest.approx(0.4)
