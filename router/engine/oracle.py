"""The oracle: the best routing possible, the yardstick every strategy is measured against.

It knows what no router can: for every acquirer, its true probability of approving a
payment at its time (``p``, incidents included) and of failing in a way the policy's
retry cascades (``q``), given to it as a :class:`Truth` in the strategy context by the
simulator (which reads them off the acquirer behaviour model; the engine never imports
that model). Each attempt is worth, in percentage points,

    v = 100 * p - lambda_pp_per_bps * (p * fee_if_approved + (1 - p) * fee_if_declined)
                                      / amount * 10 000

(``lambda_pp_per_bps`` = 0: ``v`` is the approval probability; see
``scenarios.schema.Objective``), and an order of candidates a1, a2, ... is worth its
expected value over the cascade the retry policy allows (``max_attempts``):

    v(a1) + q(a1) * v(a2) + q(a1) q(a2) * v(a3) + ...

The oracle sends each payment down the order worth the most (every order of up to
``max_attempts`` candidates is tried; ties keep the rule's order). With one attempt, or
when nothing cascades, that is simply the best acquirer. It cascades under the policy's
own retry policy, like any strategy: the oracle run of a policy is that policy with its
strategy replaced, on the same seeds (common random numbers), so the difference is the
routing decisions alone.

It routes on probabilities, not outcomes: it does not know whether this payment will be
approved, so luck still plays (it is the best *policy*, not a clairvoyant). What it
leaves out: queueing for capacity, the latency budget, scheme fees, and the chance that
an acquirer declines again what another declined (the behaviour model draws each
acquirer's answer on its own).
"""

from __future__ import annotations

import math
from itertools import permutations
from typing import Protocol

from router.engine.errors import StrategyError
from router.engine.rules import Candidates
from router.engine.strategies import NO_SEGMENT, Ordering, Strategy, StrategyContext, rank
from scenarios.conditions import PaymentAttributes
from scenarios.schema import OracleStrategy


class Truth(Protocol):
    """What the simulator knows about its acquirers (see ``simulator.truth``)."""

    @property
    def max_attempts(self) -> int:
        """How many attempts the policy's retry allows a payment."""
        ...

    def approval(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        """P(an attempt of ``payment`` sent to ``acquirer`` at ``now`` is approved), the
        issuer's own declines left out (the same at every acquirer)."""
        ...

    def cascade(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        """P(such an attempt fails in a way the policy's retry cascades)."""
        ...

    def fee(self, payment: PaymentAttributes, acquirer: str, approved: bool) -> float:
        """The fee of such an attempt (minor units), approved or not."""
        ...


class Oracle(Strategy):
    """Routes every payment to the acquirer with the best true score (module docstring)."""

    def __init__(self, config: OracleStrategy, context: StrategyContext) -> None:
        truth = context.truth
        if truth is None:
            raise StrategyError(
                "strategy.type",
                "the oracle needs the simulator's knowledge of the acquirers: it runs in "
                "'routelab simulate' only, not in a live router",
            )
        self._truth: Truth = truth
        self._lambda = config.lambda_pp_per_bps

    def value(self, payment: PaymentAttributes, acquirer: str, now: float) -> float:
        """What an attempt at the acquirer is worth: P(approve), or the objective (pp)."""
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
        n = len(acquirers)
        if n == 1:
            return Ordering(candidates.rule, acquirers, NO_SEGMENT, acquirers[0], False, 1.0)
        truth = self._truth
        values = [self.value(payment, a, now) for a in acquirers]
        depth = min(n, max(1, truth.max_attempts))
        if depth == 1:
            order = rank(acquirers, values)
            return Ordering(candidates.rule, order, NO_SEGMENT, order[0], False, 1.0)
        cascades = [truth.cascade(payment, a, now) for a in acquirers]
        best: tuple[int, ...] = ()
        best_worth = -math.inf
        # in lexicographic order of the rule's positions: a tie keeps the rule's order
        for head in permutations(range(n), depth):
            worth = 0.0
            reach = 1.0
            for i in head:
                worth += reach * values[i]
                reach *= cascades[i]
            if worth > best_worth + 1e-12:
                best, best_worth = head, worth
        chosen = [acquirers[i] for i in best]
        order = (*chosen, *(a for a in acquirers if a not in chosen))
        return Ordering(candidates.rule, order, NO_SEGMENT, order[0], False, 1.0)
