"""The oracle (routes by the truth it is given) and sticky routing (a returning card goes
back to the acquirer that last approved it), unit by unit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mock_acquirers.behaviour import AcquirerBehaviour
from router.engine import RoutingEngine
from router.engine.errors import StrategyError
from router.engine.oracle import Oracle
from router.engine.registry import make_strategy
from router.engine.rules import Candidates
from router.engine.sticky import Sticky, segment_label
from router.engine.strategies import (
    AttemptResult,
    Ordering,
    Priority,
    Strategy,
    StrategyContext,
)
from scenarios.conditions import PaymentAttributes
from scenarios.sampler import Payment
from scenarios.schema import Acquirer, OracleStrategy, RetryPolicy, RoutingPolicy, StickyStrategy
from scenarios.streams import UniformStream
from scenarios.taxonomy import OutcomeClass
from simulator.truth import BehaviourTruth

NAMES = ("acq_a", "acq_b", "acq_c")
ALL = Candidates("default", NAMES, None)
CARD = Payment(10_000, "EUR", "visa", "credit", "DE", "411111", False, 42)
NEW_CARD = Payment(10_000, "EUR", "visa", "credit", "DE", "411111", False, -1)


class FakeTruth:
    """Approval probabilities and fees set by hand, per acquirer, changing at t=100;
    one attempt a payment unless said otherwise, and ``cascades`` P(a cascade)."""

    def __init__(
        self,
        before: dict[str, float],
        after: dict[str, float] | None = None,
        max_attempts: int = 1,
        cascades: dict[str, float] | None = None,
    ) -> None:
        self.before, self.after = before, after or before
        self.fees = {"acq_a": (10.0, 1.0), "acq_b": (200.0, 1.0), "acq_c": (50.0, 1.0)}
        self.max_attempts = max_attempts
        self.cascades = cascades or {}

    def approval(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        return (self.before if now < 100.0 else self.after)[acquirer]

    def cascade(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        return self.cascades.get(acquirer, 0.0)

    def fee(self, payment: PaymentAttributes, acquirer: str, approved: bool) -> float:
        ok, no = self.fees[acquirer]
        return ok if approved else no


def context(truth: Any = None) -> StrategyContext:
    return StrategyContext(UniformStream(np.random.default_rng(0)), NAMES, truth=truth)


def oracle(truth: Any, lam: float = 0.0) -> Oracle:
    return Oracle(OracleStrategy(type="oracle", lambda_pp_per_bps=lam), context(truth))


# --- the oracle ----------------------------------------------------------------------------


def test_the_oracle_orders_by_the_true_approval_at_the_payment_time() -> None:
    o = oracle(
        FakeTruth(
            {"acq_a": 0.95, "acq_b": 0.90, "acq_c": 0.93},
            {"acq_a": 0.4, "acq_b": 0.9, "acq_c": 0.93},
        )
    )
    before = o.order(CARD, ALL, 10.0)
    assert before.acquirers == ("acq_a", "acq_c", "acq_b")
    assert (before.preferred, before.explored, before.propensity) == ("acq_a", False, 1.0)
    assert before.rule == "default"
    assert o.order(CARD, ALL, 150.0).acquirers == ("acq_c", "acq_b", "acq_a")


def test_the_oracle_keeps_the_rules_order_on_ties_and_routes_a_lone_candidate() -> None:
    o = oracle(FakeTruth({"acq_a": 0.9, "acq_b": 0.9, "acq_c": 0.9}))
    assert o.order(CARD, ALL, 0.0).acquirers == NAMES
    lone = Candidates("only_b", ("acq_b",), None)
    assert o.order(CARD, lone, 0.0).acquirers == ("acq_b",)


def test_with_a_cost_weight_the_oracle_routes_by_the_objective() -> None:
    truth = FakeTruth({"acq_a": 0.90, "acq_b": 0.92, "acq_c": 0.91})
    # fees in bps of the 100.00 amount: acq_a 10 bps, acq_b 200, acq_c 50 (approved)
    assert oracle(truth).order(CARD, ALL, 0.0).acquirers[0] == "acq_b"
    o = oracle(truth, lam=0.05)
    expected = {
        a: 100 * p - 0.05 * (p * truth.fees[a][0] + (1 - p) * truth.fees[a][1]) / 10_000 * 1e4
        for a, p in truth.before.items()
    }
    assert o.value(CARD, "acq_b", 0.0) == pytest.approx(expected["acq_b"])
    assert o.order(CARD, ALL, 0.0).acquirers == tuple(
        sorted(expected, key=expected.__getitem__, reverse=True)
    )
    assert o.order(CARD, ALL, 0.0).acquirers[0] == "acq_a"


def test_with_cascades_the_oracle_routes_by_the_worth_of_the_whole_order() -> None:
    # acq_b approves more at once, but what it fails never cascades; acq_a's failures do,
    # and acq_c then rescues most of them
    truth = FakeTruth(
        {"acq_a": 0.90, "acq_b": 0.92, "acq_c": 0.85},
        max_attempts=2,
        cascades={"acq_a": 0.09, "acq_b": 0.0, "acq_c": 0.1},
    )
    # (a, b): 0.90 + 0.09 * 0.92 = 0.9828 beats (a, c) 0.9765 and (b, *) 0.92
    assert oracle(truth).order(CARD, ALL, 0.0).acquirers == ("acq_a", "acq_b", "acq_c")
    truth.max_attempts = 1
    assert oracle(truth).order(CARD, ALL, 0.0).acquirers[0] == "acq_b"


def test_when_a_cascade_rescues_either_way_the_cheap_acquirer_goes_first() -> None:
    # both decline only what the other then approves: the order changes fees, not approval
    truth = FakeTruth(
        {"acq_a": 0.95, "acq_b": 0.96, "acq_c": 0.0},
        max_attempts=2,
        cascades={"acq_a": 0.05, "acq_b": 0.04},
    )
    two = Candidates("two", ("acq_b", "acq_a"), None)
    assert oracle(truth, lam=0.0).order(CARD, two, 0.0).acquirers == ("acq_b", "acq_a")
    assert oracle(truth, lam=0.02).order(CARD, two, 0.0).acquirers == ("acq_a", "acq_b")


def test_without_the_simulators_truth_the_oracle_refuses_to_be_built() -> None:
    policy = RoutingPolicy.model_validate(
        {"name": "o", "strategy": {"type": "oracle"}, "default": list(NAMES)}
    )
    with pytest.raises(StrategyError, match=r"strategy\.type: the oracle .* simulate"):
        RoutingEngine(policy, np.random.default_rng(0), acquirers=NAMES)


def behaviour(**spec: Any) -> AcquirerBehaviour:
    base: dict[str, Any] = {
        "name": "acq_a",
        "latency": {"dist": "lognormal", "median_ms": 400, "sigma": 0.5},
    }
    base.update(spec)
    return AcquirerBehaviour(Acquirer.model_validate(base))


def test_the_truth_is_the_behaviour_models_chance_of_an_approval_in_time() -> None:
    model = behaviour(
        approval={"base": 0.9},
        technical_error_rate=0.02,
        timeout_rate=0.01,
        incidents=[{"start_s": 100, "end_s": 200, "approval_delta": -0.5, "latency_factor": 4.0}],
    )
    retry = RetryPolicy(attempt_timeout_ms=1_000.0, budget_ms=5_000.0)
    truth = BehaviourTruth([model], retry)
    # P(lognormal(400, 0.5) <= 1000) = Phi(ln 2.5 / 0.5)
    in_time = 0.96657
    assert truth.approval(CARD, "acq_a", 0.0) == pytest.approx(0.97 * 0.9 * in_time, abs=1e-4)
    in_time_slow = 0.17361  # Phi(ln(1000 / 1600) / 0.5)
    assert truth.approval(CARD, "acq_a", 150.0) == pytest.approx(
        0.97 * 0.4 * in_time_slow, abs=1e-4
    )
    assert truth.fee(CARD, "acq_a", True) == model.fee(CARD, True)
    # against the model itself: the share of attempts approved within the timeout
    rng = np.random.default_rng(9)
    u = rng.random((60_000, 3))
    from mock_acquirers.behaviour import latency_quantile

    base_ms = latency_quantile(model.acquirer.latency, u[:, 2])
    approved = cascaded = 0
    for (fault, approve, _), ms in zip(u.tolist(), base_ms.tolist(), strict=True):
        got = model.attempt(CARD, 150.0, None, fault, approve, ms)
        answered = got.service_ms <= 1_000.0
        approved += got.approved and answered
        # what the default retry cascades: a timeout, a technical error, 05, 91 or 96
        cascaded += (not answered) or (not got.approved and got.code in ("05", "91", "96"))
    n = len(u)
    assert approved / n == pytest.approx(truth.approval(CARD, "acq_a", 150.0), abs=0.006)
    assert cascaded / n == pytest.approx(truth.cascade(CARD, "acq_a", 150.0), abs=0.006)
    assert truth.max_attempts == 2
    # a policy that cascades nothing but timeouts
    only_timeouts = BehaviourTruth([model], retry.model_copy(update={"cascade_on": ["timeout"]}))
    assert only_timeouts.cascade(CARD, "acq_a", 0.0) == pytest.approx(
        0.01 + 0.97 * (1 - in_time), abs=1e-5
    )


# --- sticky routing --------------------------------------------------------------------------


class Scored(Strategy):
    """An inner strategy in the rule's order with scores set by hand (counts reads)."""

    learns = True

    def __init__(self, scores: dict[str, float] | None = None) -> None:
        self.table = {"visa": scores or {}}
        self.reads = 0
        self.recorded: list[AttemptResult] = []

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        return Ordering(
            candidates.rule, candidates.acquirers, ("visa",), candidates.acquirers[0], False, 1.0
        )

    def record(self, result: AttemptResult) -> None:
        self.recorded.append(result)

    def scores(self) -> dict[str, dict[str, float]]:
        self.reads += 1
        return dict(self.table)


