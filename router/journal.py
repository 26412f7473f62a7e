"""The payment journal: what the router must remember across its own crash, on disk.

Everything a router holds in memory dies with its process: the payments in flight, the
attempts an acquirer may have approved, the idempotency keys that stop a client's retry
from charging the card twice. The journal keeps them durable. The payment path records
each step without waiting (:class:`Journal`'s methods only queue a record), awaits
:meth:`Journal.flush` where a step must be on disk before the next (before the first
acquirer call: the payment, its key and its decision), and on start
:meth:`Journal.replay` returns every key still inside its retention with its first
answer (or "in progress"), the payments left unfinished, and every attempt left open,
so the router can settle them (status inquiry, void) before giving a final status.

:class:`SqliteJournal` is the embedded default: one SQLite file in WAL mode (stdlib
``sqlite3``, no server), written by one background thread with group commit: records
queued while a commit is under way go together in the next transaction, so a commit's
cost (one fsync of the WAL) is shared by every record in it and the event loop never
waits for the disk. The event loop hands its records over once per turn, as one list,
however many payments that turn moved: each hand-over may wake the writer, and on a
router that shares one core with its writer a wake-up costs more than a record.

Idempotency by time, not by count: a payment and its key are purged only once they are
older than the retention (24 h by default), finished and without an open attempt. When
the store holds ``max_payments`` payments none of which may go yet, a new payment is
refused (:class:`JournalFullError`, with the seconds until the oldest one expires); the
router answers 503 with ``Retry-After``. A key is never forgotten inside its retention.

What it survives, at the chosen ``synchronous=FULL``:

- a process crash (SIGKILL, OOM kill, a bug): nothing that :meth:`flush` reported
  durable is lost, at any ``synchronous`` level, since a committed transaction is in the
  operating system's hands once ``COMMIT`` returns;
- an operating-system crash or power cut: with ``FULL`` every commit fsyncs the WAL
  before it returns, so nothing committed is lost. With ``NORMAL`` the WAL is fsynced
  only at checkpoints: the commits since the last checkpoint (up to ~1,000 pages of WAL
  by default) can be lost, and those are exactly the newest "attempt sent" records, the
  ones that say an acquirer may hold an approval. ``FULL`` is therefore the default;
  group commit makes its fsync per transaction, not per record (``benchmarks/
  bench_journal.py`` measures both levels).

Records are appended from one thread (the router's event loop); the writer thread owns
the only write connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import orjson

from router.journal_replay import Replay, read_replay

RETENTION_S: Final = 86_400.0  # 24 h, as card schemes and PSPs promise for idempotency keys
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")
_MAX_BATCH = 4096  # records per transaction (more only when one hand-off holds more)
_PURGE_BATCH = 5000  # payments deleted per purge transaction at most

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    body_hash BLOB NOT NULL,
    rule TEXT NOT NULL,
    acquirers TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    started_at REAL NOT NULL,
    status TEXT,
    http_status INTEGER,
    response BLOB,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS payments_by_start ON payments (started_at);
CREATE TABLE IF NOT EXISTS attempts (
    payment_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    acquirer TEXT NOT NULL,
    key TEXT NOT NULL,
    sent_at REAL NOT NULL,
    code TEXT,
    outcome TEXT,
    certain INTEGER,
    answered_at REAL,
    settlement TEXT,
    settled_at REAL,
    resolved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (payment_id, attempt)
);
CREATE INDEX IF NOT EXISTS attempts_open ON attempts (payment_id) WHERE resolved = 0;
"""
# the records, by index in the write queue
_STARTED, _SENT, _ANSWERED, _SETTLED, _FINISHED, _WAKE, _STOP = range(7)
_SQL = (
    "INSERT OR REPLACE INTO payments (payment_id, idempotency_key, body_hash, rule, "
    "acquirers, details, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "INSERT OR REPLACE INTO attempts (payment_id, attempt, acquirer, key, sent_at) "
    "VALUES (?, ?, ?, ?, ?)",
    "UPDATE attempts SET code = ?, outcome = ?, certain = ?, answered_at = ?, resolved = ? "
    "WHERE payment_id = ? AND attempt = ?",
    "UPDATE attempts SET settlement = ?, settled_at = ?, resolved = ? "
    "WHERE payment_id = ? AND attempt = ?",
    "UPDATE payments SET status = ?, http_status = ?, response = ?, finished_at = ? "
    "WHERE payment_id = ?",
)
_PURGEABLE = (
    "SELECT payment_id FROM payments p WHERE started_at < ? AND finished_at IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.payment_id = p.payment_id "
    "AND a.resolved = 0) ORDER BY started_at LIMIT ?"
)


class JournalError(Exception):
    """The journal cannot take a record."""


