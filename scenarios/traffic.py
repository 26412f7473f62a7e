"""Traffic in the scenario format: arrival profiles, the payment mix, issuer declines."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from scenarios.conditions import Condition, StrictModel, StrRange
from scenarios.fields import NonNegative, Positive, Probability, ResponseCode, Weights, above


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

    _ordered = field_validator("end_s")(above("start_s", "after"))


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

    _ordered = field_validator("max")(above("min"))


class FixedAmount(StrictModel):
    dist: Literal["fixed"]
    value: Annotated[int, Field(gt=0)]


class EmpiricalAmount(StrictModel):
    """Amounts (minor units) from observed percentiles, linearly interpolated between
    them; for price lists a parametric model fits badly (``routelab calibrate`` writes it).
    Give at least two percentiles, ``0`` and ``100`` for the bounds."""

    dist: Literal["empirical"]
    percentiles: dict[Annotated[float, Field(ge=0.0, le=100.0)], Annotated[float, Field(gt=0.0)]]

    @field_validator("percentiles")
    @classmethod
    def _monotone(cls, percentiles: dict[float, float]) -> dict[float, float]:
        if len(percentiles) < 2:
            raise ValueError("give at least two percentiles, e.g. {0: 500, 100: 20000}")
        values = [percentiles[p] for p in sorted(percentiles)]
        if any(b < a for a, b in pairwise(values)):
            raise ValueError("amounts must not decrease as the percentile rises")
        return percentiles


AmountModel = Annotated[
    LognormalAmount | UniformAmount | FixedAmount | EmpiricalAmount, Field(discriminator="dist")
]

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


class CardPopulation(StrictModel):
    """The merchant's customers' cards: ``count`` distinct cards that come back.

    Each payment is made with one card of the population, card ``k`` (from 1) drawn with
    weight ``k ** -skew``: 0 makes every card equally likely, higher values make a few
    loyal customers buy often while most cards are seen once or twice. A card keeps its
    network, card type, issuer country and BIN from one payment to the next (drawn from
    the payment mix once per card); amount and currency are drawn per payment. Without a
    population every payment is made with a card never seen before.
    """

    count: Annotated[int, Field(ge=1, le=1_000_000)]
    skew: Annotated[float, Field(ge=0.0, le=3.0)] = 0.0


class Traffic(StrictModel):
    duration_s: Positive
    arrival: ArrivalProfile
    mix: PaymentMix
    issuer_declines: IssuerDeclines = IssuerDeclines()
    cards: CardPopulation | None = None


class Merchant(StrictModel):
    name: str = "merchant"
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
