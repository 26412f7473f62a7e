"""Acquirers in the scenario format: approval by segment, faults, fees and incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from scenarios.conditions import Condition, StrictModel
from scenarios.fees import attempt_fee
from scenarios.fields import Delta, Name, NonNegative, Positive, Probability, ResponseCode, above
from scenarios.latency import LatencyModel

# a Mastercard Merchant Advice Code: two digits
AdviceCode = Annotated[str, Field(pattern=r"^[0-9]{2}$")]


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

    An incident may come and go gradually instead of as a step: its effects grow
    linearly from nothing at ``start_s`` to full strength ``ramp_in_s`` later, and fade
    linearly to nothing over the last ``ramp_out_s`` before ``end_s`` (a drift, not an
    outage). A latency factor ramps from 1 to ``latency_factor`` the same way.
    """

    name: str = "incident"
    start_s: NonNegative
    end_s: Positive
    when: Condition = Condition()
    approval_delta: Delta = 0.0
    error_rate: Probability = 0.0
    timeout_rate: Probability = 0.0
    latency_factor: Annotated[float, Field(gt=0.0)] = 1.0
    ramp_in_s: NonNegative = 0.0
    ramp_out_s: NonNegative = 0.0

    _ordered = field_validator("end_s")(above("start_s", "after"))

    @model_validator(mode="after")
    def _ramps_fit(self) -> Incident:
        if self.ramp_in_s + self.ramp_out_s > self.end_s - self.start_s + 1e-9:
            raise ValueError(
                f"ramp_in_s + ramp_out_s ({self.ramp_in_s + self.ramp_out_s:g} s) must fit "
                f"in the incident ({self.end_s - self.start_s:g} s)"
            )
        return self

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s

    def strength(self, t: float) -> float:
        """How much of its effects the incident has at ``t``: 0 outside, 1 at full."""
        if not self.start_s <= t < self.end_s:
            return 0.0
        if self.ramp_in_s > 0.0 and t < self.start_s + self.ramp_in_s:
            return (t - self.start_s) / self.ramp_in_s
        if self.ramp_out_s > 0.0 and t > self.end_s - self.ramp_out_s:
            return (self.end_s - t) / self.ramp_out_s
        return 1.0


class Acquirer(StrictModel):
    """One acquirer: how it answers authorisations, voids and status inquiries.

    ``void_latency`` and ``status_latency`` are how long the acquirer takes to answer a
    void (reversal or cancel) and a status inquiry; left out, each is a fixed latency
    equal to the median of ``latency``. The simulator, the mock acquirers and therefore
    the router all see the same figure.

    ``merchant_advice_codes``: the share of this acquirer's Mastercard declines that
    carry each Merchant Advice Code (``"03"``: do not try again, ``"21"``: payment
    cancelled, both meaning stop; ``"01"``, ``"02"``... advise other things). Acquirers
    differ in passing them on; left out, none does.
    """

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
    void_latency: LatencyModel | None = None
    status_latency: LatencyModel | None = None
    merchant_advice_codes: dict[AdviceCode, Probability] = {}

    @field_validator("decline_codes")
    @classmethod
    def _no_approved_code(cls, codes: dict[str, float]) -> dict[str, float]:
        if "00" in codes:
            raise ValueError("must not contain '00' (approved): list decline codes only")
        return codes

    @field_validator("merchant_advice_codes")
    @classmethod
    def _shares(cls, codes: dict[str, float]) -> dict[str, float]:
        if sum(codes.values()) > 1.0 + 1e-9:
            raise ValueError(f"shares sum to {sum(codes.values()):g}, above 1")
        return codes


class FeeSchedule:
    """The fee of one attempt per (acquirer, network), each schedule looked up once."""

    def __init__(self, acquirers: list[Acquirer]) -> None:
        self._fees = {a.name: a.fees for a in acquirers}
        self._cache: dict[tuple[str, str], Fee | None] = {}

    def fee(self, acquirer: str, network: str) -> Fee | None:
        """The fee schedule, or None for an acquirer the scenario does not know."""
        key = (acquirer, network)
        if key not in self._cache:
            fees = self._fees.get(acquirer)
            self._cache[key] = None if fees is None else fees.for_network(network)
        return self._cache[key]

    def charge(self, acquirer: str, network: str, amount: int, approved: bool) -> float:
        """The attempt's fee in minor units (0 for an acquirer the scenario does not know)."""
        fee = self.fee(acquirer, network)
        return 0.0 if fee is None else fee.charge(amount, approved)
