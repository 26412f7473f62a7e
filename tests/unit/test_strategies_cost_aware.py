"""cost_aware: P(approve) x (amount - fee), or auth rate - lambda x fee in bps of the amount."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from strategy_kit import assert_propensities_match, build, feed, pay, rule

from router.engine.strategies import CostAware, StrategyContext
from router.engine.strategies.cost_aware import CostAware as CostAwareClass
from scenarios.schema import Acquirer, CostAwareStrategy, FeeSchedule
from scenarios.streams import UniformStream

CD = rule("cheap", "dear")
NAMES = ("cheap", "dear")


def schedule(**fees: dict[str, float]) -> FeeSchedule:
    return FeeSchedule(
        [
            Acquirer.model_validate(
                {
                    "name": name,
                    "latency": {"dist": "fixed", "ms": 100},
                    "approval": {"base": 0.9},
                    "fees": {"default": fee},
                }
            )
            for name, fee in fees.items()
        ]
    )


PCT = schedule(cheap={"pct_bps": 80}, dear={"pct_bps": 200})


# windows of exactly 100 verdicts and no reset: the tests set the rates they want
WINDOW_100 = {"type": "window", "window": 100, "reset_sigma": 0.0}


def cost_aware(fees: FeeSchedule = PCT, seed: int = 1, **config: Any) -> CostAwareClass:
    config.setdefault("approval", WINDOW_100)
    strategy = build({"type": "cost_aware", **config}, seed, NAMES, True, fees)
    assert isinstance(strategy, CostAware)
    return strategy


def windows(strategy: CostAwareClass, cheap: int, dear: int) -> None:
    """Fill each acquirer's 100-verdict window with ``cheap`` and ``dear`` approvals."""
    for acquirer, approvals in (("cheap", cheap), ("dear", dear)):
        feed(strategy, acquirer, "00" * approvals + "05" * (100 - approvals), candidates=CD)
    assert strategy.scores()["visa/False"] == {"cheap": cheap / 100, "dear": dear / 100}


def test_the_objectives_are_linear_in_the_approval_probability() -> None:
    fees = schedule(cheap={"pct_bps": 80, "fixed": 10, "per_attempt": 2}, dear={"pct_bps": 200})
    ev = cost_aware(fees)
    amount = 5_000
    scale, offset = ev.objective(CD, pay(amount=amount))
    ok = 2 + 80 * amount / 10_000 + 10  # approved: per attempt + pct + fixed
    assert scale == pytest.approx([amount - ok + 2, amount - 100.0])
    assert offset == pytest.approx([-2.0, 0.0])
    lam = cost_aware(fees, objective="auth_rate_minus_cost", lambda_pp_per_bps=0.05)
    scale, offset = lam.objective(CD, pay(amount=amount))
    # 100 p - 0.05 * (p ok + (1 - p) 2) / amount * 10 000
    per_bps = 0.05 * 10_000 / amount
    assert scale == pytest.approx([100 - per_bps * (ok - 2), 100 - 0.05 * 200])
    assert offset == pytest.approx([-per_bps * 2, 0.0])


def test_a_zero_amount_costs_no_basis_points() -> None:
    lam = cost_aware(objective="auth_rate_minus_cost", lambda_pp_per_bps=0.05)
    assert lam.objective(CD, pay(amount=0)) == ([100.0, 100.0], [0.0, 0.0])


def crossover(p_cheap: float, p_dear: float, bps_cheap: float, bps_dear: float) -> float:
    """The lambda at which 100 p - lambda * p * bps ties for the two acquirers."""
    return 100 * (p_dear - p_cheap) / (p_dear * bps_dear - p_cheap * bps_cheap)


def test_lambda_trades_approval_against_fees_at_its_crossover() -> None:
    star = crossover(0.94, 0.96, 80, 200)  # 2 pp against 116.8 bps of expected fee
    assert star == pytest.approx(0.0171233, rel=1e-5)
    for lam, winner in ((0.0, "dear"), (star * 0.99, "dear"), (star * 1.01, "cheap"), (1, "cheap")):
        strategy = cost_aware(
            objective="auth_rate_minus_cost", lambda_pp_per_bps=lam, exploration=0.0
        )
        windows(strategy, 94, 96)
        d = strategy.order(pay(), CD, 0.0)
        assert d.acquirers[0] == d.preferred == winner, lam
        assert (d.propensity, d.explored, d.segment) == (1.0, False, ("visa", False))


