"""The payment sampler and the arrival process shared by the simulator and the load tests."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats as sps

from scenarios.conditions import StrRange
from scenarios.sampler import (
    PaymentSampler,
    arrival_rate,
    arrival_times,
    expected_arrivals,
    peak_rate,
)
from scenarios.schema import DEFAULT_BINS, ArrivalProfile, Traffic

MIX: dict[str, Any] = {
    "networks": {"visa": 0.58, "mastercard": 0.36, "amex": 0.06},
    "card_types": {"credit": 0.45, "debit": 0.55},
    "issuer_countries": {"DE": 0.62, "FR": 0.08, "GB": 0.1, "US": 0.2},
    "currencies": {"EUR": 0.9, "USD": 0.1},
    "amount": {"dist": "lognormal", "median": 4500, "sigma": 0.9},
}


def traffic(**mix: Any) -> Traffic:
    return Traffic.model_validate(
        {
            "duration_s": 60,
            "arrival": {"profile": "constant", "rate_per_s": 10},
            "mix": {**MIX, **mix},
        }
    )


def sampler(seed: int = 1, country: str = "DE", **mix: Any) -> PaymentSampler:
    return PaymentSampler(traffic(**mix), country, np.random.default_rng(seed))


# --- payments --------------------------------------------------------------------------


def test_draw_is_deterministic_per_seed() -> None:
    assert sampler(5).draw(500) == sampler(5).draw(500)
    assert sampler(5).draw(500) != sampler(6).draw(500)
    # next() serves the same stream as one large draw
    one, many = sampler(9), sampler(9)
    assert [one.next() for _ in range(100)] == many.draw(4096)[:100]


@pytest.mark.parametrize("field", ["networks", "card_types", "issuer_countries", "currencies"])
def test_categorical_frequencies_match_the_weights(field: str) -> None:
    attr = {
        "networks": "network",
        "card_types": "card_type",
        "issuer_countries": "issuer_country",
        "currencies": "currency",
    }[field]
    n = 40_000
    drawn = [getattr(p, attr) for p in sampler(3).draw(n)]
    weights: dict[str, float] = MIX[field]
    total = sum(weights.values())
    observed = [drawn.count(name) for name in weights]
    assert sum(observed) == n  # nothing outside the listed categories
    _, p_value = sps.chisquare(observed, [w / total * n for w in weights.values()])
    assert p_value > 0.001, dict(zip(weights, observed, strict=True))


def test_unnormalised_weights_and_zero_weights() -> None:
    drawn = sampler(4, networks={"visa": 3, "mastercard": 1, "amex": 0}).draw(8_000)
    counts = {net: sum(p.network == net for p in drawn) for net in ("visa", "mastercard", "amex")}
    assert counts["amex"] == 0
    lo, hi = sps.binom.interval(0.999, 8_000, 0.75)
    assert lo <= counts["visa"] <= hi


def _in_ranges(bin_: str, ranges: list[StrRange]) -> bool:
    return any(r.contains(bin_) for r in ranges)


def test_bins_fall_in_the_default_network_ranges() -> None:
    networks = {name: 1.0 for name in DEFAULT_BINS}
    drawn = sampler(8, networks=networks).draw(30_000)
    for p in drawn:
        assert len(p.bin) == 6 and p.bin.isdigit(), p.bin
        assert _in_ranges(p.bin, DEFAULT_BINS[p.network]), (p.network, p.bin)
    # a network with two ranges of equal size gets each about half the time
    mc = [p.bin for p in drawn if p.network == "mastercard"]
    in_first = sum(DEFAULT_BINS["mastercard"][0].contains(b) for b in mc)
    lo, hi = sps.binom.interval(0.999, len(mc), 0.5)
    assert lo <= in_first <= hi


def test_custom_bins_and_unknown_networks() -> None:
    bins = {"visa": [{"min": "411111", "max": "411111"}, {"min": "4000", "max": "4001"}]}
    drawn = sampler(2, networks={"visa": 1, "elo": 1}, bins=bins).draw(5_000)
    visa = [p.bin for p in drawn if p.network == "visa"]
    other = [p.bin for p in drawn if p.network == "elo"]
    assert visa and other
    # short bounds widen to six digits: 4000..4001 covers 400000..400199
    assert all(b == "411111" or "400000" <= b <= "400199" for b in visa)
    assert 0 < visa.count("411111") < len(visa) / 50  # one BIN against 200
    assert all("900000" <= b <= "999999" and len(b) == 6 for b in other)


def test_cross_border_is_issuer_country_against_merchant_country() -> None:
    for country in ("DE", "US", "JP"):
        drawn = sampler(6, country=country).draw(2_000)
        assert all(p.cross_border == (p.issuer_country != country) for p in drawn)
        # plain Python values, not numpy scalars: payments go to JSON and over HTTP as they are
        assert all(
            type(p.cross_border) is bool
            and type(p.amount) is int
            and type(p.network) is str
            and type(p.bin) is str
            for p in drawn
        )
        assert any(p.cross_border for p in drawn)
        assert country == "JP" or not all(p.cross_border for p in drawn)


def test_lognormal_amounts() -> None:
    amounts = np.array(
        [
            p.amount
            for p in sampler(
                7, amount={"dist": "lognormal", "median": 4500, "sigma": 0.9, "max": 50_000}
            ).draw(40_000)
        ]
    )
    assert amounts.min() >= 1 and amounts.max() <= 50_000
    assert amounts.dtype.kind == "i"
    assert np.median(amounts) == pytest.approx(4500, rel=0.03)
    capped = 1 - sps.norm.cdf(np.log(50_000 / 4500) / 0.9)  # P(amount beyond max)
    assert (amounts == 50_000).mean() == pytest.approx(capped, abs=0.003)


def test_uniform_amounts_are_inclusive() -> None:
    amounts = [
        p.amount for p in sampler(7, amount={"dist": "uniform", "min": 100, "max": 104}).draw(5_000)
    ]
    assert set(amounts) == {100, 101, 102, 103, 104}
    observed = [amounts.count(v) for v in range(100, 105)]
    assert sps.chisquare(observed).pvalue > 0.001


def test_fixed_amounts() -> None:
    drawn = sampler(7, amount={"dist": "fixed", "value": 1234}).draw(1_000)
    assert {p.amount for p in drawn} == {1234}


# --- arrivals --------------------------------------------------------------------------

PROFILE: TypeAdapter[ArrivalProfile] = TypeAdapter(ArrivalProfile)
DURATION = 600.0

PROFILES: dict[str, dict[str, Any]] = {
    "constant": {"profile": "constant", "rate_per_s": 20},
    "piecewise": {
        "profile": "piecewise",
        "steps": [
            {"start_s": 0, "rate_per_s": 5},
            {"start_s": 200, "rate_per_s": 0},
            {"start_s": 300, "rate_per_s": 40},
        ],
    },
    "ramp": {"profile": "ramp", "start_rate_per_s": 2, "end_rate_per_s": 30},
    "spike": {
        "profile": "spike",
        "base_rate_per_s": 5,
        "spike_rate_per_s": 60,
        "start_s": 100,
        "end_s": 160,
    },
    "diurnal": {
        "profile": "diurnal",
        "mean_rate_per_s": 15,
        "amplitude": 0.8,
        "period_s": 300,
        "peak_s": 50,
    },
}
# the integral of each rate over [0, 600), worked out by hand
EXACT_EXPECTED = {
    "constant": 20 * 600,
    "piecewise": 5 * 200 + 0 * 100 + 40 * 300,
    "ramp": (2 + 30) / 2 * 600,
    "spike": 5 * 540 + 60 * 60,
    "diurnal": 15 * 600,  # two whole periods: the cosine integrates to zero
}


def _collect(profile: ArrivalProfile, seed: int, start_s: float = 0.0) -> np.ndarray:
    batches = list(
        arrival_times(profile, DURATION, np.random.default_rng(seed), batch=512, start_s=start_s)
    )
    for a, b in itertools.pairwise(batches):
        assert a[-1] <= b[0]  # batches follow each other in time
    return np.concatenate(batches)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_expected_arrivals_is_the_integral_of_the_rate(name: str) -> None:
    profile = PROFILE.validate_python(PROFILES[name])
    assert expected_arrivals(profile, DURATION) == pytest.approx(EXACT_EXPECTED[name], rel=2e-3)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_arrival_times_are_a_poisson_process(name: str) -> None:
    profile = PROFILE.validate_python(PROFILES[name])
    expected = EXACT_EXPECTED[name]
    counts = []
    for seed in range(5):
        times = _collect(profile, seed)
        assert np.all(np.diff(times) >= 0.0)
        assert times[0] >= 0.0 and times[-1] < DURATION
        lo, hi = sps.poisson.interval(0.999, expected)
        assert lo <= times.size <= hi, (name, seed, times.size, expected)
        counts.append(times.size)
    # five replications: their total is Poisson(5 × expected) too
    lo, hi = sps.poisson.interval(0.999, 5 * expected)
    assert lo <= sum(counts) <= hi


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_arrivals_follow_the_rate_over_time(name: str) -> None:
    profile = PROFILE.validate_python(PROFILES[name])
    times = np.concatenate([_collect(profile, seed) for seed in range(10, 14)])
    edges = np.linspace(0.0, DURATION, 21)
    observed, _ = np.histogram(times, edges)
    fine = np.linspace(0.0, DURATION, 200_001)
    rates = arrival_rate(profile, fine, DURATION)
    per_bin = np.add.reduceat(rates[:-1] * np.diff(fine), np.arange(0, 200_000, 10_000))
    keep = per_bin > 0
    assert np.all(observed[~keep] == 0)  # a zero-rate step gets no payments
    # the total is tested above; here only the shape, so one degree of freedom goes
    _, p_value = sps.chisquare(
        observed[keep], per_bin[keep] * observed.sum() / per_bin.sum(), ddof=1
    )
    assert p_value > 0.001, (observed, per_bin.round())


def test_arrivals_from_a_later_start() -> None:
    profile = PROFILE.validate_python(PROFILES["constant"])
    times = _collect(profile, 3, start_s=450.0)
    assert times.min() >= 450.0 and times.max() < DURATION
    lo, hi = sps.poisson.interval(0.999, 20 * 150)
    assert lo <= times.size <= hi


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_peak_rate_bounds_the_rate(name: str) -> None:
    profile = PROFILE.validate_python(PROFILES[name])
    grid = np.linspace(0.0, DURATION, 100_001)
    rates = arrival_rate(profile, grid, DURATION)
    assert np.all(rates >= 0.0)
    assert rates.max() <= peak_rate(profile) + 1e-9
    assert rates.max() == pytest.approx(peak_rate(profile), rel=1e-6)  # and it is tight


def test_rate_shapes() -> None:
    ramp = PROFILE.validate_python(PROFILES["ramp"])
    assert np.allclose(arrival_rate(ramp, np.array([0.0, 300.0, 600.0]), DURATION), [2, 16, 30])
    spike = PROFILE.validate_python(PROFILES["spike"])
    assert list(arrival_rate(spike, np.array([99.9, 100.0, 159.9, 160.0]), DURATION)) == [
        5,
        60,
        60,
        5,
    ]
    steps = PROFILE.validate_python(PROFILES["piecewise"])
    assert list(arrival_rate(steps, np.array([0.0, 199.9, 200.0, 299.9, 300.0]), DURATION)) == [
        5,
        5,
        0,
        0,
        40,
    ]
    diurnal = PROFILE.validate_python(PROFILES["diurnal"])
    assert arrival_rate(diurnal, np.array([50.0, 200.0]), DURATION) == pytest.approx([27, 3])


def test_bins_below_100000_keep_their_leading_zeros() -> None:
    """A range under 100000 (Mir-like 022...): zero-padded six digits, never five."""
    bins = {"visa": [{"min": "022000", "max": "022009"}, {"min": "411111", "max": "411111"}]}
    drawn = [p.bin for p in sampler(4, networks={"visa": 1}, bins=bins).draw(3_000)]
    assert set(drawn) <= {f"0220{k:02d}" for k in range(10)} | {"411111"}
    assert "411111" in drawn and any(b.startswith("0220") for b in drawn)
    assert all(len(b) == 6 for b in drawn)
