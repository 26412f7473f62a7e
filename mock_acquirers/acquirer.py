"""One mock acquirer at work: deciding attempts with the shared behaviour model, queueing
for capacity, remembering idempotency keys, booking and voiding approvals, and how long
a void or a status inquiry takes.

The decision itself is :meth:`AcquirerBehaviour.attempt`, the very code the simulator
runs; this module only feeds it (scenario time, the issuer's answer, uniforms from the
acquirer's own stream) and then makes the answer take real time. Parsing and encoding
are the acquirer's dialect's business (``mock_acquirers/dialects/``), HTTP the app's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from hashlib import blake2b
from typing import Any

import numpy as np

from mock_acquirers.behaviour import (
    AcquirerBehaviour,
    AttemptOutcome,
    IssuerModel,
    latency_quantile,
)
from mock_acquirers.dialects.base import AuthorisationRequest, Dialect
from mock_acquirers.faults import FaultPlan
from mock_acquirers.state import Attempt, AttemptStore, CapacitySlots, Counters, LedgerEntry
from scenarios.schema import Acquirer
from scenarios.streams import UniformStream
from scenarios.taxonomy import APPROVED

_TWO_64 = float(2**64)


def issuer_uniform(bin_: str, last4: str, amount: int, currency: str, reference: str) -> float:
    """The uniform behind the issuer's decision for a payment, in [0, 1).

    A hash of the card and the order rather than a draw: the issuer must give the same
    answer whichever acquirer (and whichever mock process) the router sends it to.
    """
    digest = blake2b(
        f"{bin_}|{last4}|{amount}|{currency}|{reference}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / _TWO_64


def auth_code(sequence: int, salt: int) -> str:
    """A six-character approval code, distinct for 2**24 consecutive approvals."""
    # an odd multiplier permutes the 24-bit range, so codes look random yet never repeat
    return f"{(sequence * 2_654_435_761 + salt) & 0xFFFFFF:06X}"


class MockAcquirer:
    """One scenario acquirer behind the mock service."""

    def __init__(
        self,
        acquirer: Acquirer,
        index: int,
        issuer: IssuerModel,
        rng: np.random.Generator,
        dialect: Dialect,
    ) -> None:
        self.acquirer = acquirer
        self.name = acquirer.name
        self.dialect = dialect
        self.index = index
        self.behaviour = AcquirerBehaviour(acquirer)
        self.issuer = issuer
        self.faults = FaultPlan()
        self.counters = Counters()
        self.store = AttemptStore()
        self.ledger: list[LedgerEntry] = []
        self.slots = CapacitySlots(acquirer.capacity)
        self.epoch = 0
        self._encode = dialect.authorisation_answer
        self._tasks: set[asyncio.Task[None]] = set()
        self.reseed(rng)

    def reseed(self, rng: np.random.Generator) -> None:
        """Restart the random streams: outcomes from ``rng``; fault picks, void latencies
        and status-inquiry latencies each from a child of it (so injecting faults, voiding
        or inquiring never shifts the outcome sequence, nor each other)."""
        self._stream = UniformStream(rng)
        # the first child is the fault stream whatever the number spawned
        faults, voids, statuses = rng.spawn(3)
        self.fault_stream = UniformStream(faults)
        self._void_stream = UniformStream(voids)
        self._status_stream = UniformStream(statuses)
        self._sequence = 0
        self._reference_prefix = f"{self.index % 100:02d}{self.epoch % 100:02d}"
        self._salt = self.index * 7919 + self.epoch

    def reset(self, rng: np.random.Generator) -> None:
        """Forget everything (ledger, counters, keys, injected incidents and faults)."""
        self.epoch += 1
        self.ledger = []
        self.counters = Counters()
        self.store.clear()
        self.faults.clear()
        self.behaviour.clear_injected()
        self.reseed(rng)

    # -- authorisation ----------------------------------------------------------------------

    def authorise(
        self, request: AuthorisationRequest, t: float, force_approve: bool = False
    ) -> tuple[Attempt, bool]:
        """Decide the attempt for ``request`` at scenario time ``t`` (or find it).

        Returns the attempt and whether it replays an existing key. A new attempt must
        then be served (:meth:`serve`), a replay awaited (:meth:`Attempt.answer`).
        ``force_approve`` is the ``late_approval`` fault.
        """
        counters = self.counters
        counters.requests += 1
        existing = self.store.get(request.key)
        if existing is not None:
            counters.idempotent_replays += 1
            return existing, True
        payment = request.payment
        issuer_code = self.issuer.decline_code(
            payment,
            issuer_uniform(
                payment.bin, request.last4, payment.amount, payment.currency, request.reference
            ),
        )
        stream = self._stream
        u_fault, u_approve, u_latency = stream.next(), stream.next(), stream.next()
        base_ms = latency_quantile(self.acquirer.latency, u_latency)
        outcome = self.behaviour.attempt(payment, t, issuer_code, u_fault, u_approve, base_ms)
        if force_approve:
            outcome = AttemptOutcome(APPROVED, base_ms, False, False, "")
        code = outcome.code
        if outcome.technical:
            counters.technical_errors += 1
        elif code == APPROVED:
            counters.approved += 1
        else:
            counters.declined[code] += 1
        if outcome.hung:
            counters.hung += 1
        self._sequence = sequence = self._sequence + 1
        reference = f"{self._reference_prefix}{sequence % 10**12:012d}"
        approval = auth_code(sequence, self._salt) if code == APPROVED else ""
        body = self._encode(
            request, code, reference, f"{sequence % 1_000_000:06d}", approval, outcome.advice
        )
        attempt = Attempt(
            request, t, code, body, reference, service_ms=outcome.service_ms, epoch=self.epoch
        )
        self.store.add(attempt)
        return attempt, False

    async def serve(self, attempt: Attempt) -> bytes:
        """Hold a capacity slot for the service time (queueing first if all are busy),
        book the outcome, return the answer.

        A real acquirer keeps working on a request the client gave up on, so neither the
        slot nor the place in the queue depends on the request's task: if that task is
        cancelled in service, the slot is freed when the service time is over; a queued
        attempt waits in a task of its own from the start.
        """
        if not self.slots.try_take():
            self._detach(self._serve_queued(attempt))
            return await attempt.answer()
        if attempt.service_ms > 0.0:
            loop = asyncio.get_running_loop()
            done_at = loop.time() + attempt.service_ms / 1000.0
            try:
                await asyncio.sleep(attempt.service_ms / 1000.0)
            except asyncio.CancelledError:
                loop.call_at(done_at, self._finish, attempt)
                raise
        self._finish(attempt)
        return attempt.body

    async def _serve_queued(self, attempt: Attempt) -> None:
        await self.slots.take()
        try:
            await asyncio.sleep(attempt.service_ms / 1000.0)
        except asyncio.CancelledError:  # shutdown: give the slot back, nothing is booked
            self.slots.release()
            raise
        self._finish(attempt)

    def _detach(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # asyncio keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    def _finish(self, attempt: Attempt) -> None:
        """The service time is over: free the slot, book the outcome, wake duplicates."""
        self.slots.release()
        attempt.completed = True
        request, attempt.request = attempt.request, None
        if attempt.code == APPROVED and attempt.epoch == self.epoch and request is not None:
            # (an attempt from before a reset is not booked into the fresh ledger)
            payment = request.payment
            entry = LedgerEntry(
                attempt.key,
                attempt.reference,
                payment.amount,
                payment.currency,
                payment.bin,
                request.last4,
                attempt.acquirer_reference,
                attempt.t,
            )
            attempt.ledger_entry = entry
            self.ledger.append(entry)
            if attempt.void_requested:
                self._void(attempt)
        waiters = attempt.waiters
        if waiters is not None and not waiters.done():
            waiters.set_result(attempt.body)

    # -- reversal and inquiry ---------------------------------------------------------------

    def reverse(self, attempt: Attempt | None) -> bool:
        """Void an approval (idempotent); True when the attempt is, or will be, voided.

        A reversal can overtake a pending attempt (the router timed out). As real
        acquirers accept a cancel of an authorisation still in flight, the answer is
        True whatever the attempt's outcome will be, and an approval is voided the
        moment it is booked; so the router may safely cascade, as the simulator does.
        """
        if attempt is None:
            return False
        if attempt.reversed or attempt.void_requested:
            return True
        if attempt.completed and attempt.code != APPROVED:
            return False  # a finished decline: nothing to void
        attempt.void_requested = True
        if attempt.completed and attempt.ledger_entry is not None:
            self._void(attempt)
        return True

    def void_ms(self) -> float:
        """How long this void's answer takes, in ms: the scenario's ``void_latency``.

        A uniform is drawn only when the latency is not fixed. Incidents do not slow a
        void down: :meth:`AcquirerBehaviour.void_ms`, which the simulator charges too,
        takes no scenario time, and ``latency_factor`` is for authorisations.
        """
        behaviour = self.behaviour
        fixed = behaviour.void_fixed_ms
        return fixed if fixed is not None else behaviour.void_ms(self._void_stream.next())

    def status_ms(self) -> float:
        """How long this status inquiry's answer takes, in ms: ``status_latency``."""
        behaviour = self.behaviour
        fixed = behaviour.status_fixed_ms
        return fixed if fixed is not None else behaviour.status_ms(self._status_stream.next())

    def _void(self, attempt: Attempt) -> None:
        attempt.reversed = True
        if attempt.ledger_entry is not None:
            attempt.ledger_entry.status = "reversed"
        self.counters.reversals += 1

    def counts(self) -> dict[str, Any]:
        """The counters, with the live gauges: attempts in service and queued."""
        return {
            **self.counters.as_dict(),
            "in_flight": self.slots.busy,
            "queued": self.slots.queued,
        }

    def find(self, key: str) -> Attempt | None:
        return self.store.get(key)

    def find_by_reference(self, acquirer_reference: str) -> Attempt | None:
        return self.store.by_reference(acquirer_reference)

    # -- lifecycle ------------------------------------------------------------------------

    def cancel_pending(self) -> int:
        """Stop every attempt still in the acquirer (at shutdown); returns how many."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return len(tasks)
