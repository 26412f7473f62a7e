"""Sliding-window success-rate routing, the open-source reference design ("SR v3").

Per (segment, acquirer) a window of the last ``window`` verdicts, started optimistic
(all successes); hedging explores; an optional Beta draw replaces the window mean; an
acquirer that falls three standard errors below the segment's best has its window
rebuilt just above that line so it can recover (see ``SrWindowStrategy``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from router.engine.rules import Candidates
from router.engine.strategies.api import (
    NEUTRAL,
    SUCCESS,
    AttemptResult,
    Ordering,
    Segment,
    Strategy,
    StrategyContext,
    best_of_posterior,
    hedged,
    rank,
    segment_key,
    segment_label,
)
from router.engine.strategies.evidence import Attribution
from scenarios.conditions import PaymentAttributes
from scenarios.schema import SrWindowStrategy


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


class WindowBook:
    """Per (segment, acquirer) success windows of ``size``, with the reset: a window
    that falls ``reset_sigma`` standard errors below the segment's best is rebuilt just
    above that threshold (0: never)."""

    __slots__ = ("_margin", "size", "windows")

    def __init__(self, size: int, reset_sigma: float) -> None:
        self.size = size
        self.windows: dict[Segment, dict[str, SuccessWindow]] = {}
        self._margin = reset_sigma / math.sqrt(size) if reset_sigma > 0 else None

    def segment(self, segment: Segment) -> dict[str, SuccessWindow]:
        """The segment's windows by acquirer (only acquirers with a verdict have one)."""
        windows = self.windows.get(segment)
        if windows is None:
            windows = self.windows[segment] = {}
        return windows

    def rates(self, segment: Segment, acquirers: tuple[str, ...]) -> list[float]:
        """Each acquirer's window rate; an untried one scores a full window (1.0)."""
        windows = self.segment(segment)
        return [w.rate if (w := windows.get(a)) is not None else 1.0 for a in acquirers]

    def push(
        self, segment: Segment, acquirer: str, success: bool, candidates: tuple[str, ...]
    ) -> bool:
        """Add a verdict (``candidates``: the payment's, for the reset's p_max); True
        when a window's success count changed."""
        windows = self.segment(segment)
        window = windows.get(acquirer)
        if window is None:
            window = windows[acquirer] = SuccessWindow(self.size)
        changed = window.push(success)
        margin = self._margin
        if not success and margin is not None:
            best = best_rate(windows, candidates)
            threshold = best - margin * math.sqrt(max(best * (1.0 - best), 0.09))
            if window.rate < threshold:
                window.rebuild(threshold)
                changed = True
        return changed

    def scores(self) -> dict[str, dict[str, float]]:
        return {
            segment_label(segment): {a: w.rate for a, w in windows.items()}
            for segment, windows in self.windows.items()
        }

    def forget(self, acquirer: str) -> None:
        """Judge ``acquirer`` afresh in every segment: its window is rebuilt just above
        the best of the others there (so it goes first, and its own next verdicts decide
        at once whether it stays first), or dropped (untried: 1.0) where it has no rival."""
        for windows in self.windows.values():
            window = windows.get(acquirer)
            if window is None:
                continue
            rivals = [w.successes for a, w in windows.items() if a != acquirer]
            if rivals:
                window.rebuild(max(rivals) / window.size)
            else:
                del windows[acquirer]


def best_rate(windows: dict[str, SuccessWindow], candidates: tuple[str, ...]) -> float:
    """p_max of the reset: the segment's best window, an untried candidate of the
    payment counting as a full window (the optimistic score it is ranked by)."""
    for a in candidates:
        if a not in windows:
            return 1.0
    best = 0
    size = 1
    for w in windows.values():
        best = max(best, w.successes)
        size = w.size
    return best / size


