"""Hyperswitch's ``payment_attempt`` table (a CSV dump), with ``connector_events`` for
latency when given.

``payment_attempt`` columns as Hyperswitch names them: ``payment_id``, ``attempt_id``,
``status`` (charged, authorized, failure, authorization_failed...), ``amount`` (minor
units), ``currency``, ``connector``, ``error_code``, ``error_message``,
``unified_code``, ``issuer_error_code``, ``card_network``, ``payment_method``,
``payment_method_type`` (credit, debit), ``created_at``; an issuer country column
(``card_issuing_country``) is used when the dump has one. The attempt's field-39 code
is ``issuer_error_code`` when it is one, else ``error_code`` when it is one, else the
unified code mapped (:data:`calibration.codes.HYPERSWITCH_UNIFIED_CODES`).

``connector_events`` (``payment_id, connector_name, flow, status_code, created_at,
latency``): the k-th ``Authorize`` call of a payment to a connector is the latency of
its k-th attempt there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibration.attempts import Attempts, Categorical, ImportReport
from calibration.codes import GENERIC_DECLINE, HYPERSWITCH_UNIFIED_CODES
from calibration.importers.assemble import Options, attempts
from calibration.importers.table import epoch_seconds, numbers, read_text_columns, text
from scenarios.taxonomy import CODES, TIMEOUT_CODE

REQUIRED = ("payment_id", "attempt_id", "status", "amount", "currency", "connector", "created_at")
OPTIONAL = (
    "error_code",
    "error_message",
    "unified_code",
    "issuer_error_code",
    "card_network",
    "payment_method",
    "payment_method_type",
    "card_issuing_country",
)
APPROVED = {
    "charged",
    "authorized",
    "partial_charged",
    "partial_charged_and_chargeable",
    "partially_captured",
    "partially_captured_and_capturable",
    "capture_initiated",
    "capture_failed",
    "auto_refunded",
}
DECLINED = {"failure", "authorization_failed"}
TIMEOUT_ERRORS = {"timeout", "request_timeout", "requesttimeoutreceived", TIMEOUT_CODE}
EVENTS_REQUIRED = ("payment_id", "connector_name", "flow", "created_at", "latency")


def import_hyperswitch(
    path: Path, report: ImportReport, options: Options, events: Path | None = None
) -> Attempts | None:
    table = read_text_columns(path, report, REQUIRED, OPTIONAL)
    if table is None:
        return None
    names = set(table.column_names)
    n = table.num_rows
    status = pc.utf8_lower(text(table, "status")).to_numpy(zero_copy_only=False)
    approved = np.isin(status, list(APPROVED))
    declined = np.isin(status, list(DECLINED))
    card = np.ones(n, dtype=bool)
    if "payment_method" in names:
        method = pc.utf8_lower(text(table, "payment_method")).to_numpy(zero_copy_only=False)
        card = (method == "card") | (method == "")
        report.skip(
            "not a card payment (payment_method)", int((~card & (approved | declined)).sum())
        )
    for value in sorted(set(status[~(approved | declined)].tolist())):
        report.skip(
            f"status {value!r} is not an authorisation outcome", int((status == value).sum())
        )
    t_s = epoch_seconds(report, table, "created_at")
    amount = numbers(report, table, "amount", allow_empty=False)
    empty = np.full(n, "", dtype=object)

    def column(name: str) -> np.ndarray:
        if name not in names:
            return empty
        return np.asarray(text(table, name).to_numpy(zero_copy_only=False), dtype=object)

    issuer_code, error_code, unified = (
        column("issuer_error_code"),
        column("error_code"),
        column("unified_code"),
    )
    codes = np.full(n, None, dtype=object)
    codes[approved] = "00"
    unknown = 0
    for i in np.flatnonzero(declined):
        code = _code(issuer_code[i], error_code[i], unified[i])
        if code is None:
            unknown += 1
            code = GENERIC_DECLINE
        codes[i] = code
    if unknown:
        report.note(
            f"{unknown} failed attempts without a code routelab can map: generic declines (05)"
        )
    connector = text(table, "connector")
    latency = None
    if events is not None:
        latency = _latency(report, events, text(table, "payment_id"), connector, t_s)
    else:
        report.note("no connector_events given (--connector-events): latency is not fitted")
    report.note("payment_attempt has no fees: fees are not fitted")
    if report.problems:
        return None
    return attempts(
        report,
        (approved | declined) & card,
        t_s=t_s,
        payment=text(table, "payment_id"),
        attempt=None,
        acquirer=connector,
        network=text(table, "card_network") if "card_network" in names else pa.array([""] * n),
        card_type=text(table, "payment_method_type") if "payment_method_type" in names else None,
        issuer_country=text(table, "card_issuing_country")
        if "card_issuing_country" in names
        else None,
        currency=text(table, "currency"),
        amount=amount,
        codes=codes,
        latency_ms=latency,
        fee=None,
        merchant_country=options.merchant_country,
    )


def _code(issuer_code: str, error_code: str, unified: str) -> str | None:
    for candidate in (issuer_code, error_code):
        padded = (
            candidate.rjust(2, "0") if candidate.isdigit() and len(candidate) <= 2 else candidate
        )
        if padded in CODES and padded != "00":
            return padded
    if error_code.lower() in TIMEOUT_ERRORS:
        return TIMEOUT_CODE
    return HYPERSWITCH_UNIFIED_CODES.get(unified)


def _ranked_keys(payment: pa.Array, connector: pa.Array, t_s: np.ndarray) -> np.ndarray:
    """A key per row: (payment, connector) and the row's rank by time within it."""
    key = Categorical.from_arrow(
        pc.binary_join_element_wise(payment, pc.utf8_lower(connector), "\x1f")
    )
    order = np.lexsort((t_s, key.codes))
    rank = np.empty(key.codes.size, dtype=np.int64)
    sorted_codes = key.codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, sorted_codes.size]))
    rank[order] = np.arange(sorted_codes.size) - first
    names = np.array(key.names, dtype=object)
    return np.asarray([f"{k}\x1f{r}" for k, r in zip(names[key.codes], rank.tolist(), strict=True)])


def _latency(
    report: ImportReport, path: Path, payment: pa.Array, connector: pa.Array, t_s: np.ndarray
) -> np.ndarray | None:
    events_report = ImportReport(str(path))
    table = read_text_columns(path, events_report, EVENTS_REQUIRED, ("status_code",))
    if table is not None:
        flow = pc.utf8_lower(text(table, "flow")).to_numpy(zero_copy_only=False)
        keep = np.flatnonzero(flow == "authorize")
        table = table.take(pa.array(keep))
        ms = numbers(events_report, table, "latency", allow_empty=True)
        at = epoch_seconds(events_report, table, "created_at")
    report.problems.extend(events_report.problems)
    if table is None or events_report.problems:
        return None
    event_keys = _ranked_keys(text(table, "payment_id"), text(table, "connector_name"), at)
    attempt_keys = _ranked_keys(payment, connector, t_s)
    lookup = dict(zip(event_keys.tolist(), ms.tolist(), strict=True))
    latency = np.array([lookup.get(k, np.nan) for k in attempt_keys.tolist()], dtype=float)
    missing = int(np.isnan(latency).sum())
    if missing:
        report.note(f"{missing} attempts without an Authorize event in {path.name}: no latency")
    return latency
