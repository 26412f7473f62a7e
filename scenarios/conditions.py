"""Payment conditions shared by routing rules, approval effects and issuer declines.

A condition is a set of field tests that must all hold. Each test is one of:

- equals: ``network: visa``
- in:     ``network: [visa, mastercard]``
- range:  ``amount: {min: 0, max: 10000}`` (min inclusive, max exclusive)

One matcher serves the router's rules and the acquirer behaviour model, so "a
cross-border Visa credit card" means exactly the same thing everywhere.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from operator import attrgetter
from typing import Protocol

from pydantic import BaseModel, ConfigDict, model_validator


class PaymentAttributes(Protocol):
    """What a condition can look at: the routable attributes of a card payment."""

    @property
    def amount(self) -> int: ...  # minor units
    @property
    def currency(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def card_type(self) -> str: ...
    @property
    def issuer_country(self) -> str: ...
    @property
    def bin(self) -> str: ...
    @property
    def cross_border(self) -> bool: ...
    @property
    def card(self) -> int: ...  # the card's number or key, -1 when not known


class StrictModel(BaseModel):
    """Base for every scenario model: unknown keys are errors, objects are immutable."""

    # strict: `duration_s: true` or `rate: "40"` are mistakes, not values to coerce
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class IntRange(StrictModel):
    """A half-open numeric range ``[min, max)``; either bound may be omitted."""

    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min is None and self.max is None:
            raise ValueError("a range needs at least one of min or max")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self

    def contains(self, value: int) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value < self.max)


class StrRange(StrictModel):
    """An inclusive range of equal-length digit strings, used for BIN ranges."""

    min: str
    max: str

    @model_validator(mode="after")
    def _ordered(self) -> StrRange:
        if not (self.min.isdigit() and self.max.isdigit()):
            raise ValueError("BIN range bounds must be digit strings")
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be above max ({self.max})")
        return self

    def contains(self, value: str) -> bool:
        width = len(self.min)
        return self.min <= value[:width] <= self.max


StrTest = str | list[str]


def _str_test(test: StrTest | None, value: str) -> bool:
    if test is None:
        return True
    if isinstance(test, str):
        return value == test
    return value in test


class Condition(StrictModel):
    """All the given field tests must hold; an empty condition matches every payment."""

    network: StrTest | None = None
    card_type: StrTest | None = None
    issuer_country: StrTest | None = None
    currency: StrTest | None = None
    cross_border: bool | None = None
    amount: int | list[int] | IntRange | None = None
    bin: StrTest | StrRange | None = None

    def matches(self, payment: PaymentAttributes) -> bool:
        if not (
            _str_test(self.network, payment.network)
            and _str_test(self.card_type, payment.card_type)
            and _str_test(self.issuer_country, payment.issuer_country)
            and _str_test(self.currency, payment.currency)
        ):
            return False
        if self.cross_border is not None and payment.cross_border != self.cross_border:
            return False
        amount = self.amount
        if amount is not None:
            if isinstance(amount, IntRange):
                if not amount.contains(payment.amount):
                    return False
            elif isinstance(amount, int):
                if payment.amount != amount:
                    return False
            elif payment.amount not in amount:
                return False
        bin_test = self.bin
        if bin_test is not None:
            if isinstance(bin_test, StrRange):
                return bin_test.contains(payment.bin)
            prefixes = [bin_test] if isinstance(bin_test, str) else bin_test
            return any(payment.bin.startswith(p) for p in prefixes)
        return True

    def uses_only_segment_fields(self) -> bool:
        """True when the outcome depends only on the discrete segment (not amount or BIN)."""
        return self.bin is None and (self.amount is None or isinstance(self.amount, IntRange))

    def amount_breakpoints(self) -> list[int]:
        """The amount values at which this condition can change its answer."""
        if isinstance(self.amount, IntRange):
            return [b for b in (self.amount.min, self.amount.max) if b is not None]
        return []


class SegmentKey:
    """Maps a payment to the discrete segment that decides a set of conditions.

    Results that depend only on conditions can then be cached per segment. When a
    condition looks at the BIN or at exact amounts, no such key exists and
    ``cacheable`` is False: callers must evaluate the conditions every time.
    """

    __slots__ = ("breakpoints", "cacheable", "key")

    def __init__(self, conditions: list[Condition]) -> None:
        self.cacheable = all(c.uses_only_segment_fields() for c in conditions)
        self.breakpoints = sorted({b for c in conditions for b in c.amount_breakpoints()})
        fields = attrgetter("network", "card_type", "issuer_country", "currency", "cross_border")
        breakpoints = self.breakpoints
        # ``key`` is a plain function so hot paths can bind it once
        self.key: Callable[[PaymentAttributes], tuple[object, ...]]
        if not breakpoints:
            self.key = fields
        else:
            self.key = lambda p: (*fields(p), bisect_right(breakpoints, p.amount))

    def __call__(self, p: PaymentAttributes) -> tuple[object, ...]:
        return self.key(p)
