"""Reading an export's CSV and checking its columns, vectorised, with one line per problem.

Every column is read as text first, then parsed here with pyarrow compute kernels: a
value that does not parse is a problem naming the file, the first line it is on, the
column and the value, plus how many rows share it; nothing is coerced silently.
Line numbers count the header as line 1 (an export without quoted newlines).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from calibration.attempts import ImportReport

FIRST_DATA_LINE = 2
_NUMBER = r"^\s*-?\d+(\.\d+)?\s*$"
_TIME = r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?\s*(Z|UTC|[+-]00:?00)?$"


def header(path: Path, report: ImportReport) -> list[str] | None:
    """The column names of a CSV file, or None (with a problem) if it cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            row = next(csv.reader(handle), None)
    except FileNotFoundError:
        report.problem("", "file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        report.problem("", f"cannot read file: {exc}")
        return None
    if not row:
        report.problem("", "empty file: no header line")
        return None
    return [name.strip() for name in row]


def read_text_columns(
    path: Path,
    report: ImportReport,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> pa.Table | None:
    """The named columns as text; a missing required column is a problem (None)."""
    names = header(path, report)
    if names is None:
        return None
    missing = [c for c in required if c not in names]
    for column in missing:
        report.problem(f"column {column!r}", "required column is missing")
    if missing:
        report.problem("", f"columns found: {', '.join(names)}")
        return None
    wanted = [c for c in [*required, *optional] if c in names]
    wanted = list(dict.fromkeys(wanted))
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8", block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        report.problem("", f"not a readable CSV file: {exc}")
        return None
    report.rows = table.num_rows
    if not table.num_rows:
        report.problem("", "no data rows")
        return None
    return table


def text(table: pa.Table, column: str) -> pa.Array:
    """A column as one trimmed string array."""
    return pc.utf8_trim_whitespace(table.column(column).combine_chunks())


def flag_rows(
    report: ImportReport, bad: np.ndarray, column: str, what: str, values: pa.Array
) -> None:
    """One problem line for every row flagged in ``bad``: the first line, value and count."""
    count = int(bad.sum())
    if not count:
        return
    first = int(np.argmax(bad))
    value = values[first].as_py()
    more = f" ({count} rows in all)" if count > 1 else ""
    report.problem(f"line {first + FIRST_DATA_LINE}: {column}", f"{what} (got {value!r}){more}")


def numbers(report: ImportReport, table: pa.Table, column: str, *, allow_empty: bool) -> np.ndarray:
    """A numeric column as float64 (NaN where empty and allowed); bad values are problems."""
    values = text(table, column)
    empty = pc.equal(values, "").to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(values, _NUMBER).to_numpy(zero_copy_only=False)
    bad = ~ok & (~empty if allow_empty else np.ones_like(ok))
    flag_rows(report, bad, column, "not a number" if not empty[np.argmax(bad)] else "empty", values)
    cleaned = pc.if_else(pa.array(ok), values, pa.scalar(None, pa.string()))
    return np.asarray(pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def epoch_seconds(report: ImportReport, table: pa.Table, column: str) -> np.ndarray:
    """Date-times (``YYYY-MM-DD HH:MM:SS[.ffffff]``, ``T`` and a UTC suffix allowed) or
    plain numbers of seconds, as float seconds since the Unix epoch."""
    values = text(table, column)
    numeric = pc.match_substring_regex(values, _NUMBER).to_numpy(zero_copy_only=False)
    if numeric.all():
        return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    ok = pc.match_substring_regex(values, _TIME).to_numpy(zero_copy_only=False)
    flag_rows(report, ~ok, column, "not a date-time like 2025-03-03 14:05:09 or seconds", values)
    cleaned = pc.if_else(pa.array(ok), values, pa.scalar("1970-01-01 00:00:00"))
    base = pc.replace_substring_regex(cleaned, _TIME, r"\1 \2")
    stamp = pc.strptime(base, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    seconds = pc.cast(stamp, pa.int64()).to_numpy(zero_copy_only=False).astype(float)
    fraction = pc.extract_regex(cleaned, r"\d{2}:\d{2}:\d{2}(?P<f>\.\d+)")
    frac_text = pc.struct_field(fraction, [0])
    frac = pc.cast(pc.binary_join_element_wise("0", frac_text, ""), pa.float64())
    frac_np = np.nan_to_num(frac.to_numpy(zero_copy_only=False).astype(float))
    return np.asarray(seconds + frac_np, dtype=float)
