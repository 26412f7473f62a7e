"""Routing strategies: how a rule's candidate acquirers are ordered for one payment.

The first acquirer of the order gets the first attempt; cascades follow the order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from router.engine.rules import Candidates
from scenarios.conditions import PaymentAttributes
from scenarios.schema import SrWindowStrategy
from scenarios.streams import UniformStream

Segment = tuple[object, ...]


class Ordering(NamedTuple):
    """Where one payment goes: acquirers in attempt order, and why.

    ``rule`` is the routing rule that yielded the candidates, ``segment`` the
    strategy's segment key, ``preferred`` the model's own pick before exploration.
    """

    rule: str
    acquirers: tuple[str, ...]
    segment: Segment
    preferred: str
    explored: bool


class Strategy:
    """What every strategy does. A base class rather than a protocol: compiled, the
    engine's calls to it dispatch natively (see setup.py)."""

    learns = False  # False when record() is a no-op: callers may skip feedback entirely

    def order(self, payment: PaymentAttributes, candidates: Candidates) -> Ordering:
        raise NotImplementedError

    def record(self, segment: Segment, acquirer: str, success: bool) -> None:
        return None

    def scores(self) -> dict[str, dict[str, float]]:
        return {}


_NO_SEGMENT: Segment = ()


class Priority(Strategy):
    """Candidates in the rule's order."""

    def __init__(self) -> None:
        self._orderings: dict[Candidates, Ordering] = {}

    def order(self, payment: PaymentAttributes, candidates: Candidates) -> Ordering:
        found = self._orderings.get(candidates)
        if found is None:
            acquirers = candidates.acquirers
            found = self._orderings[candidates] = Ordering(
                candidates.rule, acquirers, _NO_SEGMENT, acquirers[0], False
            )
        return found


class Weighted(Strategy):
    """Volume split: the first attempt goes to a candidate drawn by weight."""

    def __init__(self, uniforms: UniformStream) -> None:
        self._uniforms = uniforms

    def order(self, payment: PaymentAttributes, candidates: Candidates) -> Ordering:
        acquirers = candidates.acquirers
        weights = candidates.weights or tuple(1.0 for _ in acquirers)
        target = self._uniforms.next() * sum(weights)
        pick = len(acquirers) - 1
        running = 0.0
        for i, w in enumerate(weights):
            running += w
            if target < running:
                pick = i
                break
        chosen = acquirers[pick]
        order = (chosen, *(a for a in acquirers if a != chosen))
        return Ordering(candidates.rule, order, _NO_SEGMENT, chosen, False)


def _rank(acquirers: tuple[str, ...], scores: list[float]) -> tuple[str, ...]:
    """Acquirers by score, best first; ties keep the rule's order (stable)."""
    if len(acquirers) == 2:
        return acquirers if scores[0] >= scores[1] else (acquirers[1], acquirers[0])
    ranked = sorted(range(len(acquirers)), key=scores.__getitem__, reverse=True)
    return tuple([acquirers[i] for i in ranked])


class SuccessWindow:
    """The last ``size`` outcomes of one acquirer in one segment, started optimistic."""

    __slots__ = ("buffer", "pos", "size", "successes")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buffer = bytearray(b"\x01" * size)
        self.pos = 0
        self.successes = size

    @property
    def rate(self) -> float:
        return self.successes / self.size

    def push(self, success: bool) -> bool:
        """Add an outcome, dropping the oldest; True when the success count changed."""
        value = 1 if success else 0
        pos = self.pos
        change = value - self.buffer[pos]
        self.buffer[pos] = value
        self.pos = pos + 1 if pos + 1 < self.size else 0
        if change:
            self.successes += change
            return True
        return False

    def rebuild(self, rate: float) -> None:
        """Refill the window so its rate is just above ``rate`` (the 3-sigma reset).

        The synthetic successes are spread evenly through the window: new outcomes then
        replace a mix of them, so an acquirer that has recovered climbs back at the pace
        of its real success rate instead of being pushed under the threshold again.
        """
        size = self.size
        successes = min(size, math.floor(rate * size) + 1)
        self.buffer[:] = bytes(
            1 if ((i + 1) * successes) // size > (i * successes) // size else 0 for i in range(size)
        )
        self.successes = successes
        self.pos = 0


