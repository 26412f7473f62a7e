"""Turning parsed export columns into :class:`Attempts`: names normalised, rows kept or
counted out, cross-border decided by routelab's one definition."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibration.attempts import Attempts, Categorical, ImportReport, outcome_of_codes
from calibration.importers.table import flag_rows
from scenarios.sampler import is_cross_border

# card brands as exports spell them -> the scenario format's network names
NETWORKS = {
    "visa": "visa",
    "mastercard": "mastercard",
    "master card": "mastercard",
    "mc": "mastercard",
    "maestro": "mastercard",
    "american express": "amex",
    "amex": "amex",
    "discover": "discover",
    "jcb": "jcb",
    "unionpay": "unionpay",
    "union pay": "unionpay",
    "cup": "unionpay",
    "diners": "diners",
    "diners club": "diners",
    "cartes bancaires": "cartes_bancaires",
    "cartesbancaires": "cartes_bancaires",
}
CARD_TYPES = {"credit": "credit", "debit": "debit", "prepaid": "prepaid", "unknown": "unknown"}
UNKNOWN = "unknown"


@dataclass
class Options:
    """What an importer may need besides the file."""

    merchant_country: str | None = None
    acquirer: str | None = None  # the acquirer of a single-PSP export (Stripe, Adyen)


def _mapped(cat: Categorical, names: list[str]) -> Categorical:
    """``cat`` with its name ``i`` replaced by ``names[i]`` (missing values: unknown)."""
    unique = sorted({*names, UNKNOWN})
    index = {n: i for i, n in enumerate(unique)}
    table = np.array([index[n] for n in names] + [index[UNKNOWN]], dtype=np.int32)
    return Categorical(table[np.where(cat.codes < 0, len(cat.names), cat.codes)], unique)


def normalised(values: pa.Array, table: dict[str, str]) -> Categorical:
    """Lower-cased names mapped through ``table`` (unknown names kept, lower-cased)."""
    cat = Categorical.from_arrow(pc.utf8_lower(pc.utf8_trim_whitespace(values)))
    return _mapped(cat, [table.get(n, n.replace(" ", "_")) or UNKNOWN for n in cat.names])


def acquirer_name(raw: str) -> str:
    """An acquirer's name as the scenario format allows it (lower case, ``_`` for the rest)."""
    name = re.sub(r"[^a-z0-9_\-]+", "_", raw.strip().lower()).strip("_")
    if name and not name[0].isalpha():
        name = f"acq_{name}"
    return name[:64]


def acquirers(report: ImportReport, values: pa.Array, column: str) -> Categorical:
    """Acquirer names normalised; a row without one is a problem."""
    cat = Categorical.from_arrow(values)
    names = [acquirer_name(n) for n in cat.names]
    empty = np.array([not n for n in names] + [True])[
        np.where(cat.codes < 0, len(names), cat.codes)
    ]
    flag_rows(report, empty, column, "no acquirer", values)
    # a row without an acquirer is a problem (the import stops), so code 0 is as good as any
    unique = sorted({n for n in names if n}) or [UNKNOWN]
    index = {n: i for i, n in enumerate(unique)}
    table = np.array([index.get(n, 0) for n in names] + [0], dtype=np.int32)
    return Categorical(table[np.where(cat.codes < 0, len(names), cat.codes)], unique)


def countries(values: pa.Array) -> Categorical:
    """ISO 3166 alpha-2 issuer countries, upper-cased (anything else: unknown)."""
    cat = Categorical.from_arrow(pc.utf8_upper(pc.utf8_trim_whitespace(values)))
    return _mapped(cat, [n if len(n) == 2 and n.isalpha() else UNKNOWN for n in cat.names])


