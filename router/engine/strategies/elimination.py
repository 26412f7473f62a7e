"""Elimination: a circuit breaker per acquirer around any other strategy.

The inner strategy orders the candidates that are not eliminated; the eliminated ones
follow, in the inner strategy's order over all candidates' rule order, so cascades still
reach them. With probability ``probe`` an eliminated candidate goes first instead, which
is how it proves it has recovered (see ``EliminationStrategy``).

The first choice's probability composes exactly: with ``m`` of the candidates
eliminated (not all), an eliminated acquirer is first with probability ``probe / m``,
any other with ``(1 - probe)`` times the inner strategy's propensity for the candidates
left; with none or all eliminated it is the inner strategy's own.
"""

from __future__ import annotations

import math
from typing import ClassVar

from router.engine.rules import Candidates
from router.engine.strategies.api import (
    NEUTRAL,
    SUCCESS,
    AttemptResult,
    Ordering,
    Strategy,
    StrategyContext,
)
from router.engine.strategies.evidence import Attribution
from scenarios.conditions import PaymentAttributes
from scenarios.schema import EliminationStrategy, LeakyBucket, ScoreBreaker


class Breaker:
    """One acquirer's health: fed verdicts, asked whether it is eliminated at ``now``."""

    def feed(self, success: bool, now: float) -> None:
        raise NotImplementedError

    def eliminated(self, now: float) -> bool:
        raise NotImplementedError

    def level(self, now: float) -> float:
        """The state as a number for the admin API (bucket level, or score)."""
        raise NotImplementedError


class BucketBreaker(Breaker):
    """A leaky bucket: a failure adds one unit (not beyond ``size``), one unit leaks
    per ``interval`` seconds; full means eliminated. Successes change nothing."""

    __slots__ = ("_interval", "_last_leak", "_level", "_size")

    def __init__(self, config: LeakyBucket, now: float) -> None:
        self._size = config.size
        self._interval = config.leak_interval_s
        self._level = 0
        self._last_leak = now

    def _leak(self, now: float) -> None:
        elapsed = now - self._last_leak  # negative for an answer older than the last leak
        if elapsed < self._interval:
            return
        leaks = math.floor(elapsed / self._interval)
        self._level = max(0, self._level - leaks)
        self._last_leak += leaks * self._interval

    def feed(self, success: bool, now: float) -> None:
        self._leak(now)
        if not success and self._level < self._size:
            self._level += 1

    def eliminated(self, now: float) -> bool:
        self._leak(now)
        return self._level >= self._size

    def level(self, now: float) -> float:
        self._leak(now)
        return float(self._level)


class ScoreDecay(Breaker):
    """A score multiplied by ``failure_factor`` per failure and ``success_factor`` per
    success, kept in [floor, 1]; below ``threshold`` means eliminated."""

    __slots__ = ("_down", "_floor", "_score", "_threshold", "_up")

    def __init__(self, config: ScoreBreaker, now: float) -> None:
        self._down = config.failure_factor
        self._up = config.success_factor
        self._threshold = config.threshold
        self._floor = config.floor
        self._score = 1.0

    def feed(self, success: bool, now: float) -> None:
        if success:
            self._score = min(1.0, self._score * self._up)
        else:
            self._score = max(self._floor, self._score * self._down)

    def eliminated(self, now: float) -> bool:
        return self._score < self._threshold

    def level(self, now: float) -> float:
        return self._score


