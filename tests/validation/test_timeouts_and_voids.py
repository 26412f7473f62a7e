"""Hung requests, the router's attempt timeout, voids and the latency budget, against theory.

acq_a hangs on a fraction H of attempts (no answer for 30 s, far past the router's
1,000 ms attempt timeout) and otherwise answers in 100 ms, approving with probability
P_A and soft-declining (05) the rest; acq_b answers every attempt in L_B ms and approves
with probability P_B. Priority routing tries acq_a, then acq_b. The issuer never
declines. Fixed latencies make every path's duration exact:

- a hung attempt is timed out at 1,000 ms, voided (the void waits acq_a's median,
  100 ms), and the payment goes on to acq_b at 1,100 ms if the budget allows;
- the acquirer had approved a fraction P_A of the hung attempts: those approvals are
  voided late, never charged;
- a soft decline at 100 ms goes on to acq_b at once.

Half of each run is warm-up: attempts, timeouts and fees of payments that arrived in
it must not count (nor must the payments). Three budgets are checked: room for the
cascade, none left after the void, and less left than acq_b needs.
"""

from __future__ import annotations

import pytest
from scipy.stats import binomtest
from validation_scenarios import SEED, SINGLE_SEGMENT_MIX, STRICT_LEVEL

from results.histogram import LatencyHistogram
from results.stats import t_interval
from scenarios.loader import validate_scenario
from scenarios.schema import Scenario
from simulator import SimulationResult, simulate

H = 0.05  # acq_a's hung requests
P_A, P_B = 0.90, 0.80
TIMEOUT_MS, VOID_MS, A_MS = 1_000.0, 100.0, 100.0
DURATION_S, WARMUP_S, RATE_PER_S = 200.0, 100.0, 100.0  # 10,000 counted payments per run
REPLICATIONS = 6


def _scenario(budget_ms: float, b_ms: float) -> Scenario:
    return validate_scenario(
        {
            "name": "timeouts",
            "warmup_s": WARMUP_S,
            "merchant": {"country": "DE"},
            "acquirers": [
                {
                    "name": "acq_a",
                    "latency": {"dist": "fixed", "ms": A_MS},
                    "timeout_rate": H,
                    "hang_ms": 30_000,
                    "approval": {"base": P_A},
                    "decline_codes": {"05": 1.0},
                    "fees": {"default": {"per_attempt": 1.0}},
                },
                {
                    "name": "acq_b",
                    "latency": {"dist": "fixed", "ms": b_ms},
                    "approval": {"base": P_B},
                    "decline_codes": {"05": 1.0},
                    "fees": {"default": {"per_attempt": 1.0}},
                },
            ],
            "traffic": {
                "duration_s": DURATION_S,
                "arrival": {"profile": "constant", "rate_per_s": RATE_PER_S},
                "mix": SINGLE_SEGMENT_MIX,
                "issuer_declines": {"base": {}},
            },
            "policies": [
                {
                    "name": "a-then-b",
                    "strategy": {"type": "priority"},
                    "default": ["acq_a", "acq_b"],
                    "retry": {
                        "max_attempts": 2,
                        "attempt_timeout_ms": TIMEOUT_MS,
                        "budget_ms": budget_ms,
                    },
                }
            ],
        },
        "<timeouts>",
    )


def _run(budget_ms: float, b_ms: float, seed: int) -> SimulationResult:
    return simulate(_scenario(budget_ms, b_ms), seed=seed, replications=REPLICATIONS)


def _check_count(count: int, trials: int, expected: float, what: str) -> None:
    ci = binomtest(count, trials).proportion_ci(STRICT_LEVEL, method="wilson")
    assert ci.low <= expected <= ci.high, f"{what}: {count}/{trials} vs {expected:.5f}"


def _check_mean(values: list[float], expected: float, what: str) -> None:
    ci = t_interval(values, STRICT_LEVEL)
    assert ci.contains(expected), f"{what}: {ci} vs {expected:.5f}"
    assert ci.half_width < 0.02 * expected, f"{what}: {ci} too wide to test anything"


def _latency_share(result: SimulationResult, ms: float) -> int:
    """Payments in the histogram bucket that holds ``ms``."""
    return result.histogram.counts[LatencyHistogram.index(ms)]


