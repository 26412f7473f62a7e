"""The payment path's side of the journal: which step is recorded when, and what a
failure of the journal means for the payment.

:mod:`router.journal` keeps records durable; this module says what the router writes
and where it waits, so that a crash at any instant leaves a journal from which the
restarted router can tell every attempt that might hold an approval:

- before the first acquirer call: the payment (key, body fingerprint, decision, the
  details its answer needs) and "attempt 1 sent", then :meth:`before_send` waits for
  them to be durable;
- before every later attempt: "attempt sent", durable before the request leaves. So
  no acquirer ever holds an attempt the journal does not know;
- each answer, each void or status result: appended without waiting (a crash that
  loses one only means the restarted router settles that attempt again: voids and
  status inquiries are idempotent);
- the final status with the answer's bytes, durable before the answer goes out
  (:meth:`finished`): no client is ever told something a crash could take back.

When the journal cannot take a record: a new payment is refused
(:class:`~router.journal.JournalRefusedError`, answered 503 with Retry-After, nothing
attempted); an attempt that cannot be made durable is not sent and fails as the
router's own trouble (``JOURNAL_FAILED``, like a pool exhaustion: no cascade, no
score); any other record that fails is logged and the payment goes on in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from router.connectors import AttemptAnswer, failure_answer
from router.engine.flow import (
    NOT_VOIDED,
    NOTHING_APPROVED,
    STATUS_APPROVED,
    STATUS_UNKNOWN,
    VOID_FAILED,
    VOIDED,
)
from router.journal import Journal, JournalError, JournalFullError, JournalRefusedError
from router.metrics import RouterMetrics
from router.payment_request import RequestError
from router.records import AttemptRecord
from router.transport import TransportError

log = logging.getLogger("router.journal")

JOURNAL_FAILED: Final = "JOURNAL_FAILED"
# void and status results as journaled (attempt_settled's ``result``)
VOID_RESULT_NAMES: Final = {VOIDED: "voided", NOT_VOIDED: "not_voided", VOID_FAILED: "void_failed"}
STATUS_RESULT_NAMES: Final = {
    NOTHING_APPROVED: "nothing_approved",
    STATUS_APPROVED: "status_approved",
    STATUS_UNKNOWN: "status_unknown",
}
RESOLVING: Final = frozenset({"voided", "nothing_approved"})  # no unknown approval remains


class JournalRefusalError(RequestError):
    """A new payment refused because the journal cannot take it: 503 + Retry-After."""

    def __init__(self, refused: JournalRefusedError) -> None:
        full = isinstance(refused, JournalFullError)
        super().__init__(
            503,
            "journal_full" if full else "journal_unavailable",
            [
                (
                    "",
                    (
                        "the payment journal holds as many payments as it may and forgets "
                        "none inside its retention"
                        if full
                        else "the payment journal cannot record payments now"
                    )
                    + "; nothing was attempted: retry after the Retry-After delay with the "
                    "same Idempotency-Key",
                )
            ],
            headers=((b"retry-after", str(refused.retry_after_s).encode()),),
        )


def not_journaled() -> AttemptAnswer:
    """The answer of an attempt the router did not send: the journal could not record it."""
    return failure_answer(
        TransportError(
            JOURNAL_FAILED,
            maybe_processed=False,
            detail="the payment journal could not record the attempt; it was not sent",
            acquirer_side=False,
        )
    )


class PaymentJournal:
    """The router's payment steps on a :class:`~router.journal.Journal`."""

    def __init__(self, journal: Journal, metrics: RouterMetrics) -> None:
        self.journal = journal
        self.metrics = metrics
        self._reported = False

    def started(
        self,
        payment_id: str,
        idempotency_key: str,
        fingerprint: bytes,
        rule: str,
        acquirers: Sequence[str],
        details: Mapping[str, Any],
    ) -> None:
        """Record a decided payment; raises :class:`~router.journal.JournalRefusedError`
        when it cannot (the payment must then be refused, nothing attempted)."""
        self.journal.payment_started(
            payment_id, idempotency_key, fingerprint, rule, acquirers, details
        )

    async def before_send(self, payment_id: str, attempt: int, acquirer: str, key: str) -> bool:
        """Record an attempt about to leave and wait until it is durable; False: don't send."""
        try:
            self.journal.attempt_sent(payment_id, attempt, acquirer, key)
            await self.journal.flush()
        except JournalError as exc:
            self._failed(exc, payment_id)
            return False
        return True

    def answered(self, payment_id: str, attempt: int, answer: AttemptAnswer) -> None:
        try:
            self.journal.attempt_answered(
                payment_id, attempt, answer.code, answer.info.outcome.value, answer.certain
            )
        except JournalError as exc:
            self._failed(exc, payment_id)

    def settled(self, payment_id: str, attempt: AttemptRecord, result: str) -> None:
        """A void or status result (a name from :data:`VOID_RESULT_NAMES` or
        :data:`STATUS_RESULT_NAMES`) of ``attempt``."""
        try:
            self.journal.attempt_settled(payment_id, attempt.number, result, result in RESOLVING)
        except JournalError as exc:
            self._failed(exc, payment_id)

    def unresolved(self, payment_id: str, attempt: AttemptRecord) -> None:
        """The router stopped settling ``attempt`` for now, its outcome still unknown."""
        try:
            self.journal.attempt_settled(payment_id, attempt.number, "unconfirmed", False)
        except JournalError as exc:
            self._failed(exc, payment_id)

    async def finished(self, payment_id: str, status: str, http_status: int, answer: bytes) -> None:
        """Record the final status and answer, and wait until they are durable."""
        try:
            self.journal.payment_finished(payment_id, status, http_status, answer)
            await self.journal.flush()
        except JournalError as exc:
            self._failed(exc, payment_id)

    def _failed(self, exc: JournalError, payment_id: str) -> None:
        self.metrics.journal_failures.inc()
        if not self._reported:  # once: every record after a disk failure fails alike
            self._reported = True
            log.error(
                "the payment journal failed; new payments are refused, those in flight go "
                "on in memory",
                extra={"fields": {"payment_id": payment_id, "error": str(exc)}},
            )
