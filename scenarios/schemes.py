"""Card scheme rules in the scenario format: how often a card may be retried, and the fees.

The rules are the schemes' (see docs/domain.md, "Retry and cascade rules"); the numbers
are scenario parameters so a scenario can follow a scheme's next bulletin. Amounts are
minor units of the payment's currency (the schemes bill in US dollars: 10 is US$0.10).

What counts, per card of the traffic's card population (``traffic.cards``):

- Visa: a **retry** is an attempt after the first one of a payment (a cascade). A card
  may have ``retry_limit`` retries in ``window_days``; with ``over_limit: stop`` the
  router does not retry it further, with ``pay`` it does and each retry beyond the
  limit costs ``excess_retry_fee``. Category-1 codes (the issuer will never approve)
  are never retried, whatever the retry policy says.
- Mastercard: each **decline** of a card (a soft or hard decline answered by the
  acquirer) beyond the ``declines_per_day``-th in 24 h, or beyond the
  ``declines_per_30_days``-th in 30 days, costs ``excess_decline_fee``. A decline that
  carries Merchant Advice Code 03 or 21 stops the payment: no retry.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from scenarios.conditions import StrictModel
from scenarios.fields import NonNegative

# The deepest per-card history a rule may need: the ring of event times per card slot.
MAX_LIMIT = 100


class VisaRules(StrictModel):
    """Visa's excessive-reattempt rule (category 2 codes: 15 retries in 30 days)."""

    retry_limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 15
    window_days: Annotated[float, Field(gt=0.0, le=365.0)] = 30.0
    excess_retry_fee: NonNegative = 10.0
    over_limit: Literal["stop", "pay"] = "stop"


class MastercardRules(StrictModel):
    """Mastercard's excessive-attempts rule (declines per card in 24 h and in 30 days)."""

    declines_per_day: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 10
    declines_per_30_days: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 35
    excess_decline_fee: NonNegative = 50.0


class Schemes(StrictModel):
    """The scheme rules the payment lifecycle obeys (``enabled: false`` turns them off)."""

    enabled: bool = True
    visa: VisaRules = VisaRules()
    mastercard: MastercardRules = MastercardRules()