def sticky(inner: Strategy, **config: Any) -> Sticky:
    spec = {"type": "sticky", "inner": {"type": "priority"}, **config}
    return Sticky(StickyStrategy.model_validate(spec), context(), inner)


def approved_at(strategy: Strategy, acquirer: str, card: int, at: float = 1.0) -> None:
    decision = Ordering("default", NAMES, ("visa",), NAMES[0], False, 1.0)
    strategy.record(
        AttemptResult(decision, acquirer, "00", OutcomeClass.APPROVED, False, 200.0, 1.0, at, card)
    )


def test_a_returning_card_goes_back_to_the_acquirer_that_last_approved_it() -> None:
    s = sticky(Scored())
    assert s.order(CARD, ALL, 0.0).acquirers == NAMES  # never seen: the inner order
    approved_at(s, "acq_c", CARD.card)
    ordering = s.order(CARD, ALL, 2.0)
    assert ordering.acquirers == ("acq_c", "acq_a", "acq_b")
    assert (ordering.preferred, ordering.segment, ordering.propensity) == ("acq_c", ("visa",), 1.0)
    approved_at(s, "acq_b", CARD.card, at=3.0)  # the latest approval wins
    assert s.order(CARD, ALL, 4.0).acquirers[0] == "acq_b"
    assert s.order(NEW_CARD, ALL, 4.0).acquirers == NAMES  # no card key: the inner order
    other = CARD._replace(card=43)
    assert s.order(other, ALL, 4.0).acquirers == NAMES
    assert s.sticky == 2


