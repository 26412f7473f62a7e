"""The payment lifecycle as a sans-I/O state machine: one :class:`PaymentFlow` per payment.

In the manner of h11 and wsproto (see the brief's sans-io notes): the flow is fed
events, each with ``now``, and answers with the next action; it never reads a clock,
opens a socket or draws a random number. The simulator drives it in SimPy time, the
routing service in asyncio; neither decides a cascade, a void or the budget itself.

Events and the action each may lead to::

    start(now)                            -> SEND | FINISH
    on_answered(code, info, certain, now) -> SEND | VOID | FINISH
    on_timed_out(now)                     -> VOID | FINISH
    on_void_result(result, now)           -> SEND | INQUIRE | FINISH
    on_status(result, now)                -> SEND | VOID | FINISH

An action is an int (``SEND``, ``VOID``, ``INQUIRE``, ``FINISH``); its payload stays on
the flow (``acquirer``, ``attempt``, ``timeout_ms``; at the end ``status``, ``code``,
``info``), so a step allocates nothing on the simulator's per-payment path.

The rules:

- the first attempt goes to the decision's first acquirer, each cascade to the next;
  an attempt may take ``min(attempt_timeout_ms, what the budget leaves)``;
- an approval ends the payment; a decline or error cascades when the retry policy
  allows it (class listed in ``cascade_on``, code fixable elsewhere, attempts and
  budget left, a candidate left), else it ends the payment;
- a timeout, or an answer that leaves the outcome unknown (``certain=False``), may hide
  an approval. With ``on_timeout: void_then_cascade``, when a cascade would follow, the
  attempt is voided first; a void that reverses nothing is followed by a status
  inquiry; a status showing an approval by one more void. Only a confirmed void or a
  status showing no approval lets the payment go on (``settled``); anything else ends
  it as failed with the attempt left ``unsettled`` for the driver to settle in the
  background. When no cascade would follow (or the policy says ``stop``), the payment
  ends at once and the attempt is left unsettled: settling it is no business of the
  payer's clock;
- after settling, a cascade happens only if the budget still leaves time;
- the card schemes' rules (``router.engine.schemes``), when the flow is given them:
  no cascade after a Visa category-1 code or a Mastercard decline advising stop
  (Merchant Advice Code 03 or 21), nor past Visa's retry limit for the card when the
  scenario says stop there (``scheme_stopped``); the fees the schemes charge for
  excess retries and declines add up in ``scheme_fees`` (``excess_attempts`` of them).

An event that is illegal in the current state is a driver bug: :class:`FlowError`, and
the flow is in ``ERROR`` for good.
"""

from __future__ import annotations

from typing import Final

from router.engine.retry import RetryRules
from router.engine.schemes import SchemeRules
from router.engine.strategies import Ordering
from scenarios.taxonomy import CODES, TIMEOUT_CODE, CodeInfo, OutcomeClass

# -- actions (what the driver must do next) ------------------------------------------------
SEND: Final = 1  # send attempt ``attempt`` to ``acquirer``, waiting at most ``timeout_ms``
VOID: Final = 2  # void attempt ``attempt`` at ``acquirer``, waiting at most ``timeout_ms``
INQUIRE: Final = 3  # ask ``acquirer`` the status of attempt ``attempt`` (``timeout_ms``)
FINISH: Final = 4  # the payment is over: ``status``, ``code``, ``info``

ACTION_NAMES: Final = {SEND: "send", VOID: "void", INQUIRE: "inquire", FINISH: "finish"}

# -- states ------------------------------------------------------------------------------------
NEW: Final = 0
ATTEMPTING: Final = 1  # an attempt is out
VOIDING: Final = 2  # the void of an attempt with an unknown outcome is out
INQUIRING: Final = 3  # a status inquiry is out (the void reversed nothing)
REVOIDING: Final = 4  # the status showed an approval: one more void is out
DONE: Final = 5
ERROR: Final = 6

STATE_NAMES: Final = {
    NEW: "NEW",
    ATTEMPTING: "ATTEMPTING",
    VOIDING: "VOIDING",
    INQUIRING: "INQUIRING",
    REVOIDING: "REVOIDING",
    DONE: "DONE",
    ERROR: "ERROR",
}

# -- what the driver reports back ---------------------------------------------------------------
VOIDED: Final = 1  # the acquirer confirmed the void: nothing stays approved under the attempt
NOT_VOIDED: Final = 2  # the void reversed nothing (nothing approved, or not yet)
VOID_FAILED: Final = 3  # no usable answer to the void (timeout, error)

NOTHING_APPROVED: Final = 1  # declined, reversed or unknown to the acquirer
STATUS_APPROVED: Final = 2  # the attempt holds an approval
STATUS_UNKNOWN: Final = 3  # still processing, or the inquiry failed

