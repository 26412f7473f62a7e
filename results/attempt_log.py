"""The attempt log: one row per authorisation attempt, from either engine.

Columnar and typed: Parquet via pyarrow (CSV on request), with the schema below and its
version in the Parquet file metadata (``routelab.attempt_log.schema_version``).
docs/attempt_log.md documents every column; a test pins names, types and version, so a
change to the schema is a deliberate one (bump :data:`SCHEMA_VERSION`).

:class:`AttemptLogWriter` is built for both engines:

- ``append(...)`` is a plain method taking the fields of one attempt; it only appends
  to per-column lists (no I/O, no allocation beyond the values) and never blocks for
  long: a short lock guards the swap of buffers with ``flush``;
- the buffer is bounded (``max_buffered_rows``): an append to a full buffer is
  dropped and counted in ``dropped``, never waited for;
- ``flush()`` writes whatever is buffered as one Parquet row group (or CSV rows). The
  simulator calls it synchronously (``auto_flush=True`` makes ``append`` do it every
  ``row_group_rows`` rows); the router leaves ``auto_flush`` off, calls ``append`` on
  its event loop and ``flush()`` from a worker thread (``loop.run_in_executor``) when
  ``pending`` reaches ``row_group_rows`` or on a timer;
- ``close()`` flushes and closes the file (idempotent).

Rows of one payment are appended when the payment finishes, since each row carries
the payment's final status.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scenarios.conditions import PaymentAttributes

SCHEMA_VERSION = 1
VERSION_KEY = b"routelab.attempt_log.schema_version"
ENGINES = ("simulator", "live")
LogFormat = Literal["parquet", "csv"]

#: The columns, in order: (name, type, nullable)
COLUMNS: tuple[tuple[str, pa.DataType, bool], ...] = (
    ("t_s", pa.float64(), False),
    ("payment_id", pa.string(), False),
    ("attempt", pa.int16(), False),
    ("network", pa.string(), False),
    ("card_type", pa.string(), False),
    ("bin", pa.string(), False),
    ("issuer_country", pa.string(), False),
    ("currency", pa.string(), False),
    ("amount", pa.int64(), False),
    ("cross_border", pa.bool_(), False),
    ("rule", pa.string(), False),
    ("candidates", pa.list_(pa.string()), False),
    ("acquirer", pa.string(), False),
    ("propensity", pa.float64(), True),
    ("outcome", pa.string(), False),
    ("raw_code", pa.string(), False),
    ("code", pa.string(), False),
    ("latency_ms", pa.float64(), False),
    ("fee", pa.float64(), False),
    ("final_status", pa.string(), False),
    ("engine", pa.string(), False),
    ("replication", pa.int32(), False),
)
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)


# One attempt of a payment: (sent at s, acquirer, outcome class, raw code, code,
# latency ms, fee)
AttemptRow = tuple[float, str, str, str, str, float, float]


class LoggedDecision(Protocol):
    """What a row needs of the routing decision (``router.engine.Ordering`` has it)."""

    @property
    def rule(self) -> str: ...
    @property
    def acquirers(self) -> tuple[str, ...]: ...
    @property
    def propensity(self) -> float: ...


def attempt_log_schema() -> pa.Schema:
    """The attempt log's Arrow schema, version in its metadata."""
    return pa.schema(
        [pa.field(name, kind, nullable=nullable) for name, kind, nullable in COLUMNS],
        metadata={VERSION_KEY: str(SCHEMA_VERSION).encode()},
    )


SCHEMA = attempt_log_schema()


class AttemptLogError(Exception):
    """An attempt log could not be read; ``str()`` names the file and the problem."""


