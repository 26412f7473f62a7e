"""Static routing policies converge to the auth rates their scenario implies analytically.

With a fixed split or a fixed cascade order nothing adapts, so the probability that a
payment is approved follows from the scenario's numbers alone:

- the issuer declines a fraction d of cards whichever acquirer is used;
- acquirer X fails technically with probability e_X before the issuer is asked, and
  otherwise approves a card the issuer would approve with probability p_X.

The simulated auth rate's 95 % CI (over replications, as the run summary reports it)
must contain that value and be narrow enough to matter; the secondary figures (share,
per-acquirer and first-attempt auth rates, attempts, cascade gain) are checked at
``STRICT_LEVEL``.
"""

from __future__ import annotations

from typing import Any

import pytest
from scipy.stats import binomtest
from validation_scenarios import SEED, SINGLE_SEGMENT_MIX, STRICT_LEVEL, no_timeout_retry

from results.contract import RunSummary
from results.stats import t_interval
from scenarios.loader import validate_scenario
from scenarios.schema import Scenario
from simulator import simulate

REPLICATIONS = 10
DURATION_S = 100.0
RATE_PER_S = 100.0  # 10,000 payments per replication
# 100,000 payments give a standard error near 0.12 pp on an auth rate around 85 %, so
# a 95 % half-width near 0.3 pp; routing effects worth simulating are a point or more.
MAX_HALF_WIDTH = 0.005

# Issuer-intrinsic declines, the same at every acquirer.
ISSUER_DECLINES = {"51": 0.04, "54": 0.01, "05": 0.01}
D_TOTAL = sum(ISSUER_DECLINES.values())
D_CASCADABLE = ISSUER_DECLINES["05"]  # an issuer's 05 looks like any other do-not-honour

P_A, E_A = 0.90, 0.02
P_B, E_B = 0.85, 0.01
SHARE_05_A = 0.8  # of acq_a's own declines, the rest being 57 (hard: never cascaded)

AMOUNT = SINGLE_SEGMENT_MIX["amount"]["value"]  # minor units, the same for every payment
# fees in minor units: per attempt whatever the outcome, plus pct_bps and fixed if approved
FEE_A = {"pct_bps": 100.0, "fixed": 10.0, "per_attempt": 2.0}
FEE_B = {"pct_bps": 150.0, "fixed": 5.0, "per_attempt": 1.0}


def _approved_fee(fee: dict[str, float]) -> float:
    """What an approval adds to the per-attempt fee, on AMOUNT."""
    return fee["pct_bps"] * AMOUNT / 10_000.0 + fee["fixed"]


def _scenario(policy: dict[str, Any]) -> Scenario:
    return validate_scenario(
        {
            "name": "static-routing",
            "merchant": {"country": "DE"},
            "acquirers": [
                {
                    "name": "acq_a",
                    "latency": {"dist": "fixed", "ms": 200},
                    "capacity": 1000,
                    "technical_error_rate": E_A,
                    "approval": {"base": P_A},
                    "decline_codes": {"05": SHARE_05_A, "57": 1.0 - SHARE_05_A},
                    "fees": {"default": FEE_A},
                },
                {
                    "name": "acq_b",
                    "latency": {"dist": "fixed", "ms": 150},
                    "capacity": 1000,
                    "technical_error_rate": E_B,
                    "approval": {"base": P_B},
                    "decline_codes": {"05": 1.0},
                    "fees": {"default": FEE_B},
                },
            ],
            "traffic": {
                "duration_s": DURATION_S,
                "arrival": {"profile": "constant", "rate_per_s": RATE_PER_S},
                "mix": SINGLE_SEGMENT_MIX,
                "issuer_declines": {"base": ISSUER_DECLINES},
            },
            "policies": [policy],
        },
        "<static-routing>",
    )


def _check_rate(ci95: tuple[float, float], expected: float, what: str) -> None:
    low, high = ci95
    assert (high - low) / 2 < MAX_HALF_WIDTH, f"{what}: CI {ci95} too wide to test anything"
    assert low <= expected <= high, f"{what}: analytical {expected:.5f} outside CI {ci95}"


def _check_proportion(successes: int, trials: int, expected: float, what: str) -> None:
    ci = binomtest(successes, trials).proportion_ci(STRICT_LEVEL, method="wilson")
    assert ci.high - ci.low < 2 * MAX_HALF_WIDTH, f"{what}: {ci} too wide to test anything"
    assert ci.low <= expected <= ci.high, f"{what}: {successes}/{trials} vs {expected:.5f}"


def _run(policy: dict[str, Any], seed: int) -> RunSummary:
    scenario = _scenario(policy)
    return simulate(scenario, seed=seed, replications=REPLICATIONS).summary


