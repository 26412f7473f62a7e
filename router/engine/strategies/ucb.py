"""Upper-confidence-bound routing, discounted (D-UCB) or sliding-window (SW-UCB).

An acquirer's score is its approval share over the counts its memory keeps plus a
UCB1-style bonus ``c * sqrt(ln N / n)`` (see ``UcbStrategy``): an acquirer that gets no
traffic sees its count shrink and its bonus grow until it is tried again. The order is
a deterministic function of the counts, so the first choice's probability is 1.
"""

from __future__ import annotations

import math

from router.engine.rules import Candidates
from router.engine.strategies.api import Ordering, StrategyContext, rank, segment_key
from router.engine.strategies.evidence import Counts
from router.engine.strategies.learner import CountingStrategy
from scenarios.conditions import PaymentAttributes
from scenarios.schema import UcbStrategy


def upper_bounds(c: float, counts: Counts, slots: tuple[int, ...]) -> list[float]:
    """Each candidate's score s / n + c * sqrt(ln N / n), N the candidates' counts
    together (at least 1); infinite for a candidate with no count."""
    total = 0.0
    for slot in slots:
        total += counts.observations(slot)
    log_total = math.log(total) if total > 1.0 else 0.0
    bounds: list[float] = []
    for slot in slots:
        n = counts.observations(slot)
        if n > 0.0:
            bounds.append(counts.successes(slot) / n + c * math.sqrt(log_total / n))
        else:
            bounds.append(math.inf)
    return bounds


class Ucb(CountingStrategy):
    """UCB routing (see UcbStrategy)."""

    def __init__(self, config: UcbStrategy, context: StrategyContext) -> None:
        super().__init__(config, context, config.memory)
        self.config = config
        self._c = config.c
        self._segment_of = segment_key(list(config.segment_by))

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        segment = self._segment_of(payment)
        acquirers = candidates.acquirers
        if len(acquirers) == 1:
            return Ordering(candidates.rule, acquirers, segment, acquirers[0], False, 1.0)
        bounds = upper_bounds(self._c, self.counts(segment), self._slots.candidates(candidates))
        order = rank(acquirers, bounds)
        return Ordering(candidates.rule, order, segment, order[0], False, 1.0)
