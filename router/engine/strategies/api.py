"""The strategy API: what every strategy, built in or written by a user, implements.

A strategy sees the payment, its candidates and ``now`` (seconds on the driver's clock),
and learns from full attempt results (:class:`AttemptResult`: decline class, code,
latency, fee, time). It decides itself what counts as a success: the card's own declines
never count against an acquirer (``acquirer_verdict``). Every :class:`Ordering` carries
``propensity``, the probability with which the strategy chose its first acquirer, which
offline evaluation of logged traffic needs.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, Final, NamedTuple

import numpy as np
from mypy_extensions import mypyc_attr

from router.engine.rules import Candidates
from scenarios.conditions import PaymentAttributes
from scenarios.schema import FeeSchedule
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
    the same stream as a numpy generator, ``acquirers`` the scenario's acquirer names,
    ``propensities`` whether decisions must carry their first-choice probability where
    it has no closed form, and ``fees`` the acquirers' fee schedule (None when the
    driver has none: a cost-aware strategy then refuses to be built). ``truth`` is what
    only a simulator knows, every acquirer's true approval probability for a payment at
    a time (``router.engine.oracle.Truth``), for the oracle; None in a live router.
    """

    __slots__ = (
        "_estimator",
        "acquirers",
        "fees",
        "generator",
        "propensities",
        "truth",
        "uniforms",
    )

    def __init__(
        self,
        uniforms: UniformStream,
        acquirers: tuple[str, ...],
        propensities: bool = True,
        fees: FeeSchedule | None = None,
        *,
        truth: Any = None,
    ) -> None:
        self.uniforms = uniforms
        self.generator: np.random.Generator = uniforms.generator
        self.acquirers = acquirers
        self.propensities = propensities
        self.fees = fees
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

    def forget(self, acquirer: str) -> None:
        """Drop what was learnt of ``acquirer``: it is judged afresh from now on (a
        circuit breaker that lets it back in asks this; no-op for what keeps nothing)."""
        return None


NO_SEGMENT: Segment = ()


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


def segment_label(segment: Segment) -> str:
    """A segment as the admin API names it: its values joined by ``/`` (``all`` if none)."""
    return "/".join(str(v) for v in segment) or "all"


def hedged(explore: float, n: int, first_is_preferred: bool) -> float:
    """P(first choice) when, with probability ``explore``, one of ``n`` candidates is
    drawn uniformly instead of the model's deterministic pick."""
    return explore / n + (1.0 - explore) * first_is_preferred


def best_of_posterior(
    rng: np.random.Generator,
    alphas: list[float],
    betas: list[float],
    chosen: int,
    scale: list[float] | None = None,
    offset: list[float] | None = None,
) -> float:
    """Monte-Carlo probability that a draw from Beta(alphas[chosen], betas[chosen]) is
    the largest of independent Beta draws (the first choice of Thompson sampling).

    With ``scale`` and ``offset`` candidate ``i``'s score is ``draw * scale[i] +
    offset[i]`` (an objective linear in the approval probability, e.g. expected value).
    """
    draws = rng.beta(
        np.asarray(alphas)[:, None], np.asarray(betas)[:, None], (len(alphas), PROPENSITY_DRAWS)
    )
    if scale is not None and offset is not None:
        draws = draws * np.asarray(scale)[:, None] + np.asarray(offset)[:, None]
    return float(np.mean(np.argmax(draws, axis=0) == chosen))
