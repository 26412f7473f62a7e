"""Routing policies in the scenario format: rules, strategies and the retry policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from scenarios.conditions import Condition, StrictModel
from scenarios.fields import Name, Positive, Weights


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
    | CustomStrategy
    | OracleStrategy
    | StickyStrategy,
    Field(discriminator="type"),
]
StickyStrategy.model_rebuild()  # its inner strategy is any of the above

DeclineClass = Literal["soft_decline", "hard_decline", "technical_error", "timeout"]


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