class JournalRefusedError(JournalError):
    """No new payment now; ``retry_after_s`` says when to try again (503 + Retry-After)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JournalFullError(JournalRefusedError):
    """The store holds ``max_payments`` payments, all inside their retention."""


class JournalFailedError(JournalRefusedError):
    """Writing to disk failed; nothing after the failure is durable."""


class Journal(Protocol):
    """The payment path's durable record. Appends never block; :meth:`flush` waits."""

    def payment_started(
        self,
        payment_id: str,
        idempotency_key: str,
        body_hash: bytes,
        rule: str,
        acquirers: Sequence[str],
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """A payment was admitted and decided; raises :class:`JournalRefusedError`.

        ``details``: what else the payment's answer and book record need after a
        restart (amount, currency, reference, policy), as JSON-ready values."""

    def attempt_sent(self, payment_id: str, attempt: int, acquirer: str, key: str) -> None:
        """An authorisation is about to go to ``acquirer`` under acquirer-side ``key``."""

    def attempt_answered(
        self, payment_id: str, attempt: int, code: str, outcome: str, certain: bool
    ) -> None:
        """The attempt's answer (``certain`` False: timeout or broken answer)."""

    def attempt_settled(self, payment_id: str, attempt: int, result: str, resolved: bool) -> None:
        """A void or status inquiry's result; ``resolved``: no unknown approval remains."""

    def payment_finished(
        self, payment_id: str, status: str, http_status: int, response: bytes
    ) -> None:
        """The payment's final status and the exact answer its client gets."""

    async def flush(self) -> None:
        """Wait until every record appended so far is durable (raises on a disk failure)."""

    def replay(self) -> Replay:
        """Keys inside their retention, unfinished payments, open attempts (blocking read)."""

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""


_Record = tuple[int, tuple[Any, ...]]  # (record kind, parameters)
# what the event loop hands the writer: the sequence number of its last record, and them
_Handoff = tuple[int, list[_Record]]


class SqliteJournal:
    """:class:`Journal` on one SQLite file in WAL mode, written by a background thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention_s: float = RETENTION_S,
        max_payments: int = 1_000_000,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        purge_every_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}")
        if max_payments < 1 or not retention_s > 0.0:
            raise ValueError("max_payments and retention_s must be positive")
        self.path = Path(path)
        self.retention_s = retention_s
        self.max_payments = max_payments
        self.synchronous = synchronous
        self.purge_every_s = purge_every_s
        self._clock = clock
        self._queue: queue.SimpleQueue[_Handoff] = queue.SimpleQueue()
        # records appended since the last hand-off to the writer (the appending thread's)
        self._pending: list[_Record] = []
        self._handoff_due = False  # a hand-off is scheduled on an event loop ...
        self._handoff_loop: asyncio.AbstractEventLoop | None = None  # ... this one
        self._appended = 0  # sequence number of the last record appended
        self._handed = 0  # ... of the last one handed to the writer
        self._lock = threading.Lock()  # guards the counter and waiters below
        self._durable = 0  # ... and of the last one committed
        # flush() callers in the order they came, so by growing target
        self._waiters: deque[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = deque()
        self._failure: BaseException | None = None
        self._purge_now = threading.Event()
        self.commits = 0  # transactions written (records per commit = group commit at work)
        self.records = 0
        connection = self._connect()
        try:
            count, oldest = connection.execute(
                "SELECT COUNT(*), MIN(started_at) FROM payments"
            ).fetchone()
        finally:
            connection.close()
        self._payments = int(count)
        self._next_expiry: float | None = (oldest + retention_s) if oldest is not None else None
        self._writer = threading.Thread(target=self._write, name="payment-journal", daemon=True)
        self._writer.start()

    # -- appends: called on the event loop, never block ---------------------------------

    def payment_started(
        self,
        payment_id: str,
        idempotency_key: str,
        body_hash: bytes,
        rule: str,
        acquirers: Sequence[str],
        details: Mapping[str, Any] | None = None,
    ) -> None:
        now = self._clock()
        with self._lock:
            self._check()
            if self._payments >= self.max_payments:
                self._purge_now.set()
                self._queue.put((self._handed, [(_WAKE, ())]))  # purge now, not in a minute
                expiry = self._next_expiry
                wait = math.ceil(expiry - now) if expiry is not None else self.retention_s
                raise JournalFullError(
                    f"the journal holds {self.max_payments} payments inside their retention",
                    max(1, int(wait)),
                )
            self._payments += 1
        row = (
            payment_id,
            idempotency_key,
            body_hash,
            rule,
            orjson.dumps(list(acquirers)),
            orjson.dumps(details or {}),
            now,
        )
        self._append(_STARTED, row)

    def attempt_sent(self, payment_id: str, attempt: int, acquirer: str, key: str) -> None:
        self._append(_SENT, (payment_id, attempt, acquirer, key, self._clock()))

    def attempt_answered(
        self, payment_id: str, attempt: int, code: str, outcome: str, certain: bool
    ) -> None:
        row = (code, outcome, int(certain), self._clock(), int(certain), payment_id, attempt)
        self._append(_ANSWERED, row)

    def attempt_settled(self, payment_id: str, attempt: int, result: str, resolved: bool) -> None:
        self._append(_SETTLED, (result, self._clock(), int(resolved), payment_id, attempt))

    def payment_finished(
        self, payment_id: str, status: str, http_status: int, response: bytes
    ) -> None:
        self._append(_FINISHED, (status, http_status, response, self._clock(), payment_id))

    def _check(self) -> None:
        if self._failure is not None:
            raise JournalFailedError(f"the journal failed: {self._failure}", 1)
        if not self._writer.is_alive():
            raise JournalFailedError("the journal is closed", 1)

    def _append(self, kind: int, row: tuple[Any, ...]) -> None:
        if self._failure is not None:
            self._check()
        self._appended += 1
        self._pending.append((kind, row))
        if not self._handoff_due:
            # one hand-off per turn of the event loop, however many records it appends:
            # each hand-off may wake the writer thread, which costs more than a record
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop here: hand it over now
                self._hand_off()
            else:
                self._handoff_due = True
                self._handoff_loop = loop
                loop.call_soon(self._hand_off)

    def _hand_off(self) -> None:
        self._handoff_due = False
        if self._pending:
            records, self._pending = self._pending, []
            self._handed = self._appended
            self._queue.put((self._handed, records))

    # -- barriers ------------------------------------------------------------------------

    async def flush(self) -> None:
        target = self._appended
        loop = asyncio.get_running_loop()
        if self._handoff_due and self._handoff_loop is not loop:
            self._hand_off()  # scheduled on a loop that stopped before it ran it
        with self._lock:
            if self._failure is not None:
                self._check()
            if self._durable >= target:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((target, future, loop))
        await future

    async def close(self) -> None:
        if self._writer.is_alive():
            self._hand_off()
            self._queue.put((self._handed, [(_STOP, ())]))
            await asyncio.to_thread(self._writer.join)

    @property
    def payments(self) -> int:
        """Payments held (on disk or queued)."""
        return self._payments

    # -- replay --------------------------------------------------------------------------

    def replay(self) -> Replay:
        connection = self._connect()
        try:
            return read_replay(connection, self._clock() - self.retention_s)
        finally:
            connection.close()

    # -- the writer thread ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        connection.executescript(_SCHEMA)
        return connection

    def _write(self) -> None:
        connection = self._connect()
        last_purge = time.monotonic()
        stopping = False
        try:
            while not stopping:
                try:
                    last, records = self._queue.get(timeout=max(0.05, self.purge_every_s))
                except queue.Empty:
                    last, records = -1, []
                batch = list(records)
                with contextlib.suppress(queue.Empty):
                    while records and len(batch) < _MAX_BATCH:
                        last, records = self._queue.get_nowait()
                        batch.extend(records)
                stopping = any(kind == _STOP for kind, _ in batch)
                if last >= 0 and not self._commit(connection, batch, last):
                    return
                due = time.monotonic() - last_purge >= self.purge_every_s
                if due or self._purge_now.is_set():
                    self._purge_now.clear()
                    last_purge = time.monotonic()
                    self._purge(connection)
        except BaseException as exc:  # the thread must never die silently
            self._fail(exc)
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list[_Record], last: int) -> bool:
        # one executemany per kind, in the kinds' order (started, sent, answered, settled,
        # finished): a record only ever updates a row a record of an earlier kind made,
        # so the order within a batch is kept where it matters, at a fraction of the
        # per-statement cost (the writer holds the GIL less, the event loop waits less)
        by_kind: list[list[tuple[Any, ...]]] = [[] for _ in _SQL]
        count = 0
        for kind, row in batch:
            if kind < len(_SQL):
                by_kind[kind].append(row)
                count += 1
        try:
            if count:
                connection.execute("BEGIN")
                for kind, rows in enumerate(by_kind):
                    if rows:
                        connection.executemany(_SQL[kind], rows)
                connection.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            self._fail(exc)
            return False
        if count:
            self.commits += 1
            self.records += count
        self._settle_waiters(last, None)
        return True

    def _purge(self, connection: sqlite3.Connection) -> None:
        horizon = self._clock() - self.retention_s
        while True:
            ids = [r[0] for r in connection.execute(_PURGEABLE, (horizon, _PURGE_BATCH))]
            if ids:
                marks = ",".join("?" * len(ids))
                connection.execute("BEGIN")
                connection.execute(f"DELETE FROM attempts WHERE payment_id IN ({marks})", ids)
                connection.execute(f"DELETE FROM payments WHERE payment_id IN ({marks})", ids)
                connection.execute("COMMIT")
                with self._lock:
                    self._payments -= len(ids)
            if len(ids) < _PURGE_BATCH:
                break
        (oldest,) = connection.execute(
            "SELECT MIN(started_at) FROM payments WHERE finished_at IS NOT NULL"
        ).fetchone()
        self._next_expiry = None if oldest is None else oldest + self.retention_s

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
        self._settle_waiters(None, exc)

    def _settle_waiters(self, durable: int | None, failure: BaseException | None) -> None:
        with self._lock:
            if durable is not None:
                self._durable = durable
            waiters = self._waiters
            ready = []
            while waiters and (failure is not None or waiters[0][0] <= self._durable):
                ready.append(waiters.popleft())
        # one wake-up per event loop for the whole group, not one per waiter: under load
        # a commit releases hundreds of flush() callers at once
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, future, loop in ready:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, futures, failure)


def _resolve(futures: list[asyncio.Future[None]], failure: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(JournalFailedError(f"the journal failed: {failure}", 1))