class Elimination(Strategy):
    """A circuit breaker around ``inner`` (see EliminationStrategy)."""

    learns: ClassVar[bool] = True

    def __init__(
        self, config: EliminationStrategy, context: StrategyContext, inner: Strategy
    ) -> None:
        self.config = config
        self._inner = inner
        # read as a Python attribute: the inner strategy may be a user's interpreted class
        self._inner_learns = bool(getattr(inner, "learns", False))
        self._uniforms = context.uniforms
        self._probe = config.probe
        self._attribution = Attribution(config.failure_classes, config.latency_threshold_ms)
        self._breakers: dict[str, Breaker] = {}
        self._bucket = config.breaker if isinstance(config.breaker, LeakyBucket) else None
        self._score = config.breaker if isinstance(config.breaker, ScoreBreaker) else None
        # the candidates left once some are eliminated, one object per (rule, left)
        self._left: dict[tuple[Candidates, tuple[str, ...]], Candidates] = {}
        self._last = 0.0  # the latest time seen, for the admin API's view of the breakers
        # readmitted: fresh: the acquirers last seen eliminated; one seen back in is
        # forgotten by the inner strategy (every strategy has forget(), a no-op by default)
        self._fresh = config.readmitted == "fresh"
        self._out: set[str] = set()

    def _breaker(self, acquirer: str, now: float) -> Breaker:
        found = self._breakers.get(acquirer)
        if found is None:
            if self._bucket is not None:
                found = BucketBreaker(self._bucket, now)
            else:
                assert self._score is not None
                found = ScoreDecay(self._score, now)
            self._breakers[acquirer] = found
        return found

    def eliminated(self, acquirers: tuple[str, ...], now: float) -> tuple[str, ...]:
        """The candidates whose breaker is open at ``now``."""
        breakers = self._breakers
        out: list[str] = []
        for a in acquirers:
            breaker = breakers.get(a)
            if breaker is not None and breaker.eliminated(now):
                out.append(a)
        return tuple(out)

    def _remaining(self, candidates: Candidates, out: tuple[str, ...]) -> Candidates:
        left = tuple([a for a in candidates.acquirers if a not in out])
        key = (candidates, left)
        found = self._left.get(key)
        if found is None:
            weights = candidates.weights
            kept = (
                None
                if weights is None
                else tuple(
                    [w for a, w in zip(candidates.acquirers, weights, strict=True) if a in left]
                )
            )
            found = self._left[key] = Candidates(candidates.rule, left, kept)
        return found

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        self._last = max(self._last, now)
        out = self.eliminated(candidates.acquirers, now) if self._breakers else ()
        if self._fresh:
            self._readmit(candidates.acquirers, out)
        if not out or len(out) == len(candidates.acquirers):
            return self._inner.order(payment, candidates, now)
        inner = self._inner.order(payment, self._remaining(candidates, out), now)
        tail = tuple([a for a in candidates.acquirers if a in out])
        probe = self._probe
        if probe > 0.0 and self._uniforms.next() < probe:
            m = len(tail)
            pick = tail[min(int(self._uniforms.next() * m), m - 1)]
            order = (pick, *inner.acquirers, *(a for a in tail if a != pick))
            return Ordering(inner.rule, order, inner.segment, inner.preferred, True, probe / m)
        return Ordering(
            inner.rule,
            inner.acquirers + tail,
            inner.segment,
            inner.preferred,
            inner.explored,
            (1.0 - probe) * inner.propensity,
        )

    def _readmit(self, acquirers: tuple[str, ...], out: tuple[str, ...]) -> None:
        """Note who is eliminated now; the inner strategy forgets whoever is back."""
        was_out = self._out
        for a in acquirers:
            if a in out:
                was_out.add(a)
            elif a in was_out:
                was_out.discard(a)
                self._inner.forget(a)

    def forget(self, acquirer: str) -> None:
        self._inner.forget(acquirer)

    def record(self, result: AttemptResult) -> None:
        if self._inner_learns:
            self._inner.record(result)
        verdict = self._attribution.verdict(result)
        if verdict == NEUTRAL:
            return
        at = result.at
        self._last = max(self._last, at)
        self._breaker(result.acquirer, at).feed(verdict == SUCCESS, at)

    def scores(self) -> dict[str, dict[str, float]]:
        """The inner strategy's scores, plus each acquirer's breaker state (bucket level
        or score) and whether it is eliminated now."""
        now = self._last
        out = dict(self._inner.scores())
        out["elimination"] = {a: b.level(now) for a, b in self._breakers.items()}
        out["eliminated"] = {a: float(b.eliminated(now)) for a, b in self._breakers.items()}
        return out