class SrWindow(Strategy):
    """Sliding-window success-rate routing with exploration (see SrWindowStrategy)."""

    learns = True

    def __init__(self, config: SrWindowStrategy, uniforms: UniformStream) -> None:
        self.config = config
        self._uniforms = uniforms
        self._rng: np.random.Generator = uniforms.generator
        fields = config.segment_by
        self._segment_of: Callable[[PaymentAttributes], Segment]
        if not fields:
            self._segment_of = lambda p: _NO_SEGMENT
        elif len(fields) == 1:
            field = attrgetter(fields[0])  # one field: wrap its value in a 1-tuple
            self._segment_of = lambda p: (field(p),)
        else:
            self._segment_of = attrgetter(fields[0], fields[1], *fields[2:])
        self._windows: dict[Segment, dict[str, SuccessWindow]] = {}
        self._rankings: dict[Segment, dict[Candidates, Ordering]] = {}
        self._thompson_scores = config.score == "thompson"
        self._exploration = config.exploration
        self._reset_margin = (
            config.reset_sigma / math.sqrt(config.window) if config.reset_sigma > 0 else None
        )

    def order(self, payment: PaymentAttributes, candidates: Candidates) -> Ordering:
        segment = self._segment_of(payment)
        windows = self._windows.get(segment)
        if windows is None:
            windows = self._windows[segment] = {}
        acquirers = candidates.acquirers
        n = len(acquirers)
        if n == 1:
            return Ordering(candidates.rule, acquirers, segment, acquirers[0], False)
        uniforms = self._uniforms
        explore = uniforms.next() < self._exploration
        if self._thompson_scores:
            order = _rank(acquirers, [self._thompson(windows.get(a)) for a in acquirers])
            ordering = Ordering(candidates.rule, order, segment, order[0], False)
        else:
            # The ranking only changes when a window's success count does (most answers
            # replace a success with a success), so it is cached until then.
            rankings = self._rankings.get(segment)
            if rankings is None:
                rankings = self._rankings[segment] = {}
            cached = rankings.get(candidates)
            if cached is None:
                # equal-size windows: success counts rank like rates; unseen = optimistic
                full = self.config.window
                order = _rank(
                    acquirers,
                    [w.successes if (w := windows.get(a)) is not None else full for a in acquirers],
                )
                cached = rankings[candidates] = Ordering(
                    candidates.rule, order, segment, order[0], False
                )
            ordering = cached
        if explore:
            # hedging: every candidate scored equal for this payment
            pick = acquirers[min(int(uniforms.next() * n), n - 1)]
            order = (pick, *(a for a in ordering.acquirers if a != pick))
            return Ordering(candidates.rule, order, segment, ordering.preferred, True)
        return ordering

    def _thompson(self, window: SuccessWindow | None) -> float:
        if window is None:  # untried: a full window of successes, as the window score has it
            return float(self._rng.beta(self.config.window + 1, 1.0))
        return float(self._rng.beta(window.successes + 1, window.size - window.successes + 1))

    def record(self, segment: Segment, acquirer: str, success: bool) -> None:
        windows = self._windows.get(segment)
        if windows is None:
            windows = self._windows[segment] = {}
        window = windows.get(acquirer)
        if window is None:
            window = windows[acquirer] = SuccessWindow(self.config.window)
        changed = window.push(success)
        if not success and self._reset_margin is not None:
            best = max(w.successes for w in windows.values()) / window.size
            threshold = best - self._reset_margin * math.sqrt(max(best * (1.0 - best), 0.09))
            if window.rate < threshold:
                window.rebuild(threshold)
                changed = True
        if changed and (rankings := self._rankings.get(segment)):
            rankings.clear()

    def scores(self) -> dict[str, dict[str, float]]:
        return {
            "/".join(str(v) for v in segment) or "all": {a: w.rate for a, w in windows.items()}
            for segment, windows in self._windows.items()
        }
