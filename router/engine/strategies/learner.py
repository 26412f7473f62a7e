"""The base of the counting strategies (thompson, ucb, cost_aware, hierarchical).

A :class:`CountingStrategy` keeps, per segment, the counts its ``memory`` keeps (see
:mod:`router.engine.strategies.evidence`), fed by the verdicts its attribution gives;
subclasses decide how counts become an order. Its segment is the decision's
``segment``, so what a payment was routed by is what its answers are counted under.
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
    Segment,
    Strategy,
    StrategyContext,
    best_of_posterior,
    segment_label,
)
from router.engine.strategies.evidence import Attribution, Counts, Slots, counts_for
from scenarios.schema import BetaPrior, LearningStrategy, Memory


class CountingStrategy(Strategy):
    """Counts per (segment, acquirer), forgetting as ``memory`` says."""

    learns: ClassVar[bool] = True

    def __init__(
        self,
        config: LearningStrategy,
        context: StrategyContext,
        memory: Memory,
        prior: BetaPrior | None = None,
    ) -> None:
        self._context = context
        self._uniforms = context.uniforms
        self._rng: np.random.Generator = context.generator
        self._propensities = context.propensities
        self._attribution = Attribution(config.failure_classes, config.latency_threshold_ms)
        self._slots = Slots(context.acquirers)
        self._new_counts = counts_for(memory)
        self._counts: dict[Segment, Counts] = {}
        # no prior (ucb): the means are the plain approval shares
        self._alpha = 0.0 if prior is None else prior.successes
        self._beta = 0.0 if prior is None else prior.failures

    def counts(self, segment: Segment) -> Counts:
        """The segment's counts (empty ones the first time)."""
        found = self._counts.get(segment)
        if found is None:
            found = self._counts[segment] = self._new_counts()
        return found

    def record(self, result: AttemptResult) -> None:
        verdict = self._attribution.verdict(result)
        if verdict == NEUTRAL:
            return
        self.counts(result.decision.segment).add(
            self._slots.of(result.acquirer), verdict == SUCCESS
        )

    def forget(self, acquirer: str) -> None:
        """Drop ``acquirer``'s counts in every segment (its prior alone is left)."""
        slot = self._slots.of(acquirer)
        for counts in self._counts.values():
            counts.forget(slot)

    # -- Beta posteriors over the counts --------------------------------------------------

    def posterior_means(self, counts: Counts, slots: tuple[int, ...]) -> list[float]:
        a0, b0 = self._alpha, self._beta
        means: list[float] = []
        for slot in slots:
            s = counts.successes(slot)
            means.append((a0 + s) / (a0 + b0 + s + counts.failures(slot)))
        return means

    def posterior_draws(self, counts: Counts, slots: tuple[int, ...]) -> list[float]:
        a0, b0 = self._alpha, self._beta
        rng = self._rng
        return [
            float(rng.beta(a0 + counts.successes(slot), b0 + counts.failures(slot)))
            for slot in slots
        ]

    def sampled_first(
        self,
        counts: Counts,
        slots: tuple[int, ...],
        chosen: int,
        scale: list[float] | None = None,
        offset: list[float] | None = None,
    ) -> float:
        """Monte-Carlo P(the posterior draws put candidate ``chosen`` first), from the
        context's estimator (the routing stream never moves); NaN if not wanted."""
        if not self._propensities:
            return math.nan
        a0, b0 = self._alpha, self._beta
        alphas = [a0 + counts.successes(slot) for slot in slots]
        betas = [b0 + counts.failures(slot) for slot in slots]
        return best_of_posterior(self._context.estimator(), alphas, betas, chosen, scale, offset)

    def pick(self, candidates: Candidates) -> int:
        """A uniformly drawn candidate (hedging)."""
        n = len(candidates.acquirers)
        return min(int(self._uniforms.next() * n), n - 1)

    def scores(self) -> dict[str, dict[str, float]]:
        """Mean approval (posterior mean with a prior) per segment and acquirer, for the
        acquirers with counts."""
        names = self._slots.names()
        out: dict[str, dict[str, float]] = {}
        for segment, counts in self._counts.items():
            slots = tuple([slot for slot in range(len(names)) if counts.observations(slot) > 0.0])
            means = self.posterior_means(counts, slots)
            out[segment_label(segment)] = {
                names[slot]: mean for slot, mean in zip(slots, means, strict=True)
            }
        return out