class AttemptLogWriter:
    """Writes attempt rows to ``path`` in row groups, with bounded memory.

    ``engine`` ("simulator" or "live") and ``replication`` fill the columns of the same
    name (``append`` may override the replication per row). ``row_group_rows`` rows make
    one Parquet row group; at most ``max_buffered_rows`` rows wait in memory, beyond
    that appends are dropped and counted in ``dropped``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        engine: str = "simulator",
        replication: int = 0,
        log_format: LogFormat | None = None,
        row_group_rows: int = 65_536,
        max_buffered_rows: int = 262_144,
        auto_flush: bool = False,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        if row_group_rows < 1 or max_buffered_rows < row_group_rows:
            raise ValueError("need 1 <= row_group_rows <= max_buffered_rows")
        self.path = Path(path)
        fmt = log_format or ("csv" if self.path.suffix.lower() == ".csv" else "parquet")
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"log_format must be 'parquet' or 'csv', not {fmt!r}")
        self.log_format: LogFormat = fmt
        self.engine = engine
        self.replication = replication
        self.row_group_rows = row_group_rows
        self.max_buffered_rows = max_buffered_rows
        self.auto_flush = auto_flush
        self.dropped = 0  #: appends refused because the buffer was full
        self.rows_written = 0  #: rows flushed to the file so far
        self._lock = threading.Lock()  # guards the buffers (append vs flush's swap)
        self._write_lock = threading.Lock()  # one flush at a time writes the file
        self._buffers = self._empty()
        self._pending = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(self.path, SCHEMA, compression="zstd")
        else:
            self._csv = pacsv.CSVWriter(self.path, _csv_schema())

    @staticmethod
    def _empty() -> list[list[Any]]:
        return [[] for _ in COLUMNS]

    @property
    def pending(self) -> int:
        """Rows buffered and not yet flushed."""
        return self._pending

    def append(
        self,
        t_s: float,
        payment_id: str,
        attempt: int,
        network: str,
        card_type: str,
        bin_: str,
        issuer_country: str,
        currency: str,
        amount: int,
        cross_border: bool,
        rule: str,
        candidates: Sequence[str],
        acquirer: str,
        propensity: float | None,
        outcome: str,
        raw_code: str,
        code: str,
        latency_ms: float,
        fee: float,
        final_status: str,
        replication: int | None = None,
    ) -> bool:
        """Buffer one attempt; False if the buffer was full (the row is counted, not kept).

        ``propensity`` is the probability the strategy chose ``acquirer`` for attempt 1
        (``Ordering.propensity``); pass NaN (or None) for later attempts (stored as null).
        """
        # decided before anything is buffered: a bad value must not leave a half row
        chosen = None if propensity is None or math.isnan(propensity) else float(propensity)
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: append after close")
            if self._pending >= self.max_buffered_rows:
                self.dropped += 1
                return False
            b = self._buffers
            b[0].append(t_s)
            b[1].append(payment_id)
            b[2].append(attempt)
            b[3].append(network)
            b[4].append(card_type)
            b[5].append(bin_)
            b[6].append(issuer_country)
            b[7].append(currency)
            b[8].append(amount)
            b[9].append(cross_border)
            b[10].append(rule)
            b[11].append(candidates)
            b[12].append(acquirer)
            b[13].append(chosen)
            b[14].append(outcome)
            b[15].append(raw_code)
            b[16].append(code)
            b[17].append(latency_ms)
            b[18].append(fee)
            b[19].append(final_status)
            b[20].append(self.engine)
            b[21].append(self.replication if replication is None else replication)
            self._pending += 1
            full = self.auto_flush and self._pending >= self.row_group_rows
        if full:
            self.flush()
        return True

    def append_payment(
        self,
        payment_id: str,
        payment: PaymentAttributes,
        decision: LoggedDecision,
        final_status: str,
        attempts: Iterable[AttemptRow],
        replication: int | None = None,
    ) -> None:
        """Buffer a finished payment's attempts, numbered from 1 in ``attempts``' order.

        The one place both engines turn a payment into rows: the first attempt carries
        the decision's first-choice probability, later ones (cascades) none.
        """
        for n, (t_s, acquirer, outcome, raw_code, code, latency_ms, fee) in enumerate(attempts, 1):
            self.append(
                t_s,
                payment_id,
                n,
                payment.network,
                payment.card_type,
                payment.bin,
                payment.issuer_country,
                payment.currency,
                payment.amount,
                payment.cross_border,
                decision.rule,
                decision.acquirers,
                acquirer,
                decision.propensity if n == 1 else None,
                outcome,
                raw_code,
                code,
                latency_ms,
                fee,
                final_status,
                replication,
            )

    def flush(self) -> int:
        """Write the buffered rows (one row group); returns how many. Thread-safe."""
        with self._write_lock:
            with self._lock:
                if not self._pending:
                    return 0
                buffers, self._buffers = self._buffers, self._empty()
                count, self._pending = self._pending, 0
            batch = pa.RecordBatch.from_arrays(
                [
                    pa.array(values, type=kind)
                    for values, (_, kind, _) in zip(buffers, COLUMNS, strict=True)
                ],
                schema=SCHEMA,
            )
            if self._parquet is not None:
                self._parquet.write_batch(batch, row_group_size=max(count, 1))
            elif self._csv is not None:
                self._csv.write_batch(_csv_batch(batch))
            self.rows_written += count
            return count

    def close(self) -> None:
        """Flush what is left and close the file (a second call does nothing)."""
        if self._closed:
            return
        self.flush()
        with self._lock:
            self._closed = True
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()

    def __enter__(self) -> AttemptLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- CSV: the same columns, candidates joined by "|" --------------------------------------

CANDIDATE_SEPARATOR = "|"


def _csv_schema() -> pa.Schema:
    fields = [
        pa.field(name, pa.string() if name == "candidates" else kind, nullable=nullable)
        for name, kind, nullable in COLUMNS
    ]
    return pa.schema(fields)


def _csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow.compute as pc

    index = COLUMN_NAMES.index("candidates")
    joined = pc.binary_join(batch.column(index), CANDIDATE_SEPARATOR)
    columns = [joined if i == index else batch.column(i) for i in range(batch.num_columns)]
    return pa.RecordBatch.from_arrays(columns, schema=_csv_schema())


# --- reading ----------------------------------------------------------------------------


def read_attempt_log(path: str | Path, columns: Sequence[str] | None = None) -> pa.Table:
    """Read an attempt log (Parquet or CSV) as a table of :data:`SCHEMA`.

    ``columns`` reads only those (in schema order), which saves memory on large logs.
    Raises :class:`AttemptLogError` for a missing file, a file of another schema
    version, or missing columns.
    """
    source = Path(path)
    if not source.is_file():
        raise AttemptLogError(f"{source}: file not found")
    wanted = [name for name in COLUMN_NAMES if columns is None or name in columns]
    schema = pa.schema([SCHEMA.field(name) for name in wanted], metadata=SCHEMA.metadata)
    if source.suffix.lower() == ".csv":
        return _read_csv(source, wanted, schema)
    try:
        file_schema = pq.read_schema(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise AttemptLogError(f"{source}: not a Parquet attempt log ({exc})") from None
    version = (file_schema.metadata or {}).get(VERSION_KEY)
    if version is None:
        raise AttemptLogError(f"{source}: no {VERSION_KEY.decode()} in the file metadata")
    if version.decode() != str(SCHEMA_VERSION):
        raise AttemptLogError(
            f"{source}: schema version {version.decode()}, this routelab reads {SCHEMA_VERSION}"
        )
    missing = [name for name in COLUMN_NAMES if name not in file_schema.names]
    if missing:
        raise AttemptLogError(f"{source}: missing columns {', '.join(missing)}")
    return pq.read_table(source, columns=wanted).cast(schema)


def _read_csv(source: Path, wanted: list[str], schema: pa.Schema) -> pa.Table:
    import pyarrow.compute as pc

    text_schema = _csv_schema()
    try:
        table = pacsv.read_csv(
            source,
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in text_schema if f.name in wanted},
                strings_can_be_null=False,
                include_columns=wanted,
            ),
        )
    except (pa.ArrowInvalid, KeyError) as exc:
        raise AttemptLogError(f"{source}: not an attempt log CSV ({exc})") from None
    if "candidates" in wanted:
        index = table.column_names.index("candidates")
        split = pc.split_pattern(table.column(index), CANDIDATE_SEPARATOR)
        table = table.set_column(index, "candidates", split)
    return table.cast(schema)


def concat_attempt_logs(paths: Sequence[str | Path]) -> pa.Table:
    """The rows of several attempt logs, one after the other."""
    tables = [read_attempt_log(path) for path in paths]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def write_attempt_log(table: pa.Table, path: str | Path) -> None:
    """Write rows read from attempt logs to ``path`` (Parquet, or CSV for ``.csv``)."""
    target = Path(path)
    table = table.cast(SCHEMA)
    if target.suffix.lower() == ".csv":
        with pacsv.CSVWriter(target, _csv_schema()) as out:
            for batch in table.to_batches():
                out.write_batch(_csv_batch(batch))
    else:
        pq.write_table(table, target)
