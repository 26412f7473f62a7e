"""The scenario format: acquirers, traffic and routing policies, validated with pydantic.

Every model forbids unknown keys (a typo must never be silently ignored) and is frozen,
so a loaded :class:`Scenario` is one immutable object both engines share.
Amounts and fixed fees are in minor units (cents); rates are per second; times are
seconds on the scenario timeline, latencies milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from scenarios.conditions import Condition, StrictModel, StrRange
from scenarios.fees import attempt_fee

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Delta = Annotated[float, Field(ge=-1.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=64)]
ResponseCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")]


def _above(lower_field: str, word: str = "above") -> Any:
    """A field validator: the value must exceed the (already validated) ``lower_field``."""

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        lower = info.data.get(lower_field)
        if lower is not None and value <= lower:
            raise ValueError(f"must be {word} {lower_field} ({lower:g})")
        return value

    return check


# --- latency ---------------------------------------------------------------------------


class FixedLatency(StrictModel):
    dist: Literal["fixed"]
    ms: NonNegative


class UniformLatency(StrictModel):
    dist: Literal["uniform"]
    low_ms: NonNegative
    high_ms: NonNegative

    _ordered = field_validator("high_ms")(_above("low_ms"))


class ExponentialLatency(StrictModel):
    dist: Literal["exponential"]
    mean_ms: Positive


class LognormalLatency(StrictModel):
    """Right-skewed latency given the way dashboards show it: median and log-sigma."""

    dist: Literal["lognormal"]
    median_ms: Positive
    sigma: Annotated[float, Field(ge=0.0, le=3.0)]


class EmpiricalLatency(StrictModel):
    """Latency from measured percentiles, linearly interpolated between them.

    Below the lowest listed percentile latency equals that value and above the highest
    it equals the highest: list ``0`` and ``100`` to set the bounds explicitly.
    """

    dist: Literal["empirical"]
    percentiles: dict[Annotated[float, Field(ge=0.0, le=100.0)], NonNegative]

    @field_validator("percentiles")
    @classmethod
    def _monotone(cls, percentiles: dict[float, float]) -> dict[float, float]:
        if len(percentiles) < 2:
            raise ValueError("give at least two percentiles, e.g. {50: 200, 99: 900}")
        values = [percentiles[p] for p in sorted(percentiles)]
        if any(b < a for a, b in pairwise(values)):
            raise ValueError("latency must not decrease as the percentile rises")
        return percentiles


LatencyModel = Annotated[
    FixedLatency | UniformLatency | ExponentialLatency | LognormalLatency | EmpiricalLatency,
    Field(discriminator="dist"),
]


# --- acquirers -------------------------------------------------------------------------


class ApprovalEffect(StrictModel):
    """Shift of the acquirer-side approval probability for payments matching ``when``."""

    when: Condition
    delta: Delta


class ApprovalModel(StrictModel):
    """Probability that the acquirer gets a payment approved, given the issuer would.

    ``base`` plus the deltas of every matching effect, clipped to [0, 1]. Declines the
    issuer would give anyway (insufficient funds, stolen...) are modelled in
    ``traffic.issuer_declines``, not here.
    """

    base: Probability
    effects: list[ApprovalEffect] = []


class Fee(StrictModel):
    """Acquirer fee: ``pct_bps`` of the amount plus ``fixed`` per approved payment,
    plus ``per_attempt`` for every authorisation attempt whatever its outcome."""

    pct_bps: NonNegative = 0.0
    fixed: NonNegative = 0.0
    per_attempt: NonNegative = 0.0

    def charge(self, amount: int, approved: bool) -> float:
        """The fee in minor units for one attempt on ``amount`` (minor units)."""
        return attempt_fee(self.pct_bps, self.fixed, self.per_attempt, amount, approved)


class Fees(StrictModel):
    default: Fee = Fee()
    by_network: dict[str, Fee] = {}

    def for_network(self, network: str) -> Fee:
        return self.by_network.get(network, self.default)


class Incident(StrictModel):
    """A window ``[start_s, end_s)`` in which an acquirer degrades.

    Effects combine: approval shifts by ``approval_delta``, extra technical errors and
    hung requests occur with the given rates, and latency is multiplied by
    ``latency_factor``. ``when`` restricts the incident to matching payments.
    """

    name: str = "incident"
    start_s: NonNegative
    end_s: Positive
    when: Condition = Condition()
    approval_delta: Delta = 0.0
    error_rate: Probability = 0.0
    timeout_rate: Probability = 0.0
    latency_factor: Annotated[float, Field(gt=0.0)] = 1.0

    _ordered = field_validator("end_s")(_above("start_s", "after"))

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


class Acquirer(StrictModel):
    name: Name
    dialect: Literal["iso8583", "psp"] = "iso8583"
    latency: LatencyModel
    capacity: Annotated[int, Field(ge=1, le=100_000)] = 1000
    technical_error_rate: Probability = 0.0
    timeout_rate: Probability = 0.0
    hang_ms: Positive = 30_000.0
    approval: ApprovalModel
    decline_codes: dict[ResponseCode, Annotated[float, Field(gt=0.0)]] = {"05": 1.0}
    technical_error_code: ResponseCode = "96"
    fees: Fees = Fees()
    incidents: list[Incident] = []

    @field_validator("decline_codes")
    @classmethod
    def _no_approved_code(cls, codes: dict[str, float]) -> dict[str, float]:
        if "00" in codes:
            raise ValueError("must not contain '00' (approved): list decline codes only")
        return codes


# --- traffic ---------------------------------------------------------------------------


class ConstantArrivals(StrictModel):
    profile: Literal["constant"]
    rate_per_s: Positive


class Step(StrictModel):
    start_s: NonNegative
    rate_per_s: NonNegative


class PiecewiseArrivals(StrictModel):
    """Constant rate per step; each step lasts until the next one starts."""

    profile: Literal["piecewise"]
    steps: Annotated[list[Step], Field(min_length=1)]

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[Step]) -> list[Step]:
        starts = [s.start_s for s in steps]
        if starts[0] != 0.0:
            raise ValueError("the first step must start at 0")
        if any(b <= a for a, b in pairwise(starts)):
            raise ValueError("steps must be in increasing start_s order")
        if max(s.rate_per_s for s in steps) <= 0.0:
            raise ValueError("at least one step needs a positive rate")
        return steps


class RampArrivals(StrictModel):
    """Rate moves linearly from ``start_rate_per_s`` to ``end_rate_per_s`` over the run."""

    profile: Literal["ramp"]
    start_rate_per_s: NonNegative
    end_rate_per_s: NonNegative

    @model_validator(mode="after")
    def _positive(self) -> RampArrivals:
        if max(self.start_rate_per_s, self.end_rate_per_s) <= 0.0:
            raise ValueError("a ramp needs a positive start or end rate")
        return self


class SpikeArrivals(StrictModel):
    profile: Literal["spike"]
    base_rate_per_s: Positive
    spike_rate_per_s: Positive
    start_s: NonNegative
    end_s: Positive

    _ordered = field_validator("end_s")(_above("start_s", "after"))


class DiurnalArrivals(StrictModel):
    """Sinusoidal day curve: mean · (1 + amplitude · cos(2π (t − peak_s) / period_s))."""

    profile: Literal["diurnal"]
    mean_rate_per_s: Positive
    amplitude: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    period_s: Positive = 86_400.0
    peak_s: NonNegative = 50_400.0


ArrivalProfile = Annotated[
    ConstantArrivals | PiecewiseArrivals | RampArrivals | SpikeArrivals | DiurnalArrivals,
    Field(discriminator="profile"),
]


class LognormalAmount(StrictModel):
    dist: Literal["lognormal"]
    median: Annotated[float, Field(gt=0.0)]
    sigma: Annotated[float, Field(ge=0.0, le=4.0)]
    max: Annotated[int, Field(gt=0)] = 10_000_000


class UniformAmount(StrictModel):
    dist: Literal["uniform"]
    min: Annotated[int, Field(gt=0)]
    max: Annotated[int, Field(gt=0)]

    _ordered = field_validator("max")(_above("min"))


class FixedAmount(StrictModel):
    dist: Literal["fixed"]
    value: Annotated[int, Field(gt=0)]


AmountModel = Annotated[LognormalAmount | UniformAmount | FixedAmount, Field(discriminator="dist")]

Weights = dict[str, Annotated[float, Field(ge=0.0)]]

DEFAULT_BINS: dict[str, list[StrRange]] = {
    "visa": [StrRange(min="400000", max="499999")],
    "mastercard": [StrRange(min="510000", max="559999"), StrRange(min="222100", max="272099")],
    "amex": [StrRange(min="340000", max="349999"), StrRange(min="370000", max="379999")],
    "discover": [StrRange(min="601100", max="601199"), StrRange(min="650000", max="659999")],
    "jcb": [StrRange(min="352800", max="358999")],
    "unionpay": [StrRange(min="620000", max="629999")],
}


class PaymentMix(StrictModel):
    """Independent categorical draws per payment; weights need not sum to 1."""

    networks: Weights
    card_types: Weights = {"credit": 0.45, "debit": 0.55}
    issuer_countries: Weights
    currencies: Weights
    amount: AmountModel
    bins: dict[str, list[StrRange]] = {}

    @field_validator("networks", "card_types", "issuer_countries", "currencies")
    @classmethod
    def _weights_positive(cls, weights: Weights) -> Weights:
        if not weights or sum(weights.values()) <= 0.0:
            raise ValueError("needs at least one positive weight")
        return weights

    def bin_ranges(self, network: str) -> list[StrRange]:
        ranges = self.bins.get(network) or DEFAULT_BINS.get(network)
        return ranges or [StrRange(min="900000", max="999999")]


class IssuerDeclineEffect(StrictModel):
    """Multiply every issuer decline probability by ``factor`` for matching payments."""

    when: Condition
    factor: Annotated[float, Field(ge=0.0, le=20.0)]


class IssuerDeclines(StrictModel):
    """Declines intrinsic to the card: the same answer whichever acquirer is used."""

    base: dict[ResponseCode, Probability] = {"51": 0.04, "05": 0.01, "54": 0.004, "41": 0.001}
    effects: list[IssuerDeclineEffect] = []

    @field_validator("base")
    @classmethod
    def _valid(cls, base: dict[str, float]) -> dict[str, float]:
        if "00" in base:
            raise ValueError("must not contain '00' (approved): list decline codes only")
        if sum(base.values()) > 1.0:
            raise ValueError(f"decline probabilities sum to {sum(base.values()):g}, above 1")
        return base


class Traffic(StrictModel):
    duration_s: Positive
    arrival: ArrivalProfile
    mix: PaymentMix
    issuer_declines: IssuerDeclines = IssuerDeclines()


class Merchant(StrictModel):
    name: str = "merchant"
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


# --- routing policy --------------------------------------------------------------------


class PriorityStrategy(StrictModel):
    """Candidates in the order the rule lists them; cascades follow that order."""

    type: Literal["priority"]


class WeightedStrategy(StrictModel):
    """Volume split: the first attempt goes to a candidate drawn by weight."""

    type: Literal["weighted"]
    weights: Weights = {}


SegmentField = Literal["network", "card_type", "issuer_country", "currency", "cross_border"]


class SrWindowStrategy(StrictModel):
    """Sliding-window success-rate routing after the open-source reference design.

    Per (segment, acquirer) a window of the last ``window`` acquirer-side outcomes,
    filled with successes at start. With probability ``exploration`` all candidates are
    scored equal (hedging); otherwise the best score wins. ``score: thompson`` samples
    Beta(successes+1, failures+1) instead of the window mean. An acquirer whose score
    falls ``reset_sigma`` standard errors below the best has its window rebuilt just
    above that threshold so it can recover (0 disables). ``latency_threshold_ms``
    stops rewarding approvals slower than that.
    """

    type: Literal["sr_window"]
    window: Annotated[int, Field(ge=5, le=100_000)] = 125
    exploration: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    score: Literal["window", "thompson"] = "window"
    reset_sigma: Annotated[float, Field(ge=0.0, le=10.0)] = 3.0
    segment_by: list[SegmentField] = ["network", "cross_border"]
    latency_threshold_ms: Positive | None = None


Strategy = Annotated[
    PriorityStrategy | WeightedStrategy | SrWindowStrategy, Field(discriminator="type")
]

DeclineClass = Literal["soft_decline", "hard_decline", "technical_error", "timeout"]


class RetryPolicy(StrictModel):
    """When to cascade a failed attempt to the next candidate acquirer.

    ``cascade_on`` lists decline classes that may cascade; within ``soft_decline`` only
    codes the decline taxonomy marks as fixable elsewhere (05, 19...) cascade, never
    "retry later" codes such as 51. A timeout is an unknown outcome: with
    ``on_timeout: void_then_cascade`` the router voids the attempt before going on.
    """

    max_attempts: Annotated[int, Field(ge=1, le=10)] = 2
    attempt_timeout_ms: Positive = 4_000.0
    budget_ms: Positive = 10_000.0
    cascade_on: list[DeclineClass] = ["soft_decline", "technical_error", "timeout"]
    on_timeout: Literal["void_then_cascade", "stop"] = "void_then_cascade"


class Rule(StrictModel):
    """First matching rule wins; it yields candidate acquirers (and optional weights)."""

    name: str
    when: Condition = Condition()
    acquirers: Annotated[list[str], Field(min_length=1)]
    weights: Weights | None = None


class RoutingPolicy(StrictModel):
    name: Name
    description: str = ""
    strategy: Strategy
    rules: list[Rule] = []
    default: Annotated[list[str], Field(min_length=1)]
    retry: RetryPolicy = RetryPolicy()


# --- service level objectives ----------------------------------------------------------


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
        strategy = policy.strategy
        if isinstance(strategy, WeightedStrategy):
            for path, acquirers, weights in [
                (f"{base}.strategy.weights", policy.default, strategy.weights)
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
