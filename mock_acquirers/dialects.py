"""The two acquirer wire dialects: parsing authorisation requests and building answers.

``iso8583`` is ISO-8583-flavoured JSON (the field-39 code travels as is, the ``rrn``
is the idempotency key); ``psp`` is a PSP-style API with its own vocabulary
(``resultCode`` / ``refusalReasonCode``, idempotency via a header). Both carry the
same card payment, so both parse into one :class:`AuthorisationRequest`.

Validation is hand-written rather than pydantic because it sits on the hot path of
every request; every problem names the offending field so a 400 answer is readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from scenarios.sampler import Payment, card_payment
from scenarios.taxonomy import APPROVED

MAX_KEY_LENGTH = 64
# currency | BIN | last four | issuer country | merchant country, checked in one match
_CARD_SHAPE = re.compile(r"[A-Z]{3}\|[0-9]{6,8}\|[0-9]{4}\|[A-Z]{2}\|[A-Z]{2}")

# ISO 8583 field-39 code -> PSP (resultCode, refusalReasonCode, refusalReason).
PSP_REFUSALS: dict[str, tuple[str, str, str]] = {
    "05": ("Refused", "2", "Refused"),
    "19": ("Refused", "3", "Referral"),
    "51": ("Refused", "12", "Not enough balance"),
    "54": ("Refused", "6", "Expired Card"),
    "14": ("Refused", "8", "Invalid Card Number"),
    "41": ("Refused", "5", "Blocked Card"),
    "43": ("Refused", "7", "Stolen Card"),
    "04": ("Refused", "9", "Pick Up Card"),
    "57": ("Refused", "17", "Transaction Not Permitted"),
    "59": ("Refused", "20", "FRAUD"),
    "61": ("Refused", "26", "Withdrawal amount exceeded"),
    "65": ("Refused", "27", "Withdrawal count exceeded"),
    "1A": ("Refused", "38", "Authentication required"),
    "62": ("Refused", "18", "Restricted Card"),
    "12": ("Refused", "21", "Invalid Transaction"),
    "15": ("Refused", "22", "Issuer Unknown"),
    "07": ("Refused", "10", "Pick Up Card Special"),
    "91": ("Error", "11", "Issuer Unavailable"),
    "96": ("Error", "4", "Acquirer Error"),
    "94": ("Error", "23", "Duplicate Transmission"),
}
UNKNOWN_REFUSAL = ("Refused", "0", "Unknown")

# Field-39 texts for ``additionalData.refusalReasonRaw`` ("05 : Do not honour").
ISO_TEXTS: dict[str, str] = {
    "00": "Approved",
    "01": "Refer to card issuer",
    "03": "Invalid merchant",
    "04": "Pick up card",
    "05": "Do not honour",
    "07": "Pick up card, special condition",
    "12": "Invalid transaction",
    "13": "Invalid amount",
    "14": "Invalid card number",
    "15": "No such issuer",
    "19": "Re-enter transaction",
    "1A": "Additional customer authentication required",
    "30": "Format error",
    "41": "Lost card",
    "43": "Stolen card",
    "51": "Insufficient funds",
    "54": "Expired card",
    "55": "Incorrect PIN",
    "57": "Transaction not permitted to cardholder",
    "58": "Transaction not permitted to terminal",
    "59": "Suspected fraud",
    "61": "Exceeds withdrawal amount limit",
    "62": "Restricted card",
    "63": "Security violation",
    "65": "Exceeds withdrawal frequency limit",
    "68": "Response received too late",
    "75": "Allowable number of PIN tries exceeded",
    "91": "Issuer or switch inoperative",
    "93": "Transaction cannot be completed, violation of law",
    "94": "Duplicate transmission",
    "96": "System malfunction",
}


class RequestError(Exception):
    """A malformed request; answered 400 with ``{"error": message, "field": field}``."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> bytes:
        return orjson.dumps({"error": self.message, "field": self.field})


@dataclass(slots=True)
class AuthorisationRequest:
    """One authorisation as either dialect sends it, reduced to what the acquirer needs.

    (Not frozen: a frozen dataclass costs about a microsecond more to build, per request.)
    """

    key: str
    reference: str
    payment: Payment
    last4: str


# --- field checks ------------------------------------------------------------------------


