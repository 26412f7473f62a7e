"""What a restarted router reads back from its payment journal (``router.journal``).

The records of a replay (:class:`Replay`: keys with their first answers, unfinished
payments with their attempts, attempts that may hold an unknown approval, settlements)
and :func:`read_replay`, which reads them from the journal's SQLite file. The writer side,
the schema and the retention live in :mod:`router.journal`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class FinalResult:
    """A payment's final status and the answer its client got, byte for byte."""

    status: str
    http_status: int
    response: bytes
    finished_at: float


@dataclass(frozen=True, slots=True)
class KnownKey:
    """An idempotency key inside its retention; ``result`` None means still in progress."""

    idempotency_key: str
    payment_id: str
    body_hash: bytes
    started_at: float
    result: FinalResult | None
    details: dict[str, Any] = field(default_factory=dict)  # as given to payment_started


@dataclass(frozen=True, slots=True)
class JournalAttempt:
    """An attempt as journaled; ``resolved`` False means it may hold an unknown approval."""

    payment_id: str
    attempt: int
    acquirer: str
    key: str
    sent_at: float
    code: str | None
    outcome: str | None
    certain: bool | None
    settlement: str | None
    resolved: bool
    answered_at: float | None = None


@dataclass(frozen=True, slots=True)
class UnfinishedPayment:
    """A payment started but never given a final status, with everything known of it."""

    payment_id: str
    idempotency_key: str
    body_hash: bytes
    rule: str
    acquirers: tuple[str, ...]
    started_at: float
    attempts: tuple[JournalAttempt, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Replay:
    """What a restarted router must know before it serves again."""

    keys: dict[str, KnownKey]
    unfinished: list[UnfinishedPayment]
    open_attempts: list[JournalAttempt]  # unresolved attempts, finished payments included
    # the last void or status result of every attempt that had one, by its key
    settlements: dict[str, tuple[str, bool]] = field(default_factory=dict)


def read_replay(connection: sqlite3.Connection, horizon: float) -> Replay:
    """Everything a restarted router needs from the journal behind ``connection``: keys
    started at or after ``horizon`` (and every unfinished one), unfinished payments with
    their attempts, open attempts, and the last settlement of each attempt."""
    keys: dict[str, KnownKey] = {}
    started: dict[str, tuple[str, bytes, str, tuple[str, ...], float, dict[str, Any]]] = {}
    rows = connection.execute(
        "SELECT payment_id, idempotency_key, body_hash, rule, acquirers, details, "
        "started_at, status, http_status, response, finished_at FROM payments "
        "ORDER BY started_at"
    )
    for pid, key, digest, rule, acquirers, details, at, status, http, response, done in rows:
        result = None if done is None else FinalResult(status, http, bytes(response), done)
        extra = orjson.loads(details)
        if result is None:
            started[pid] = (key, bytes(digest), rule, tuple(orjson.loads(acquirers)), at, extra)
        if result is None or at >= horizon:
            keys[key] = KnownKey(key, pid, bytes(digest), at, result, extra)  # newest wins
    open_attempts: list[JournalAttempt] = []
    by_payment: dict[str, list[JournalAttempt]] = {pid: [] for pid in started}
    columns = (
        "SELECT payment_id, attempt, acquirer, key, sent_at, code, outcome, certain, "
        "settlement, resolved, answered_at FROM attempts"
    )
    for row in connection.execute(f"{columns} WHERE resolved = 0 ORDER BY sent_at"):
        open_attempts.append(_attempt(row))
    unfinished_only = (
        " WHERE payment_id IN (SELECT payment_id FROM payments WHERE finished_at IS NULL)"
    )
    for row in connection.execute(f"{columns}{unfinished_only} ORDER BY payment_id, attempt"):
        by_payment[row[0]].append(_attempt(row))
    settlements = {
        key: (settlement, bool(resolved))
        for key, settlement, resolved in connection.execute(
            "SELECT key, settlement, resolved FROM attempts WHERE settlement IS NOT NULL"
        )
    }
    unfinished = [
        UnfinishedPayment(pid, key, digest, rule, acquirers, at, tuple(by_payment[pid]), extra)
        for pid, (key, digest, rule, acquirers, at, extra) in started.items()
    ]
    return Replay(keys, unfinished, open_attempts, settlements)


def _attempt(row: tuple[Any, ...]) -> JournalAttempt:
    pid, attempt, acquirer, key, sent_at, code, outcome, certain, settlement, resolved, at = row
    return JournalAttempt(
        pid,
        attempt,
        acquirer,
        key,
        sent_at,
        code,
        outcome,
        None if certain is None else bool(certain),
        settlement,
        bool(resolved),
        at,
    )
