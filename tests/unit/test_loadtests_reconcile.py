"""Reconciliation of the router's book with the acquirers' ledgers, one case per failure."""

from __future__ import annotations

from typing import Any

from loadtests.reconcile import reconcile

RUN = "lt0a1b2c3d-"


def payment(
    n: int,
    status: str,
    attempts: list[tuple[str, int]],
    *,
    approved_key: str | None = None,
    run: str = RUN,
) -> dict[str, Any]:
    """A ``GET /admin/payments`` record; attempts are (acquirer, key suffix) pairs."""
    pid = f"pay_{n:04d}"
    keys = [(acquirer, f"{pid}-{suffix}") for acquirer, suffix in attempts]
    last_acquirer = keys[-1][0] if keys else None
    return {
        "payment_id": pid,
        "idempotency_key": f"{run}0-0-{n}",
        "status": status,
        "acquirer": last_acquirer,
        "approved_key": approved_key or (keys[-1][1] if status == "approved" else None),
        "merchant_reference": f"{run}0-0-{n}",
        "attempts": [{"acquirer": a, "key": k} for a, k in keys],
        "unresolved_keys": [],
    }


def entry(acquirer: str, key: str, reference: str, status: str = "approved") -> dict[str, Any]:
    return {"acquirer": acquirer, "key": key, "reference": reference, "status": status}


def ledger_for(p: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry an approved payment should have."""
    return entry(p["acquirer"], p["approved_key"], p["merchant_reference"])


def test_a_clean_run_matches_one_to_one() -> None:
    book = [
        payment(1, "approved", [("acq_a", 1)]),
        payment(2, "declined", [("acq_a", 1), ("acq_b", 2)]),
        payment(3, "approved", [("acq_a", 1), ("acq_b", 2)]),
    ]
    ledger = [ledger_for(book[0]), ledger_for(book[2])]
    result = reconcile(book, ledger, RUN)
    assert result.ok
    assert result.counts() == {
        "matched": 2,
        "missing": 0,
        "duplicated": 0,
        "unexpected": 0,
        "router_payments": 3,
        "router_approved": 2,
        "ledger_approved": 2,
        "ledger_reversed": 0,
        "unresolved": 0,
    }
    assert "2 approved payments matched" in result.describe()


def test_an_approval_the_acquirer_never_booked_is_missing() -> None:
    book = [payment(1, "approved", [("acq_a", 1)])]
    result = reconcile(book, [], RUN)
    assert (result.missing, result.matched, result.ok) == (1, 0, False)
    assert "pay_0001" in result.problems[0] and "no approval" in result.problems[0]
    assert result.describe().startswith("reconciliation FAILED: 1 missing")


def test_a_payment_approved_at_two_acquirers_is_duplicated() -> None:
    p = payment(1, "approved", [("acq_a", 1), ("acq_b", 2)])
    ledger = [entry("acq_a", "pay_0001-1", p["merchant_reference"]), ledger_for(p)]
    result = reconcile([p], ledger, RUN)
    assert (result.duplicated, result.matched) == (1, 0)
    assert "approved 2 times" in result.problems[0]


def test_two_ledger_entries_under_one_key_are_duplicated() -> None:
    p = payment(1, "approved", [("acq_a", 1)])
    result = reconcile([p], [ledger_for(p), ledger_for(p)], RUN)
    assert result.duplicated == 1 and not result.ok


def test_an_approval_for_a_declined_payment_is_unexpected() -> None:
    # the first attempt timed out, was approved late and never reversed
    p = payment(1, "failed", [("acq_a", 1)])
    result = reconcile([p], [entry("acq_a", "pay_0001-1", p["merchant_reference"])], RUN)
    assert (result.unexpected, result.ok) == (1, False)
    assert "failed for the router" in result.problems[0]


def test_a_reversed_approval_is_fine() -> None:
    p = payment(1, "approved", [("acq_a", 1), ("acq_b", 2)])
    ledger = [entry("acq_a", "pay_0001-1", p["merchant_reference"], "reversed"), ledger_for(p)]
    result = reconcile([p], ledger, RUN)
    assert result.ok and result.matched == 1 and result.ledger_reversed == 1


def test_an_approval_under_the_wrong_key_is_missing() -> None:
    p = payment(1, "approved", [("acq_a", 1)])
    result = reconcile([p], [entry("acq_a", "pay_0001-9", p["merchant_reference"])], RUN)
    assert result.missing == 1
    assert "pay_0001-9" in result.problems[0]


def test_an_approval_of_ours_the_router_has_no_record_of_is_unexpected() -> None:
    result = reconcile([], [entry("acq_a", "pay_9999-1", f"{RUN}0-0-77")], RUN)
    assert result.unexpected == 1 and "no record" in result.problems[0]


def test_other_runs_payments_and_ledger_entries_are_left_out() -> None:
    mine = payment(1, "approved", [("acq_a", 1)])
    theirs = payment(2, "approved", [("acq_a", 1)], run="ltffffffff-")
    ledger = [
        ledger_for(mine),
        entry("acq_b", "pay_0002-1", theirs["merchant_reference"]),
        entry("acq_b", "pay_0002-1", theirs["merchant_reference"]),
    ]
    result = reconcile([mine, theirs], ledger, RUN)
    assert result.ok and result.router_payments == 1 and result.matched == 1


def test_unresolved_attempts_are_counted() -> None:
    p = payment(1, "failed", [("acq_a", 1)])
    p["unresolved_keys"] = ["pay_0001-1"]
    assert reconcile([p], [], RUN).unresolved == 1


def test_problems_are_capped_but_counts_are_not() -> None:
    book = [payment(n, "approved", [("acq_a", 1)]) for n in range(50)]
    result = reconcile(book, [], RUN)
    assert result.missing == 50 and len(result.problems) == 20