class SrWindow(Strategy):
    """Sliding-window success-rate routing with exploration (see SrWindowStrategy)."""

    learns: ClassVar[bool] = True

    def __init__(self, config: SrWindowStrategy, context: StrategyContext) -> None:
        self.config = config
        self._context = context
        self._uniforms = context.uniforms
        self._rng: np.random.Generator = context.generator
        self._propensities = context.propensities
        self._segment_of = segment_key(list(config.segment_by))
        self._book = WindowBook(config.window, config.reset_sigma)
        self._rankings: dict[Segment, dict[Candidates, Ordering]] = {}
        self._thompson_scores = config.score == "thompson"
        self._exploration = config.exploration
        self._attribution = Attribution(config.failure_classes, config.latency_threshold_ms)

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        segment = self._segment_of(payment)
        windows = self._book.segment(segment)
        acquirers = candidates.acquirers
        n = len(acquirers)
        if n == 1:
            return Ordering(candidates.rule, acquirers, segment, acquirers[0], False, 1.0)
        uniforms = self._uniforms
        h = self._exploration
        explore = uniforms.next() < h
        if self._thompson_scores:
            order = rank(acquirers, [self._thompson(windows.get(a)) for a in acquirers])
            preferred = order[0]
            if explore:  # hedging: every candidate scored equal for this payment
                pick = acquirers[min(int(uniforms.next() * n), n - 1)]
                order = (pick, *(a for a in order if a != pick))
            propensity = self._thompson_propensity(acquirers, windows, order[0])
            return Ordering(candidates.rule, order, segment, preferred, explore, propensity)
        # The ranking only changes when a window's success count does (most answers
        # replace a success with a success), so it is cached until then.
        rankings = self._rankings.get(segment)
        if rankings is None:
            rankings = self._rankings[segment] = {}
        ordering = rankings.get(candidates)
        if ordering is None:
            # equal-size windows: success counts rank like rates; unseen = optimistic
            full = self.config.window
            order = rank(
                acquirers,
                [w.successes if (w := windows.get(a)) is not None else full for a in acquirers],
            )
            ordering = rankings[candidates] = Ordering(
                candidates.rule, order, segment, order[0], False, hedged(h, n, True)
            )
        if explore:
            # hedging: every candidate scored equal for this payment
            pick = acquirers[min(int(uniforms.next() * n), n - 1)]
            order = (pick, *(a for a in ordering.acquirers if a != pick))
            propensity = hedged(h, n, pick == ordering.preferred)
            return Ordering(candidates.rule, order, segment, ordering.preferred, True, propensity)
        return ordering

    def _thompson_propensity(
        self, acquirers: tuple[str, ...], windows: dict[str, SuccessWindow], first: str
    ) -> float:
        """P(first choice = ``first``): hedging's share, plus the chance that sampling
        from the windows' posteriors puts ``first`` on top."""
        if not self._propensities:
            return math.nan
        alphas: list[float] = []
        betas: list[float] = []
        for a in acquirers:
            w = windows.get(a)
            successes = self.config.window if w is None else w.successes
            alphas.append(successes + 1.0)
            betas.append(self.config.window - successes + 1.0)
        h = self._exploration
        n = len(acquirers)
        p_best = best_of_posterior(self._context.estimator(), alphas, betas, acquirers.index(first))
        return h / n + (1.0 - h) * p_best

    def _thompson(self, window: SuccessWindow | None) -> float:
        if window is None:  # untried: a full window of successes, as the window score has it
            return float(self._rng.beta(self.config.window + 1, 1.0))
        return float(self._rng.beta(window.successes + 1, window.size - window.successes + 1))

    def record(self, result: AttemptResult) -> None:
        verdict = self._attribution.verdict(result)
        if verdict == NEUTRAL:
            return
        segment = result.decision.segment
        changed = self._book.push(
            segment, result.acquirer, verdict == SUCCESS, result.decision.acquirers
        )
        if changed and (rankings := self._rankings.get(segment)):
            rankings.clear()

    def scores(self) -> dict[str, dict[str, float]]:
        return self._book.scores()

    def forget(self, acquirer: str) -> None:
        """Judge ``acquirer`` afresh in every segment (see ``WindowBook.forget``)."""
        self._book.forget(acquirer)
        self._rankings.clear()