# -- final statuses ---------------------------------------------------------------------------
APPROVED: Final = "approved"
DECLINED: Final = "declined"
FAILED: Final = "failed"

# Which events each state accepts, as data (the methods below check the same with
# if/elif, which is cheaper; a test holds the two together).
ACCEPTS: Final = {
    NEW: frozenset({"start"}),
    ATTEMPTING: frozenset({"answered", "timed_out"}),
    VOIDING: frozenset({"void_result"}),
    INQUIRING: frozenset({"status"}),
    REVOIDING: frozenset({"void_result"}),
    DONE: frozenset({"resettle"}),  # only while an attempt is left unsettled
    ERROR: frozenset(),
}

TIMEOUT_INFO: Final = CODES[TIMEOUT_CODE]
_APPROVED_CLASS: Final = OutcomeClass.APPROVED
_DECLINE_CLASSES: Final = frozenset({OutcomeClass.SOFT_DECLINE, OutcomeClass.HARD_DECLINE})


class FlowError(Exception):
    """An event the flow cannot take in its state: the driver broke the protocol."""


def final_status(info: CodeInfo) -> str:
    """The payment's status when it ends on an answer of this class."""
    outcome = info.outcome
    if outcome is _APPROVED_CLASS:
        return APPROVED
    if outcome in _DECLINE_CLASSES:
        return DECLINED
    return FAILED


