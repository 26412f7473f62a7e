"""What one mock acquirer remembers: attempts by idempotency key, its ledger, its counters.

An acquirer must never authorise the same idempotency key twice and must answer a
replay with the first answer, byte for byte; its ledger of approvals is what a live
run reconciles against the router's own records (double charges, missed reversals).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Literal

from mock_acquirers.dialects.base import AuthorisationRequest

DEFAULT_KEY_CAPACITY = 2_000_000


@dataclass(slots=True)
class LedgerEntry:
    """One approved authorisation, as the acquirer books it."""

    key: str
    reference: str
    amount: int
    currency: str
    bin: str
    last4: str
    acquirer_reference: str
    scenario_time_s: float
    status: Literal["approved", "reversed"] = "approved"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "reference": self.reference,
            "amount": self.amount,
            "currency": self.currency,
            "bin": self.bin,
            "last4": self.last4,
            "status": self.status,
            "acquirer_reference": self.acquirer_reference,
            "scenario_time_s": self.scenario_time_s,
        }


class Attempt:
    """One authorisation attempt under an idempotency key.

    The outcome is decided when the request arrives (``code``, and the encoded answer
    ``body``) but the attempt stays pending until its service time has passed
    (``completed``), as a real acquirer's answer only exists once the issuer has
    replied. A duplicate arriving meanwhile awaits ``waiters``, created only then.
    """

    __slots__ = (
        "acquirer_reference",
        "body",
        "code",
        "completed",
        "epoch",
        "key",
        "ledger_entry",
        "reference",
        "request",
        "reversed",
        "service_ms",
        "t",
        "void_requested",
        "waiters",
    )

    def __init__(
        self,
        request: AuthorisationRequest,
        t: float,
        code: str,
        body: bytes,
        acquirer_reference: str,
        *,
        service_ms: float,
        epoch: int,
    ) -> None:
        self.key = request.key
        self.reference = request.reference
        self.request: AuthorisationRequest | None = request  # dropped once booked
        self.t = t
        self.code = code
        # copied: orjson's output keeps a ~4 KB buffer, and every attempt is kept
        self.body = bytes(memoryview(body))
        self.acquirer_reference = acquirer_reference
        self.service_ms = service_ms
        self.epoch = epoch
        self.completed = False
        self.reversed = False
        self.void_requested = False
        self.waiters: asyncio.Future[bytes] | None = None
        self.ledger_entry: LedgerEntry | None = None

    @property
    def visible_code(self) -> str | None:
        """The response code as the outside world may see it: None while pending."""
        return self.code if self.completed else None

    async def answer(self) -> bytes:
        """The answer body, waiting for the attempt to complete if it is still pending."""
        if self.completed:
            return self.body
        if self.waiters is None:
            self.waiters = asyncio.get_running_loop().create_future()
        # shielded: one impatient duplicate must not cancel the answer the others await
        return await asyncio.shield(self.waiters)


class Counters:
    """Running counts of one acquirer's traffic, for the admin API.

    ``requests`` counts well-formed authorisation requests (replays and requests turned
    away by a fault included); outcome counts are decisions, made on arrival, whereas
    the ledger books an approval once its service time is over.
    """

    __slots__ = (
        "approved",
        "bad_requests",
        "declined",
        "faults",
        "hung",
        "idempotent_replays",
        "requests",
        "reversals",
        "status_inquiries",
        "technical_errors",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.approved = 0
        self.declined: Counter[str] = Counter()
        self.technical_errors = 0
        self.hung = 0
        self.faults: Counter[str] = Counter()
        self.idempotent_replays = 0
        self.reversals = 0
        self.status_inquiries = 0
        self.bad_requests = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "approved": self.approved,
            "declined": sum(self.declined.values()),
            "declined_by_code": dict(self.declined),
            "technical_errors": self.technical_errors,
            "hung": self.hung,
            "faults": dict(self.faults),
            "idempotent_replays": self.idempotent_replays,
            "reversals": self.reversals,
            "status_inquiries": self.status_inquiries,
            "bad_requests": self.bad_requests,
        }


class CapacitySlots:
    """An acquirer's concurrency limit: ``capacity`` parallel slots, a FIFO queue in front.

    The live twin of the simulator's ``CapacityQueue``: same semantics, in wall-clock
    time. A freed slot is handed straight to the longest waiter, and nobody takes a
    free slot while others wait, so the order is strictly first come, first served
    (``asyncio.Semaphore`` gives the same order but costs a generator per acquire).
    """

    __slots__ = ("_waiting", "busy", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody is queued; never waits."""
        if self.busy < self.capacity and not self._waiting:
            self.busy += 1
            return True
        return False

    async def take(self) -> None:
        """Wait in line for a slot."""
        if self.try_take():
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.cancelled():  # gave up while queued: leave the line (if still in it)
                with contextlib.suppress(ValueError):
                    self._waiting.remove(turn)
            else:  # handed a slot just as we were cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter if any, else to the pool."""
        waiting = self._waiting
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot changes hands: busy stays the same
                return
        self.busy -= 1


class AttemptStore:
    """Attempts by idempotency key (and by acquirer reference), oldest evicted first.

    Real acquirers keep keys about 24 h; a load test only needs them for its own run,
    so the store is bounded by count to keep a long run's memory flat. Pending
    attempts are never evicted.
    """

    __slots__ = ("_by_key", "_by_reference", "capacity")

    def __init__(self, capacity: int = DEFAULT_KEY_CAPACITY) -> None:
        self.capacity = capacity
        self._by_key: dict[str, Attempt] = {}
        self._by_reference: dict[str, Attempt] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Attempt | None:
        return self._by_key.get(key)

    def by_reference(self, acquirer_reference: str) -> Attempt | None:
        return self._by_reference.get(acquirer_reference)

    def add(self, attempt: Attempt) -> None:
        self._by_key[attempt.key] = attempt
        self._by_reference[attempt.acquirer_reference] = attempt
        by_key = self._by_key
        while len(by_key) > self.capacity:
            oldest = next(iter(by_key.values()))
            if not oldest.completed:
                break
            del by_key[oldest.key]
            self._by_reference.pop(oldest.acquirer_reference, None)

    def pending(self) -> list[Attempt]:
        return [a for a in self._by_key.values() if not a.completed]

    def clear(self) -> None:
        self._by_key.clear()
        self._by_reference.clear()
