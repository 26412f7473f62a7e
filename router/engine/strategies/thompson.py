"""Beta-Bernoulli Thompson sampling per (segment, acquirer), discounted or sliding-window.

Each payment draws one approval probability per candidate from its posterior and ranks
the candidates by the draws (see ``ThompsonStrategy``). The first choice's probability
has no closed form: it is estimated by Monte Carlo from the context's own generator,
only when the engine asks for propensities.
"""

from __future__ import annotations

from router.engine.rules import Candidates
from router.engine.strategies.api import Ordering, StrategyContext, rank, segment_key
from router.engine.strategies.learner import CountingStrategy
from scenarios.conditions import PaymentAttributes
from scenarios.schema import ThompsonStrategy


class Thompson(CountingStrategy):
    """Thompson sampling (see ThompsonStrategy)."""

    def __init__(self, config: ThompsonStrategy, context: StrategyContext) -> None:
        super().__init__(config, context, config.memory, config.prior)
        self.config = config
        self._segment_of = segment_key(list(config.segment_by))

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        segment = self._segment_of(payment)
        acquirers = candidates.acquirers
        if len(acquirers) == 1:
            return Ordering(candidates.rule, acquirers, segment, acquirers[0], False, 1.0)
        counts = self.counts(segment)
        slots = self._slots.candidates(candidates)
        draws = self.posterior_draws(counts, slots)
        order = rank(acquirers, draws)
        first = order[0]
        propensity = self.sampled_first(counts, slots, acquirers.index(first))
        return Ordering(candidates.rule, order, segment, first, False, propensity)
