"""Routing strategies: how a rule's candidate acquirers are ordered for one payment.

The first acquirer of the order gets the first attempt; cascades follow the order.
This module holds the strategy API (what every strategy, built in or written by a user,
implements) and the built-in strategies; :mod:`router.engine.registry` names them by
their scenario ``type``.

A strategy sees the payment, its candidates and ``now`` (seconds on the driver's clock),
and learns from full attempt results (:class:`AttemptResult`: decline class, code,
latency, fee, time). It decides itself what counts as a success: the card's own declines
never count against an acquirer (``acquirer_verdict``). Every :class:`Ordering` carries
``propensity``, the probability with which the strategy chose its first acquirer, which
offline evaluation of logged traffic needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, Final, NamedTuple

import numpy as np
from mypy_extensions import mypyc_attr

from router.engine.rules import Candidates
from scenarios.conditions import PaymentAttributes
from scenarios.schema import SrWindowStrategy, WeightedStrategy
from scenarios.streams import UniformStream
from scenarios.taxonomy import OutcomeClass

Segment = tuple[object, ...]

# How many posterior draws estimate the first-choice probability of a sampled score.
PROPENSITY_DRAWS: Final = 512


class Ordering(NamedTuple):
    """Where one payment goes: acquirers in attempt order, and why.

    ``rule`` is the routing rule that yielded the candidates, ``segment`` the
    strategy's segment key, ``preferred`` the model's own pick before exploration,
    ``explored`` whether this payment was an exploration, ``propensity`` the probability
    that the strategy would put ``acquirers[0]`` first for this payment (NaN when the
    engine was told not to estimate it).
    """

    rule: str
    acquirers: tuple[str, ...]
    segment: Segment
    preferred: str
    explored: bool
    propensity: float


class AttemptResult(NamedTuple):
    """One attempt's answer, as the strategy that routed it learns from it.

    ``outcome`` is the decline class (``approved`` for an approval), ``code`` the
    normalised ISO 8583 code, ``acquirer_side`` whether the failure is the acquirer's
    (never the card's own problem), ``latency_ms`` how long the answer took, ``fee`` the
    fee the attempt cost (minor units), ``at`` when the answer arrived (seconds),
    ``card`` the payment's card key (-1 when not known; see ``PaymentAttributes.card``).
    """

    decision: Ordering
    acquirer: str
    code: str
    outcome: OutcomeClass
    acquirer_side: bool
    latency_ms: float
    fee: float
    at: float
    card: int = -1


SUCCESS: Final = 1
FAILURE: Final = 0
NEUTRAL: Final = -1  # says nothing about the acquirer (the card's own decline)


def acquirer_verdict(result: AttemptResult) -> int:
    """``SUCCESS`` for an approval, ``FAILURE`` for the acquirer's fault, else ``NEUTRAL``."""
    if result.outcome is OutcomeClass.APPROVED:
        return SUCCESS
    if result.acquirer_side:
        return FAILURE
    return NEUTRAL


class StrategyContext:
    """What a strategy is given besides its own parameters.

    ``uniforms`` are the routing stream's uniforms (exploration, splits), ``generator``
    the same stream as a numpy generator, ``acquirers`` the scenario's acquirer names and
    ``propensities`` whether decisions must carry their first-choice probability.
    ``truth`` is what only a simulator knows, every acquirer's true approval probability
    for a payment at a time (``router.engine.oracle.Truth``), for the oracle; None in a
    live router.
    """

    __slots__ = ("_estimator", "acquirers", "generator", "propensities", "truth", "uniforms")

    def __init__(
        self,
        uniforms: UniformStream,
        acquirers: tuple[str, ...],
        propensities: bool = True,
        *,
        truth: Any = None,
    ) -> None:
        self.uniforms = uniforms
        self.generator: np.random.Generator = uniforms.generator
        self.acquirers = acquirers
        self.propensities = propensities
        self.truth: Any = truth
        self._estimator: np.random.Generator | None = None

    def estimator(self) -> np.random.Generator:
        """A generator of its own for Monte-Carlo estimates: drawing from it never shifts
        the routing stream, so estimating propensities leaves every decision unchanged."""
        if self._estimator is None:
            self._estimator = self.generator.spawn(1)[0]
        return self._estimator


@mypyc_attr(allow_interpreted_subclasses=True)
class Strategy:
    """The strategy API. Subclass it (a user's own strategy too) and override ``order``;
    override ``record`` (and set ``learns = True``) if answers change later decisions."""

    # False when record() is a no-op: callers may skip feedback entirely
    learns: ClassVar[bool] = False

    def __init__(self, params: Any = None, context: StrategyContext | None = None) -> None:
        return None

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        """The candidates in attempt order for ``payment`` at time ``now``."""
        raise NotImplementedError("a strategy must implement order()")

    def record(self, result: AttemptResult) -> None:
        """Learn from an attempt's answer when it arrives."""
        return None

    def scores(self) -> dict[str, dict[str, float]]:
        """Current scores per segment and acquirer, for the admin API (empty if none)."""
        return {}


NO_SEGMENT: Segment = ()


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


def rank(acquirers: tuple[str, ...], scores: list[float]) -> tuple[str, ...]:
    """Acquirers by score, best first; ties keep the rule's order (stable)."""
    if len(acquirers) == 2:
        return acquirers if scores[0] >= scores[1] else (acquirers[1], acquirers[0])
    ranked = sorted(range(len(acquirers)), key=scores.__getitem__, reverse=True)
    return tuple([acquirers[i] for i in ranked])


def segment_key(fields: list[str]) -> Callable[[PaymentAttributes], Segment]:
    """A function giving a payment's segment: the values of ``fields``, as a tuple."""
    if not fields:
        return lambda p: NO_SEGMENT
    if len(fields) == 1:
        field = attrgetter(fields[0])  # one field: wrap its value in a 1-tuple
        return lambda p: (field(p),)
    return attrgetter(fields[0], fields[1], *fields[2:])


def best_of_posterior(
    rng: np.random.Generator, alphas: list[float], betas: list[float], chosen: int
) -> float:
    """Monte-Carlo probability that a draw from Beta(alphas[chosen], betas[chosen]) is
    the largest of independent Beta draws (the first choice of Thompson sampling)."""
    draws = rng.beta(
        np.asarray(alphas)[:, None], np.asarray(betas)[:, None], (len(alphas), PROPENSITY_DRAWS)
    )
    return float(np.mean(np.argmax(draws, axis=0) == chosen))


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

    learns: ClassVar[bool] = True

    def __init__(self, config: SrWindowStrategy, context: StrategyContext) -> None:
        self.config = config
        self._context = context
        self._uniforms = context.uniforms
        self._rng: np.random.Generator = context.generator
        self._propensities = context.propensities
        self._segment_of = segment_key(list(config.segment_by))
        self._windows: dict[Segment, dict[str, SuccessWindow]] = {}
        self._rankings: dict[Segment, dict[Candidates, Ordering]] = {}
        self._thompson_scores = config.score == "thompson"
        self._exploration = config.exploration
        self._slow_ms = config.latency_threshold_ms
        self._reset_margin = (
            config.reset_sigma / math.sqrt(config.window) if config.reset_sigma > 0 else None
        )

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        segment = self._segment_of(payment)
        windows = self._windows.get(segment)
        if windows is None:
            windows = self._windows[segment] = {}
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
                candidates.rule, order, segment, order[0], False, 1.0 - h + h / n
            )
        if explore:
            # hedging: every candidate scored equal for this payment
            pick = acquirers[min(int(uniforms.next() * n), n - 1)]
            order = (pick, *(a for a in ordering.acquirers if a != pick))
            propensity = h / n + (1.0 - h) * (pick == ordering.preferred)
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
        verdict = acquirer_verdict(result)
        if verdict == NEUTRAL:
            return
        slow = self._slow_ms
        # an approval slower than the latency threshold is not rewarded
        success = verdict == SUCCESS and (slow is None or result.latency_ms <= slow)
        segment = result.decision.segment
        acquirer = result.acquirer
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
