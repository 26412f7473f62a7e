"""The scenario format: one immutable :class:`Scenario` both engines share.

Every model forbids unknown keys (a typo must never be silently ignored) and is frozen.
Amounts and fixed fees are in minor units (cents); rates are per second; times are
seconds on the scenario timeline, latencies milliseconds. The sections live in modules
of their own (``latency``, ``acquirers``, ``traffic``, ``policy``); this module holds
the scenario itself and its cross-section checks, and re-exports every section's names
so ``scenarios.schema`` stays the one place to import the format from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from scenarios.acquirers import (
    Acquirer,
    ApprovalEffect,
    ApprovalModel,
    Fee,
    Fees,
    FeeSchedule,
    Incident,
)
from scenarios.conditions import StrictModel
from scenarios.fields import (
    Delta,
    Name,
    NonNegative,
    Positive,
    Probability,
    ResponseCode,
    Weights,
)
from scenarios.latency import (
    EmpiricalLatency,
    ExponentialLatency,
    FixedLatency,
    LatencyModel,
    LognormalLatency,
    UniformLatency,
)
from scenarios.policy import (
    ApprovalEstimate,
    BetaApproval,
    BetaPrior,
    Breaker,
    CostAwareStrategy,
    CustomStrategy,
    DeclineClass,
    EliminationStrategy,
    HierarchicalStrategy,
    LeakyBucket,
    LearningStrategy,
    LevelField,
    Memory,
    OracleStrategy,
    PriorityStrategy,
    RetryPolicy,
    RoutingPolicy,
    Rule,
    ScoreBreaker,
    SegmentField,
    SrWindowStrategy,
    StickyStrategy,
    Strategy,
    ThompsonStrategy,
    UcbStrategy,
    WeightedStrategy,
    WindowApproval,
)
from scenarios.schemes import MastercardRules, Schemes, VisaRules
from scenarios.traffic import (
    DEFAULT_BINS,
    AmountModel,
    ArrivalProfile,
    CardPopulation,
    ConstantArrivals,
    DiurnalArrivals,
    EmpiricalAmount,
    FixedAmount,
    IssuerDeclineEffect,
    IssuerDeclines,
    LognormalAmount,
    Merchant,
    PaymentMix,
    PiecewiseArrivals,
    RampArrivals,
    SpikeArrivals,
    Step,
    Traffic,
    UniformAmount,
)

__all__ = [
    "DEFAULT_BINS",
    "Acquirer",
    "AmountModel",
    "ApprovalEffect",
    "ApprovalEstimate",
    "ApprovalModel",
    "ArrivalProfile",
    "BetaApproval",
    "BetaPrior",
    "Breaker",
    "CardPopulation",
    "ConstantArrivals",
    "CostAwareStrategy",
    "CustomStrategy",
    "DeclineClass",
    "Delta",
    "DiurnalArrivals",
    "EliminationStrategy",
    "EmpiricalAmount",
    "EmpiricalLatency",
    "ExponentialLatency",
    "Fee",
    "FeeSchedule",
    "Fees",
    "FixedAmount",
    "FixedLatency",
    "HierarchicalStrategy",
    "Incident",
    "IssuerDeclineEffect",
    "IssuerDeclines",
    "LatencyModel",
    "LeakyBucket",
    "LearningStrategy",
    "LevelField",
    "LognormalAmount",
    "LognormalLatency",
    "MastercardRules",
    "Memory",
    "Merchant",
    "Name",
    "NonNegative",
    "Objective",
    "OracleStrategy",
    "PaymentMix",
    "PiecewiseArrivals",
    "Positive",
    "PriorityStrategy",
    "Probability",
    "RampArrivals",
    "ResponseCode",
    "RetryPolicy",
    "RoutingPolicy",
    "Rule",
    "Scenario",
    "Schemes",
    "ScoreBreaker",
    "SegmentField",
    "Slo",
    "SpikeArrivals",
    "SrWindowStrategy",
    "Step",
    "StickyStrategy",
    "Strategy",
    "ThompsonStrategy",
    "Traffic",
    "UcbStrategy",
    "UniformAmount",
    "UniformLatency",
    "VisaRules",
    "WeightedStrategy",
    "Weights",
    "WindowApproval",
    "cross_check",
]


class Slo(StrictModel):
    """Gates a live load test must pass; each is optional.

    ``p99_ms``: end-to-end p99 latency ceiling (corrected for coordinated omission);
    ``auth_rate_min``: lowest acceptable authorisation rate; ``error_rate_max``: highest
    acceptable share of technical failures (5xx, timeouts, connection errors);
    ``achieved_ratio_min``: lowest acceptable achieved / offered payment rate.
    """

    p99_ms: Positive | None = None
    auth_rate_min: Probability | None = None
    error_rate_max: Probability | None = None
    achieved_ratio_min: Annotated[float, Field(gt=0.0, le=1.0)] | None = None


class Objective(StrictModel):
    """What a payment is worth when fees count too: the cost-aware objective.

    Per payment, 100 if approved (0 if not) minus ``lambda_pp_per_bps`` times the fees it
    cost in basis points of its amount; a run's objective is the mean over payments,
    100 * auth rate - lambda_pp_per_bps * cost in bps of the amount offered (pp). 0 ranks
    by approval alone; 0.01 values an approval at its amount; 0.01 / margin at the
    merchant's margin. The oracle routes by it, and regret is measured in it too.
    """

    lambda_pp_per_bps: Annotated[float, Field(ge=0.0, le=100.0)]


# --- scenario --------------------------------------------------------------------------


class Scenario(StrictModel):
    """One scenario: who the acquirers are, what traffic arrives, how to route it."""

    name: Name
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 1
    replications: Annotated[int, Field(ge=1, le=1000)] = 5
    warmup_s: NonNegative = 0.0
    bucket_s: Positive = 60.0
    merchant: Merchant
    acquirers: Annotated[list[Acquirer], Field(min_length=1)]
    traffic: Traffic
    policies: Annotated[list[RoutingPolicy], Field(min_length=1)]
    slo: Slo = Slo()
    schemes: Schemes = Schemes()
    objective: Objective | None = None

    @property
    def acquirer_names(self) -> list[str]:
        return [a.name for a in self.acquirers]

    def acquirer(self, name: str) -> Acquirer:
        for acquirer in self.acquirers:
            if acquirer.name == name:
                return acquirer
        raise KeyError(name)

    def policy(self, name: str | None = None) -> RoutingPolicy:
        """The named policy, or the first one listed."""
        if name is None:
            return self.policies[0]
        for policy in self.policies:
            if policy.name == name:
                return policy
        known = ", ".join(p.name for p in self.policies)
        raise KeyError(f"no policy named {name!r} in scenario {self.name!r} (known: {known})")

    def with_policy(self, policy: RoutingPolicy) -> Scenario:
        """A copy whose policy list holds ``policy`` (replacing one of the same name)."""
        others = [p for p in self.policies if p.name != policy.name]
        return self.model_copy(update={"policies": [policy, *others]})


def cross_check(scenario: Scenario) -> Iterator[tuple[str, str]]:
    """Consistency checks across sections, as (field path, problem) pairs."""
    names = scenario.acquirer_names
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield f"acquirers[{i}].name", f"duplicate acquirer name {name!r}"
        seen.add(name)
    known = set(names)
    known_text = ", ".join(names)
    if scenario.warmup_s >= scenario.traffic.duration_s:
        yield (
            "warmup_s",
            (
                f"warm-up ({scenario.warmup_s:g} s) must be shorter than traffic.duration_s "
                f"({scenario.traffic.duration_s:g} s)"
            ),
        )
    policy_names: set[str] = set()
    for p, policy in enumerate(scenario.policies):
        base = f"policies[{p}]"
        if policy.name in policy_names:
            yield f"{base}.name", f"duplicate policy name {policy.name!r}"
        policy_names.add(policy.name)
        lists = [(f"{base}.default", policy.default)] + [
            (f"{base}.rules[{r}].acquirers", rule.acquirers) for r, rule in enumerate(policy.rules)
        ]
        for path, acquirers in lists:
            for a, name in enumerate(acquirers):
                if name not in known:
                    yield f"{path}[{a}]", f"unknown acquirer {name!r} (known: {known_text})"
            if len(set(acquirers)) != len(acquirers):
                yield path, "an acquirer is listed twice"
        strategy, strategy_path = policy.strategy, f"{base}.strategy"
        while isinstance(strategy, EliminationStrategy | StickyStrategy):  # wrappers
            strategy, strategy_path = strategy.inner, f"{strategy_path}.inner"
        if isinstance(strategy, WeightedStrategy):
            for path, acquirers, weights in [
                (f"{strategy_path}.weights", policy.default, strategy.weights)
            ] + [
                (f"{base}.rules[{r}].weights", rule.acquirers, rule.weights or strategy.weights)
                for r, rule in enumerate(policy.rules)
            ]:
                yield from _check_weights(path, acquirers, weights, known)
        elif any(rule.weights for rule in policy.rules):
            yield f"{base}.rules", "weights are only used with strategy type 'weighted'"
        if policy.retry.attempt_timeout_ms > policy.retry.budget_ms:
            yield f"{base}.retry.attempt_timeout_ms", "must not exceed retry.budget_ms"
    for a, acquirer in enumerate(scenario.acquirers):
        for i, incident in enumerate(acquirer.incidents):
            if incident.start_s >= scenario.traffic.duration_s:
                yield (
                    f"acquirers[{a}].incidents[{i}].start_s",
                    f"starts after the run ends (traffic.duration_s = "
                    f"{scenario.traffic.duration_s:g})",
                )
    arrival = scenario.traffic.arrival
    if isinstance(arrival, SpikeArrivals) and arrival.start_s >= scenario.traffic.duration_s:
        yield "traffic.arrival.start_s", "the spike starts after the run ends"


def _check_weights(
    path: str, acquirers: list[str], weights: dict[str, float], known: set[str]
) -> Iterator[tuple[str, str]]:
    for name in weights:
        if name not in known:
            yield f"{path}.{name}", f"unknown acquirer {name!r}"
    total = sum(weights.get(name, 0.0) for name in acquirers)
    if weights and not total > 0.0:
        yield path, f"weights give zero volume to all of {acquirers}"
    if not weights:
        yield path, "strategy 'weighted' needs weights for the candidate acquirers"
    if any(math.isinf(w) for w in weights.values()):
        yield path, "weights must be finite"