def test_weighted_split_auth_rate_matches_analytical_value() -> None:
    weight_a = 0.7
    summary = _run(
        {
            "name": "split-70-30",
            "strategy": {"type": "weighted", "weights": {"acq_a": 70, "acq_b": 30}},
            "default": ["acq_a", "acq_b"],
            "retry": no_timeout_retry(1),
        },
        SEED + 300,
    )
    # approved at X: no technical error, no issuer decline, acquirer-side approval
    auth_a = (1 - E_A) * (1 - D_TOTAL) * P_A
    auth_b = (1 - E_B) * (1 - D_TOTAL) * P_B
    expected = weight_a * auth_a + (1 - weight_a) * auth_b
    _check_rate(summary.auth_rate_ci95, expected, "auth rate")
    assert summary.attempts_per_payment == 1.0

    payments = summary.payments
    first_at_a = round(summary.acquirer_share["acq_a"] * payments)
    _check_proportion(first_at_a, payments, weight_a, "share of acq_a")
    # every attempt at acq_a is a first attempt here, so its auth rate is over first_at_a
    approved_a = round(summary.acquirer_auth_rate["acq_a"] * first_at_a)
    _check_proportion(approved_a, first_at_a, auth_a, "acq_a auth rate")


def test_priority_cascade_auth_rate_matches_analytical_value() -> None:
    """acq_a first, cascading to acq_b on acquirer-side do-not-honour and technical errors.

    A technical error at acq_a happens before the issuer is asked, so the card's own
    decline still applies at acq_b; a 05 from acq_a itself means the issuer would
    approve, so acq_b is tried on a card the issuer accepts. Issuer 51 and 54, and
    acq_a's hard 57, do not cascade. An issuer 05 cascades (the router cannot tell it
    from an acquirer's) and is declined again at acq_b.
    """
    summary = _run(
        {
            "name": "a-then-b",
            "strategy": {"type": "priority"},
            "default": ["acq_a", "acq_b"],
            "retry": no_timeout_retry(2),
        },
        SEED + 301,
    )
    issuer_ok = 1 - D_TOTAL
    first = (1 - E_A) * issuer_ok * P_A
    cascade_on_05 = (1 - E_A) * issuer_ok * (1 - P_A) * SHARE_05_A
    cascade_on_error = E_A
    recovered = (cascade_on_05 + cascade_on_error * issuer_ok) * (1 - E_B) * P_B
    expected = first + recovered
    cascaded = cascade_on_05 + cascade_on_error + (1 - E_A) * D_CASCADABLE

    _check_rate(summary.auth_rate_ci95, expected, "auth rate")

    reps = summary.per_replication
    first_ci = t_interval([r.first_attempt_auth_rate for r in reps], STRICT_LEVEL)
    assert first_ci.contains(first), f"first-attempt auth rate {first_ci} vs {first:.5f}"
    attempts = t_interval([r.attempts_per_payment for r in reps], STRICT_LEVEL)
    assert attempts.contains(1 + cascaded), f"attempts per payment {attempts} vs {1 + cascaded}"
    # what the cascade adds, paired within each replication (both rates from one run)
    gain = t_interval([r.auth_rate - r.first_attempt_auth_rate for r in reps], STRICT_LEVEL)
    assert gain.contains(recovered), f"cascade gain {gain} vs analytical {recovered:.5f}"
    for ci in (first_ci, attempts, gain):
        assert ci.half_width < MAX_HALF_WIDTH, f"CI too wide to test anything: {ci}"
    assert summary.cascade["recovered"] == summary.approved - round(
        summary.first_attempt_auth_rate * summary.payments
    )

    # cost: every payment pays acq_a's per-attempt fee, approvals at acq_a its approval
    # fee, cascaded payments acq_b's per-attempt fee and approvals there acq_b's
    cost_per_payment = (
        FEE_A["per_attempt"]
        + first * _approved_fee(FEE_A)
        + cascaded * FEE_B["per_attempt"]
        + recovered * _approved_fee(FEE_B)
    )
    per_payment = [r.cost_per_approved * r.auth_rate for r in reps]
    cost_ci = t_interval(per_payment, STRICT_LEVEL)
    assert cost_ci.contains(cost_per_payment), f"cost per payment {cost_ci} vs {cost_per_payment}"
    assert cost_ci.half_width < 0.01 * cost_per_payment, f"CI too wide: {cost_ci}"
    bps = t_interval([r.cost_bps for r in reps], STRICT_LEVEL)
    expected_bps = cost_per_payment / (expected * AMOUNT) * 10_000.0
    assert bps.contains(expected_bps), f"cost bps {bps} vs {expected_bps:.3f}"
    assert summary.cost.total / summary.payments == pytest.approx(cost_ci.estimate, rel=0.01)
    assert summary.cost.bps == pytest.approx(expected_bps, rel=0.01)
