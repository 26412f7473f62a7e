"""The payment API's request: parsing, validation and readable problems, never a card number.

Only the BIN (first 6-8 digits) and last four digits travel with a payment, which keeps
the router out of card-data scope. Unknown fields are rejected, every free-text value
(merchant reference, card network and type, the Idempotency-Key header) is scanned for
a card number written with any separators (``router.card_data``), and error messages
name the field without echoing what was sent. Currencies and issuer countries must be
ISO 4217 / ISO 3166-1 codes (the lists come from ``pycountry``, not typed by hand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from hashlib import blake2b
from typing import Annotated, Any

import orjson
import pycountry
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from router.card_data import CARD_NUMBER_PROBLEM, contains_card_number, redact
from router.engine.cards import card_key
from scenarios.sampler import is_cross_border

MAX_AMOUNT = 10**12  # minor units; far above any card authorisation
MAX_KEY_LENGTH = 255
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)  # ISO 4217
COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)  # ISO 3166-1


def _no_card_number(value: str) -> str:
    if contains_card_number(value):
        raise ValueError(CARD_NUMBER_PROBLEM)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Card(_Strict):
    """What the router may know of a card: BIN, last four digits and routable attributes."""

    bin: Annotated[str, Field(pattern=r"^[0-9]{6,8}$")]
    last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")]
    network: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    issuer_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    # a stable token for the card (a PSP's card fingerprint, a network token reference),
    # never the card number: per-card scheme rules and sticky routing key on it
    fingerprint: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{8,64}$")] | None = None

    @field_validator("network", "type", "fingerprint")
    @classmethod
    def _free_text(cls, value: str | None) -> str | None:
        # "visa4242424242424242" fits the pattern
        return None if value is None else _no_card_number(value)

    @field_validator("issuer_country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if value not in COUNTRIES:
            raise ValueError("is not an ISO 3166-1 alpha-2 country code, e.g. DE")
        return value


class PaymentRequest(_Strict):
    """``POST /v1/payments`` body, validated; unknown fields are errors."""

    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    card: Card
    merchant_reference: Annotated[str, Field(max_length=64)] = ""

    def fingerprint(self) -> bytes:
        """A 16-byte digest of the request: what the idempotency store keeps and compares.

        Keeping the parsed model instead would cost ~1 KB per key for a day's worth of
        keys; a collision between two different requests is a 2^-128 event.
        """
        card = self.card
        return blake2b(
            orjson.dumps(
                (
                    self.amount,
                    self.currency,
                    card.bin,
                    card.last4,
                    card.network,
                    card.type,
                    card.issuer_country,
                    self.merchant_reference,
                    card.fingerprint,
                )
            ),
            digest_size=16,
        ).digest()

    @field_validator("merchant_reference")
    @classmethod
    def _free_text(cls, value: str) -> str:
        return _no_card_number(value)

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("is not an ISO 4217 currency code, e.g. EUR")
        return value


@dataclass(frozen=True, slots=True)
class CardPayment:
    """A payment on its way through the router; matches the engine's PaymentAttributes."""

    payment_id: str
    amount: int
    currency: str
    network: str
    card_type: str
    issuer_country: str
    bin: str
    last4: str
    cross_border: bool
    merchant_country: str
    merchant_reference: str
    card: int = -1  # the card's key (a hash of its fingerprint), -1 without one

    @classmethod
    def from_request(
        cls, request: PaymentRequest, payment_id: str, merchant_country: str
    ) -> CardPayment:
        card = request.card
        return cls(
            payment_id,
            request.amount,
            request.currency,
            card.network,
            card.type,
            card.issuer_country,
            card.bin,
            card.last4,
            is_cross_border(card.issuer_country, merchant_country),
            merchant_country,
            request.merchant_reference or payment_id,
            -1 if card.fingerprint is None else card_key(card.fingerprint),
        )


class RequestError(Exception):
    """A request the router refuses; ``body()`` is the JSON error to send back.

    Problems are scrubbed of card numbers here, once, whatever built them: a field path
    can carry the client's own key names, and a message the client's values.
    """

    def __init__(
        self,
        status: int,
        error: str,
        problems: list[tuple[str, str]],
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        problems = [(redact(f), redact(p)) for f, p in problems]
        super().__init__("; ".join(f"{f}: {p}" for f, p in problems))
        self.status = status
        self.error = error
        self.problems = problems
        self.headers = headers  # extra response headers, e.g. Retry-After

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "problems": [{"field": f, "problem": p} for f, p in self.problems],
        }


def parse_payment(body: bytes) -> PaymentRequest:
    """Validate a request body; raises :class:`RequestError` naming every bad field."""
    try:
        return PaymentRequest.model_validate_json(body)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False, include_input=False)]
        if any(field == "body" for field, _ in problems):
            raise RequestError(400, "invalid_json", problems) from None
        raise RequestError(422, "invalid_request", problems) from None


def check_idempotency_key(key: str | None) -> str:
    """The Idempotency-Key header, required: 1-255 visible ASCII characters."""
    if key is None:
        raise RequestError(
            400,
            "missing_idempotency_key",
            [("Idempotency-Key", "header is required (a unique key per payment, reused on retry)")],
        )
    if not _KEY_PATTERN.match(key):
        raise RequestError(
            400,
            "invalid_idempotency_key",
            [("Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} visible ASCII characters")],
        )
    if contains_card_number(key):
        raise RequestError(
            400, "invalid_idempotency_key", [("Idempotency-Key", CARD_NUMBER_PROBLEM)]
        )
    return key


def _problem(error: Any) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"]]
    kind = error["type"]
    if kind == "json_invalid":
        return "body", "not valid JSON"
    if kind == "model_type" and not loc:
        return "body", "must be a JSON object"
    field = ".".join(loc) or "body"
    if kind == "extra_forbidden":
        if field.startswith("card."):
            return field, (
                "unknown card field: the router accepts only bin, last4, network, "
                "type, issuer_country and fingerprint, never a full card number"
            )
        return field, "unknown field"
    if kind == "missing":
        return field, "required field is missing"
    if kind == "string_pattern_mismatch":
        return field, _PATTERN_HINTS.get(field, "has the wrong format")
    return field, str(error["msg"]).removeprefix("Value error, ")


_PATTERN_HINTS = {
    "currency": "must be an ISO 4217 code in capitals, e.g. EUR",
    "card.bin": "must be the first 6 to 8 digits of the card (never the full number)",
    "card.last4": "must be the last 4 digits of the card",
    "card.network": "must be a lower-case network name, e.g. visa",
    "card.type": "must be a lower-case card type, e.g. credit or debit",
    "card.issuer_country": "must be an ISO 3166 alpha-2 code in capitals, e.g. DE",
    "card.fingerprint": "must be 8 to 64 letters, digits, '-' or '_': a card token, never "
    "the card number",
}