def test_only_approvals_make_a_card_stick_and_the_inner_strategy_learns_from_all() -> None:
    inner = Scored()
    s = sticky(inner)
    decision = Ordering("default", NAMES, ("visa",), NAMES[0], False, 1.0)
    s.record(
        AttemptResult(decision, "acq_b", "05", OutcomeClass.SOFT_DECLINE, True, 1.0, 0.0, 1.0, 42)
    )
    assert s.order(CARD, ALL, 2.0).acquirers == NAMES
    approved_at(s, "acq_b", 42)
    assert [r.code for r in inner.recorded] == ["05", "00"]


def test_an_unhealthy_acquirer_loses_its_cards_to_the_inner_strategy() -> None:
    inner = Scored({"acq_a": 0.97, "acq_b": 0.80, "acq_c": 0.95})
    s = sticky(inner, min_score=0.9)
    approved_at(s, "acq_b", 42)
    assert s.order(CARD, ALL, 5.0).acquirers == NAMES  # acq_b scores 0.80 < 0.9
    assert s.unstuck == 1
    inner.table["visa"]["acq_b"] = 0.91
    assert s.order(CARD, ALL, 7.0).acquirers[0] == "acq_b"  # read again a second later


def test_with_a_gap_the_card_leaves_an_acquirer_far_below_the_best() -> None:
    inner = Scored({"acq_a": 0.99, "acq_b": 0.93, "acq_c": 0.95})
    s = sticky(inner, min_score=0.9, max_gap=0.05)
    approved_at(s, "acq_b", 42)
    assert s.order(CARD, ALL, 5.0).acquirers == NAMES  # 0.99 - 0.93 > 0.05
    s2 = sticky(Scored({"acq_a": 0.96, "acq_b": 0.93}), min_score=0.9, max_gap=0.05)
    approved_at(s2, "acq_b", 42)
    assert s2.order(CARD, ALL, 5.0).acquirers[0] == "acq_b"


