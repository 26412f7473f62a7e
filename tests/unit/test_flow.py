"""The payment lifecycle state machine, driven by scripts: no SimPy, no event loop.

In the manner of h11's tests: scripted event sequences with their expected actions,
illegal orders (FlowError, then ERROR for good), the table of accepted events checked
against the code, and a property test over random legal sequences.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.engine.flow import (
    ACCEPTS,
    ATTEMPTING,
    DONE,
    ERROR,
    FINISH,
    INQUIRE,
    INQUIRING,
    NEW,
    NOT_VOIDED,
    NOTHING_APPROVED,
    REVOIDING,
    SEND,
    STATE_NAMES,
    STATUS_APPROVED,
    STATUS_UNKNOWN,
    VOID,
    VOID_FAILED,
    VOIDED,
    VOIDING,
    FlowError,
    PaymentFlow,
)
from router.engine.retry import RetryRules
from router.engine.strategies import Ordering
from scenarios.schema import RetryPolicy
from scenarios.taxonomy import classify

OK, DNH, FUNDS, STOLEN, MALFUNCTION = "00", "05", "51", "43", "96"


def rules(**retry: Any) -> RetryRules:
    return RetryRules(
        RetryPolicy.model_validate(
            {"max_attempts": 3, "attempt_timeout_ms": 1500, "budget_ms": 3000, **retry}
        )
    )


def flow(acquirers: tuple[str, ...] = ("acqA", "acqB", "acqC"), **retry: Any) -> PaymentFlow:
    decision = Ordering("default", acquirers, (), acquirers[0], False, 1.0)
    return PaymentFlow(decision, rules(**retry), 0.0)


def answered(f: PaymentFlow, code: str, now: float, certain: bool = True) -> int:
    return f.on_answered(code, classify(code), certain, now)


# --- scripted sequences ------------------------------------------------------------------


def test_the_sans_io_script_from_the_design_notes() -> None:
    # times in seconds; timeouts in ms
    f = flow()
    assert (f.start(0.0), f.acquirer, f.attempt, f.timeout_ms) == (SEND, "acqA", 1, 1500.0)
    assert (f.on_timed_out(1.5), f.attempt, f.timeout_ms) == (VOID, 1, 2000.0)
    assert f.state == VOIDING and f.timeouts == 1
    # the void took 0.2 s: the next attempt gets what the 3 s budget leaves
    assert (f.on_void_result(VOIDED, 1.7), f.acquirer, f.attempt) == (SEND, "acqB", 2)
    assert f.timeout_ms == pytest.approx(1300.0)
    assert answered(f, OK, 1.9) == FINISH
    assert (f.status, f.code, f.info.outcome.value) == ("approved", "00", "approved")
    assert (f.attempts, f.settled, f.unsettled, f.state) == (2, 1, 0, DONE)
    assert f.elapsed_ms == pytest.approx(1900.0)


def test_approval_on_the_first_attempt() -> None:
    f = flow()
    f.start(0.0)
    assert answered(f, OK, 0.2) == FINISH
    assert (f.status, f.attempts, f.finished_at) == ("approved", 1, 0.2)
    late = flow()  # started at 0: at 3 s the budget is spent before anything was sent
    assert late.start(3.0) == FINISH
    assert (late.status, late.code, late.attempts) == ("failed", "68", 0)


def test_a_new_flow_has_sent_nothing_and_approved_says_what_the_status_says() -> None:
    f = flow()
    assert (f.state, f.attempts, f.attempt, f.acquirer, f.timeout_ms) == (NEW, 0, 0, "", 0.0)
    assert (f.status, f.finished_at, f.approved) == ("", 0.0, False)
    f.start(0.0)
    answered(f, OK, 0.2)
    assert f.approved
    g = flow()
    g.start(0.0)
    answered(g, FUNDS, 0.2)
    assert not g.approved and g.status == "declined"


def test_the_budget_edge_half_a_millisecond_left_is_still_an_attempt() -> None:
    # 999.5 ms of a 1000 ms budget gone: a cascade may go, with the 0.5 ms left as its
    # timeout; at 1000 ms none may
    f = flow(attempt_timeout_ms=800, budget_ms=1000)
    f.start(0.0)
    assert (answered(f, DNH, 0.9995), f.acquirer) == (SEND, "acqB")
    assert f.timeout_ms == pytest.approx(0.5)
    g = flow(attempt_timeout_ms=800, budget_ms=1000)
    g.start(0.0)
    assert answered(g, DNH, 1.0) == FINISH and g.attempts == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [(FUNDS, "declined"), (STOLEN, "declined"), ("54", "declined"), ("XX", "declined")],
)
def test_card_side_and_hard_declines_end_the_payment(code: str, status: str) -> None:
    f = flow()
    f.start(0.0)
    assert answered(f, code, 0.2) == FINISH
    assert (f.status, f.code, f.attempts) == (status, code, 1)


def test_soft_and_technical_failures_cascade_in_order_until_max_attempts() -> None:
    f = flow()
    f.start(0.0)
    assert (answered(f, DNH, 0.1), f.acquirer) == (SEND, "acqB")
    assert (answered(f, MALFUNCTION, 0.2), f.acquirer) == (SEND, "acqC")
    assert answered(f, DNH, 0.3) == FINISH
    assert (f.status, f.code, f.attempts) == ("declined", DNH, 3)
    g = flow()
    g.start(0.0)
    answered(g, MALFUNCTION, 0.1)
    answered(g, DNH, 0.2)
    assert answered(g, MALFUNCTION, 0.3) == FINISH and g.status == "failed"


def test_no_cascade_past_the_candidates_or_the_budget_or_max_attempts() -> None:
    two = flow(("acqA", "acqB"), max_attempts=5)
    two.start(0.0)
    answered(two, DNH, 0.1)
    assert answered(two, DNH, 0.2) == FINISH  # out of candidates
    late = flow()
    late.start(0.0)
    assert answered(late, DNH, 3.0) == FINISH  # budget spent
    single = flow(max_attempts=1)
    single.start(0.0)
    assert answered(single, DNH, 0.1) == FINISH


def test_cascade_on_lists_the_classes_that_may_cascade() -> None:
    f = flow(cascade_on=["technical_error"])
    f.start(0.0)
    assert answered(f, DNH, 0.1) == FINISH
    g = flow(cascade_on=["technical_error"])
    g.start(0.0)
    assert answered(g, MALFUNCTION, 0.1) == SEND


def test_a_void_that_reverses_nothing_is_followed_by_a_status_inquiry() -> None:
    f = flow()
    f.start(0.0)
    f.on_timed_out(1.5)
    assert (f.on_void_result(NOT_VOIDED, 1.6), f.state, f.timeout_ms) == (
        INQUIRE,
        INQUIRING,
        2000.0,
    )
    assert (f.on_status(NOTHING_APPROVED, 1.7), f.acquirer) == (SEND, "acqB")
    assert f.settled == 1


def test_a_failed_void_is_followed_by_a_status_inquiry_too() -> None:
    f = flow(status_timeout_ms=700.0)
    f.start(0.0)
    f.on_timed_out(1.5)
    assert (f.on_void_result(VOID_FAILED, 2.0), f.timeout_ms) == (INQUIRE, 700.0)


def test_an_approval_that_landed_after_the_void_is_voided_again() -> None:
    f = flow(void_timeout_ms=300.0)
    f.start(0.0)
    f.on_timed_out(1.5)
    f.on_void_result(NOT_VOIDED, 1.6)
    assert (f.on_status(STATUS_APPROVED, 1.7), f.state, f.timeout_ms) == (VOID, REVOIDING, 300.0)
    assert (f.on_void_result(VOIDED, 1.8), f.acquirer) == (SEND, "acqB")


@pytest.mark.parametrize(
    "script",
    [
        [("void", VOID_FAILED), ("status", STATUS_UNKNOWN)],
        [("void", NOT_VOIDED), ("status", STATUS_UNKNOWN)],
        [("void", NOT_VOIDED), ("status", STATUS_APPROVED), ("void", NOT_VOIDED)],
        [("void", VOID_FAILED), ("status", STATUS_APPROVED), ("void", VOID_FAILED)],
    ],
)
def test_unconfirmed_outcomes_stop_the_payment_and_leave_the_attempt_unsettled(
    script: list[tuple[str, int]],
) -> None:
    f = flow()
    f.start(0.0)
    action = f.on_timed_out(1.5)
    for k, (kind, result) in enumerate(script):
        now = 1.6 + 0.1 * k
        action = f.on_void_result(result, now) if kind == "void" else f.on_status(result, now)
    assert action == FINISH
    assert (f.status, f.code, f.unsettled, f.settled, f.attempts) == ("failed", "68", 1, 0, 1)


def test_settling_that_spends_the_budget_ends_the_payment() -> None:
    f = flow()
    f.start(0.0)
    f.on_timed_out(1.5)
    assert f.on_void_result(VOIDED, 3.0) == FINISH  # nothing left of the 3 s budget
    assert (f.status, f.code, f.settled, f.unsettled) == ("failed", "68", 1, 0)


def test_no_void_on_the_payers_clock_when_no_cascade_would_follow() -> None:
    last = flow(("acqA",))
    last.start(0.0)
    assert last.on_timed_out(1.5) == FINISH
    assert (last.status, last.unsettled) == ("failed", 1)
    stop = flow(on_timeout="stop")
    stop.start(0.0)
    assert stop.on_timed_out(1.5) == FINISH and stop.unsettled == 1


def test_an_uncertain_answer_is_an_unknown_outcome() -> None:
    f = flow()
    f.start(0.0)
    assert f.on_answered("BAD_BODY", classify("96"), False, 0.4) == VOID
    assert f.on_void_result(VOIDED, 0.5) == SEND
    g = flow(on_timeout="stop")  # the policy says stop on unknown outcomes
    g.start(0.0)
    assert g.on_answered("BAD_BODY", classify("96"), False, 0.4) == FINISH
    assert (g.status, g.code, g.unsettled, g.timeouts) == ("failed", "BAD_BODY", 1, 0)


def test_background_resettling_keeps_the_payments_status() -> None:
    f = flow(("acqA",))
    f.start(0.0)
    f.on_timed_out(1.5)
    assert (f.resettle(5.0), f.attempt, f.state) == (VOID, 1, VOIDING)
    assert f.on_void_result(VOID_FAILED, 7.0) == INQUIRE
    assert f.on_status(STATUS_UNKNOWN, 8.0) == FINISH
    assert (f.unsettled, f.status, f.finished_at) == (1, "failed", 1.5)  # still unsettled
    assert f.resettle(20.0) == VOID
    assert f.on_void_result(VOIDED, 20.1) == FINISH
    assert (f.unsettled, f.settled, f.status, f.attempts) == (0, 0, "failed", 1)
    with pytest.raises(FlowError):
        f.resettle(30.0)  # nothing left to settle


# --- illegal orders ----------------------------------------------------------------------

EVENTS = {
    "start": lambda f: f.start(9.0),
    "answered": lambda f: answered(f, OK, 9.0),
    "timed_out": lambda f: f.on_timed_out(9.0),
    "void_result": lambda f: f.on_void_result(VOIDED, 9.0),
    "status": lambda f: f.on_status(NOTHING_APPROVED, 9.0),
    "resettle": lambda f: f.resettle(9.0),
}


def in_state(state: int) -> PaymentFlow:
    """A flow brought to ``state`` by legal events."""
    f = flow(("acqA",)) if state == DONE else flow()
    if state == NEW:
        return f
    f.start(0.0)
    if state == DONE:
        f.on_timed_out(1.5)  # unsettled: resettle is legal
    elif state in (VOIDING, INQUIRING, REVOIDING):
        f.on_timed_out(1.5)
        if state != VOIDING:
            f.on_void_result(NOT_VOIDED, 1.6)
        if state == REVOIDING:
            f.on_status(STATUS_APPROVED, 1.7)
    elif state == ERROR:
        with pytest.raises(FlowError):
            f.start(0.0)
    assert f.state == state, STATE_NAMES[f.state]
    return f


@pytest.mark.parametrize("state", sorted(ACCEPTS))
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_the_accepts_table_is_what_the_code_does(state: int, event: str) -> None:
    f = in_state(state)
    if event in ACCEPTS[state]:
        assert EVENTS[event](f) in (SEND, VOID, INQUIRE, FINISH)
        assert f.state != ERROR
    else:
        with pytest.raises(FlowError, match=f"can't handle event '{event}' in state"):
            EVENTS[event](f)
        assert f.state == ERROR
        for later in EVENTS.values():  # an errored flow refuses everything after
            with pytest.raises(FlowError):
                later(f)


def test_every_state_has_a_row() -> None:
    assert set(ACCEPTS) == set(STATE_NAMES)
    assert ACCEPTS[ATTEMPTING] == {"answered", "timed_out"}


# --- random legal sequences ----------------------------------------------------------------

CODES = [OK, DNH, FUNDS, STOLEN, MALFUNCTION, "91", "19", "XX"]


@settings(max_examples=400, deadline=None)
@given(
    script=st.lists(
        st.tuples(
            st.sampled_from(["answer", "timeout", "uncertain"]),
            st.sampled_from(CODES),
            st.sampled_from([VOIDED, NOT_VOIDED, VOID_FAILED]),
            st.sampled_from([NOTHING_APPROVED, STATUS_APPROVED, STATUS_UNKNOWN]),
            st.floats(0.0, 2.0),
        ),
        min_size=1,
        max_size=12,
    ),
    max_attempts=st.integers(1, 4),
    budget_ms=st.sampled_from([800.0, 3000.0, 10_000.0]),
    on_timeout=st.sampled_from(["void_then_cascade", "stop"]),
)
def test_invariants_over_random_legal_sequences(
    script: list[tuple[str, str, int, int, float]],
    max_attempts: int,
    budget_ms: float,
    on_timeout: str,
) -> None:
    f = flow(
        max_attempts=max_attempts,
        budget_ms=budget_ms,
        attempt_timeout_ms=min(1500.0, budget_ms),
        on_timeout=on_timeout,
    )
    budget_s = budget_ms / 1000.0
    now = send_at = 0.0
    action = f.start(now)
    sent: list[str] = [f.acquirer]
    settling = False  # an unknown outcome is being settled
    steps = iter(script)
    while action != FINISH:
        kind, code, void, status, dt = next(steps, ("answer", OK, VOIDED, NOTHING_APPROVED, 0.1))
        settled_now = False
        if action == SEND:
            assert not settling, "a new attempt while an unknown outcome is unsettled"
            # never past the deadline: the attempt's timeout fits in what the budget leaves
            assert f.timeout_ms > 0.0 and send_at + f.timeout_ms / 1000.0 <= budget_s + 1e-9
            if kind == "timeout":
                now = send_at + f.timeout_ms / 1000.0
                action = f.on_timed_out(now)
            else:
                now = send_at + min(dt, f.timeout_ms / 1000.0)
                action = f.on_answered(code, classify(code), kind == "answer", now)
            settling = action in (VOID, INQUIRE)
        elif action == VOID:
            now += dt
            action = f.on_void_result(void, now)
            settled_now = void == VOIDED
        else:
            assert action == INQUIRE
            now += dt
            action = f.on_status(status, now)
            settled_now = status == NOTHING_APPROVED
        if action == SEND:
            # a cascade after an unknown outcome only once it is settled
            assert not settling or settled_now, "cascaded before a confirmed void"
            settling = False
            send_at = now
            sent.append(f.acquirer)
    # never the same acquirer twice, never past max_attempts, always in decision order
    assert len(sent) == len(set(sent)) == f.attempts <= max_attempts
    assert tuple(sent) == ("acqA", "acqB", "acqC")[: len(sent)]
    assert f.status in ("approved", "declined", "failed")
    assert f.state == DONE
    assert f.status != "approved" or (f.code == OK and f.unsettled == 0)
    assert not (f.unsettled and f.status == "approved")
    assert math.isfinite(f.elapsed_ms)
