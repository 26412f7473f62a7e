"""Hierarchical segments: count at every level, score at the finest level that knows enough.

A payment's decision carries its key at every level (finest first) as its ``segment``,
so each answer is counted at every level. A payment is scored at the finest level whose
segment holds ``min_observations`` verdicts of its candidates together, else at the
coarsest (see ``HierarchicalStrategy``). All candidates are compared at one level: an
acquirer strong on domestic cards is not judged on cross-border ones by its domestic
record; one with few answers at that level has a wide posterior, so sampling tries it.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, cast

from router.engine.rules import Candidates
from router.engine.strategies.api import (
    NEUTRAL,
    SUCCESS,
    AttemptResult,
    Ordering,
    Segment,
    StrategyContext,
    hedged,
    rank,
    segment_key,
    segment_label,
)
from router.engine.strategies.evidence import Counts
from router.engine.strategies.learner import CountingStrategy
from scenarios.conditions import PaymentAttributes
from scenarios.schema import HierarchicalStrategy


class LevelKey:
    """A payment's key at one level: its values of the level's fields, a BIN field
    (``bin4``) giving the first digits of the BIN."""

    __slots__ = ("_getters", "_plain", "_prefixes")

    def __init__(self, fields: list[str]) -> None:
        self._getters: list[Any] = []
        self._prefixes: list[int] = []  # 0: the whole field; k: the BIN's first k digits
        for field in fields:
            if field.startswith("bin"):
                self._getters.append(attrgetter("bin"))
                self._prefixes.append(int(field[3:]))
            else:
                self._getters.append(attrgetter(field))
                self._prefixes.append(0)
        # no BIN prefix: the segment key of sr_window and the bandits, one call
        self._plain = None if any(self._prefixes) else segment_key(fields)

    def __call__(self, payment: PaymentAttributes) -> Segment:
        plain = self._plain
        if plain is not None:
            return plain(payment)
        values: list[object] = []
        for getter, prefix in zip(self._getters, self._prefixes, strict=True):
            value = getter(payment)
            values.append(value[:prefix] if prefix else value)
        return tuple(values)


class Hierarchical(CountingStrategy):
    """Scores per level with fallback to coarser levels (see HierarchicalStrategy)."""

    def __init__(self, config: HierarchicalStrategy, context: StrategyContext) -> None:
        super().__init__(config, context, config.memory, config.prior)
        self.config = config
        self._levels = [LevelKey(list(fields)) for fields in config.levels]
        self._by_level: list[dict[Segment, Counts]] = [{} for _ in config.levels]
        self._min_observations = config.min_observations
        self._sample = config.score == "thompson"
        self._exploration = config.exploration

    def level_counts(self, level: int, key: Segment) -> Counts:
        found = self._by_level[level].get(key)
        if found is None:
            found = self._by_level[level][key] = self._new_counts()
        return found

    def scored_level(self, keys: tuple[Segment, ...], slots: tuple[int, ...]) -> Counts:
        """The counts of the finest level whose segment holds ``min_observations``
        verdicts of the candidates together (the coarsest level's when none does)."""
        by_level = self._by_level
        last = len(by_level) - 1
        enough = self._min_observations
        for level in range(last):
            counts = by_level[level].get(keys[level])
            if counts is not None:
                seen = 0.0
                for slot in slots:
                    seen += counts.observations(slot)
                if seen >= enough:
                    return counts
        return self.level_counts(last, keys[last])

    def order(self, payment: PaymentAttributes, candidates: Candidates, now: float) -> Ordering:
        keys: tuple[Segment, ...] = tuple([level(payment) for level in self._levels])
        acquirers = candidates.acquirers
        n = len(acquirers)
        if n == 1:
            return Ordering(candidates.rule, acquirers, keys, acquirers[0], False, 1.0)
        h = self._exploration
        explore = h > 0.0 and self._uniforms.next() < h
        slots = self._slots.candidates(candidates)
        counts = self.scored_level(keys, slots)
        if self._sample:
            order = rank(acquirers, self.posterior_draws(counts, slots))
        else:
            order = rank(acquirers, self.posterior_means(counts, slots))
        preferred = order[0]
        if explore:
            pick = acquirers[self.pick(candidates)]
            order = (pick, *(a for a in order if a != pick))
        first = order[0]
        if self._sample:
            p_model = self.sampled_first(counts, slots, acquirers.index(first))
            propensity = h / n + (1.0 - h) * p_model
        else:
            propensity = hedged(h, n, first == preferred)
        return Ordering(candidates.rule, order, keys, preferred, explore, propensity)

    def record(self, result: AttemptResult) -> None:
        verdict = self._attribution.verdict(result)
        if verdict == NEUTRAL:
            return
        slot = self._slots.of(result.acquirer)
        success = verdict == SUCCESS
        keys = cast(tuple[Segment, ...], result.decision.segment)  # one key per level
        for level, key in enumerate(keys):
            self.level_counts(level, key).add(slot, success)

    def forget(self, acquirer: str) -> None:
        """Drop ``acquirer``'s counts at every level and in every segment."""
        slot = self._slots.of(acquirer)
        for segments in self._by_level:
            for counts in segments.values():
                counts.forget(slot)

    def scores(self) -> dict[str, dict[str, float]]:
        """Mean approval per level and segment, e.g. ``1:visa/False``."""
        names = self._slots.names()
        out: dict[str, dict[str, float]] = {}
        for level, segments in enumerate(self._by_level):
            for key, counts in segments.items():
                slots = tuple([s for s in range(len(names)) if counts.observations(s) > 0.0])
                means = self.posterior_means(counts, slots)
                out[f"{level}:{segment_label(key)}"] = {
                    names[s]: m for s, m in zip(slots, means, strict=True)
                }
        return out