def _check_common(
    result: SimulationResult, reversed_approvals: float, timeouts: float, unsettled: float = 0.0
) -> None:
    summary = result.summary
    # counted payments: those arriving after the warm-up only
    expected_payments = REPLICATIONS * RATE_PER_S * (DURATION_S - WARMUP_S)
    assert abs(summary.payments - expected_payments) < 5 * expected_payments**0.5
    n = summary.payments
    _check_count(summary.timeouts["timeouts"], n, timeouts, "router timeouts per payment")
    _check_count(
        summary.timeouts["reversed_approvals"], n, reversed_approvals, "late approvals reversed"
    )
    # the void is answered in time here: a timed-out attempt is settled during the payment
    # when a cascade would follow, and left to settle in the background when none would
    _check_count(summary.timeouts["unsettled"], n, unsettled, "attempts left unsettled")
    assert (
        summary.timeouts["settled"] + summary.timeouts["unsettled"] == summary.timeouts["timeouts"]
    )
    assert summary.reversed_approvals_source == "behaviour model"
    # every attempt costs 1 (fees): cost per payment is attempts per payment, warm-up left out
    assert summary.cost.total == pytest.approx(summary.attempts_per_payment * n, abs=0.5)


def test_a_hung_request_is_timed_out_voided_and_cascaded() -> None:
    b_ms = 300.0
    result = _run(budget_ms=10_000.0, b_ms=b_ms, seed=SEED + 500)
    summary = result.summary
    to_b = H + (1 - H) * (1 - P_A)  # hung, or declined by acq_a
    _check_mean([r.auth_rate for r in summary.per_replication], (1 - H) * P_A + to_b * P_B, "auth")
    _check_mean([r.attempts_per_payment for r in summary.per_replication], 1 + to_b, "attempts")
    _check_common(result, reversed_approvals=H * P_A, timeouts=H)
    # the hung payments took the timeout, the void and acq_b's answer, exactly
    hung_ms = TIMEOUT_MS + VOID_MS + b_ms
    _check_count(_latency_share(result, hung_ms), summary.payments, H, f"payments at {hung_ms} ms")
    _check_count(
        _latency_share(result, A_MS + b_ms), summary.payments, (1 - H) * (1 - P_A), "declined at a"
    )


def test_a_void_that_spends_the_budget_ends_the_payment() -> None:
    """Budget 1,050 ms: the void (1,000 + 100 ms) ends past it, nothing is left for acq_b."""
    result = _run(budget_ms=1_050.0, b_ms=300.0, seed=SEED + 501)
    summary = result.summary
    to_b = (1 - H) * (1 - P_A)  # only acq_a's declines reach acq_b
    _check_mean([r.auth_rate for r in summary.per_replication], (1 - H) * P_A + to_b * P_B, "auth")
    _check_mean([r.attempts_per_payment for r in summary.per_replication], 1 + to_b, "attempts")
    _check_common(result, reversed_approvals=H * P_A, timeouts=H)
    _check_count(
        _latency_share(result, TIMEOUT_MS + VOID_MS), summary.payments, H, "stopped after the void"
    )


def test_a_later_attempt_gets_only_what_the_budget_leaves() -> None:
    """Budget 1,500 ms: after a hung attempt acq_b gets 400 ms but needs 450, so it too is
    timed out (and its approvals voided late); after a decline at 100 ms it has time."""
    b_ms = 450.0
    budget_ms = 1_500.0
    result = _run(budget_ms=budget_ms, b_ms=b_ms, seed=SEED + 502)
    summary = result.summary
    declined_at_a = (1 - H) * (1 - P_A)
    auth = (1 - H) * P_A + declined_at_a * P_B
    _check_mean([r.auth_rate for r in summary.per_replication], auth, "auth")
    _check_mean(
        [r.attempts_per_payment for r in summary.per_replication], 1 + H + declined_at_a, "attempts"
    )
    # acq_b's timeout ends the payment: no cascade follows, so no void on the payer's clock
    _check_common(result, reversed_approvals=H * P_A + H * P_B, timeouts=2 * H, unsettled=H)
    _check_count(_latency_share(result, budget_ms), summary.payments, H, "ended at the budget")
    _check_count(_latency_share(result, A_MS + b_ms), summary.payments, declined_at_a, "a then b")
