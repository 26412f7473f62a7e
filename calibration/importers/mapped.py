"""Any CSV, given which of its columns holds which field (``--map field=Column``).

Fields (the names on the left of ``--map``): ``time`` (date-time or seconds),
``acquirer``, ``amount`` (minor units) or ``amount_major`` (decimal major units),
``currency``, ``network``, and ``status`` or ``code`` (ISO 8583 field 39), all
required; optional ``payment_id`` (else each row is a payment of its own),
``attempt``, ``card_type``, ``issuer_country``, ``cross_border`` (true/false),
``latency_ms``, ``fee`` (minor units) or ``fee_major``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibration.attempts import Attempts, ImportReport
from calibration.importers.assemble import Options, attempts, minor_units
from calibration.importers.table import epoch_seconds, flag_rows, numbers, read_text_columns, text
from scenarios.taxonomy import CODES, TECHNICAL_ERROR_CODE, TIMEOUT_CODE

FIELDS = (
    "time",
    "payment_id",
    "attempt",
    "acquirer",
    "amount",
    "amount_major",
    "currency",
    "network",
    "card_type",
    "issuer_country",
    "cross_border",
    "status",
    "code",
    "latency_ms",
    "fee",
    "fee_major",
)
STATUSES = {
    "approved": "00",
    "authorised": "00",
    "authorized": "00",
    "success": "00",
    "succeeded": "00",
    "paid": "00",
    "captured": "00",
    "settled": "00",
    "declined": "05",
    "refused": "05",
    "failed": "05",
    "failure": "05",
    "error": TECHNICAL_ERROR_CODE,
    "technical_error": TECHNICAL_ERROR_CODE,
    "timeout": TIMEOUT_CODE,
    "timed_out": TIMEOUT_CODE,
}
TRUE, FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f"}


def check_mapping(mapping: dict[str, str]) -> list[str]:
    """Problems with a ``--map`` mapping itself (unknown fields, required ones missing)."""
    problems = [
        f"--map {name}=...: unknown field (known: {', '.join(FIELDS)})"
        for name in mapping
        if name not in FIELDS
    ]
    for required in ("time", "acquirer", "currency", "network"):
        if required not in mapping:
            problems.append(f"--map {required}=COLUMN is required for --format csv")
    if "amount" not in mapping and "amount_major" not in mapping:
        problems.append("--map amount=COLUMN (minor units) or amount_major=COLUMN is required")
    if "status" not in mapping and "code" not in mapping:
        problems.append("--map status=COLUMN or code=COLUMN is required")
    return problems


def import_mapped(
    path: Path, report: ImportReport, options: Options, mapping: dict[str, str]
) -> Attempts | None:
    columns = list(dict.fromkeys(mapping[f] for f in FIELDS if f in mapping))
    table = read_text_columns(path, report, columns, [])
    if table is None:
        return None
    n = table.num_rows

    def col(field: str) -> pa.Array | None:
        return text(table, mapping[field]) if field in mapping else None

    t_s = epoch_seconds(report, table, mapping["time"])
    currency = text(table, mapping["currency"])
    if "amount" in mapping:
        amount = numbers(report, table, mapping["amount"], allow_empty=False)
    else:
        amount = minor_units(
            numbers(report, table, mapping["amount_major"], allow_empty=False), currency
        )
    fee = None
    if "fee" in mapping:
        fee = numbers(report, table, mapping["fee"], allow_empty=True)
    elif "fee_major" in mapping:
        fee = minor_units(numbers(report, table, mapping["fee_major"], allow_empty=True), currency)
    latency = (
        numbers(report, table, mapping["latency_ms"], allow_empty=True)
        if "latency_ms" in mapping
        else None
    )
    attempt = (
        numbers(report, table, mapping["attempt"], allow_empty=False)
        if "attempt" in mapping
        else None
    )
    codes = _codes(report, col("status"), col("code"), mapping, n)
    cross_border = None
    if "cross_border" in mapping:
        values = pc.utf8_lower(text(table, mapping["cross_border"]))
        flags = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
        truth, falsity = np.isin(flags, list(TRUE)), np.isin(flags, list(FALSE))
        flag_rows(report, ~(truth | falsity), mapping["cross_border"], "not true or false", values)
        cross_border = truth.astype(np.int8)
    payment = col("payment_id")
    if payment is None:
        payment = pa.array(np.arange(n).astype(str))
    if report.problems:
        return None
    return attempts(
        report,
        np.ones(n, dtype=bool),
        t_s=t_s,
        payment=payment,
        attempt=attempt,
        acquirer=text(table, mapping["acquirer"]),
        network=text(table, mapping["network"]),
        card_type=col("card_type"),
        issuer_country=col("issuer_country"),
        currency=currency,
        amount=amount,
        codes=codes,
        latency_ms=latency,
        fee=fee,
        merchant_country=options.merchant_country,
        cross_border=cross_border,
    )


def _codes(
    report: ImportReport,
    status: pa.Array | None,
    code: pa.Array | None,
    mapping: dict[str, str],
    n: int,
) -> np.ndarray:
    """Field-39 codes: the code column where it has a known code, else the status mapped."""
    out = np.full(n, None, dtype=object)
    if status is not None:
        lowered = pc.utf8_lower(status)
        values = np.asarray(lowered.to_numpy(zero_copy_only=False), dtype=object)
        mapped = np.array([STATUSES.get(v) for v in values], dtype=object)
        known = mapped != None  # noqa: E711
        if code is None:
            flag_rows(
                report,
                ~known,
                mapping["status"],
                f"unknown status (known: {', '.join(STATUSES)})",
                lowered,
            )
        out[known] = mapped[known]
    if code is not None:
        raw = np.asarray(code.to_numpy(zero_copy_only=False), dtype=object)
        padded = np.array(
            [c.rjust(2, "0") if c.isdigit() and len(c) == 1 else c for c in raw], dtype=object
        )
        valid = np.isin(padded, list(CODES))
        blank = padded == ""
        has_status = out != None  # noqa: E711
        flag_rows(
            report,
            ~valid & ~(blank & has_status),
            mapping["code"],
            "not an ISO 8583 response code routelab knows (e.g. 00, 05, 51, 96)",
            code,
        )
        out[valid] = padded[valid]
    return out
