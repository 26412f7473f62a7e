"""Idempotency keys: a retried payment request gets the first answer, never a second charge.

The first request under a key claims it and routes the payment; a duplicate with the
same body waits for that answer (even while it is still in flight) and gets it back
byte for byte; a duplicate with a different body is a conflict. Keys are kept for a
time-to-live (24 h by default, as card schemes and PSPs do) and, to bound memory under
load tests, up to a maximum number of finished entries (oldest forgotten first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from router.payment_request import RequestError

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The response the first request under a key received."""

    payment_id: str
    body: bytes
    status: int = 200


class _Entry:
    __slots__ = ("answer", "created", "fingerprint")

    def __init__(self, fingerprint: bytes, created: float) -> None:
        self.fingerprint = fingerprint
        self.created = created
        self.answer: asyncio.Future[StoredAnswer] = asyncio.get_running_loop().create_future()


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of presenting a key: ``first`` means this request must do the work."""

    first: bool
    answer: asyncio.Future[StoredAnswer]


class KeyReusedError(RequestError):
    """The key was already used for a different payment request."""

    def __init__(self) -> None:
        super().__init__(
            409,
            "idempotency_key_reused",
            [
                (
                    "Idempotency-Key",
                    "already used for a different request body; use a new key for a new payment",
                )
            ],
        )


class IdempotencyStore:
    """Idempotency keys of one router process (in memory, insertion-ordered)."""

    def __init__(
        self,
        ttl_s: float = DAY_S,
        max_entries: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, key: str, fingerprint: bytes) -> Claim:
        """Present ``key`` with its request's fingerprint (:meth:`PaymentRequest.fingerprint`);
        raises :class:`KeyReusedError` when the key came with a different request before."""
        now = self._clock()
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            if entry.created >= now - self.ttl_s or not entry.answer.done():
                if entry.fingerprint != fingerprint:
                    raise KeyReusedError()
                return Claim(False, entry.answer)
            del entries[key]  # expired: the key may start a new payment
        self._make_room(now)
        entry = entries[key] = _Entry(fingerprint, now)
        return Claim(True, entry.answer)

    def _make_room(self, now: float) -> None:
        """Forget expired keys, and the oldest ones while at the bound; never one in flight."""
        entries = self._entries
        horizon = now - self.ttl_s
        over = len(entries) + 1 - self.max_entries
        # dicts keep insertion order, so the oldest keys come first
        while entries:
            key, entry = next(iter(entries.items()))
            if not (over > 0 or entry.created < horizon) or not entry.answer.done():
                return
            del entries[key]
            over -= 1
