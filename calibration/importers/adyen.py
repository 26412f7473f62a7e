"""Adyen's Received Payment Details report: authorised and refused payments.

Columns as Adyen names them: ``Psp Reference``, ``Merchant Reference`` (the merchant's
order reference, which groups a payment's attempts and links them across PSPs),
``Payment Method`` (visa, mc, amex...), ``Payment Method Variant`` (visadebit,
mccredit...), ``Creation Date`` with ``TimeZone``, ``Currency``, ``Amount`` (decimal,
major units), ``Type`` (Authorised, Refused, Error...), ``Issuer Country``,
``Acquirer Response`` (Adyen's refusal reason) and ``Raw Acquirer Response`` (the
scheme's own answer, "05 : Do not honour"). The raw response is used when it carries
a field-39 code; else the refusal reason is mapped. The report has no fees and no
latency. Adyen is one acquirer: ``--acquirer`` names it (default ``adyen``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibration.attempts import Attempts, Categorical, ImportReport
from calibration.codes import (
    ADYEN_REFUSAL_CODES,
    ADYEN_REFUSAL_REASONS,
    GENERIC_DECLINE,
    raw_response_code,
)
from calibration.importers.assemble import Options, attempts, minor_units
from calibration.importers.table import epoch_seconds, numbers, read_text_columns, text
from scenarios.taxonomy import CODES

REQUIRED = ("Merchant Reference", "Payment Method", "Creation Date", "Currency", "Amount", "Type")
OPTIONAL = (
    "Psp Reference",
    "TimeZone",
    "Issuer Country",
    "Acquirer Response",
    "Raw Acquirer Response",
    "Payment Method Variant",
)
APPROVED = {
    "authorised",
    "sentforsettle",
    "settled",
    "settledbulk",
    "captured",
    "refunded",
    "refundedbulk",
    "chargeback",
}
DECLINED = {"refused", "error"}
_REASONS = {k.lower(): v for k, v in ADYEN_REFUSAL_REASONS.items()}


def _card_type(variant: str) -> str:
    for kind in ("prepaid", "debit", "credit"):
        if kind in variant:
            return kind
    return "unknown"


def _utc_offsets(report: ImportReport, zones: pa.Array, local_s: np.ndarray) -> np.ndarray:
    """Seconds to subtract from local times, per row, from each row's time zone."""
    cat = Categorical.from_arrow(zones)
    offsets = np.zeros(local_s.size)
    days = np.floor(local_s / 86_400.0)
    for k, name in enumerate(cat.names):
        rows = cat.codes == k
        try:
            zone = ZoneInfo(name) if name not in ("", "UTC", "GMT") else UTC
        except (ZoneInfoNotFoundError, ValueError):
            first = int(np.argmax(rows))
            report.problem(f"line {first + 2}: TimeZone", f"unknown time zone {name!r}")
            continue
        for day in np.unique(days[rows]):
            noon = datetime.fromtimestamp(day * 86_400.0 + 43_200.0, tz=UTC)
            delta = noon.replace(tzinfo=zone).utcoffset()
            offsets[rows & (days == day)] = delta.total_seconds() if delta else 0.0
    return offsets


def import_adyen(path: Path, report: ImportReport, options: Options) -> Attempts | None:
    table = read_text_columns(path, report, REQUIRED, OPTIONAL)
    if table is None:
        return None
    names = set(table.column_names)
    n = table.num_rows
    kind = pc.utf8_lower(text(table, "Type")).to_numpy(zero_copy_only=False)
    approved = np.isin(kind, list(APPROVED))
    declined = np.isin(kind, list(DECLINED))
    for value in sorted(set(kind[~(approved | declined)].tolist())):
        report.skip(f"Type {value!r} is not an authorisation outcome", int((kind == value).sum()))
    local = epoch_seconds(report, table, "Creation Date")
    t_s = (
        local - _utc_offsets(report, text(table, "TimeZone"), local)
        if "TimeZone" in names
        else local
    )
    currency = text(table, "Currency")
    amount = minor_units(numbers(report, table, "Amount", allow_empty=False), currency)
    empty = np.full(n, "", dtype=object)
    raw = (
        text(table, "Raw Acquirer Response").to_numpy(zero_copy_only=False)
        if "Raw Acquirer Response" in names
        else empty
    )
    reason = (
        text(table, "Acquirer Response").to_numpy(zero_copy_only=False)
        if "Acquirer Response" in names
        else empty
    )
    codes = np.full(n, None, dtype=object)
    codes[approved] = "00"
    unknown: list[str] = []
    cache: dict[tuple[str, str, str], str] = {}
    for i in np.flatnonzero(declined):
        key = (raw[i], reason[i], kind[i])
        code = cache.get(key)
        if code is None:
            code = _refusal_code(raw[i], reason[i], kind[i], unknown)
            cache[key] = code
        codes[i] = code
    if unknown:
        shown = ", ".join(repr(v) for v in sorted(set(unknown))[:5])
        report.note(
            f"refusal reasons routelab does not map ({shown}): taken as generic declines (05)"
        )
    variant = (
        text(table, "Payment Method Variant")
        if "Payment Method Variant" in names
        else pa.array([""] * n)
    )
    variants = Categorical.from_arrow(pc.utf8_lower(variant))
    card_type = pa.array(
        np.array([_card_type(v) for v in variants.names] + ["unknown"])[variants.codes]
    )
    report.note("an Adyen payment details report has no fees and no latency: neither is fitted")
    if report.problems:
        return None
    return attempts(
        report,
        approved | declined,
        t_s=t_s,
        payment=text(table, "Merchant Reference"),
        attempt=None,
        acquirer=options.acquirer or "adyen",
        network=text(table, "Payment Method"),
        card_type=card_type,
        issuer_country=text(table, "Issuer Country") if "Issuer Country" in names else None,
        currency=currency,
        amount=amount,
        codes=codes,
        latency_ms=None,
        fee=None,
        merchant_country=options.merchant_country,
    )


def _refusal_code(raw: str, reason: str, kind: str, unknown: list[str]) -> str:
    """A refused or errored payment's field-39 code: the raw response's code if it has
    one the taxonomy knows, else Adyen's refusal reason (text or numeric code) mapped."""
    code = raw_response_code(raw)
    if code is not None and code in CODES and code != "00":
        return code
    text_reason = ADYEN_REFUSAL_CODES.get(reason, reason)
    mapped = _REASONS.get(text_reason.lower())
    if mapped is not None:
        return mapped
    if kind == "error":
        return "96"
    unknown.append(reason)
    return GENERIC_DECLINE
