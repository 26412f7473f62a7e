"""After a restart: the journal replayed, so no key is forgotten and no attempt left open.

A router that starts on a journal (``--journal``) restores, before it serves:

- every idempotency key inside its retention, with its age (retention runs across
  restarts) and its first answer byte for byte; a replay of such a key is answered from
  it and never authorises again;
- the book (``GET /admin/payments``) of the finished payments, so reconciliation after
  a crash still sees every payment the router finished;
- every payment started and not finished: its key is *recovering* (a request under it
  gets 409 with Retry-After) while every attempt the acquirers may hold is settled,
  then it is given a final status, journaled and answered to whoever replays the key.
  No new attempt is sent: the payment ends with what it had. An attempt answered
  approved stays approved; a decline stays declined; an attempt with an unknown outcome
  is settled and the payment fails;
- every attempt of a finished payment that was still being settled in the background.

Settling is the lifecycle's own, not a third copy of it: each open attempt gets a
:class:`~router.engine.flow.PaymentFlow` that ended with that attempt left unsettled
(built by feeding the flow its own events: sent, timed out, no acquirer left), and
:class:`~router.reversals.LateReversals` drives its ``resettle()`` with
:func:`~router.reversals.carry_out` (void, status inquiry if the void reversed nothing,
void again if the status shows an approval), exactly as for an attempt a payment left
unsettled. The acquirer-side keys are the journaled ones (``{payment_id}-{n}``), so an
acquirer deduplicates whatever the router asks twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from router.connectors import technical_failure
from router.engine.flow import FAILED, PaymentFlow, final_status
from router.engine.retry import RetryRules
from router.engine.strategies import Ordering
from router.idempotency import IdempotencyStore, StoredAnswer
from router.journal_replay import JournalAttempt, KnownKey, Replay, UnfinishedPayment
from router.payment_journal import RESOLVING, PaymentJournal
from router.payments import PaymentRouter
from router.records import AttemptRecord, PaymentRecord, payment_answer, wall_clock
from router.reversals import UNCONFIRMED, LateReversals
from scenarios.taxonomy import CODES, TIMEOUT_CODE, CodeInfo, OutcomeClass

log = logging.getLogger("router.recovery")

RESTART_CODE: Final = "ROUTER_RESTART"  # raw code of an attempt whose answer the crash lost


@dataclass(frozen=True, slots=True)
class RecoveryStart:
    """What a restarted router found in its journal."""

    keys: int  # idempotency keys restored (finished and in progress)
    finished: int  # finished payments put back in the book
    unfinished: int  # payments being finished now
    open_attempts: int  # attempts being settled now (of unfinished and finished payments)


def unsettled_flow(acquirer: str, rules: RetryRules) -> PaymentFlow:
    """A flow that ended with its one attempt, at ``acquirer``, left unsettled.

    Fed the flow's own events (the attempt sent, timed out, no acquirer left to cascade
    to), so that :meth:`PaymentFlow.resettle` settles it by the lifecycle's rules.
    """
    flow = PaymentFlow(Ordering("recovery", (acquirer,), (), acquirer, False, math.nan), rules, 0.0)
    flow.start(0.0)
    flow.on_timed_out(0.0)
    return flow


def code_info(code: str, outcome: str) -> CodeInfo:
    """A journaled answer's class: the taxonomy's, or (a transport code) its journaled class."""
    info = CODES.get(code)
    if info is not None:
        return info
    if outcome == OutcomeClass.TECHNICAL_ERROR.value:
        return technical_failure(code, "as journaled")
    return CodeInfo(code, OutcomeClass(outcome), False, False, "as journaled")


def conclusion(attempts: tuple[JournalAttempt, ...]) -> tuple[str, str, str]:
    """(status, code, decline class) of a payment that ends with these attempts."""
    if not attempts:
        return FAILED, RESTART_CODE, OutcomeClass.TECHNICAL_ERROR.value
    last = attempts[-1]
    if last.code is None or last.outcome is None:  # sent, never answered
        return FAILED, TIMEOUT_CODE, OutcomeClass.TIMEOUT.value
    if not last.certain:  # settled now, so no approval stands: failed
        return FAILED, last.code, last.outcome
    return final_status(code_info(last.code, last.outcome)), last.code, last.outcome


def attempt_record(attempt: JournalAttempt) -> AttemptRecord:
    """The book's record of a journaled attempt."""
    latency_ms = 0.0
    if attempt.code is not None and attempt.answered_at is not None:
        latency_ms = max(0.0, (attempt.answered_at - attempt.sent_at) * 1000.0)
    void = None
    if attempt.resolved and attempt.settlement in RESOLVING:
        void = attempt.settlement  # settled during the payment, before the restart
    elif not attempt.resolved and attempt.settlement:
        void = UNCONFIRMED
    return AttemptRecord(
        attempt.acquirer,
        attempt.key,
        attempt.code or TIMEOUT_CODE,
        attempt.code or RESTART_CODE,
        attempt.outcome or OutcomeClass.TIMEOUT.value,
        latency_ms,
        bool(attempt.certain),
        void,
        number=attempt.attempt,
    )