def load_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a :class:`RequestError`."""
    if not body:
        raise RequestError("empty request body, expected a JSON object", "body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"body is not valid JSON: {exc}", "body") from None
    if not isinstance(data, dict):
        raise RequestError("body must be a JSON object", "body")
    return data


def _text(data: dict[str, Any], name: str, path: str, max_length: int = 128) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{path} is required and must be a non-empty string", path)
    if len(value) > max_length:
        raise RequestError(f"{path} is longer than {max_length} characters", path)
    return value


def _digits(data: dict[str, Any], name: str, path: str, low: int, high: int) -> str:
    value = data.get(name)
    if not (
        isinstance(value, str) and low <= len(value) <= high and value.isascii() and value.isdigit()
    ):
        size = f"{low}" if low == high else f"{low}-{high}"
        raise RequestError(f"{path} must be a string of {size} digits", path)
    return value


def _letters(data: dict[str, Any], name: str, path: str, length: int) -> str:
    value = data.get(name)
    if not (
        isinstance(value, str)
        and len(value) == length
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    ):
        raise RequestError(f"{path} must be {length} upper-case letters", path)
    return value


def _amount(data: dict[str, Any], name: str, path: str) -> int:
    value = data.get(name)
    # bool is an int subclass: reject it explicitly, True is not an amount
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RequestError(f"{path} must be a positive integer in minor units", path)
    return value


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise RequestError(f"{name} must be a JSON object", name)
    return value


# --- iso8583 -----------------------------------------------------------------------------


def parse_iso_authorise(body: bytes) -> AuthorisationRequest:
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
        and _CARD_SHAPE.fullmatch(f"{currency}|{bin_}|{last4}|{issuer_country}|{merchant_country}")
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
    return _parse_iso_checked(data)


def _parse_iso_checked(data: dict[str, Any]) -> AuthorisationRequest:
    if data.get("mti") != "0100":
        raise RequestError("mti must be '0100' for an authorisation request", "mti")
    rrn = _text(data, "rrn", "rrn", MAX_KEY_LENGTH)
    amount = _amount(data, "amount", "amount")
    currency = _letters(data, "currency", "currency", 3)
    bin_ = _digits(data, "pan_bin", "pan_bin", 6, 8)
    last4 = _digits(data, "pan_last4", "pan_last4", 4, 4)
    network = _text(data, "network", "network", 32)
    card_type = _text(data, "card_type", "card_type", 32)
    issuer_country = _letters(data, "issuer_country", "issuer_country", 2)
    merchant_country = _letters(data, "merchant_country", "merchant_country", 2)
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


def parse_iso_reversal(body: bytes) -> str:
    """The ``rrn`` of an iso8583 ``0400`` reversal request."""
    data = load_json_object(body)
    if data.get("mti") != "0400":
        raise RequestError("mti must be '0400' for a reversal request", "mti")
    return _text(data, "rrn", "rrn", MAX_KEY_LENGTH)


def iso_authorise_answer(rrn: str, code: str, stan: str, auth_code: str, acquirer: str) -> bytes:
    """The ``0110`` answer; ``auth_code`` is sent only with an approval."""
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
    return orjson.dumps(
        {"mti": "0110", "rrn": rrn, "response_code": code, "stan": stan, "acquirer": acquirer}
    )


def iso_reversal_answer(rrn: str, reversed_: bool) -> bytes:
    return orjson.dumps(
        {"mti": "0410", "rrn": rrn, "response_code": APPROVED, "reversed": reversed_}
    )


# --- psp ---------------------------------------------------------------------------------


def parse_psp_payment(body: bytes, idempotency_key: str | None) -> AuthorisationRequest:
    """A psp ``/payments`` request; the key comes from the ``Idempotency-Key`` header."""
    if not idempotency_key:
        raise RequestError("the Idempotency-Key header is required", "Idempotency-Key")
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise RequestError(
            f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", "Idempotency-Key"
        )
    data = load_json_object(body)
    amount_obj, method = data.get("amount"), data.get("paymentMethod")
    if type(amount_obj) is dict and type(method) is dict:
        # fast path, as for iso8583: cheap checks first, precise ones only on doubt
        reference, value, currency, merchant_country = (
            data.get("reference"),
            amount_obj.get("value"),
            amount_obj.get("currency"),
            data.get("merchantCountry"),
        )
        network, bin_, last4, card_type, issuer_country = (
            method.get("brand"),
            method.get("bin"),
            method.get("last4"),
            method.get("fundingSource"),
            method.get("issuerCountry"),
        )
        if (
            type(reference) is str
            and 0 < len(reference) <= 128
            and type(value) is int
            and value > 0
            and type(network) is str
            and 0 < len(network) <= 32
            and type(card_type) is str
            and 0 < len(card_type) <= 32
            and type(currency) is str
            and type(bin_) is str
            and type(last4) is str
            and type(issuer_country) is str
            and type(merchant_country) is str
            and _CARD_SHAPE.fullmatch(
                f"{currency}|{bin_}|{last4}|{issuer_country}|{merchant_country}"
            )
        ):
            return AuthorisationRequest(
                idempotency_key,
                reference,
                card_payment(
                    value,
                    currency,
                    network,
                    card_type,
                    issuer_country,
                    bin_,
                    merchant_country,
                ),
                last4,
            )
    return _parse_psp_checked(data, idempotency_key)


def _parse_psp_checked(data: dict[str, Any], idempotency_key: str) -> AuthorisationRequest:
    reference = _text(data, "reference", "reference")
    amount_obj = _object(data, "amount")
    amount = _amount(amount_obj, "value", "amount.value")
    currency = _letters(amount_obj, "currency", "amount.currency", 3)
    method = _object(data, "paymentMethod")
    network = _text(method, "brand", "paymentMethod.brand", 32)
    bin_ = _digits(method, "bin", "paymentMethod.bin", 6, 8)
    last4 = _digits(method, "last4", "paymentMethod.last4", 4, 4)
    card_type = _text(method, "fundingSource", "paymentMethod.fundingSource", 32)
    issuer_country = _letters(method, "issuerCountry", "paymentMethod.issuerCountry", 2)
    merchant_country = _letters(data, "merchantCountry", "merchantCountry", 2)
    payment = card_payment(
        amount,
        currency,
        network,
        card_type,
        issuer_country,
        bin_,
        merchant_country,
    )
    return AuthorisationRequest(idempotency_key, reference, payment, last4)


def parse_psp_cancel_by_key(body: bytes) -> str:
    """The original idempotency key of a ``/cancels`` request."""
    data = load_json_object(body)
    return _text(data, "idempotencyKey", "idempotencyKey", MAX_KEY_LENGTH)


def psp_refusal(code: str) -> tuple[str, str, str]:
    """(resultCode, refusalReasonCode, refusalReason) for an ISO code other than 00."""
    return PSP_REFUSALS.get(code, UNKNOWN_REFUSAL)


def refusal_reason_raw(code: str) -> str:
    """The raw acquirer answer the way PSPs expose it: ``"05 : Do not honour"``."""
    return f"{code} : {ISO_TEXTS.get(code, 'Unknown')}"


def psp_payment_answer(psp_reference: str, code: str, reference: str, auth_code: str) -> bytes:
    """The ``/payments`` answer; refusal fields only when not Authorised."""
    if code == APPROVED:
        return orjson.dumps(
            {
                "pspReference": psp_reference,
                "resultCode": "Authorised",
                "merchantReference": reference,
                "additionalData": {"authCode": auth_code},
            }
        )
    result, reason_code, reason = psp_refusal(code)
    return orjson.dumps(
        {
            "pspReference": psp_reference,
            "resultCode": result,
            "refusalReason": reason,
            "refusalReasonCode": reason_code,
            "merchantReference": reference,
            "additionalData": {"refusalReasonRaw": refusal_reason_raw(code)},
        }
    )


def psp_cancel_answer(psp_reference: str | None, cancelled: bool) -> bytes:
    return orjson.dumps(
        {"pspReference": psp_reference, "status": "received", "cancelled": cancelled}
    )


def psp_status(code: str | None, reversed_: bool) -> str:
    """The psp status word for an attempt (None: still being processed)."""
    if code is None:
        return "Pending"
    if reversed_:
        return "Cancelled"
    if code == APPROVED:
        return "Authorised"
    return psp_refusal(code)[0]


def iso_status(code: str | None, reversed_: bool) -> str:
    """The iso8583 status word for an attempt (None: still being processed)."""
    if code is None:
        return "pending"
    if reversed_:
        return "reversed"
    return "approved" if code == APPROVED else "declined"


# --- decoding (the reference reading of the psp dialect) ---------------------------------

_ISO_BY_REFUSAL_CODE = {reason_code: iso for iso, (_, reason_code, _) in PSP_REFUSALS.items()}


def iso_code_from_psp(answer: dict[str, Any]) -> str | None:
    """The ISO code a psp answer stands for, read the way a connector would.

    ``refusalReasonCode`` first, then the raw code in ``refusalReasonRaw``; None when
    the answer carries neither. Router connectors keep their own copy of the table
    (they are written against the PSP's docs); tests check both agree with this one.
    """
    if answer.get("resultCode") == "Authorised":
        return APPROVED
    iso = _ISO_BY_REFUSAL_CODE.get(str(answer.get("refusalReasonCode", "")))
    if iso is not None:
        return iso
    raw = (answer.get("additionalData") or {}).get("refusalReasonRaw")
    if isinstance(raw, str) and " : " in raw:
        return raw.split(" : ", 1)[0].strip()
    return None
