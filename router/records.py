"""The router's own record of every payment, for look-ups and reconciliation.

Reconciliation compares this book with the acquirers' ledgers: for every payment the
router says was approved there must be exactly one approved authorisation, under the
key of the approving attempt, and no other attempt of that payment may stay approved.
Attempts whose outcome the router could not confirm are flagged until a late check
settles them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson


@dataclass(slots=True)
class AttemptRecord:
    """One authorisation attempt: where, under which acquirer-side key, and how it ended."""

    acquirer: str
    key: str
    code: str
    raw_code: str
    outcome: str
    latency_ms: float
    certain: bool
    void: str | None = None  # voided / nothing_approved / unconfirmed / late_*
    number: int = 0  # the attempt's number in its payment (1-based), as journaled
    sent_s: float = 0.0  # when it was sent: seconds since the router started (attempt log)

    def public(self) -> dict[str, Any]:
        """The attempt as the payment API shows it."""
        out: dict[str, Any] = {
            "acquirer": self.acquirer,
            "code": self.code,
            "class": self.outcome,
            "latency_ms": round(self.latency_ms, 3),
            "key": self.key,
        }
        if self.raw_code != self.code:
            out["raw_code"] = self.raw_code
        if self.void is not None:
            out["void"] = self.void
        return out


@dataclass(slots=True)
class PaymentRecord:
    """A finished payment: its API response (as bytes) plus what reconciliation needs."""

    payment_id: str
    idempotency_key: str
    status: str
    acquirer: str | None
    approved_key: str | None
    amount: int
    currency: str
    merchant_reference: str
    policy_version: int
    created_at: float
    response: bytes
    attempts: list[AttemptRecord] = field(default_factory=list)

    @property
    def unresolved(self) -> list[AttemptRecord]:
        """Attempts that may still hold an approval the router has not voided."""
        return [a for a in self.attempts if a.void == "unconfirmed"]

    def reconciliation_view(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "acquirer": self.acquirer,
            "approved_key": self.approved_key,
            "amount": self.amount,
            "currency": self.currency,
            "merchant_reference": self.merchant_reference,
            "policy_version": self.policy_version,
            "created_at": self.created_at,
            "attempts": [{**a.public(), "certain": a.certain} for a in self.attempts],
            "unresolved_keys": [a.key for a in self.unresolved],
        }


class PaymentBook:
    """Every payment this router process finished, by id, oldest first.

    Bounded (``max_payments``) so a long load test cannot exhaust memory; when the
    bound is hit the oldest records go and ``evicted`` says how many, so a
    reconciliation knows its view is partial.
    """

    def __init__(self, max_payments: int = 1_000_000) -> None:
        self.max_payments = max_payments
        self.evicted = 0
        self._records: dict[str, PaymentRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: PaymentRecord) -> None:
        records = self._records
        while len(records) >= self.max_payments:
            del records[next(iter(records))]
            self.evicted += 1
        records[record.payment_id] = record

    def get(self, payment_id: str) -> PaymentRecord | None:
        return self._records.get(payment_id)

    def page(self, offset: int = 0, limit: int | None = None) -> Iterator[PaymentRecord]:
        """Records oldest first, skipping ``offset`` and yielding at most ``limit``."""
        if offset >= len(self._records):
            return iter(())  # however large the offset: nothing to walk past
        stop = None if limit is None else offset + limit
        return islice(self._records.values(), offset, stop)  # skips at C speed

    def export(self, offset: int = 0, limit: int | None = None) -> bytes:
        """The reconciliation view as JSON bytes (``GET /admin/payments``)."""
        return orjson.dumps(
            {
                "payments": [r.reconciliation_view() for r in self.page(offset, limit)],
                "total": len(self._records),
                "evicted": self.evicted,
                "offset": offset,
                "limit": limit,
            }
        )


def payment_answer(
    payment_id: str,
    status: str,
    attempts: list[AttemptRecord],
    *,
    decline_class: str,
    code: str,
    rule: str,
    policy: str,
    policy_version: int,
    latency_ms: float,
    recovered: bool = False,
    schemes: dict[str, Any] | None = None,
) -> bytes:
    """A payment's answer as the API gives it (the one shape, ``router.openapi``'s
    PaymentAnswer), for a payment routed now or finished after a restart."""
    answer: dict[str, Any] = {
        "payment_id": payment_id,
        "status": status,
        "acquirer": attempts[-1].acquirer if attempts else None,
        "decline_class": None if status == "approved" else decline_class,
        "code": code,
        "rule": rule,
        "policy": policy,
        "policy_version": policy_version,
        "latency_ms": round(latency_ms, 3),
        "attempts": [a.public() for a in attempts],
    }
    if recovered:
        answer["recovered"] = True
    if schemes:  # only when a scheme rule bit
        answer["schemes"] = schemes
    # copied: orjson's output keeps a 4 KB buffer, and this is kept for every payment
    return bytes(memoryview(orjson.dumps(answer)))


def wall_clock() -> float:
    """Unix time for records (reports line payments up with acquirer ledgers by it)."""
    return time.time()