def finished_record(
    known: KnownKey, settlements: Mapping[str, tuple[str, bool]]
) -> PaymentRecord | None:
    """The book's record of a payment finished before the restart, from its answer."""
    result = known.result
    if result is None or result.http_status != 200:
        return None
    try:
        answer: dict[str, Any] = orjson.loads(result.response)
        attempts = []
        for number, view in enumerate(answer["attempts"], start=1):
            void = view.get("void")
            settled = settlements.get(view["key"])
            if void == UNCONFIRMED and settled is not None and settled[1]:
                void = f"late_{settled[0]}"  # settled in the background before the restart
            attempts.append(
                AttemptRecord(
                    view["acquirer"],
                    view["key"],
                    view["code"],
                    view.get("raw_code", view["code"]),
                    view["class"],
                    float(view["latency_ms"]),
                    view.get("void") is None,  # only an uncertain attempt is ever voided
                    void,
                    number=number,
                )
            )
        status = str(answer["status"])
        details = known.details
        return PaymentRecord(
            known.payment_id,
            known.idempotency_key,
            status,
            answer.get("acquirer"),
            attempts[-1].key if status == "approved" and attempts else None,
            int(details.get("amount", 0)),
            str(details.get("currency", "")),
            str(details.get("merchant_reference", "")),
            int(answer.get("policy_version", 0)),
            result.finished_at,
            result.response,
            attempts,
        )
    except (KeyError, TypeError, ValueError):
        log.warning(
            "a journaled answer could not be read back; its key still replays it",
            extra={"fields": {"payment_id": known.payment_id}},
        )
        return None