@pytest.mark.parametrize(
    ("amount", "dear_fixed", "dear_bps", "winner"),
    [
        (5_000, 0, 50, "dear"),  # 0.95 * 0.995 = 0.945 > 0.94
        (5_000, 0, 200, "cheap"),  # 0.95 * 0.98 = 0.931 < 0.94
        (1_000, 30, 50, "cheap"),  # a fixed fee weighs on a small amount
        (100_000, 30, 50, "dear"),
    ],
)
def test_expected_value_is_p_times_amount_minus_fee(
    amount: int, dear_fixed: float, dear_bps: float, winner: str
) -> None:
    fees = schedule(cheap={"pct_bps": 0}, dear={"pct_bps": dear_bps, "fixed": dear_fixed})
    strategy = cost_aware(fees, exploration=0.0)
    windows(strategy, 94, 95)
    assert strategy.order(pay(amount=amount), CD, 0.0).acquirers[0] == winner


def test_fees_follow_the_network() -> None:
    acquirers = [
        Acquirer.model_validate(
            {
                "name": name,
                "latency": {"dist": "fixed", "ms": 100},
                "approval": {"base": 0.9},
                "fees": {"default": {"pct_bps": 100}, "by_network": {"amex": {"pct_bps": bps}}},
            }
        )
        for name, bps in (("cheap", 100), ("dear", 400))
    ]
    strategy = cost_aware(FeeSchedule(acquirers), exploration=0.0)
    windows(strategy, 94, 95)
    assert strategy.order(pay(), CD, 0.0).acquirers[0] == "dear"  # equal fees on visa
    amex = pay(network="amex")
    feed(strategy, "cheap", "00" * 94 + "05" * 6, payment=amex, candidates=CD)
    feed(strategy, "dear", "00" * 95 + "05" * 5, payment=amex, candidates=CD)
    assert strategy.order(amex, CD, 0.0).acquirers[0] == "cheap"


def test_the_window_estimate_resets_and_counts_only_acquirer_failures() -> None:
    strategy = cost_aware(exploration=0.0, approval={"type": "window"})  # 125, 3 sigma
    feed(strategy, "cheap", "00", candidates=CD)
    feed(strategy, "dear", "51" * 20 + "05" * 11, candidates=CD)
    # twenty card declines say nothing; the eleventh do-not-honour triggers the reset
    assert strategy.scores()["visa/False"] == {"cheap": 1.0, "dear": 115 / 125}


@pytest.mark.parametrize("score", ["mean", "thompson"])
def test_the_beta_estimate(score: str) -> None:
    approval = {"type": "beta", "memory": {"discount": 1.0}, "score": score}
    strategy = cost_aware(seed=3, approval=approval, exploration=0.1)
    feed(strategy, "cheap", "00" * 9 + "05", candidates=CD)
    feed(strategy, "dear", "00" * 7 + "05" * 3, candidates=CD)
    assert strategy.scores()["visa/False"] == pytest.approx({"cheap": 10 / 12, "dear": 8 / 12})
    means = assert_propensities_match(
        lambda: strategy.order(pay(), CD, 0.0), 10_000, exact=score == "mean"
    )
    if score == "mean":
        assert means == pytest.approx({"cheap": 0.95, "dear": 0.05})
    else:
        assert 0.6 < means["cheap"] < 0.95 and means["dear"] > 0.05


def test_window_propensities_are_exact_with_hedging() -> None:
    strategy = cost_aware(seed=2, exploration=0.3)
    windows(strategy, 90, 96)
    means = assert_propensities_match(lambda: strategy.order(pay(), CD, 0.0), 10_000, True)
    assert means == pytest.approx({"dear": 0.85, "cheap": 0.15})


def test_it_needs_the_fee_schedule_and_lambda_needs_its_objective() -> None:
    config = CostAwareStrategy.model_validate({"type": "cost_aware"})
    context = StrategyContext(UniformStream(np.random.default_rng(1)), NAMES)
    with pytest.raises(ValueError, match="needs the acquirers' fee schedule"):
        CostAwareClass(config, context)
    with pytest.raises(ValueError, match="is used only with objective: auth_rate_minus_cost"):
        CostAwareStrategy.model_validate({"type": "cost_aware", "lambda_pp_per_bps": 0.1})
