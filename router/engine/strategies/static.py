"""Strategies that never learn: the rule's order, and a volume split by weight."""

from __future__ import annotations

from typing import Any

from router.engine.rules import Candidates
from router.engine.strategies.api import NO_SEGMENT, Ordering, Strategy, StrategyContext
from scenarios.conditions import PaymentAttributes
from scenarios.schema import WeightedStrategy


class Priority(Strategy):
    """Candidates in the rule's order."""

    def __init__(self, params: Any = None, context: StrategyContext | None = None) -> None:
        self._orderings: dict[Candidates, Ordering] = {}

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        found = self._orderings.get(candidates)
        if found is None:
            acquirers = candidates.acquirers
            found = self._orderings[candidates] = Ordering(
                candidates.rule, acquirers, NO_SEGMENT, acquirers[0], False, 1.0
            )
        return found


class Weighted(Strategy):
    """Volume split: the first attempt goes to a candidate drawn by weight.

    A rule's own weights win over the strategy's; a candidate without a weight gets none
    of the first attempts (it still takes cascades).
    """

    def __init__(self, config: WeightedStrategy, context: StrategyContext) -> None:
        self._uniforms = context.uniforms
        self._base = config.weights
        self._weights: dict[Candidates, tuple[float, ...]] = {}

    def _weights_for(self, candidates: Candidates) -> tuple[float, ...]:
        found = self._weights.get(candidates)
        if found is None:
            own = candidates.weights
            if own is None:
                base = self._base
                found = tuple(base.get(a, 0.0) for a in candidates.acquirers) if base else ()
            else:
                found = own
            if not found or not sum(found) > 0.0:
                found = tuple(1.0 for _ in candidates.acquirers)
            self._weights[candidates] = found
        return found

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        acquirers = candidates.acquirers
        weights = self._weights_for(candidates)
        total = sum(weights)
        target = self._uniforms.next() * total
        pick = len(acquirers) - 1
        running = 0.0
        for i, w in enumerate(weights):
            running += w
            if target < running:
                pick = i
                break
        chosen = acquirers[pick]
        order = (chosen, *(a for a in acquirers if a != chosen))
        return Ordering(candidates.rule, order, NO_SEGMENT, chosen, False, weights[pick] / total)
