"""Journal benchmark: how many records per second the payment journal makes durable, alone.

For each ``synchronous`` level (FULL, the default, and NORMAL) on a fresh SQLite file
in a temporary folder (on the same disk as ``$TMPDIR``), it measures

(a) **records_per_s**: one event loop appends ``--payments`` payments of four records
    each (started, attempt sent, attempt answered, finished with a 400-byte answer) as
    fast as it can, then awaits one ``flush()``; records / seconds from the first append
    to the flush's return. ``records_per_commit`` shows group commit at work;
(b) **barrier latency**: ``--concurrency`` payments at a time, each appending
    "started" and "attempt sent", awaiting ``flush()`` (as the router must before its
    first acquirer call), then appending the answer and the final status: p50 and p99
    of the time ``flush()`` took, and the payments per second this loop sustained;
(c) **bytes_per_payment**: the file's size after a checkpoint, per payment held.

No target: the figures are for sizing (``max_payments``) and for choosing the level.
It ends with one JSON line::

    .venv/bin/python benchmarks/bench_journal.py            # about half a minute
    .venv/bin/python benchmarks/bench_journal.py --quick    # smoke test, a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from _common import emit_json, environment, fmt, print_figures, progress

from router.journal import SqliteJournal

ANSWER = b'{"status":"approved","attempts":[' + b"x" * 360 + b"]}"  # ~400 B, as the router's
DIGEST = bytes(16)


def _record_payment(journal: SqliteJournal, n: int) -> None:
    pid = f"pay_{n:012d}"
    journal.payment_started(pid, f"key-{n}", DIGEST, "default", ("acq_a", "acq_b"))
    journal.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
    journal.attempt_answered(pid, 1, "00", "approved", True)
    journal.payment_finished(pid, "approved", 200, ANSWER)


async def throughput(path: Path, level: Literal["FULL", "NORMAL"], payments: int) -> dict[str, Any]:
    journal = SqliteJournal(path, synchronous=level, max_payments=payments + 1)
    start = time.perf_counter()
    for n in range(payments):
        _record_payment(journal, n)
    appended = time.perf_counter() - start
    await journal.flush()
    wall = time.perf_counter() - start
    await journal.close()
    size = _checkpointed_size(path)
    return {
        "records_per_s": 4 * payments / wall,
        "append_us_per_record": appended / (4 * payments) * 1e6,
        "records_per_commit": journal.records / max(1, journal.commits),
        "bytes_per_payment": size / payments,
    }


async def barriers(
    path: Path, level: Literal["FULL", "NORMAL"], payments: int, concurrency: int
) -> dict[str, Any]:
    journal = SqliteJournal(path, synchronous=level, max_payments=payments + 1)
    waits: list[float] = []
    next_payment = 0

    async def payer() -> None:
        nonlocal next_payment
        while next_payment < payments:
            n = next_payment
            next_payment += 1
            pid = f"pay_{n:012d}"
            journal.payment_started(pid, f"key-{n}", DIGEST, "default", ("acq_a",))
            journal.attempt_sent(pid, 1, "acq_a", f"{pid}-1")
            t0 = time.perf_counter()
            await journal.flush()  # durable before the first acquirer call
            waits.append(time.perf_counter() - t0)
            journal.attempt_answered(pid, 1, "00", "approved", True)
            journal.payment_finished(pid, "approved", 200, ANSWER)

    start = time.perf_counter()
    await asyncio.gather(*(payer() for _ in range(concurrency)))
    await journal.flush()
    wall = time.perf_counter() - start
    await journal.close()
    cuts = statistics.quantiles(waits, n=100)
    return {
        "payments_per_s": payments / wall,
        "flush_p50_ms": cuts[49] * 1000.0,
        "flush_p99_ms": cuts[98] * 1000.0,
        "commits": journal.commits,
    }


def _checkpointed_size(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--payments", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 2,000 payments")
    args = parser.parse_args()
    payments = 2_000 if args.quick else args.payments
    if payments < 100 or args.concurrency < 1:
        parser.error("--payments must be at least 100 and --concurrency at least 1")
    env = environment()
    figures: dict[str, Any] = {"payments": payments, "concurrency": args.concurrency}
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench_journal_") as folder:
        for level in ("FULL", "NORMAL"):
            progress(f"synchronous={level}: {payments:,} payments, appends then one flush")
            a = asyncio.run(throughput(Path(folder) / f"t_{level}.db", level, payments))
            progress(f"synchronous={level}: {args.concurrency} payers, a flush per payment")
            b = asyncio.run(
                barriers(Path(folder) / f"b_{level}.db", level, payments, args.concurrency)
            )
            key = level.lower()
            figures.update({f"{key}_{name}": round(value, 3) for name, value in {**a, **b}.items()})
            rows += [
                (f"{level}: records/s", fmt(a["records_per_s"]), "4 records per payment"),
                (f"{level}: append cost", fmt(a["append_us_per_record"], 2) + " us", "per record"),
                (f"{level}: records per commit", fmt(a["records_per_commit"], 1), "group commit"),
                (
                    f"{level}: payments/s with a flush each",
                    fmt(b["payments_per_s"]),
                    f"{args.concurrency} at a time",
                ),
                (
                    f"{level}: flush p50 / p99",
                    f"{b['flush_p50_ms']:.2f} / {b['flush_p99_ms']:.2f} ms",
                    "one flush per payment",
                ),
                (f"{level}: bytes per payment", fmt(a["bytes_per_payment"]), "after a checkpoint"),
            ]
        figures["tmpdir"] = os.path.dirname(folder)
    print_figures("payment journal (SQLite WAL), alone", rows)
    emit_json({**figures, **env})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
