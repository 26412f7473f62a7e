"""The routing engine: decide where a payment goes, learn from answers, decide cascades.

Pure: it never reads a clock or opens a socket. Time is passed in (virtual time in
the simulator, monotonic wall time in the router service) and randomness comes from
the stream it is given. Feedback arrives when the acquirer's answer does, so the
engine learns with the same delay a real router has.
"""

from __future__ import annotations

import numpy as np

from router.engine.retry import attempt_timeout_ms, may_cascade
from router.engine.rules import RuleBook
from router.engine.strategies import Ordering, Priority, SrWindow, Strategy, Weighted
from scenarios.conditions import PaymentAttributes
from scenarios.schema import PriorityStrategy, RoutingPolicy, SrWindowStrategy, WeightedStrategy
from scenarios.streams import UniformStream
from scenarios.taxonomy import CodeInfo, OutcomeClass

APPROVED = OutcomeClass.APPROVED
Decision = Ordering  # the engine's answer for one payment: rule, acquirers in order, why


def make_strategy(policy: RoutingPolicy, uniforms: UniformStream) -> Strategy:
    config = policy.strategy
    if isinstance(config, PriorityStrategy):
        return Priority()
    if isinstance(config, WeightedStrategy):
        return Weighted(uniforms)
    if isinstance(config, SrWindowStrategy):
        return SrWindow(config, uniforms)
    raise TypeError(f"unknown strategy {config!r}")


class RoutingEngine:
    """One routing policy in action. Not thread-safe: one engine per event loop."""

    def __init__(self, policy: RoutingPolicy, rng: np.random.Generator) -> None:
        self.policy = policy
        self._rules = RuleBook(policy)
        self._strategy = make_strategy(policy, UniformStream(rng))
        self._retry = policy.retry
        config = policy.strategy
        self._slow_ms = (
            config.latency_threshold_ms if isinstance(config, SrWindowStrategy) else None
        )

    def decide(self, payment: PaymentAttributes, now: float) -> Decision:
        """Candidate acquirers for ``payment`` in attempt order (``now`` in seconds)."""
        return self._strategy.order(payment, self._rules.select(payment))

    def record(
        self, decision: Decision, acquirer: str, info: CodeInfo, latency_ms: float, now: float
    ) -> None:
        """Learn from an attempt's answer when it arrives.

        Approvals count for the acquirer, acquirer-side failures (do not honour,
        technical errors, timeouts) against it; the card's own problems (insufficient
        funds, expired...) say nothing about the acquirer and are ignored.
        """
        if info.outcome is APPROVED:
            slow = self._slow_ms
            self._strategy.record(decision.segment, acquirer, slow is None or latency_ms <= slow)
        elif info.acquirer_side:
            self._strategy.record(decision.segment, acquirer, False)

    def next_acquirer(
        self, decision: Decision, attempts_made: int, info: CodeInfo, elapsed_ms: float
    ) -> str | None:
        """The acquirer to cascade to after a failed attempt, or None to stop."""
        if info.outcome is APPROVED or attempts_made >= len(decision.acquirers):
            return None
        if not may_cascade(self._retry, info, attempts_made, elapsed_ms):
            return None
        return decision.acquirers[attempts_made]

    def attempt_timeout_ms(self, elapsed_ms: float) -> float:
        """How long the router waits for the next attempt's answer."""
        return attempt_timeout_ms(self._retry, elapsed_ms)

    @property
    def learns(self) -> bool:
        """Whether answers change later decisions (if not, feedback may be skipped)."""
        return self._strategy.learns

    @property
    def voids_on_timeout(self) -> bool:
        return self._retry.on_timeout == "void_then_cascade"

    def scores(self) -> dict[str, dict[str, float]]:
        """Current strategy scores per segment and acquirer (empty for static strategies)."""
        return self._strategy.scores()
