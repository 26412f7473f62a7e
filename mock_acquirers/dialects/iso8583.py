"""The iso8583 dialect on the mock side: ISO-8583-flavoured JSON over HTTP.

``POST /{acquirer}/iso/authorise`` takes an MTI ``0100`` and answers ``0110`` with the
field-39 ``response_code`` as is; the retrieval reference number (``rrn``) is the
idempotency key. ``POST .../iso/reversal`` (``0400`` -> ``0410``) voids by ``rrn``;
``GET .../iso/transactions/{rrn}`` is the status inquiry. The router's client for the
same wire format is ``router/iso8583.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from mock_acquirers.asgi import RequestError, load_json_object
from mock_acquirers.dialects.base import (
    AttemptView,
    AuthorisationRequest,
    Dialect,
    HttpRequest,
    Methods,
    Operation,
    VoidRequest,
)
from mock_acquirers.dialects.checks import (
    CARD_SHAPE,
    MAX_KEY_LENGTH,
    digit_string,
    minor_units,
    required_text,
    upper_letters,
)
from scenarios.sampler import card_payment
from scenarios.taxonomy import APPROVED

_AUTHORISE: Methods = {"POST": Operation.AUTHORISE}
_REVERSAL: Methods = {"POST": Operation.VOID}
_TRANSACTION: Methods = {"GET": Operation.STATUS}


def parse_authorise(body: bytes) -> AuthorisationRequest:
    """An iso8583 ``0100`` authorisation request."""
    data = load_json_object(body)
    # fast path: one pass of cheap checks; any doubt goes to the field-by-field checks,
    # which name the offending field
    rrn, amount, currency, bin_, last4, network, card_type, issuer_country, merchant_country = (
        data.get("rrn"),
        data.get("amount"),
        data.get("currency"),
        data.get("pan_bin"),
        data.get("pan_last4"),
        data.get("network"),
        data.get("card_type"),
        data.get("issuer_country"),
        data.get("merchant_country"),
    )
    reference = data.get("merchant_reference", "")
    if (
        data.get("mti") == "0100"
        and type(rrn) is str
        and 0 < len(rrn) <= MAX_KEY_LENGTH
        and type(amount) is int
        and amount > 0
        and type(network) is str
        and 0 < len(network) <= 32
        and type(card_type) is str
        and 0 < len(card_type) <= 32
        and type(reference) is str
        and len(reference) <= 128
        and type(currency) is str
        and type(bin_) is str
        and type(last4) is str
        and type(issuer_country) is str
        and type(merchant_country) is str
        and CARD_SHAPE.fullmatch(f"{currency}|{bin_}|{last4}|{issuer_country}|{merchant_country}")
    ):
        return AuthorisationRequest(
            rrn,
            reference,
            card_payment(
                amount,
                currency,
                network,
                card_type,
                issuer_country,
                bin_,
                merchant_country,
            ),
            last4,
        )
    return _parse_authorise_checked(data)


def _parse_authorise_checked(data: dict[str, Any]) -> AuthorisationRequest:
    if data.get("mti") != "0100":
        raise RequestError("mti must be '0100' for an authorisation request", "mti")
    rrn = required_text(data, "rrn", "rrn", MAX_KEY_LENGTH)
    amount = minor_units(data, "amount", "amount")
    currency = upper_letters(data, "currency", "currency", 3)
    bin_ = digit_string(data, "pan_bin", "pan_bin", 6, 8)
    last4 = digit_string(data, "pan_last4", "pan_last4", 4, 4)
    network = required_text(data, "network", "network", 32)
    card_type = required_text(data, "card_type", "card_type", 32)
    issuer_country = upper_letters(data, "issuer_country", "issuer_country", 2)
    merchant_country = upper_letters(data, "merchant_country", "merchant_country", 2)
    reference = data.get("merchant_reference", "")
    if not isinstance(reference, str) or len(reference) > 128:
        raise RequestError(
            "merchant_reference must be a string of at most 128 characters", "merchant_reference"
        )
    payment = card_payment(
        amount,
        currency,
        network,
        card_type,
        issuer_country,
        bin_,
        merchant_country,
    )
    return AuthorisationRequest(rrn, reference, payment, last4)


def parse_reversal(body: bytes) -> str:
    """The ``rrn`` of an iso8583 ``0400`` reversal request."""
    data = load_json_object(body)
    if data.get("mti") != "0400":
        raise RequestError("mti must be '0400' for a reversal request", "mti")
    return required_text(data, "rrn", "rrn", MAX_KEY_LENGTH)


def authorise_answer(
    rrn: str, code: str, stan: str, auth_code: str, acquirer: str, advice: str = ""
) -> bytes:
    """The ``0110`` answer; ``auth_code`` is sent only with an approval, a Merchant Advice
    Code (Mastercard's DE 48 subelement 84) as ``merchant_advice_code`` only with one."""
    if code == APPROVED:
        return orjson.dumps(
            {
                "mti": "0110",
                "rrn": rrn,
                "response_code": code,
                "auth_code": auth_code,
                "stan": stan,
                "acquirer": acquirer,
            }
        )
    if advice:
        return orjson.dumps(
            {
                "mti": "0110",
                "rrn": rrn,
                "response_code": code,
                "merchant_advice_code": advice,
                "stan": stan,
                "acquirer": acquirer,
            }
        )
    return orjson.dumps(
        {"mti": "0110", "rrn": rrn, "response_code": code, "stan": stan, "acquirer": acquirer}
    )


def transaction_status(code: str | None, reversed_: bool) -> str:
    """The iso8583 status word for an attempt (None: still being processed)."""
    if code is None:
        return "pending"
    if reversed_:
        return "reversed"
    return "approved" if code == APPROVED else "declined"


class IsoDialect(Dialect):
    """The mock's side of the iso8583 dialect."""

    name: ClassVar[str] = "iso8583"
    path: ClassVar[str] = "iso"

    def endpoint(self, rest: list[str]) -> Methods | None:
        if len(rest) == 1:
            if rest[0] == "authorise":
                return _AUTHORISE
            if rest[0] == "reversal":
                return _REVERSAL
        elif len(rest) == 2 and rest[0] == "transactions" and rest[1]:
            return _TRANSACTION
        return None

    def parse_authorisation(self, request: HttpRequest) -> AuthorisationRequest:
        return parse_authorise(request.body)

    def parse_void(self, request: HttpRequest) -> VoidRequest:
        return VoidRequest(parse_reversal(request.body))

    def parse_status(self, request: HttpRequest) -> str:
        return request.rest[1]

    def authorisation_answer(
        self,
        request: AuthorisationRequest,
        code: str,
        acquirer_reference: str,
        stan: str,
        auth_code: str,
        advice: str = "",
    ) -> bytes:
        return authorise_answer(request.key, code, stan, auth_code, self.acquirer, advice)

    def void_answer(self, void: VoidRequest, attempt: AttemptView | None, voided: bool) -> bytes:
        return orjson.dumps(
            {"mti": "0410", "rrn": void.attempt_id, "response_code": APPROVED, "reversed": voided}
        )

    def status_answer(self, key: str, attempt: AttemptView | None) -> bytes:
        if attempt is None:
            return orjson.dumps({"rrn": key, "status": "not_found", "response_code": None})
        code = attempt.visible_code
        return orjson.dumps(
            {
                "rrn": key,
                "status": transaction_status(code, attempt.reversed),
                "response_code": code,
            }
        )