def cross_border_of(issuer: Categorical, merchant_country: str | None) -> np.ndarray:
    """1 / 0 per row by :func:`scenarios.sampler.is_cross_border`; -1 where unknown."""
    if merchant_country is None:
        return np.full(issuer.codes.size, -1, dtype=np.int8)
    table = np.array(
        [-1 if n == UNKNOWN else int(is_cross_border(n, merchant_country)) for n in issuer.names]
        + [-1],
        dtype=np.int8,
    )
    return table[np.where(issuer.codes < 0, len(issuer.names), issuer.codes)]


def iso_codes(codes: np.ndarray) -> Categorical:
    """An object array of ISO codes (None: not an attempt outcome) as a categorical."""
    filled = np.where(codes == None, "", codes)  # noqa: E711 (elementwise comparison)
    return Categorical.from_arrow(pa.array(filled.astype(str)))


def attempts(
    report: ImportReport,
    keep: np.ndarray,
    *,
    t_s: np.ndarray,
    payment: pa.Array,
    attempt: np.ndarray | None,
    acquirer: pa.Array | str,
    network: pa.Array,
    card_type: pa.Array | None,
    issuer_country: pa.Array | None,
    currency: pa.Array,
    amount: np.ndarray,
    codes: np.ndarray,
    latency_ms: np.ndarray | None,
    fee: np.ndarray | None,
    merchant_country: str | None,
    cross_border: np.ndarray | None = None,
) -> Attempts:
    """The rows in ``keep`` as :class:`Attempts` (``codes``: ISO field-39 per row)."""
    everything = bool(keep.all())
    index = np.flatnonzero(keep)
    n = int(keep.sum())
    report.used = n
    take = None if everything else pa.array(index)

    def sub(values: pa.Array) -> pa.Array:
        return values if take is None else pc.take(values, take)

    acquirer_column = (
        # checked on every row of the file, so a problem names the file's own line
        acquirers(report, acquirer, "acquirer").take(index)
        if not isinstance(acquirer, str)
        else None
    )
    issuer = (
        countries(sub(issuer_country))
        if issuer_country is not None
        else Categorical.constant(UNKNOWN, n)
    )
    code = iso_codes(codes[index])
    return Attempts(
        t_s=t_s[index].astype(float),
        payment=Categorical.from_arrow(sub(payment)),
        attempt=(attempt[index] if attempt is not None else np.zeros(n)).astype(np.int16),
        acquirer=(
            acquirer_column
            if acquirer_column is not None
            else Categorical.constant(acquirer_name(str(acquirer)) or UNKNOWN, n)
        ),
        network=normalised(sub(network), NETWORKS),
        card_type=(
            normalised(sub(card_type), CARD_TYPES)
            if card_type is not None
            else Categorical.constant(UNKNOWN, n)
        ),
        issuer_country=issuer,
        currency=Categorical.from_arrow(pc.utf8_upper(sub(currency))),
        amount=np.rint(amount[index]).astype(np.int64),
        cross_border=(
            cross_border[index].astype(np.int8)
            if cross_border is not None
            else cross_border_of(issuer, merchant_country)
        ),
        outcome=outcome_of_codes(code),
        code=code,
        latency_ms=(latency_ms[index] if latency_ms is not None else np.full(n, np.nan)).astype(
            float
        ),
        fee=(fee[index] if fee is not None else np.full(n, np.nan)).astype(float),
    )


def minor_units(major: np.ndarray, currency: pa.Array) -> np.ndarray:
    """Decimal major-unit amounts as minor units (ISO 4217 exponents; 2 unless listed)."""
    zero = {"JPY", "KRW", "VND", "CLP", "ISK", "XOF", "XAF", "UGX", "PYG", "RWF"}
    three = {"BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"}
    cur = Categorical.from_arrow(pc.utf8_upper(currency))
    exponent = np.array(
        [0 if c in zero else 3 if c in three else 2 for c in cur.names] + [2], dtype=float
    )
    scale = 10.0 ** exponent[np.where(cur.codes < 0, len(cur.names), cur.codes)]
    return np.asarray(major * scale, dtype=float)