class PaymentFlow:
    """One card payment from its routing decision to its final status."""

    __slots__ = (
        "_acquirers",
        "_background",
        "_card",
        "_network",
        "_next",
        "_per_card",
        "_rules",
        "_schemes",
        "acquirer",
        "attempt",
        "attempts",
        "code",
        "decision",
        "excess_attempts",
        "finished_at",
        "info",
        "scheme_fees",
        "scheme_stopped",
        "settled",
        "started_at",
        "state",
        "status",
        "timeout_ms",
        "timeouts",
        "unsettled",
    )

    def __init__(
        self,
        decision: Ordering,
        rules: RetryRules,
        started_at: float,
        schemes: SchemeRules | None = None,
        card: int = -1,
        network: str = "",
    ) -> None:
        self.decision = decision
        self._acquirers: tuple[str, ...] = decision.acquirers
        self._rules = rules
        # the scheme rules, and the card they apply to (-1: no card key, per-code only)
        self._schemes = schemes
        self._card = card
        self._network = network
        # whether the card's own counts apply (a card key and room to count it)
        self._per_card = schemes is not None and card >= 0 and schemes.capacity > 0
        self.scheme_fees = 0.0  # what the schemes charged for excess retries and declines
        self.excess_attempts = 0  # how many attempts those fees were for
        self.scheme_stopped = False  # a scheme rule stopped a cascade the policy allowed
        self._next = ""  # the acquirer to cascade to once an unknown outcome is settled
        self._background = False  # settling the unsettled attempt after the payment ended
        self.started_at = started_at  # seconds, on the driver's clock
        self.state = NEW
        self.attempts = 0  # attempts sent so far
        self.attempt = 0  # the attempt the current action is about (1-based)
        self.acquirer = ""
        self.timeout_ms = 0.0
        self.status = ""
        self.code = ""
        self.info: CodeInfo = TIMEOUT_INFO
        self.finished_at = 0.0
        self.timeouts = 0  # attempts the router gave up waiting for
        self.settled = 0  # unknown outcomes settled during the payment
        self.unsettled = 0  # the attempt left unknown at the end (0: none)

    # -- events -----------------------------------------------------------------------------

    def start(self, now: float) -> int:
        """The payment starts: its first attempt."""
        if self.state != NEW:
            return self._illegal("start")
        return self._send(self._acquirers[0], now)

    def on_answered(
        self, code: str, info: CodeInfo, certain: bool, now: float, advice: str = ""
    ) -> int:
        """The current attempt was answered: ``info`` is the code's class.

        ``certain`` is False when the answer leaves open whether money moved (a broken
        body, a dropped connection after sending): the outcome is unknown. ``advice`` is
        the Merchant Advice Code a Mastercard decline carried ("" for none).
        """
        if self.state != ATTEMPTING:
            return self._illegal("answered")
        if not certain:
            return self._unknown(code, info, now)
        outcome = info.outcome
        if outcome is _APPROVED_CLASS:
            return self._finish(APPROVED, code, info, now)
        if self._per_card and outcome in _DECLINE_CLASSES:
            schemes = self._schemes
            if schemes is not None and schemes.declined(self._card, self._network, now):
                self.excess_attempts += 1
                self.scheme_fees += schemes.mastercard_fee
        nxt = self._cascade_to(info, now, code, advice)
        if nxt:
            return self._send(nxt, now)
        return self._finish(final_status(info), code, info, now)

    def on_timed_out(self, now: float) -> int:
        """The current attempt's timeout passed without an answer: an unknown outcome."""
        if self.state != ATTEMPTING:
            return self._illegal("timed_out")
        self.timeouts += 1
        return self._unknown(TIMEOUT_CODE, TIMEOUT_INFO, now)

    def on_void_result(self, result: int, now: float) -> int:
        """The answer to a void: ``VOIDED``, ``NOT_VOIDED`` or ``VOID_FAILED``."""
        state = self.state
        if state == VOIDING:
            if result == VOIDED:
                return self._settled(now)
            self.state = INQUIRING
            self.timeout_ms = self._rules.status_timeout_ms
            return INQUIRE
        if state == REVOIDING:
            if result == VOIDED:
                return self._settled(now)
            return self._give_up(now)
        return self._illegal("void_result")

    def on_status(self, result: int, now: float) -> int:
        """The answer to a status inquiry: ``NOTHING_APPROVED``, ``STATUS_APPROVED`` or
        ``STATUS_UNKNOWN``."""
        if self.state != INQUIRING:
            return self._illegal("status")
        if result == NOTHING_APPROVED:
            return self._settled(now)
        if result == STATUS_APPROVED:
            # approved although the void reversed nothing: the approval landed in between
            self.state = REVOIDING
            self.timeout_ms = self._rules.void_timeout_ms
            return VOID
        return self._give_up(now)

    def resettle(self, now: float) -> int:
        """Try again to settle the attempt the payment left unsettled: ``VOID``.

        For the driver's background follow-up once the payment is over. The same rules
        apply (void, status if the void reversed nothing, void again if the status shows
        an approval); settling ends in ``FINISH`` with ``unsettled`` back to 0, giving up
        in ``FINISH`` with it unchanged. The payment's status is never changed.
        """
        if self.state != DONE or not self.unsettled:
            return self._illegal("resettle")
        self._background = True
        self.attempt = self.unsettled
        self.state = VOIDING
        self.timeout_ms = self._rules.void_timeout_ms
        return VOID

    # -- the rules --------------------------------------------------------------------------

    def _cascade_to(self, info: CodeInfo, now: float, code: str, advice: str) -> str:
        """The acquirer a failed attempt cascades to, or "" to stop."""
        attempts = self.attempts
        if attempts >= len(self._acquirers):
            return ""
        if not self._rules.may_cascade(info, attempts, (now - self.started_at) * 1000.0):
            return ""
        schemes = self._schemes
        if schemes is not None and not schemes.may_retry(
            self._card, self._network, code, advice, now
        ):
            self.scheme_stopped = True
            return ""
        return self._acquirers[attempts]

    def _send(self, acquirer: str, now: float) -> int:
        timeout_ms = self._rules.timeout_ms((now - self.started_at) * 1000.0)
        if timeout_ms <= 0.0:  # the budget is spent
            return self._finish(FAILED, self.code or TIMEOUT_CODE, self.info, now)
        if self._per_card and self.attempts > 0:
            schemes = self._schemes
            if schemes is not None and schemes.retried(self._card, self._network, now):
                self.excess_attempts += 1
                self.scheme_fees += schemes.visa_fee
        self.attempts += 1
        self.attempt = self.attempts
        self.acquirer = acquirer
        self.timeout_ms = timeout_ms
        self.state = ATTEMPTING
        return SEND

    def _unknown(self, code: str, info: CodeInfo, now: float) -> int:
        """The attempt may hold an approval: settle it before going on, or stop."""
        self.code = code
        self.info = info
        nxt = self._cascade_to(info, now, code, "") if self._rules.voids_first else ""
        if not nxt:
            self.unsettled = self.attempt
            return self._finish(FAILED, code, info, now)
        self._next = nxt
        self.state = VOIDING
        self.timeout_ms = self._rules.void_timeout_ms
        return VOID

    def _settled(self, now: float) -> int:
        if self._background:
            self.unsettled = 0
            self.state = DONE
            return FINISH
        self.settled += 1
        return self._send(self._next, now)

    def _give_up(self, now: float) -> int:
        """Neither a void nor a status confirmed the attempt holds nothing: stop here."""
        if self._background:
            self.state = DONE
            return FINISH
        self.unsettled = self.attempt
        return self._finish(FAILED, self.code, self.info, now)

    def _finish(self, status: str, code: str, info: CodeInfo, now: float) -> int:
        self.status = status
        self.code = code
        self.info = info
        self.finished_at = now
        self.state = DONE
        return FINISH

    def _illegal(self, event: str) -> int:
        state = STATE_NAMES[self.state]
        self.state = ERROR
        raise FlowError(f"can't handle event {event!r} in state {state}")

    # -- for drivers and reports --------------------------------------------------------------

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    @property
    def elapsed_ms(self) -> float:
        """The payment's latency as the payer sees it, once it is finished."""
        return (self.finished_at - self.started_at) * 1000.0
