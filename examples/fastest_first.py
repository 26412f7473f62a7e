"""A routing strategy of your own: send each payment first to the fastest acquirer.

routelab runs it unchanged in ``routelab simulate``, ``routelab serve`` and
``routelab loadtest``; ``examples/custom_strategy.yaml`` names it::

    strategy: {type: custom, path: fastest_first.py, class: FastestFirst,
               params: {smoothing: 0.05, explore: 0.1}}

A strategy implements two methods of :class:`routelab.api.Strategy`:

- ``order(payment, candidates, now)``: the candidates in attempt order, as an
  :class:`~routelab.api.Ordering` that says which rule chose them, the segment the
  strategy scored, its preferred acquirer, whether this payment was an exploration, and
  the probability with which the strategy put the first acquirer first (offline
  evaluation of logged traffic needs it);
- ``record(result)``: learn from an attempt's answer when it arrives (set
  ``learns = True``). ``acquirer_verdict(result)`` says whether the answer counts for the
  acquirer (approved), against it (its own failure) or neither (the card's own decline).

Randomness comes from ``context.uniforms`` (never from ``random`` or a clock), so a
simulation stays repeatable and two policies see the same payments.
"""

from __future__ import annotations

from typing import Any

from routelab.api import (
    NEUTRAL,
    AttemptResult,
    Candidates,
    Ordering,
    PaymentAttributes,
    Strategy,
    StrategyContext,
    acquirer_verdict,
)


class FastestFirst(Strategy):
    """Lowest smoothed latency first; with probability ``explore`` a random candidate."""

    learns = True

    def __init__(self, params: dict[str, Any], context: StrategyContext) -> None:
        self.smoothing = float(params.get("smoothing", 0.05))
        self.explore = float(params.get("explore", 0.1))
        self.uniforms = context.uniforms
        self.latency_ms: dict[str, float] = {}  # acquirer -> smoothed answer latency

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        acquirers = candidates.acquirers
        # untried acquirers first (latency 0): every candidate gets measured
        ranked = tuple(sorted(acquirers, key=lambda a: self.latency_ms.get(a, 0.0)))
        best, n = ranked[0], len(ranked)
        if self.uniforms.next() < self.explore:
            pick = acquirers[min(int(self.uniforms.next() * n), n - 1)]
            order = (pick, *(a for a in ranked if a != pick))
            p = self.explore / n + (1.0 - self.explore) * (pick == best)
            return Ordering(candidates.rule, order, (), best, True, p)
        return Ordering(candidates.rule, ranked, (), best, False, 1.0 - self.explore * (n - 1) / n)

    def record(self, result: AttemptResult) -> None:
        if acquirer_verdict(result) == NEUTRAL:
            return  # the card's own decline says nothing about the acquirer
        old = self.latency_ms.get(result.acquirer, result.latency_ms)
        self.latency_ms[result.acquirer] = old + self.smoothing * (result.latency_ms - old)

    def scores(self) -> dict[str, dict[str, float]]:
        return {"latency_ms": dict(self.latency_ms)}
