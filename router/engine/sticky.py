"""Sticky routing: a returning card goes back to the acquirer that last approved it.

An issuer that approved a card through one acquirer tends to approve it there again
(same acquirer BIN, same merchant account, same risk history), so a card that comes
back is sent first to the acquirer that last approved it, unless that acquirer's score,
as the ``inner`` strategy keeps it for the payment's segment, has fallen below
``min_score`` (or, with ``max_gap``, more than that below the best candidate's score):
then, as for a card never approved, the inner strategy orders the candidates alone. The
rest of the order (the cascade) is always the inner strategy's, and the inner strategy
learns from every answer, sticky or not.

The inner strategy's scores (``Strategy.scores()``, per segment label and acquirer) are
read at most once per ``refresh_s`` of the engine's time; an acquirer the inner strategy
has no score for (a static strategy, an acquirer not tried yet) counts as healthy.

Memory is bounded: the acquirer that last approved each card is kept for at most
``cards`` cards (:class:`~router.engine.cards.CardSlots`, least recently approved
forgotten first), two bytes per card plus the slot table's sixteen.
"""

from __future__ import annotations

from array import array
from typing import ClassVar

from router.engine.cards import CardSlots
from router.engine.rules import Candidates
from router.engine.strategies import (
    AttemptResult,
    Ordering,
    Segment,
    Strategy,
    StrategyContext,
)
from scenarios.conditions import PaymentAttributes
from scenarios.schema import StickyStrategy
from scenarios.taxonomy import OutcomeClass

NOBODY = -1


def segment_label(segment: Segment) -> str:
    """A segment as ``Strategy.scores()`` names it: its values joined by "/", or "all"."""
    return "/".join(str(v) for v in segment) or "all"


class Sticky(Strategy):
    """Sticky routing around an inner strategy (see the module docstring)."""

    learns: ClassVar[bool] = True

    def __init__(self, config: StickyStrategy, context: StrategyContext, inner: Strategy) -> None:
        self.inner = inner  # built by the registry first, as for every wrapper
        self._acquirers = context.acquirers
        self._index = {name: i for i, name in enumerate(context.acquirers)}
        self._slots = CardSlots(config.cards)
        self._last = array("h", [NOBODY]) * self._slots.capacity
        self._min_score = config.min_score
        self._max_gap = config.max_gap
        self._refresh_s = config.refresh_s
        self._scores: dict[str, dict[str, float]] = {}
        self._scores_at = -float("inf")
        self.sticky = 0  # payments sent first to the card's last approving acquirer
        self.unstuck = 0  # payments whose card's acquirer was passed over as unhealthy

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        ordering = self.inner.order(payment, candidates, now)
        slot = self._slots.find(payment.card)
        if slot < 0:
            return ordering
        last = self._last[slot]
        if last == NOBODY:
            return ordering
        name = self._acquirers[last]
        acquirers = ordering.acquirers
        if name not in acquirers:
            return ordering
        if not self._healthy(name, acquirers, ordering.segment, now):
            self.unstuck += 1
            return ordering
        self.sticky += 1
        if acquirers[0] == name:
            return ordering
        order = (name, *(a for a in acquirers if a != name))
        # deterministic given the card's history: its acquirer goes first for sure
        return Ordering(ordering.rule, order, ordering.segment, name, False, 1.0)

    def _healthy(self, name: str, acquirers: tuple[str, ...], segment: Segment, now: float) -> bool:
        if now - self._scores_at >= self._refresh_s:
            self._scores = self.inner.scores()
            self._scores_at = now
        scores = self._scores.get(segment_label(segment))
        if not scores:
            return True
        score = scores.get(name)
        if score is None:
            return True
        if score < self._min_score:
            return False
        if self._max_gap is not None:
            best = max((scores[a] for a in acquirers if a in scores), default=score)
            return best - score <= self._max_gap
        return True

    def record(self, result: AttemptResult) -> None:
        if result.outcome is OutcomeClass.APPROVED and result.card >= 0:
            index = self._index.get(result.acquirer)
            if index is not None:
                self._last[self._slots.slot(result.card, result.at)] = index
        self.inner.record(result)

    def scores(self) -> dict[str, dict[str, float]]:
        return self.inner.scores()

    def forget(self, acquirer: str) -> None:
        self.inner.forget(acquirer)
        self._scores_at = -float("inf")  # read the inner strategy's scores afresh

    def nbytes(self) -> int:
        """Memory held for the cards (fixed when the strategy is built)."""
        return self._slots.nbytes() + self._last.itemsize * len(self._last)
