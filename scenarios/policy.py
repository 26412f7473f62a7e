"""Routing policies in the scenario format: rules, strategies and the retry policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from scenarios.conditions import Condition, StrictModel
from scenarios.fields import Name, Positive, Weights, below


class PriorityStrategy(StrictModel):
    """Candidates in the order the rule lists them; cascades follow that order."""

    type: Literal["priority"]


class WeightedStrategy(StrictModel):
    """Volume split: the first attempt goes to a candidate drawn by weight."""

    type: Literal["weighted"]
    weights: Weights = {}


SegmentField = Literal["network", "card_type", "issuer_country", "currency", "cross_border"]
# a hierarchical level may also look at the first 2, 4 or 6 digits of the card's BIN
LevelField = Literal[
    "network", "card_type", "issuer_country", "currency", "cross_border", "bin2", "bin4", "bin6"
]
DeclineClass = Literal["soft_decline", "hard_decline", "technical_error", "timeout"]
ACQUIRER_FAILURES: list[DeclineClass] = [
    "soft_decline",
    "hard_decline",
    "technical_error",
    "timeout",
]


class LearningStrategy(StrictModel):
    """What every learning strategy shares: which answers count for or against an acquirer.

    An approval counts for the acquirer, unless it took longer than
    ``latency_threshold_ms``: then it counts against it (a slow acquirer is not
    rewarded). A failure counts against the acquirer only when it is the acquirer's own
    (the card's declines, insufficient funds or an expired card, never do) and its
    decline class is one of ``failure_classes``. Every other answer says nothing.
    """

    failure_classes: Annotated[list[DeclineClass], Field(min_length=1)] = ACQUIRER_FAILURES
    latency_threshold_ms: Positive | None = None


class Memory(StrictModel):
    """How a learning strategy forgets, per segment; set exactly one of the two.

    ``discount``: every verdict recorded in a segment first multiplies all the segment's
    counts by it, so the strategy remembers about ``1 / (1 - discount)`` verdicts and an
    acquirer that gets no traffic drifts back to the prior (1 = never forget).
    ``window``: the counts cover the segment's last ``window`` verdicts, all acquirers
    together; an acquirer absent from them is back at the prior.
    """

    discount: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    window: Annotated[int, Field(ge=10, le=1_000_000)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Memory:
        if (self.discount is None) == (self.window is None):
            raise ValueError("set exactly one of discount or window")
        return self


class BetaPrior(StrictModel):
    """The pseudo-counts every acquirer starts with in every segment: the approval
    probability's prior is Beta(``successes``, ``failures``)."""

    successes: Positive = 1.0
    failures: Positive = 1.0


class SrWindowStrategy(LearningStrategy):
    """Sliding-window success-rate routing after the open-source reference design.

    Per (segment, acquirer) a window of the last ``window`` acquirer-side outcomes,
    filled with successes at start. With probability ``exploration`` all candidates are
    scored equal (hedging); otherwise the best score wins. ``score: thompson`` samples
    Beta(successes+1, failures+1) instead of the window mean. An acquirer whose score
    falls ``reset_sigma`` standard errors below the best, p_max - reset_sigma *
    sqrt(max(p_max (1 - p_max), 0.09) / window), has its window rebuilt just above that
    threshold so it can recover (0 disables); p_max is the best window of the segment,
    an untried candidate counting as a full one. ``latency_threshold_ms`` and
    ``failure_classes`` say what counts (see LearningStrategy).
    """

    type: Literal["sr_window"]
    window: Annotated[int, Field(ge=5, le=100_000)] = 125
    exploration: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    score: Literal["window", "thompson"] = "window"
    reset_sigma: Annotated[float, Field(ge=0.0, le=10.0)] = 3.0
    segment_by: list[SegmentField] = ["network", "cross_border"]


class ThompsonStrategy(LearningStrategy):
    """Beta-Bernoulli Thompson sampling per (segment, acquirer), forgetting old verdicts.

    Each acquirer's approval probability has the posterior Beta(``prior.successes`` +
    successes, ``prior.failures`` + failures) over the counts its ``memory`` keeps
    (discounted or a sliding window: see Memory); every payment draws one sample per
    candidate and ranks the candidates by them. Exploration is the posterior's own
    spread; an acquirer that stops getting traffic drifts back to the prior and is
    tried again. Segments by ``segment_by``.
    """

    type: Literal["thompson"]
    memory: Memory = Memory(discount=0.995)
    prior: BetaPrior = BetaPrior()
    segment_by: list[SegmentField] = ["network", "cross_border"]


class UcbStrategy(LearningStrategy):
    """Upper-confidence-bound routing, discounted or sliding-window (UCB1-style bonus).

    Per (segment, acquirer) the counts its ``memory`` keeps (see Memory): an acquirer's
    score is its approval share s / n plus ``c`` * sqrt(ln N / n), N the candidates'
    counts together; an acquirer with no count is tried first. Deterministic: the
    highest score goes first, ties in the rule's order. Segments by ``segment_by``.
    """

    type: Literal["ucb"]
    c: Annotated[float, Field(ge=0.0, le=10.0)] = 0.1
    memory: Memory = Memory(discount=0.995)
    segment_by: list[SegmentField] = ["network", "cross_border"]


class WindowApproval(StrictModel):
    """P(approve) as sr_window scores it: the rate of the acquirer's last ``window``
    verdicts in the segment, started optimistic (all successes), with sr_window's
    ``reset_sigma`` reset so a rarely tried acquirer can come back."""

    type: Literal["window"]
    window: Annotated[int, Field(ge=5, le=100_000)] = 125
    reset_sigma: Annotated[float, Field(ge=0.0, le=10.0)] = 3.0


class BetaApproval(StrictModel):
    """P(approve) from the posterior Beta(prior + the counts ``memory`` keeps, see
    Memory): its mean (``score: mean``) or one draw per payment (``score: thompson``)."""

    type: Literal["beta"]
    memory: Memory = Memory(discount=0.995)
    prior: BetaPrior = BetaPrior()
    score: Literal["mean", "thompson"] = "mean"


ApprovalEstimate = Annotated[WindowApproval | BetaApproval, Field(discriminator="type")]


class CostAwareStrategy(LearningStrategy):
    """Cost-aware routing: the candidate with the best expected objective goes first.

    P(approve) per (segment, acquirer) comes from ``approval`` (see WindowApproval,
    BetaApproval); fees from the scenario's fee schedule: f_ok for an approval
    (``per_attempt`` + ``pct_bps`` of the amount + ``fixed``), f_no for a decline
    (``per_attempt``).

    - ``objective: expected_value``: P(approve) * (amount - f_ok) - (1 - P) * f_no, in
      minor units (with no per-attempt fee, P(approve) * (amount - fee));
    - ``objective: auth_rate_minus_cost``: 100 * P(approve) - ``lambda_pp_per_bps`` *
      expected fee in bps of the amount, (P * f_ok + (1 - P) * f_no) / amount * 10 000.
      lambda_pp_per_bps is the percentage points of authorisation rate one basis point
      of fee is worth: 0 ranks by approval alone; 0.01 is about expected_value (an
      approval is worth its amount); 0.01 / margin values an approval at the
      merchant's margin.

    With probability ``exploration`` a uniformly drawn candidate goes first (hedging).
    Segments by ``segment_by``.
    """

    type: Literal["cost_aware"]
    objective: Literal["expected_value", "auth_rate_minus_cost"] = "expected_value"
    lambda_pp_per_bps: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    approval: ApprovalEstimate = WindowApproval(type="window")
    exploration: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    segment_by: list[SegmentField] = ["network", "cross_border"]

    @field_validator("lambda_pp_per_bps")
    @classmethod
    def _lambda_needs_its_objective(cls, value: float, info: ValidationInfo) -> float:
        if value and info.data.get("objective") != "auth_rate_minus_cost":
            raise ValueError("is used only with objective: auth_rate_minus_cost")
        return value


class HierarchicalStrategy(LearningStrategy):
    """Scores per segment at several levels, from the finest to the coarsest.

    ``levels`` lists the segment fields of each level, finest first (``bin2``, ``bin4``,
    ``bin6``: the first digits of the card's BIN; ``[]``: all payments). Every verdict
    is counted at every level; a payment is scored at the finest level whose segment
    holds at least ``min_observations`` counted verdicts of its candidates together
    (discounted or in the window: see Memory), else at the last level, every candidate
    at that one level. The score is the posterior mean of Beta(prior + counts) (``score:
    mean``) or a draw from it (``score: thompson``, which also tries a candidate with few
    answers at that level); with probability ``exploration`` a uniformly drawn candidate
    goes first (hedging).
    """

    type: Literal["hierarchical"]
    levels: Annotated[list[list[LevelField]], Field(min_length=1, max_length=8)] = [
        ["network", "issuer_country", "card_type"],
        ["network", "cross_border"],
        [],
    ]
    min_observations: Annotated[float, Field(gt=0.0)] = 100.0
    score: Literal["mean", "thompson"] = "thompson"
    exploration: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    memory: Memory = Memory(discount=0.998)
    prior: BetaPrior = BetaPrior()

    @field_validator("levels")
    @classmethod
    def _distinct_fields(cls, levels: list[list[str]]) -> list[list[str]]:
        for i, level in enumerate(levels):
            if len(set(level)) != len(level):
                raise ValueError(f"level {i} lists a field twice: {level}")
        return levels


class LeakyBucket(StrictModel):
    """Each failure pours one unit into the acquirer's bucket of ``size``; one unit
    leaks out every ``leak_interval_s`` seconds (5 and 60: a full bucket drains in
    300 s). A full bucket eliminates the acquirer. Failures per second are counted, not
    a rate: pick a leak faster than the failures a healthy acquirer has at your volume."""

    type: Literal["leaky_bucket"]
    size: Annotated[int, Field(ge=1, le=10_000)] = 5
    leak_interval_s: Positive = 60.0


class ScoreBreaker(StrictModel):
    """The acquirer's score starts at 1, is multiplied by ``failure_factor`` per failure
    and by ``success_factor`` per success (never above 1, never below ``floor``); under
    ``threshold`` the acquirer is eliminated. 0.95 / 1.0526 / 0.8: five failures more
    than successes eliminate; from the floor 0.5, ten successes more bring it back."""

    type: Literal["score"]
    failure_factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    success_factor: Annotated[float, Field(gt=1.0, le=10.0)] = 1.0526
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8
    floor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5

    _floor_below_threshold = field_validator("floor")(below("threshold"))


Breaker = Annotated[LeakyBucket | ScoreBreaker, Field(discriminator="type")]


class EliminationStrategy(LearningStrategy):
    """A circuit breaker around any other strategy (``inner``).

    One breaker per acquirer, across segments (see LeakyBucket and ScoreBreaker),
    fed the failures ``failure_classes`` and ``latency_threshold_ms`` count. The inner
    strategy orders the candidates that are not eliminated; eliminated ones go to the
    end, in the inner strategy's order, so cascades still reach them. Probes let an
    eliminated acquirer come back: with probability ``probe`` (per payment with an
    eliminated candidate) a uniformly drawn eliminated candidate goes first. When every
    candidate is eliminated the inner strategy orders them all. The inner strategy
    learns from every answer. ``readmitted``: when a breaker lets its acquirer back in,
    the inner strategy keeps what it learnt of it (``keep``: a learning one then keeps
    it down until its memory of the incident fades) or judges it ``fresh`` (it forgets that
    acquirer: sr_window rebuilds its windows just above the best rival's, counting
    strategies drop its counts).
    """

    type: Literal["elimination"]
    inner: Strategy
    breaker: Breaker = ScoreBreaker(type="score")
    probe: Annotated[float, Field(ge=0.0, le=0.5)] = 0.02
    readmitted: Literal["keep", "fresh"] = "keep"


class CustomStrategy(StrictModel):
    """A strategy class written by a user, in a Python file of their own.

    ``path`` is the file (relative paths are read from the scenario file's folder),
    ``class`` the name of a class in it that implements the strategy API
    (``routelab.api.Strategy``), ``params`` whatever the class takes as its first
    argument. The class is loaded when an engine is built; ``routelab validate`` checks it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    type: Literal["custom"]
    path: Annotated[str, Field(min_length=1)]
    class_name: Annotated[str, Field(alias="class", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    params: dict[str, Any] = {}

    @field_validator("path")
    @classmethod
    def _resolve(cls, path: str, info: ValidationInfo) -> str:
        """An absolute path, so the scenario means the same file wherever it is used."""
        base = (info.context or {}).get("base_dir")
        resolved = Path(path).expanduser()
        if not resolved.is_absolute():
            resolved = (Path(base) if base is not None else Path.cwd()) / resolved
        resolved = resolved.resolve()
        if not resolved.is_file():
            raise ValueError(f"no such file {str(resolved)!r}")
        return str(resolved)


class OracleStrategy(StrictModel):
    """The yardstick, not a strategy a router can run: knows every acquirer's true
    approval probability for each payment at its time (incidents included) and routes
    to the best one, by approval, or with ``lambda_pp_per_bps`` > 0 by the objective
    100 * P(approve) - lambda_pp_per_bps * expected fee in bps of the amount. Only the
    simulator has the truth it needs; the simulator runs it beside every policy."""

    type: Literal["oracle"]
    lambda_pp_per_bps: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0


class StickyStrategy(StrictModel):
    """Sticky routing: a returning card goes back to the acquirer that last approved it.

    Unless that acquirer's score, as the ``inner`` strategy keeps it for the payment's
    segment, has fallen below ``min_score`` (or, with ``max_gap``, more than that below
    the best candidate's score): then, and for cards never approved, the inner strategy
    decides. The inner strategy's scores are read at most once per ``refresh_s`` of the
    engine's time. At most ``cards`` cards are remembered (least recently approved
    forgotten first): memory is bounded.
    """

    type: Literal["sticky"]
    inner: Strategy
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9
    max_gap: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    refresh_s: Positive = 1.0
    cards: Annotated[int, Field(ge=16, le=10_000_000)] = 100_000


Strategy = Annotated[
    PriorityStrategy
    | WeightedStrategy
    | SrWindowStrategy
    | ThompsonStrategy
    | UcbStrategy
    | CostAwareStrategy
    | HierarchicalStrategy
    | EliminationStrategy
    | CustomStrategy
    | OracleStrategy
    | StickyStrategy,
    Field(discriminator="type"),
]
EliminationStrategy.model_rebuild()  # their inner strategy is any of the above
StickyStrategy.model_rebuild()


class RetryPolicy(StrictModel):
    """When to cascade a failed attempt to the next candidate acquirer.

    ``cascade_on`` lists decline classes that may cascade; within ``soft_decline`` only
    codes the decline taxonomy marks as fixable elsewhere (05, 19...) cascade, never
    "retry later" codes such as 51. A timeout (or an answer that leaves the outcome
    unknown) is an unknown outcome: with ``on_timeout: void_then_cascade`` the router
    voids the attempt, and when the void reverses nothing asks for its status, before it
    goes on; with ``stop`` the payment fails there and the attempt is settled in the
    background. ``void_timeout_ms`` and ``status_timeout_ms`` are how long the router
    waits for the answer to a void and to a status inquiry.
    """

    max_attempts: Annotated[int, Field(ge=1, le=10)] = 2
    attempt_timeout_ms: Positive = 4_000.0
    budget_ms: Positive = 10_000.0
    cascade_on: list[DeclineClass] = ["soft_decline", "technical_error", "timeout"]
    on_timeout: Literal["void_then_cascade", "stop"] = "void_then_cascade"
    void_timeout_ms: Positive = 2_000.0
    status_timeout_ms: Positive = 2_000.0


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
