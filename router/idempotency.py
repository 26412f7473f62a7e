"""Idempotency keys: a retried payment request gets the first answer, never a second charge.

The first request under a key claims it and routes the payment; a duplicate with the
same body waits for that answer (even while it is still in flight) and gets it back
byte for byte; a duplicate with a different body is a conflict.

Idempotency is by time, not by count: a key is kept for its retention (24 h by default,
as card schemes and PSPs promise) and never forgotten before, because a retry of a
forgotten key would authorise the card a second time. Memory is bounded all the same
(``max_entries``): when the store is full of keys still inside their retention, a new
payment is refused with 503 and a ``Retry-After`` saying when the oldest key expires.

With a journal, a restarted router puts every key back from it
(:meth:`~IdempotencyStore.restore`) with its age, so retention runs across restarts; a
key whose payment the router is still finishing after the restart is *recovering*: a
request under it is answered 409 with ``Retry-After`` until the payment's final answer
is known, then that answer.
"""

from __future__ import annotations

import asyncio
import math
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
    headers: tuple[tuple[bytes, bytes], ...] = ()  # e.g. Retry-After of a refusal


class _Entry:
    __slots__ = ("answer", "created", "fingerprint", "recovering")

    def __init__(self, fingerprint: bytes, created: float, recovering: bool = False) -> None:
        self.fingerprint = fingerprint
        self.created = created
        self.recovering = recovering
        self.answer: asyncio.Future[StoredAnswer] = asyncio.get_running_loop().create_future()


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of presenting a key: ``first`` means this request must do the work;
    ``recovering``: the payment is being finished after a restart (answer 409 until
    ``answer`` is done)."""

    first: bool
    answer: asyncio.Future[StoredAnswer]
    recovering: bool = False


class PaymentInProgressError(RequestError):
    """The key's payment is being finished after a router restart: ask again later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            409,
            "payment_in_progress",
            [
                (
                    "Idempotency-Key",
                    "the payment under this key is being settled after a router restart; "
                    "nothing new is authorised: retry after the Retry-After delay for its "
                    "final answer",
                )
            ],
            headers=((b"retry-after", str(retry_after_s).encode()),),
        )


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


class StoreFullError(RequestError):
    """Every slot holds a key inside its retention: no new payment until one expires."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            503,
            "idempotency_store_full",
            [
                (
                    "Idempotency-Key",
                    "the router holds as many idempotency keys as it may and forgets none "
                    "before its retention ends; retry after the Retry-After delay",
                )
            ],
            headers=((b"retry-after", str(retry_after_s).encode()),),
        )
        self.retry_after_s = retry_after_s


class IdempotencyStore:
    """Idempotency keys of one router process (in memory, in creation order)."""

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

    def replays(self, key: str) -> bool:
        """True when a request under ``key`` would get a stored (or pending) answer."""
        entry = self._entries.get(key)
        return entry is not None and (
            not entry.answer.done() or entry.created >= self._clock() - self.ttl_s
        )

    def claim(self, key: str, fingerprint: bytes) -> Claim:
        """Present ``key`` with its request's fingerprint (:meth:`PaymentRequest.fingerprint`).

        Raises :class:`KeyReusedError` when the key came with a different request before,
        and :class:`StoreFullError` when a new key finds no room.
        """
        now = self._clock()
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            if entry.created >= now - self.ttl_s or not entry.answer.done():
                if entry.fingerprint != fingerprint:
                    raise KeyReusedError()
                return Claim(False, entry.answer, entry.recovering)
            del entries[key]  # expired: the key may start a new payment
        self._forget_expired(now)
        if len(entries) >= self.max_entries:
            raise StoreFullError(self._retry_after_s(now))
        entry = entries[key] = _Entry(fingerprint, now)
        return Claim(True, entry.answer)

    def restore(
        self,
        key: str,
        fingerprint: bytes,
        age_s: float,
        answer: StoredAnswer | None,
    ) -> asyncio.Future[StoredAnswer]:
        """Put back a key from the journal, ``age_s`` old, with its first answer, or
        recovering (``answer`` None: resolve the returned future with it once known).

        Call oldest first, before any new key is claimed: keys stay in creation order.
        """
        entry = _Entry(fingerprint, self._clock() - max(0.0, age_s), recovering=answer is None)
        if answer is not None:
            entry.answer.set_result(answer)
        self._entries.pop(key, None)
        self._entries[key] = entry
        return entry.answer

    def release(self, key: str) -> None:
        """Forget a key whose payment was refused before anything was attempted (so a
        retry may route it), once its answer has been given to whoever waited."""
        self._entries.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        """Forget keys past their retention, oldest first; never one still in flight."""
        entries = self._entries
        horizon = now - self.ttl_s
        # dicts keep insertion order, and keys are inserted as created: oldest first
        while entries:
            key, entry = next(iter(entries.items()))
            if entry.created >= horizon or not entry.answer.done():
                return
            del entries[key]

    def _retry_after_s(self, now: float) -> int:
        """Whole seconds until the oldest key leaves its retention (at least 1)."""
        oldest = next(iter(self._entries.values()))
        return max(1, math.ceil(oldest.created + self.ttl_s - now))
