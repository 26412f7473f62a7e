"""The psp dialect on the mock side: a PSP-style API with its own vocabulary.

``POST /{acquirer}/psp/payments`` authorises, idempotent by the ``Idempotency-Key``
header, and answers ``resultCode`` (Authorised / Refused / Error) with a
``refusalReasonCode`` from the PSP's own table and the raw ISO answer in
``additionalData.refusalReasonRaw``. ``POST .../psp/payments/{pspReference}/cancels``
and ``POST .../psp/cancels`` (by the original key) void;
``GET .../psp/payments?idempotencyKey=`` is the status inquiry. The router's client for
the same wire format is ``router/psp.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from mock_acquirers.asgi import RequestError, header, load_json_object, query_value
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
    json_object,
    minor_units,
    required_text,
    upper_letters,
)
from scenarios.sampler import card_payment
from scenarios.taxonomy import APPROVED

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

# Mastercard Merchant Advice Codes, as the PSP quotes them beside a refusal.
ADVICE_TEXTS: dict[str, str] = {
    "01": "New account information available",
    "02": "Cannot approve at this time, try again later",
    "03": "Do not try again",
    "04": "Token requirements not fulfilled for this token type",
    "21": "Payment cancellation",
    "24": "Retry after 1 hour",
    "25": "Retry after 24 hours",
}

# Field-39 texts the PSP quotes in ``additionalData.refusalReasonRaw`` ("05 : Do not honour").
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

_PAYMENTS: Methods = {"GET": Operation.STATUS, "POST": Operation.AUTHORISE}
_CANCELS: Methods = {"POST": Operation.VOID}


def parse_payment(body: bytes, idempotency_key: str | None) -> AuthorisationRequest:
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
            and CARD_SHAPE.fullmatch(
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
    return _parse_payment_checked(data, idempotency_key)


def _parse_payment_checked(data: dict[str, Any], idempotency_key: str) -> AuthorisationRequest:
    reference = required_text(data, "reference", "reference")
    amount_obj = json_object(data, "amount")
    amount = minor_units(amount_obj, "value", "amount.value")
    currency = upper_letters(amount_obj, "currency", "amount.currency", 3)
    method = json_object(data, "paymentMethod")
    network = required_text(method, "brand", "paymentMethod.brand", 32)
    bin_ = digit_string(method, "bin", "paymentMethod.bin", 6, 8)
    last4 = digit_string(method, "last4", "paymentMethod.last4", 4, 4)
    card_type = required_text(method, "fundingSource", "paymentMethod.fundingSource", 32)
    issuer_country = upper_letters(method, "issuerCountry", "paymentMethod.issuerCountry", 2)
    merchant_country = upper_letters(data, "merchantCountry", "merchantCountry", 2)
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


def parse_cancel_by_key(body: bytes) -> str:
    """The original idempotency key of a ``/cancels`` request."""
    data = load_json_object(body)
    return required_text(data, "idempotencyKey", "idempotencyKey", MAX_KEY_LENGTH)


def psp_refusal(code: str) -> tuple[str, str, str]:
    """(resultCode, refusalReasonCode, refusalReason) for an ISO code other than 00."""
    return PSP_REFUSALS.get(code, UNKNOWN_REFUSAL)


def refusal_reason_raw(code: str) -> str:
    """The raw acquirer answer the way PSPs expose it: ``"05 : Do not honour"``."""
    return f"{code} : {ISO_TEXTS.get(code, 'Unknown')}"


def payment_answer(
    psp_reference: str, code: str, reference: str, auth_code: str, advice: str = ""
) -> bytes:
    """The ``/payments`` answer; refusal fields only when not Authorised, and a Merchant
    Advice Code in ``additionalData.merchantAdviceCode`` ("03 : Do not try again") only
    with one."""
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
    extra = {"refusalReasonRaw": refusal_reason_raw(code)}
    if advice:
        extra["merchantAdviceCode"] = f"{advice} : {ADVICE_TEXTS.get(advice, 'Unknown')}"
    return orjson.dumps(
        {
            "pspReference": psp_reference,
            "resultCode": result,
            "refusalReason": reason,
            "refusalReasonCode": reason_code,
            "merchantReference": reference,
            "additionalData": extra,
        }
    )


def payment_status(code: str | None, reversed_: bool) -> str:
    """The psp status word for an attempt (None: still being processed)."""
    if code is None:
        return "Pending"
    if reversed_:
        return "Cancelled"
    if code == APPROVED:
        return "Authorised"
    return psp_refusal(code)[0]


class PspDialect(Dialect):
    """The mock's side of the psp dialect."""

    name: ClassVar[str] = "psp"
    path: ClassVar[str] = "psp"

    def endpoint(self, rest: list[str]) -> Methods | None:
        if len(rest) == 1:
            if rest[0] == "payments":
                return _PAYMENTS
            if rest[0] == "cancels":
                return _CANCELS
        elif len(rest) == 3 and rest[0] == "payments" and rest[2] == "cancels" and rest[1]:
            return _CANCELS
        return None

    def parse_authorisation(self, request: HttpRequest) -> AuthorisationRequest:
        return parse_payment(request.body, header(request.scope, b"idempotency-key"))

    def parse_void(self, request: HttpRequest) -> VoidRequest:
        if len(request.rest) == 3:  # payments/{pspReference}/cancels
            return VoidRequest(request.rest[1], by_acquirer_reference=True)
        return VoidRequest(parse_cancel_by_key(request.body))

    def parse_status(self, request: HttpRequest) -> str:
        key = query_value(request.scope, "idempotencyKey")
        if key is None:
            raise RequestError("the idempotencyKey query parameter is required", "idempotencyKey")
        return key

    def authorisation_answer(
        self,
        request: AuthorisationRequest,
        code: str,
        acquirer_reference: str,
        stan: str,
        auth_code: str,
        advice: str = "",
    ) -> bytes:
        return payment_answer(acquirer_reference, code, request.reference, auth_code, advice)

    def void_answer(self, void: VoidRequest, attempt: AttemptView | None, voided: bool) -> bytes:
        reference: str | None = void.attempt_id if void.by_acquirer_reference else None
        if reference is None and attempt is not None:
            reference = attempt.acquirer_reference
        return orjson.dumps({"pspReference": reference, "status": "received", "cancelled": voided})

    def status_answer(self, key: str, attempt: AttemptView | None) -> bytes:
        if attempt is None:
            return orjson.dumps({"status": "NotFound", "pspReference": None})
        code = attempt.visible_code
        answer: dict[str, object] = {
            "status": payment_status(code, attempt.reversed),
            "pspReference": attempt.acquirer_reference,
            "merchantReference": attempt.reference,
        }
        if code is not None and code != APPROVED:
            answer["refusalReasonCode"] = psp_refusal(code)[1]
        return orjson.dumps(answer)


# --- decoding (the reference reading of the psp dialect) ---------------------------------

_ISO_BY_REFUSAL_CODE = {reason_code: iso for iso, (_, reason_code, _) in PSP_REFUSALS.items()}


def iso_code_from_psp(answer: dict[str, Any]) -> str | None:
    """The ISO code a psp answer stands for, read the way a connector would.

    ``refusalReasonCode`` first, then the raw code in ``refusalReasonRaw``; None when
    the answer carries neither. The router's connector (``router/psp.py``) keeps its own
    copy of the table, as it is written against the PSP's docs; tests check both agree
    with this one.
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
