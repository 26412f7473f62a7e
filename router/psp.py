"""The PSP-style dialect: ``resultCode`` plus a refusal reason, idempotency by header.

The PSP speaks its own vocabulary ("Refused", reason code "2"); the connector maps it
back to ISO 8583 field-39 codes with its own copy of the PSP's published table, as a
real connector is written against the PSP's documentation, and falls back on the raw
code the PSP passes along in ``additionalData.refusalReasonRaw`` ("05 : Do not honour").
The mock acquirers' end of the dialect is ``mock_acquirers/dialects/psp.py``; a test
checks this table against its ``PSP_REFUSALS``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from router.connectors import (
    AttemptAnswer,
    AttemptStatus,
    Connector,
    MalformedAnswerError,
    advice_code,
    iso_answer,
    technical_failure,
)
from router.payment_request import CardPayment
from router.transport import Headers

# (resultCode, refusalReasonCode) -> ISO 8583 code, from the PSP's documentation
REFUSAL_REASONS: dict[tuple[str, str], str] = {
    ("Refused", "2"): "05",
    ("Refused", "3"): "19",
    ("Refused", "12"): "51",
    ("Refused", "6"): "54",
    ("Refused", "8"): "14",
    ("Refused", "5"): "41",
    ("Refused", "7"): "43",
    ("Refused", "9"): "04",
    ("Refused", "17"): "57",
    ("Refused", "20"): "59",
    ("Refused", "26"): "61",
    ("Refused", "27"): "65",
    ("Refused", "38"): "1A",
    ("Refused", "18"): "62",
    ("Refused", "21"): "12",
    ("Refused", "22"): "15",
    ("Refused", "10"): "07",
    ("Error", "11"): "91",
    ("Error", "4"): "96",
    ("Error", "23"): "94",
}
AUTHORISED = "Authorised"
_STATUSES = {
    "Authorised": AttemptStatus.APPROVED,
    "Refused": AttemptStatus.DECLINED,
    "Error": AttemptStatus.DECLINED,
    "Cancelled": AttemptStatus.REVERSED,
    "Pending": AttemptStatus.PENDING,
    "NotFound": AttemptStatus.NOT_FOUND,
}


def iso_code(result_code: str, reason_code: str | None, raw_reason: str | None) -> str | None:
    """The ISO code behind a PSP refusal, or None when neither table nor raw text tells."""
    if reason_code is not None:
        code = REFUSAL_REASONS.get((result_code, reason_code))
        if code is not None:
            return code
    if raw_reason:
        head = raw_reason.split(":", 1)[0].strip()
        if len(head) == 2 and head.isalnum():
            return head.upper()
    return None


def _object(body: bytes) -> dict[str, Any]:
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise MalformedAnswerError("answer is not a JSON object")
    return data


class PspConnector(Connector):
    """Client for an acquirer speaking the psp dialect."""

    dialect: ClassVar[str] = "psp"

    def encode_authorisation(self, payment: CardPayment, key: str) -> tuple[str, bytes, Headers]:
        body = orjson.dumps(
            {
                "reference": payment.merchant_reference,
                "amount": {"value": payment.amount, "currency": payment.currency},
                "paymentMethod": {
                    "brand": payment.network,
                    "bin": payment.bin,
                    "last4": payment.last4,
                    "fundingSource": payment.card_type,
                    "issuerCountry": payment.issuer_country,
                },
                "merchantCountry": payment.merchant_country,
            }
        )
        return "/psp/payments", body, {"Idempotency-Key": key}

    def decode_authorisation(self, body: bytes, key: str) -> AttemptAnswer:
        data = _object(body)
        result = data["resultCode"]
        reference = data.get("pspReference")
        reference = reference if isinstance(reference, str) else None
        if result == AUTHORISED:
            return iso_answer("00", AUTHORISED, reference)
        if result not in ("Refused", "Error"):
            raise MalformedAnswerError(f"unknown resultCode {result!r}")
        reason = data.get("refusalReasonCode")
        reason = str(reason) if reason is not None else None
        extra = data.get("additionalData")
        raw_reason = extra.get("refusalReasonRaw") if isinstance(extra, dict) else None
        raw_code = f"{result}:{reason}" if reason is not None else result
        code = iso_code(result, reason, raw_reason if isinstance(raw_reason, str) else None)
        if code is not None:
            advice = advice_code(extra.get("merchantAdviceCode")) if isinstance(extra, dict) else ""
            return iso_answer(code, raw_code, reference, advice)
        if result == "Error":
            # an error the table does not know is still the PSP's own failure
            return AttemptAnswer(
                raw_code,
                technical_failure(raw_code, "unmapped PSP error"),
                raw_code,
                True,
                reference,
            )
        return iso_answer(f"PSP_{reason or 'UNKNOWN'}", raw_code, reference)

    def encode_void(self, key: str) -> tuple[str, bytes]:
        # the router never saw a pspReference after a timeout: cancel by the original key
        return "/psp/cancels", orjson.dumps({"idempotencyKey": key})

    def decode_void(self, body: bytes) -> bool:
        cancelled = _object(body)["cancelled"]
        if not isinstance(cancelled, bool):
            raise MalformedAnswerError("cancelled must be true or false")
        return cancelled

    def status_path(self, quoted_key: str) -> str:
        return f"/psp/payments?idempotencyKey={quoted_key}"

    def decode_status(self, body: bytes) -> AttemptStatus:
        status = _object(body)["status"]
        try:
            return _STATUSES[status]
        except (KeyError, TypeError):
            raise MalformedAnswerError(f"unknown payment status {status!r}") from None