class Recovery:
    """Restores a router from its journal and finishes what the crash left open."""

    def __init__(
        self,
        router: PaymentRouter,
        idempotency: IdempotencyStore,
        reversals: LateReversals,
        journal: PaymentJournal,
    ) -> None:
        self.router = router
        self.idempotency = idempotency
        self.reversals = reversals
        self.journal = journal
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def recovering(self) -> int:
        """Payments still being finished."""
        return len(self._tasks)

    def restore(self, replay: Replay, now: float | None = None) -> RecoveryStart:
        """Keys and book back in place (at once), open work started (in the background).

        Call on the event loop before the router serves its first request.
        """
        now = time.time() if now is None else now
        book = self.router.book
        unfinished = {p.payment_id: p for p in replay.unfinished}
        waiting: dict[str, asyncio.Future[StoredAnswer]] = {}
        records: dict[str, AttemptRecord] = {}  # attempts of finished payments, by key
        finished = 0
        for key, known in replay.keys.items():  # oldest first
            age_s = now - known.started_at
            result = known.result
            if result is None:
                waiting[known.payment_id] = self.idempotency.restore(
                    key, known.body_hash, age_s, None
                )
                continue
            self.idempotency.restore(
                key,
                known.body_hash,
                age_s,
                StoredAnswer(known.payment_id, result.response, result.http_status),
            )
            record = finished_record(known, replay.settlements)
            if record is not None:
                book.add(record)
                finished += 1
                records.update((a.key, a) for a in record.attempts)
        following = 0
        for attempt in replay.open_attempts:
            if attempt.payment_id in unfinished:
                continue  # settled by the payment's own recovery below
            open_record = records.get(attempt.key) or attempt_record(attempt)
            if self._follow(attempt.payment_id, open_record) is not None:
                following += 1
        for payment in replay.unfinished:
            task = asyncio.get_running_loop().create_task(
                self._finish(payment, waiting.get(payment.payment_id))
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        opened = sum(not a.resolved for p in replay.unfinished for a in p.attempts)
        start = RecoveryStart(
            len(replay.keys), finished, len(replay.unfinished), following + opened
        )
        log.info(
            "journal replayed",
            extra={
                "fields": {
                    "keys": start.keys,
                    "finished": start.finished,
                    "unfinished": start.unfinished,
                    "open_attempts": start.open_attempts,
                }
            },
        )
        return start

    def _follow(self, payment_id: str, record: AttemptRecord) -> asyncio.Task[bool] | None:
        """Settle one open attempt in the background by the lifecycle's rules."""
        connector = self.router.connectors.get(record.acquirer)
        if connector is None:
            record.void = UNCONFIRMED
            log.warning(
                "an open attempt's acquirer is not in this scenario; reconcile it by hand",
                extra={
                    "fields": {
                        "payment_id": payment_id,
                        "acquirer": record.acquirer,
                        "key": record.key,
                    }
                },
            )
            return None
        flow = unsettled_flow(record.acquirer, self.router.active.engine.retry)
        return self.reversals.follow(
            connector, payment_id, record, flow, self.router.now, delay_s=0.0
        )

    async def _finish(
        self, payment: UnfinishedPayment, waiting: asyncio.Future[StoredAnswer] | None
    ) -> None:
        records = [attempt_record(a) for a in payment.attempts]
        settled = True
        for journaled, record in zip(payment.attempts, records, strict=True):
            if journaled.resolved:
                continue
            task = self._follow(payment.payment_id, record)
            settled = settled and task is not None and await task
        status, code, decline_class = conclusion(payment.attempts)
        details = payment.details
        policy_version = int(details.get("policy_version", 0))
        response = payment_answer(
            payment.payment_id,
            status,
            records,
            decline_class=decline_class,
            code=code,
            rule=payment.rule,
            policy=str(details.get("policy", "")),
            policy_version=policy_version,
            latency_ms=max(0.0, time.time() - payment.started_at) * 1000.0,
            recovered=True,
        )
        await self.journal.finished(payment.payment_id, status, 200, response)
        approved = status == "approved"
        self.router.book.add(
            PaymentRecord(
                payment.payment_id,
                payment.idempotency_key,
                status,
                records[-1].acquirer if records else None,
                records[-1].key if approved else None,
                int(details.get("amount", 0)),
                str(details.get("currency", "")),
                str(details.get("merchant_reference", "")),
                policy_version,
                wall_clock(),
                response,
                records,
            )
        )
        self.router.metrics.recovered.labels(status).inc()
        if waiting is not None and not waiting.done():
            waiting.set_result(StoredAnswer(payment.payment_id, response))
        fields = {"payment_id": payment.payment_id, "status": status, "attempts": len(records)}
        if settled:
            log.info("unfinished payment finished after the restart", extra={"fields": fields})
        else:
            log.warning(
                "unfinished payment finished with an attempt still unresolved; reconcile "
                "against the acquirer's ledger",
                extra={"fields": fields},
            )

    async def close(self) -> None:
        """Stop finishing payments (at shutdown): the journal keeps them for next time."""
        left = list(self._tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
