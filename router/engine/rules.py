"""Routing rules: evaluated top to bottom, the first match yields the candidate acquirers."""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.conditions import PaymentAttributes, SegmentKey
from scenarios.schema import RoutingPolicy

DEFAULT_RULE = "default"


@dataclass(frozen=True, slots=True, eq=False)
class Candidates:
    """The acquirers a matched rule allows, in the rule's order, with the rule's own
    volume weights if it sets any (the ``weighted`` strategy reads them).

    One object per rule, made once by the rule book, so it hashes by identity: cheap
    as a cache key on the per-payment path.
    """

    rule: str
    acquirers: tuple[str, ...]
    weights: tuple[float, ...] | None


class RuleBook:
    """A policy's rules plus its default list; results cached per payment segment."""

    def __init__(self, policy: RoutingPolicy) -> None:
        self._rules = [
            (
                rule.when,
                Candidates(
                    rule.name,
                    tuple(rule.acquirers),
                    tuple(rule.weights.get(a, 0.0) for a in rule.acquirers)
                    if rule.weights
                    else None,
                ),
            )
            for rule in policy.rules
        ]
        self._default = Candidates(DEFAULT_RULE, tuple(policy.default), None)
        self._segment = SegmentKey([when for when, _ in self._rules])
        self._cache: dict[tuple[object, ...], Candidates] = {}

    def select(self, payment: PaymentAttributes) -> Candidates:
        if not self._rules:
            return self._default
        if not self._segment.cacheable:
            return self._match(payment)
        key = self._segment.key(payment)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._match(payment)
        return found

    def _match(self, payment: PaymentAttributes) -> Candidates:
        for when, candidates in self._rules:
            if when.matches(payment):
                return candidates
        return self._default
