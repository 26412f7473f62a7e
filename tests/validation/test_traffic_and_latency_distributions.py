"""The traffic and latency the simulator draws follow the distributions the scenario states.

- the payment sampler's mix matches the configured weights (chi-square goodness of fit)
  and its fields are drawn independently;
- arrival counts of time-varying profiles match the integral of the rate, in total and
  per time bin, with Poisson dispersion;
- latency quantiles are the stated distributions' own, and the end-to-end latency
  percentiles a run reports match them when nothing queues.

Every comparison is at ``STRICT_LEVEL`` (see validation_scenarios).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats
from validation_scenarios import SEED, STRICT_LEVEL, no_timeout_retry

from mock_acquirers.behaviour import latency_mean, latency_quantile
from scenarios.loader import validate_scenario
from scenarios.sampler import PaymentSampler, arrival_times, expected_arrivals
from scenarios.schema import ArrivalProfile, LatencyModel, Traffic
from scenarios.streams import RunStreams, replication_seeds
from simulator import simulate
from simulator.model import Replication

ALPHA = 1.0 - STRICT_LEVEL
Z_STRICT = float(stats.norm.ppf(1.0 - ALPHA / 2.0))

MIX: dict[str, Any] = {
    # weights need not sum to 1: the sampler normalises them
    "networks": {"visa": 58, "mastercard": 36, "amex": 6},
    "card_types": {"credit": 0.45, "debit": 0.55},
    "issuer_countries": {"DE": 0.62, "FR": 0.08, "NL": 0.06, "GB": 0.1, "US": 0.14},
    "currencies": {"EUR": 0.9, "GBP": 0.04, "USD": 0.06},
    "amount": {"dist": "lognormal", "median": 4500, "sigma": 0.9},
}
DRAWS = 40_000


def _traffic(mix: dict[str, Any]) -> Traffic:
    return Traffic.model_validate(
        {"duration_s": 60.0, "arrival": {"profile": "constant", "rate_per_s": 1.0}, "mix": mix}
    )


# --- payment mix -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def payments() -> list[Any]:
    sampler = PaymentSampler(_traffic(MIX), "DE", np.random.default_rng(SEED + 500))
    return sampler.draw(DRAWS)


@pytest.mark.parametrize(
    "field, weights_key",
    [
        ("network", "networks"),
        ("card_type", "card_types"),
        ("issuer_country", "issuer_countries"),
        ("currency", "currencies"),
    ],
)
def test_sampler_mix_matches_configured_weights(
    payments: list[Any], field: str, weights_key: str
) -> None:
    weights: dict[str, float] = MIX[weights_key]
    counts = Counter(getattr(p, field) for p in payments)
    assert set(counts) == set(weights)
    names = list(weights)
    observed = np.array([counts[n] for n in names])
    expected = np.array([weights[n] for n in names]) / sum(weights.values()) * len(payments)
    result = stats.chisquare(observed, expected)
    assert result.pvalue > ALPHA, f"{field}: observed {dict(counts)}, p = {result.pvalue:.2g}"


def test_sampler_draws_network_and_issuer_country_independently(payments: list[Any]) -> None:
    networks = sorted(MIX["networks"])
    countries = sorted(MIX["issuer_countries"])
    table = np.zeros((len(networks), len(countries)))
    for p in payments:
        table[networks.index(p.network), countries.index(p.issuer_country)] += 1
    result = stats.chi2_contingency(table)
    assert result.pvalue > ALPHA, f"network × country dependence, p = {result.pvalue:.2g}"


def test_sampler_bins_and_cross_border_flag_follow_the_card(payments: list[Any]) -> None:
    for p in payments:
        assert p.cross_border == (p.issuer_country != "DE")
        assert len(p.bin) == 6 and p.bin.isdigit()
    assert all(p.bin.startswith("4") for p in payments if p.network == "visa")
    assert all(p.bin[:2] in ("34", "37") for p in payments if p.network == "amex")
    # Mastercard's two default ranges hold 50,000 BINs each: drawn uniformly over BINs,
    # each range gets half the Mastercard payments.
    mastercard = [p.bin for p in payments if p.network == "mastercard"]
    in_51_55 = sum("510000" <= b <= "559999" for b in mastercard)
    in_2_series = sum("222100" <= b <= "272099" for b in mastercard)
    assert in_51_55 + in_2_series == len(mastercard)
    assert stats.binomtest(in_51_55, len(mastercard), 0.5).pvalue > ALPHA


def test_sampler_amounts_are_lognormal_with_the_stated_median_and_sigma(
    payments: list[Any],
) -> None:
    logs = np.log([p.amount for p in payments])
    n = logs.size
    mean_half = Z_STRICT * logs.std(ddof=1) / math.sqrt(n)
    assert abs(logs.mean() - math.log(MIX["amount"]["median"])) < mean_half
    # chi-square interval for the variance of the log-amount
    var = logs.var(ddof=1)
    low = (n - 1) * var / stats.chi2.ppf(1 - ALPHA / 2, n - 1)
    high = (n - 1) * var / stats.chi2.ppf(ALPHA / 2, n - 1)
    assert low <= MIX["amount"]["sigma"] ** 2 <= high


# --- arrivals --------------------------------------------------------------------------


def _ramp_integral(r0: float, r1: float, duration: float, a: float, b: float) -> float:
    return r0 * (b - a) + (r1 - r0) * (b * b - a * a) / (2.0 * duration)


def _diurnal_integral(
    mean: float, amp: float, period: float, peak: float, a: float, b: float
) -> float:
    k = 2.0 * math.pi / period
    return mean * (b - a) + mean * amp / k * (math.sin(k * (b - peak)) - math.sin(k * (a - peak)))


PROFILES: dict[str, tuple[dict[str, Any], float, Any]] = {
    # name: (profile, duration, expected count on [a, b) computed here, by hand)
    "ramp": (
        {"profile": "ramp", "start_rate_per_s": 5.0, "end_rate_per_s": 50.0},
        600.0,
        lambda a, b: _ramp_integral(5.0, 50.0, 600.0, a, b),
    ),
    "diurnal": (
        {
            "profile": "diurnal",
            "mean_rate_per_s": 20.0,
            "amplitude": 0.8,
            "period_s": 600.0,
            "peak_s": 150.0,
        },
        900.0,
        lambda a, b: _diurnal_integral(20.0, 0.8, 600.0, 150.0, a, b),
    ),
    "spike": (
        {
            "profile": "spike",
            "base_rate_per_s": 10.0,
            "spike_rate_per_s": 60.0,
            "start_s": 200.0,
            "end_s": 260.0,
        },
        600.0,
        lambda a, b: 10.0 * (b - a) + 50.0 * max(0.0, min(b, 260.0) - max(a, 200.0)),
    ),
}
ARRIVAL_RUNS = 30
ARRIVAL_BINS = 30


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_arrival_counts_match_the_integrated_rate(name: str) -> None:
    config, duration, integral = PROFILES[name]
    profile: ArrivalProfile = TypeAdapter(ArrivalProfile).validate_python(config)
    expected_total = integral(0.0, duration)
    assert expected_arrivals(profile, duration) == pytest.approx(expected_total, rel=1e-4)

    edges = np.linspace(0.0, duration, ARRIVAL_BINS + 1)
    expected_bins = np.array([integral(a, b) for a, b in itertools.pairwise(edges)])
    totals = []
    binned = np.zeros(ARRIVAL_BINS)
    for r in range(ARRIVAL_RUNS):
        rng = np.random.default_rng([SEED + 600, r])
        times = np.concatenate(list(arrival_times(profile, duration, rng, batch=1024)))
        assert np.all(np.diff(times) > 0) and times[0] >= 0.0 and times[-1] < duration
        totals.append(times.size)
        binned += np.histogram(times, edges)[0]
    # the grand total is Poisson(runs · Λ)
    grand_expected = ARRIVAL_RUNS * expected_total
    z = (sum(totals) - grand_expected) / math.sqrt(grand_expected)
    assert abs(z) < Z_STRICT, f"{sum(totals)} arrivals vs {grand_expected:.0f} expected"
    # the shape over time follows the rate (given the total, checked above)
    shape = stats.chisquare(binned, binned.sum() * expected_bins / expected_bins.sum())
    assert shape.pvalue > ALPHA, f"arrivals per bin do not follow the rate, p = {shape.pvalue:.2g}"
    # Poisson dispersion: variance of the counts equals their mean
    dispersion = (ARRIVAL_RUNS - 1) * np.var(totals, ddof=1) / expected_total
    assert (
        stats.chi2.ppf(ALPHA / 2, ARRIVAL_RUNS - 1)
        < dispersion
        < stats.chi2.ppf(1 - ALPHA / 2, ARRIVAL_RUNS - 1)
    )


def test_simulator_offers_the_sampler_arrivals() -> None:
    """A replication admits exactly the arrivals its arrival stream yields."""
    config, duration, _ = PROFILES["ramp"]
    scenario = validate_scenario(
        {
            "name": "arrivals",
            "merchant": {"country": "DE"},
            "acquirers": [
                {
                    "name": "acq_a",
                    "latency": {"dist": "fixed", "ms": 100},
                    "approval": {"base": 0.9},
                }
            ],
            "traffic": {"duration_s": duration, "arrival": config, "mix": MIX},
            "policies": [
                {
                    "name": "only-a",
                    "strategy": {"type": "priority"},
                    "default": ["acq_a"],
                    "retry": no_timeout_retry(1),
                }
            ],
        }
    )
    seq = replication_seeds(SEED + 601, 1)[0]
    replication = Replication(scenario, scenario.policy(), seq)
    tally = replication.run()
    own = RunStreams.spawn(replication_seeds(SEED + 601, 1)[0], 1).arrivals
    count = sum(t.size for t in arrival_times(scenario.traffic.arrival, duration, own))
    assert replication.arrived == count == tally.payments
    assert replication.queues[0].admitted == count


# --- latency ---------------------------------------------------------------------------

LATENCY_CASES: list[tuple[dict[str, Any], Any]] = [
    ({"dist": "lognormal", "median_ms": 280.0, "sigma": 0.35}, stats.lognorm(s=0.35, scale=280.0)),
    ({"dist": "exponential", "mean_ms": 120.0}, stats.expon(scale=120.0)),
    ({"dist": "uniform", "low_ms": 50.0, "high_ms": 250.0}, stats.uniform(50.0, 200.0)),
]


@pytest.mark.parametrize(
    "config, reference", LATENCY_CASES, ids=[c["dist"] for c, _ in LATENCY_CASES]
)
def test_latency_quantiles_and_mean_match_the_distribution(
    config: dict[str, Any], reference: Any
) -> None:
    model: LatencyModel = TypeAdapter(LatencyModel).validate_python(config)
    u = np.linspace(0.001, 0.999, 999)
    np.testing.assert_allclose(latency_quantile(model, u), reference.ppf(u), rtol=1e-9)
    assert latency_quantile(model, 0.5) == pytest.approx(float(reference.median()), rel=1e-9)
    assert latency_mean(model) == pytest.approx(float(reference.mean()), rel=1e-9)


def test_empirical_latency_interpolates_between_percentiles() -> None:
    model: LatencyModel = TypeAdapter(LatencyModel).validate_python(
        {"dist": "empirical", "percentiles": {0: 100.0, 50: 200.0, 99: 900.0, 100: 3000.0}}
    )
    assert latency_quantile(model, 0.5) == pytest.approx(200.0)
    assert latency_quantile(model, 0.745) == pytest.approx(200.0 + 24.5 / 49.0 * 700.0)
    assert latency_quantile(model, 0.995) == pytest.approx(900.0 + 0.5 * 2100.0)
    # mean of the piecewise-linear quantile function, by the trapezoid rule
    expected = 0.5 * (100 + 200) * 0.5 + 0.5 * (200 + 900) * 0.49 + 0.5 * (900 + 3000) * 0.01
    assert latency_mean(model) == pytest.approx(expected, rel=1e-4)


def test_reported_latency_percentiles_match_lognormal_when_nothing_queues() -> None:
    """With spare capacity and one attempt, a payment's latency is the acquirer's own.

    The reported p50/p95/p99 must lie in the distribution-free interval of the sample
    quantile (order statistics), widened by the histogram's half-bucket (2 % buckets,
    reported at the geometric midpoint).
    """
    median_ms, sigma = 300.0, 0.5
    scenario = validate_scenario(
        {
            "name": "latency",
            "merchant": {"country": "DE"},
            "acquirers": [
                {
                    "name": "acq_a",
                    "capacity": 5000,
                    "latency": {"dist": "lognormal", "median_ms": median_ms, "sigma": sigma},
                    "approval": {"base": 0.9},
                }
            ],
            "traffic": {
                "duration_s": 100.0,
                "arrival": {"profile": "constant", "rate_per_s": 300.0},
                "mix": MIX,
                "issuer_declines": {"base": {}},
            },
            "policies": [
                {
                    "name": "only-a",
                    "strategy": {"type": "priority"},
                    "default": ["acq_a"],
                    "retry": no_timeout_retry(1),
                }
            ],
        }
    )
    result = simulate(scenario, seed=SEED + 700, replications=1)
    summary = result.summary
    assert result.queue_wait_ms["acq_a"] == 0.0
    n = summary.payments
    reference = stats.lognorm(s=sigma, scale=median_ms)
    half_bucket = math.sqrt(1.02)
    for q, reported in [
        (0.5, summary.latency_ms.p50),
        (0.95, summary.latency_ms.p95),
        (0.99, summary.latency_ms.p99),
    ]:
        spread = Z_STRICT * math.sqrt(q * (1 - q) / n)
        low = reference.ppf(q - spread) / half_bucket
        high = reference.ppf(q + spread) * half_bucket
        assert low <= reported <= high, f"p{q * 100:g} = {reported} outside [{low:.1f}, {high:.1f}]"
    # the mean: sampling error, plus the histogram's midpoint bias (under 1e-4 of the
    # mean for 2 % buckets) and the summary's rounding to 0.01 ms
    slack = Z_STRICT * reference.std() / math.sqrt(n) + 1e-4 * reference.mean() + 0.005
    assert abs(summary.latency_ms.mean - reference.mean()) < slack
