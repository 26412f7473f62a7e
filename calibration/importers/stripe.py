"""Stripe's Payments export ("All columns"): one row per charge, declines included.

Columns as Stripe names them: ``id``, ``Created date (UTC)``, ``Amount`` and ``Fee``
(decimal, major units), ``Currency``, ``Status`` (Paid, Refunded, Failed...),
``Decline Reason`` (Stripe decline codes), ``Card Brand``, ``Card Funding``,
``Card Issue Country``, and ``PaymentIntent ID`` which groups a payment's charges.
Stripe is one acquirer: ``--acquirer`` names it (default ``stripe``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from calibration.attempts import Attempts, ImportReport
from calibration.codes import GENERIC_DECLINE, STRIPE_DECLINE_CODES
from calibration.importers.assemble import Options, attempts, minor_units
from calibration.importers.table import epoch_seconds, numbers, read_text_columns, text

REQUIRED = ("id", "Created date (UTC)", "Amount", "Currency", "Status", "Card Brand")
OPTIONAL = (
    "Decline Reason",
    "Fee",
    "Card Funding",
    "Card Issue Country",
    "PaymentIntent ID",
)
APPROVED = {"paid", "succeeded", "refunded", "partially refunded", "disputed", "uncaptured"}
DECLINED = {"failed"}


def import_stripe(path: Path, report: ImportReport, options: Options) -> Attempts | None:
    table = read_text_columns(path, report, REQUIRED, OPTIONAL)
    if table is None:
        return None
    names = set(table.column_names)
    status = pc.utf8_lower(text(table, "Status")).to_numpy(zero_copy_only=False)
    approved = np.isin(status, list(APPROVED))
    declined = np.isin(status, list(DECLINED))
    for value in sorted(set(status[~(approved | declined)].tolist())):
        report.skip(
            f"Status {value!r} is not an authorisation outcome", int((status == value).sum())
        )
    t_s = epoch_seconds(report, table, "Created date (UTC)")
    currency = text(table, "Currency")
    amount = minor_units(numbers(report, table, "Amount", allow_empty=False), currency)
    fee = (
        minor_units(numbers(report, table, "Fee", allow_empty=True), currency)
        if "Fee" in names
        else None
    )
    reasons = (
        text(table, "Decline Reason").to_numpy(zero_copy_only=False)
        if "Decline Reason" in names
        else np.full(table.num_rows, "", dtype=object)
    )
    codes = np.full(table.num_rows, None, dtype=object)
    codes[approved] = "00"
    mapped = np.array([STRIPE_DECLINE_CODES.get(r) for r in reasons], dtype=object)
    unknown = declined & (mapped == None)  # noqa: E711
    if unknown.any():
        values = sorted(set(reasons[unknown].tolist()))
        report.note(
            f"{int(unknown.sum())} failed charges with decline reasons routelab does not map "
            f"({', '.join(repr(v) for v in values[:5])}): taken as generic declines (05)"
        )
    codes[declined] = np.where(unknown, GENERIC_DECLINE, mapped)[declined]
    if "Fee" not in names:
        report.note("no Fee column: fees are not fitted")
    report.note("a Stripe export has no latency: latency is not fitted")
    payment = text(table, "id")
    if "PaymentIntent ID" in names:
        intent = text(table, "PaymentIntent ID")
        payment = pc.if_else(pc.equal(intent, ""), payment, intent)
    if report.problems:
        return None
    return attempts(
        report,
        approved | declined,
        t_s=t_s,
        payment=payment,
        attempt=None,
        acquirer=options.acquirer or "stripe",
        network=text(table, "Card Brand"),
        card_type=text(table, "Card Funding") if "Card Funding" in names else None,
        issuer_country=text(table, "Card Issue Country") if "Card Issue Country" in names else None,
        currency=currency,
        amount=amount,
        codes=codes,
        latency_ms=None,
        fee=fee,
        merchant_country=options.merchant_country,
    )