def test_scores_are_read_at_most_once_per_refresh_interval() -> None:
    inner = Scored({"acq_a": 0.97, "acq_b": 0.95})
    s = sticky(inner, refresh_s=2.0)
    approved_at(s, "acq_b", 42)
    for t in (10.0, 10.5, 11.0, 11.9, 12.0, 13.0, 14.5):
        s.order(CARD, ALL, t)
    assert inner.reads == 3  # at 10, 12 and 14.5


def test_an_acquirer_without_a_score_counts_as_healthy() -> None:
    s = sticky(Priority())
    approved_at(s, "acq_c", 42)
    assert s.order(CARD, ALL, 1.0).acquirers[0] == "acq_c"
    assert segment_label(()) == "all" and segment_label(("visa", False)) == "visa/False"


def test_sticky_memory_is_bounded_and_forgets_the_least_recently_approved() -> None:
    s = sticky(Scored(), cards=64)
    before = s.nbytes()
    for card in range(10_000):
        approved_at(s, "acq_c", card, at=float(card))
    assert s.nbytes() == before == 64 * (8 + 8 + 2)
    assert s.order(CARD._replace(card=9_999), ALL, 1e5).acquirers[0] == "acq_c"
    assert s.order(CARD._replace(card=0), ALL, 1e5).acquirers == NAMES  # forgotten


def test_the_registry_builds_sticky_around_the_inner_strategy_of_the_scenario() -> None:
    config = StickyStrategy.model_validate(
        {"type": "sticky", "inner": {"type": "sr_window", "window": 50}, "min_score": 0.8}
    )
    built = make_strategy(config, context())
    assert isinstance(built, Sticky) and type(built.inner).__name__ == "SrWindow"
    assert built.learns
    nested = StickyStrategy.model_validate(
        {"type": "sticky", "inner": {"type": "sticky", "inner": {"type": "priority"}}}
    )
    assert isinstance(make_strategy(nested, context()).inner, Sticky)  # type: ignore[attr-defined]
