"""Reconciliation: the router's book of approved payments against the acquirers' ledgers.

After every live run the router's record (``GET /admin/payments``) must match what the
acquirers booked (``GET /admin/ledger``) one to one, by the acquirer-side key of the
approving attempt:

- **matched**: a payment the router approved has exactly one approval at the acquirer,
  under the approving attempt's key, and none of its other attempts holds one;
- **missing**: the router says approved, the acquirer has no approval under that key;
- **duplicated**: one payment holds more than one approval (approved at two acquirers,
  or two ledger entries under one key): the card was authorised twice;
- **unexpected**: an approval at an acquirer for a payment the router did not approve
  (an attempt that timed out, got approved late and was never reversed).

Reversed ledger entries are fine: that is the router voiding an uncertain attempt.
Only this run's payments count (their idempotency keys start with the run id), so a
shared router or earlier runs do not pollute the figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 20  # problems spelled out; the counts always cover all


@dataclass
class Reconciliation:
    """Counts of a reconciliation, plus the first problems in words."""

    matched: int = 0
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0
    router_payments: int = 0
    router_approved: int = 0
    ledger_approved: int = 0
    ledger_reversed: int = 0
    unresolved: int = 0  # attempts the router still could not settle
    problems: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        return self.missing + self.duplicated + self.unexpected

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def counts(self) -> dict[str, int]:
        """The summary's ``reconciliation`` entry."""
        return {
            "matched": self.matched,
            "missing": self.missing,
            "duplicated": self.duplicated,
            "unexpected": self.unexpected,
            "router_payments": self.router_payments,
            "router_approved": self.router_approved,
            "ledger_approved": self.ledger_approved,
            "ledger_reversed": self.ledger_reversed,
            "unresolved": self.unresolved,
        }

    def describe(self) -> str:
        """One line: all good, or which kinds of mismatch and how many."""
        if self.ok:
            return (
                f"reconciliation: {self.matched} approved payments matched one to one "
                f"with the acquirers' ledgers"
            )
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.missing, "missing"),
                (self.duplicated, "duplicated"),
                (self.unexpected, "unexpected"),
            )
            if n
        ]
        return (
            f"reconciliation FAILED: {', '.join(parts)} "
            f"(matched {self.matched} of {self.router_approved} approved payments)"
        )

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(text)


def reconcile(
    payments: Iterable[Mapping[str, Any]], ledger: Iterable[Mapping[str, Any]], key_prefix: str = ""
) -> Reconciliation:
    """Compare the router's payments with the ledger entries.

    ``payments`` are ``GET /admin/payments`` records, ``ledger`` are
    ``GET /admin/ledger`` entries; only payments whose idempotency key starts with
    ``key_prefix`` take part, with the ledger entries under their attempts' keys or
    their merchant reference.
    """
    result = Reconciliation()
    ours = [p for p in payments if str(p.get("idempotency_key", "")).startswith(key_prefix)]
    owner: dict[str, str] = {}  # attempt key -> payment id
    by_reference: dict[str, str] = {}  # merchant reference -> payment id
    for p in ours:
        for attempt in p.get("attempts", []):
            owner[attempt["key"]] = p["payment_id"]
        if p.get("merchant_reference"):
            by_reference[p["merchant_reference"]] = p["payment_id"]
        result.unresolved += len(p.get("unresolved_keys", []))
    result.router_payments = len(ours)

    approvals: dict[str, Counter[str]] = defaultdict(Counter)  # payment id -> key -> n
    for entry in ledger:
        key = str(entry.get("key", ""))
        payment_id: str | None = owner.get(key) or by_reference.get(str(entry.get("reference", "")))
        if payment_id is None:
            if key_prefix and str(entry.get("reference", "")).startswith(key_prefix):
                # ours by its reference, yet the router has no record of the payment
                result.ledger_approved += entry.get("status") == "approved"
                result.unexpected += entry.get("status") == "approved"
                result._problem(
                    f"{entry.get('acquirer')}: approval under key {key} for a "
                    f"payment the router has no record of"
                )
            continue
        if entry.get("status") == "reversed":
            result.ledger_reversed += 1
            continue
        if entry.get("status") != "approved":
            continue
        result.ledger_approved += 1
        approvals[payment_id][key] += 1

    for p in ours:
        payment_id = p["payment_id"]
        held = approvals.get(payment_id, Counter())
        total = sum(held.values())
        if p.get("status") == "approved":
            result.router_approved += 1
            approved_key = str(p.get("approved_key"))
            if total > 1:
                result.duplicated += 1
                result._problem(
                    f"{payment_id}: approved {total} times at the acquirers "
                    f"({', '.join(sorted(held))})"
                )
            elif held.get(approved_key, 0) == 1:
                result.matched += 1
            elif total == 0:
                result.missing += 1
                result._problem(
                    f"{payment_id}: the router approved it under {approved_key} at "
                    f"{p.get('acquirer')}, the acquirer's ledger has no approval"
                )
            else:
                result.missing += 1
                result._problem(
                    f"{payment_id}: the router approved it under {approved_key}, the "
                    f"ledger holds the approval under {', '.join(held)}"
                )
        elif total:
            if total > 1:
                result.duplicated += 1
            else:
                result.unexpected += 1
            result._problem(
                f"{payment_id}: {p.get('status')} for the router, yet "
                f"approved at the acquirer under {', '.join(sorted(held))}"
            )
    return result
