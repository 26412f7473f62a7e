"""Queueing waits at a simulated acquirer against queueing theory (Erlang C, Pollaczek-Khinchine).

An acquirer with ``capacity`` slots, Poisson payments and one attempt per payment is an
M/G/c queue, so its mean wait has a closed form for exponential service (Erlang C) and
for any service distribution with one slot (Pollaczek-Khinchine). Each case runs
independent replications, builds a t-interval of the per-replication mean wait over
the post-warm-up attempts, and checks that the theoretical value lies inside it and
that the interval is narrow enough for the check to have teeth.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
import pytest
import simpy
from validation_scenarios import (
    LEVEL,
    SEED,
    erlang_c,
    mg1_mean_wait_s,
    mmc_mean_wait_s,
    single_queue_scenario,
    warm_mean_waits_s,
)

from results.stats import t_interval
from scenarios.streams import replication_seeds
from simulator import simulate
from simulator.capacity import CapacityQueue
from simulator.model import Replication

REPLICATIONS = 16
PAYMENTS_PER_REPLICATION = 10_000  # warm-up included
WARMUP_FRACTION = 0.1
UTILISATION = 0.7
# A relative half-width above this would let a wrong simulator pass: at 70 % utilisation
# a 3 % error in the service rate moves the mean wait by 14-21 % (M/D/1 to M/M/5).
# Per-replication scatter measured beforehand (30 replications) puts the expected
# half-width at 3-6 %; the half-widths these seeds give are 2.7-7.5 %.
MAX_RELATIVE_HALF_WIDTH = 0.10


def _duration(rate_per_s: float) -> tuple[float, float]:
    duration = PAYMENTS_PER_REPLICATION / rate_per_s
    return duration, duration * WARMUP_FRACTION


def _check_against_theory(waits_s: list[float], theory_s: float) -> None:
    ci = t_interval(waits_s, LEVEL)
    assert ci.half_width / theory_s < MAX_RELATIVE_HALF_WIDTH, f"CI too wide to test anything: {ci}"
    assert ci.contains(theory_s), (
        f"theory {theory_s * 1000:.2f} ms outside the simulated {LEVEL:.0%} CI "
        f"[{ci.low * 1000:.2f}, {ci.high * 1000:.2f}] ms"
    )


# --- the formulas themselves -----------------------------------------------------------


def test_erlang_c_formula_matches_hand_computed_values() -> None:
    # M/M/1: the probability of waiting is the utilisation
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    # M/M/2 with a = 1: (a²/2! · 2/(2−1)) / (1 + a + a²/2! · 2/(2−1)) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)
    # the definition with factorials, for a larger case
    c, a = 5, 3.5
    top = a**c / math.factorial(c) * c / (c - a)
    bottom = sum(a**k / math.factorial(k) for k in range(c)) + top
    assert erlang_c(c, a) == pytest.approx(top / bottom)
    # M/M/1 mean wait ρ/(μ−λ), and P-K with exponential service reduces to it
    lam, mu = 7.0, 10.0
    assert mmc_mean_wait_s(1, lam, mu) == pytest.approx((lam / mu) / (mu - lam))
    assert mg1_mean_wait_s(lam, 1 / mu, 2 / mu**2) == pytest.approx((lam / mu) / (mu - lam))


# --- simulated waits -------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 2, 3, 5])
def test_mmc_mean_wait_matches_erlang_c(capacity: int) -> None:
    mean_ms = 100.0
    service_rate = 1000.0 / mean_ms
    rate = UTILISATION * capacity * service_rate
    duration, warmup = _duration(rate)
    scenario = single_queue_scenario(
        {"dist": "exponential", "mean_ms": mean_ms}, capacity, rate, duration, warmup
    )
    if capacity == 1:
        theory = (rate / service_rate) / (service_rate - rate)  # M/M/1: ρ/(μ−λ)
    else:
        theory = mmc_mean_wait_s(capacity, rate, service_rate)
    waits = warm_mean_waits_s(scenario, SEED + capacity, REPLICATIONS)
    _check_against_theory(waits, theory)


def test_md1_mean_wait_matches_pollaczek_khinchine() -> None:
    """Fixed latency: half the M/M/1 wait, so an exponential-ised service would fail."""
    service_s = 0.1
    rate = UTILISATION / service_s
    duration, warmup = _duration(rate)
    scenario = single_queue_scenario(
        {"dist": "fixed", "ms": service_s * 1000}, 1, rate, duration, warmup
    )
    theory = mg1_mean_wait_s(rate, service_s, service_s**2)
    waits = warm_mean_waits_s(scenario, SEED + 101, REPLICATIONS)
    _check_against_theory(waits, theory)


def test_mg1_lognormal_mean_wait_matches_pollaczek_khinchine() -> None:
    """Lognormal latency given as median and sigma: E[S] = m·e^(σ²/2), E[S²] = m²·e^(2σ²)."""
    sigma = 0.5
    median_s = 0.1 / math.exp(sigma**2 / 2)  # mean latency 100 ms
    mean_s = median_s * math.exp(sigma**2 / 2)
    second_moment = median_s**2 * math.exp(2 * sigma**2)
    rate = UTILISATION / mean_s
    duration, warmup = _duration(rate)
    scenario = single_queue_scenario(
        {"dist": "lognormal", "median_ms": median_s * 1000, "sigma": sigma},
        1,
        rate,
        duration,
        warmup,
    )
    theory = mg1_mean_wait_s(rate, mean_s, second_moment)
    waits = warm_mean_waits_s(scenario, SEED + 102, REPLICATIONS)
    _check_against_theory(waits, theory)


def test_simulate_reports_the_mean_of_replication_waits() -> None:
    """``SimulationResult.queue_wait_ms`` is the replication average of each queue's wait."""
    scenario = single_queue_scenario({"dist": "exponential", "mean_ms": 100.0}, 2, 14.0, 150.0)
    seed, replications = SEED + 103, 3
    result = simulate(scenario, seed=seed, replications=replications)
    own = []
    for seq in replication_seeds(seed, replications):
        replication = Replication(scenario, scenario.policy(), seq)
        replication.run()
        own.append(replication.queues[0].mean_wait_s * 1000.0)
    assert result.queue_wait_ms["acq_a"] == pytest.approx(float(np.mean(own)), rel=1e-12)
    assert result.queue_wait_ms["acq_a"] > 0.0


def test_capacity_queue_start_times_match_a_simpy_resource() -> None:
    """The queue's closed-form start times equal a reference FIFO ``simpy.Resource`` run."""
    rng = np.random.default_rng(SEED)
    capacity, n = 3, 3000
    arrivals = np.cumsum(rng.exponential(1 / 25.0, n)).tolist()
    services = rng.exponential(0.1, n).tolist()

    queue = CapacityQueue(capacity)
    starts = [queue.admit(t, s) for t, s in zip(arrivals, services, strict=True)]

    env = simpy.Environment()
    slots = simpy.Resource(env, capacity=capacity)
    reference = [math.nan] * n

    def payment(i: int) -> Generator[simpy.Event, object, None]:
        yield env.timeout(arrivals[i])
        with slots.request() as granted:
            yield granted
            reference[i] = env.now
            yield env.timeout(services[i])

    for i in range(n):
        env.process(payment(i))
    env.run()
    np.testing.assert_allclose(starts, reference, rtol=0, atol=1e-9)
    assert queue.mean_wait_s == pytest.approx(
        float(np.mean(np.subtract(reference, arrivals))), rel=1e-9
    )
    assert any(s > t for s, t in zip(starts, arrivals, strict=True))  # some payments queued
