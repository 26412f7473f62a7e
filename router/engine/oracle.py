"""The oracle: the best routing possible, the yardstick every strategy is measured against.

It knows what no router can: every acquirer's true probability of approving a payment
at its time, incidents included, given to it as a :class:`Truth` in the strategy
context by the simulator (which reads it off the acquirer behaviour model; the engine
never imports that model). For each payment it puts the candidates in order of that
probability, or, with ``lambda_pp_per_bps`` > 0, of the cost-aware objective

    100 * p - lambda_pp_per_bps * (p * fee_if_approved + (1 - p) * fee_if_declined)
                                  / amount * 10 000

(percentage points; see ``scenarios.schema.Objective``). Ties keep the rule's order. It
cascades under the policy's own retry policy, like any strategy: the oracle run of a
policy is that policy with its strategy replaced, on the same seeds (common random
numbers), so the difference is the routing decisions alone.

It routes on probabilities, not outcomes: it does not know whether this payment will be
approved, so luck still plays (it is the best *policy*, not a clairvoyant).
"""

from __future__ import annotations

from typing import Protocol

from router.engine.rules import Candidates
from router.engine.strategies import NO_SEGMENT, Ordering, Strategy, StrategyContext, rank
from scenarios.conditions import PaymentAttributes
from scenarios.schema import OracleStrategy


class Truth(Protocol):
    """What the simulator knows about its acquirers (see ``simulator.truth``)."""

    def approval(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        """P(an attempt of ``payment`` sent to ``acquirer`` at ``now`` is approved), the
        issuer's own declines left out (the same at every acquirer)."""
        ...

    def fee(self, payment: PaymentAttributes, acquirer: str, approved: bool) -> float:
        """The fee of such an attempt (minor units), approved or not."""
        ...


class Oracle(Strategy):
    """Routes every payment to the acquirer with the best true score (module docstring)."""

    def __init__(self, config: OracleStrategy, context: StrategyContext) -> None:
        truth = context.truth
        if truth is None:
            from router.engine.registry import StrategyError  # the registry imports this

            raise StrategyError(
                "strategy.type",
                "the oracle needs the simulator's knowledge of the acquirers: it runs in "
                "'routelab simulate' only, not in a live router",
            )
        self._truth: Truth = truth
        self._lambda = config.lambda_pp_per_bps

    def score(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        """The acquirer's true score for the payment: P(approve), or the objective."""
        truth = self._truth
        p = truth.approval(payment, acquirer, now)
        lam = self._lambda
        if lam <= 0.0:
            return p
        expected_fee = p * truth.fee(payment, acquirer, True) + (1.0 - p) * truth.fee(
            payment, acquirer, False
        )
        return 100.0 * p - lam * expected_fee / payment.amount * 10_000.0

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        acquirers = candidates.acquirers
        if len(acquirers) == 1:
            return Ordering(candidates.rule, acquirers, NO_SEGMENT, acquirers[0], False, 1.0)
        order = rank(acquirers, [self.score(payment, a, now) for a in acquirers])
        return Ordering(candidates.rule, order, NO_SEGMENT, order[0], False, 1.0)
