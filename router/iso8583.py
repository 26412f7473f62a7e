"""The ISO 8583-flavoured JSON dialect: MTI 0100/0110 authorisations, 0400/0410 reversals.

The attempt's idempotency key travels as the retrieval reference number (``rrn``);
``response_code`` is field 39 and already speaks the taxonomy's language. The mock
acquirers' end of the dialect is ``mock_acquirers/dialects/iso8583.py``.
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
)
from router.payment_request import CardPayment
from router.transport import Headers

MAX_RRN_LENGTH = 64
_NO_HEADERS: dict[str, str] = {}
_STATUSES = {
    "approved": AttemptStatus.APPROVED,
    "declined": AttemptStatus.DECLINED,
    "reversed": AttemptStatus.REVERSED,
    "pending": AttemptStatus.PENDING,
    "not_found": AttemptStatus.NOT_FOUND,
}


def _object(body: bytes) -> dict[str, Any]:
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise MalformedAnswerError("answer is not a JSON object")
    return data


class IsoConnector(Connector):
    """Client for an acquirer speaking the iso8583 dialect."""

    dialect: ClassVar[str] = "iso8583"

    def encode_authorisation(self, payment: CardPayment, key: str) -> tuple[str, bytes, Headers]:
        if len(key) > MAX_RRN_LENGTH:
            raise ValueError(f"rrn longer than {MAX_RRN_LENGTH} characters")
        body = orjson.dumps(
            {
                "mti": "0100",
                "rrn": key,
                "amount": payment.amount,
                "currency": payment.currency,
                "pan_bin": payment.bin,
                "pan_last4": payment.last4,
                "network": payment.network,
                "card_type": payment.card_type,
                "issuer_country": payment.issuer_country,
                "merchant_country": payment.merchant_country,
                "merchant_reference": payment.merchant_reference,
            }
        )
        return "/iso/authorise", body, _NO_HEADERS

    def decode_authorisation(self, body: bytes, key: str) -> AttemptAnswer:
        data = _object(body)
        if data.get("mti") != "0110":
            raise MalformedAnswerError(f"expected MTI 0110, got {data.get('mti')!r}")
        if data.get("rrn") != key:
            # an answer to somebody else's request must never settle this attempt
            raise MalformedAnswerError("rrn in the answer does not match the request")
        code = data["response_code"]
        if not isinstance(code, str) or not code:
            raise MalformedAnswerError("response_code missing or not a string")
        reference = data.get("stan")
        return iso_answer(
            code,
            code,
            reference if isinstance(reference, str) else None,
            advice_code(data.get("merchant_advice_code")),
        )

    def encode_void(self, key: str) -> tuple[str, bytes]:
        return "/iso/reversal", orjson.dumps({"mti": "0400", "rrn": key})

    def decode_void(self, body: bytes) -> bool:
        data = _object(body)
        if data.get("mti") != "0410":
            raise MalformedAnswerError(f"expected MTI 0410, got {data.get('mti')!r}")
        reversed_ = data["reversed"]
        if not isinstance(reversed_, bool):
            raise MalformedAnswerError("reversed must be true or false")
        return reversed_

    def status_path(self, quoted_key: str) -> str:
        return f"/iso/transactions/{quoted_key}"

    def decode_status(self, body: bytes) -> AttemptStatus:
        status = _object(body)["status"]
        try:
            return _STATUSES[status]
        except (KeyError, TypeError):
            raise MalformedAnswerError(f"unknown transaction status {status!r}") from None
