"""The routing engine: decide where a payment goes, learn from answers, run its lifecycle.

Pure: it never reads a clock or opens a socket. Time is passed in (virtual time in
the simulator, monotonic wall time in the router service) and randomness comes from
the stream it is given. Feedback arrives when the acquirer's answer does, so the
engine learns with the same delay a real router has. What happens to a payment after
the decision (cascades, voids, the budget) is its :class:`PaymentFlow`'s business.
"""

from __future__ import annotations

import numpy as np

from router.engine.flow import PaymentFlow
from router.engine.oracle import Truth
from router.engine.registry import make_strategy
from router.engine.retry import RetryRules
from router.engine.rules import RuleBook
from router.engine.schemes import SchemeRules
from router.engine.strategies import AttemptResult, Ordering, StrategyContext
from scenarios.conditions import PaymentAttributes
from scenarios.schema import FeeSchedule, RoutingPolicy
from scenarios.streams import UniformStream

Decision = Ordering  # the engine's answer for one payment: rule, acquirers in order, why


class RoutingEngine:
    """One routing policy in action. Not thread-safe: one engine per event loop.

    ``propensities`` says whether decisions must carry their first-choice probability
    where it has no closed form (a Monte-Carlo estimate: not free, so a simulation that
    logs no attempts skips it; it never changes a decision). ``fees`` is the scenario's
    fee schedule, which cost-aware strategies need.
    """

    def __init__(
        self,
        policy: RoutingPolicy,
        rng: np.random.Generator,
        *,
        acquirers: tuple[str, ...] = (),
        fees: FeeSchedule | None = None,
        propensities: bool = True,
        field: str = "strategy",
        schemes: SchemeRules | None = None,
        truth: Truth | None = None,
    ) -> None:
        self.policy = policy
        self._rules = RuleBook(policy)
        context = StrategyContext(UniformStream(rng), acquirers, propensities, fees, truth=truth)
        self._strategy = make_strategy(policy.strategy, context, field)
        self.retry = RetryRules(policy.retry)
        self.schemes = schemes
        """The card schemes' rules every payment's lifecycle obeys (None: none)."""
        # read as a Python attribute: a user's strategy class (interpreted) sets its own
        self.learns: bool = bool(getattr(self._strategy, "learns", False))
        """Whether answers change later decisions (if not, feedback may be skipped)."""

    def decide(self, payment: PaymentAttributes, now: float) -> Decision:
        """Candidate acquirers for ``payment`` in attempt order (``now`` in seconds)."""
        return self._strategy.order(payment, self._rules.select(payment), now)

    def flow(
        self, decision: Decision, now: float, payment: PaymentAttributes | None = None
    ) -> PaymentFlow:
        """The lifecycle of ``payment``, which ``decision`` routes, starting at ``now``.

        The scheme rules apply to it with its card and network (without ``payment``,
        none do).
        """
        if payment is None or self.schemes is None:
            return PaymentFlow(decision, self.retry, now)
        return PaymentFlow(decision, self.retry, now, self.schemes, payment.card, payment.network)

    def record(self, result: AttemptResult) -> None:
        """Learn from an attempt's answer when it arrives (the strategy decides what a
        success is: the card's own declines never count against an acquirer)."""
        self._strategy.record(result)

    def scores(self) -> dict[str, dict[str, float]]:
        """Current strategy scores per segment and acquirer (empty for static strategies)."""
        return self._strategy.scores()
