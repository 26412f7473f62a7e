"""The fitting methods on data whose answer is known: change points, partial pooling,
fee least squares, lognormal vs empirical, the issuer decline model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration.approval import MAX_PRIOR, fit_approval, prior_strength
from calibration.distributions import fit_lognormal, monotone_percentiles
from calibration.fees import fee_grade, fit_fees
from calibration.incidents import incident_segments, segments
from calibration.traffic_fit import poisson_glm, poisson_rate

RNG = np.random.default_rng(20261203)


def series(buckets: int, n: int, p: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...]:
    attempts = np.full(buckets, n)
    errors = RNG.binomial(attempts, e)
    decided = attempts - errors
    approved = RNG.binomial(decided, p)
    return decided, approved, attempts, errors


def test_an_approval_drop_is_found_on_its_buckets() -> None:
    p = np.full(120, 0.93)
    p[40:70] = 0.80
    parts = segments(*series(120, 400, p, np.full(120, 0.005)))
    (incident,) = incident_segments(parts)
    assert (incident.start, incident.end) == (40, 70)


def test_an_error_burst_alone_is_an_incident() -> None:
    e = np.full(90, 0.004)
    e[10:15] = 0.08
    (incident,) = incident_segments(segments(*series(90, 300, np.full(90, 0.95), e)))
    assert (incident.start, incident.end) == (10, 15)


def test_steady_traffic_has_no_incident() -> None:
    for _ in range(5):
        assert (
            incident_segments(segments(*series(200, 500, np.full(200, 0.94), np.full(200, 0.01))))
            == []
        )


def test_a_small_significant_wobble_is_not_an_incident() -> None:
    p = np.full(100, 0.95)
    p[50:] = 0.94  # 1 pp: below the 2 pp a window must move to be an incident
    assert incident_segments(segments(*series(100, 5000, p, np.full(100, 0.002)))) == []


def test_partial_pooling_pulls_thin_segments_to_the_acquirer_mean() -> None:
    k = np.array([9000, 850, 2])
    n = np.array([10000, 1000, 2])
    fit = fit_approval(
        [("visa", "debit", False), ("visa", "debit", True), ("amex", "credit", False)], k, n, 0.95
    )
    thin = fit.cells[("amex", "credit", False)]
    assert thin.value < 0.95 and thin.grade == "thin"  # 2 of 2 approved, yet not ~100 %
    big = fit.cells[("visa", "debit", False)]
    assert abs(big.value - 0.9) < 0.002 and big.low < 0.9 < big.high
    assert fit.base_cell == ("visa", "debit", False)
    assert fit.effects[("visa", "debit", True)].high < 0  # 85 % vs 90 %: a clear negative effect


def test_identical_segments_pool_fully() -> None:
    assert prior_strength(np.array([900, 450, 90]), np.array([1000, 500, 100])) == MAX_PRIOR


def test_fees_are_recovered_per_network_and_graded() -> None:
    amount = RNG.integers(500, 50_000, 3000).astype(float)
    network = np.where(RNG.random(3000) < 0.8, "visa", "amex").astype(object)
    approved = RNG.random(3000) < 0.9
    pct = np.where(network == "amex", 240.0, 105.0)
    fee = np.where(approved, pct * amount / 10_000 + 10.0 + 2.0, 2.0)
    default, by_network = fit_fees(network, amount, fee, approved, 0.95)
    assert (
        default is not None
        and default.grade == "good"
        and default.per_attempt == pytest.approx(2.0)
    )
    assert default.pct_bps.value == pytest.approx(105.0, abs=1e-6)
    assert default.fixed.value == pytest.approx(10.0, abs=1e-6)
    assert list(by_network) == ["amex"] and by_network["amex"].pct_bps.value == pytest.approx(240.0)
    assert (
        fee_grade(150, 3.0) == "fair"
        and fee_grade(500, 20.0) == "fair"
        and fee_grade(10, 1.0) == "thin"
    )


def test_noisy_fees_get_a_wide_interval_and_no_good_grade() -> None:
    amount = RNG.integers(500, 50_000, 400).astype(float)
    fee = 120.0 * amount / 10_000 + 8.0 + RNG.normal(0, 0.004 * amount)  # 40 bps of noise
    default, _ = fit_fees(np.full(400, "visa", dtype=object), amount, fee, np.ones(400, bool), 0.95)
    assert default is not None and default.grade == "fair" and default.rmse_bps > 15
    assert default.pct_bps.contains(120.0)


def test_lognormal_fits_lognormal_data_and_not_a_price_list() -> None:
    good = fit_lognormal(RNG.lognormal(math.log(260), 0.35, 20_000), 0.95, "latency")
    assert good is not None and good.good and good.median.contains(260.0)
    prices = RNG.choice([999.0, 1999.0, 4999.0], 20_000, p=[0.5, 0.3, 0.2])
    bad = fit_lognormal(prices, 0.95, "amount")
    assert bad is not None and not bad.good
    points = monotone_percentiles(bad.percentiles, 0)
    assert points[0.0] == 999.0 and points[100.0] == 4999.0


def test_the_issuer_model_recovers_its_factors() -> None:
    exposure = np.array([40_000.0, 30_000.0, 20_000.0, 10_000.0])
    design = np.column_stack([np.ones(4), [0, 1, 0, 1], [0, 0, 1, 1]])
    truth = np.array([math.log(0.05), math.log(1.3), math.log(1.2)])
    y = RNG.poisson(exposure * np.exp(design @ truth)).astype(float)
    beta, cov = poisson_glm(y, exposure, design)
    se = np.sqrt(np.diag(cov))
    assert np.all(np.abs(beta - truth) < 4 * se)


def test_poisson_rates_have_exact_intervals() -> None:
    rate = poisson_rate(900, 30.0, 0.95)
    assert rate.value == 30.0 and rate.low < 30.0 < rate.high
    assert poisson_rate(0, 10.0, 0.95).low == 0.0
