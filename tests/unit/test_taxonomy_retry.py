"""Decline taxonomy and the cascade policy: which answers may go on to another acquirer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.engine.retry import attempt_timeout_ms, may_cascade
from scenarios.schema import DeclineClass, RetryPolicy
from scenarios.taxonomy import CODES, CodeInfo, OutcomeClass, classify

A, S, H, T, TO = (
    OutcomeClass.APPROVED,
    OutcomeClass.SOFT_DECLINE,
    OutcomeClass.HARD_DECLINE,
    OutcomeClass.TECHNICAL_ERROR,
    OutcomeClass.TIMEOUT,
)

# code -> (class, cascadable, acquirer_side), written out from domain.md so a change in
# the table is a visible, reviewed decision rather than a silent drift
EXPECTED: dict[str, tuple[OutcomeClass, bool, bool]] = {
    "00": (A, False, False),
    "05": (S, True, True),
    "19": (S, True, True),
    "51": (S, False, False),
    "59": (S, False, False),
    "61": (S, False, False),
    "65": (S, False, False),
    "1A": (S, False, False),
    "04": (H, False, False),
    "07": (H, False, False),
    "12": (H, False, False),
    "14": (H, False, False),
    "15": (H, False, False),
    "41": (H, False, False),
    "43": (H, False, False),
    "54": (H, False, False),
    "57": (H, False, False),
    "62": (H, False, False),
    "91": (T, True, True),
    "96": (T, True, True),
    "94": (T, False, True),
    "68": (TO, True, True),
}

ALL_CLASSES: list[DeclineClass] = ["soft_decline", "hard_decline", "technical_error", "timeout"]


def test_table_covers_exactly_the_expected_codes() -> None:
    assert set(CODES) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_classification_of_every_code(code: str) -> None:
    info = classify(code)
    outcome, cascadable, acquirer_side = EXPECTED[code]
    assert info.code == code
    assert info.outcome is outcome
    assert info.cascadable is cascadable
    assert info.acquirer_side is acquirer_side
    assert info.meaning


def test_hard_declines_are_never_cascadable_nor_acquirer_side() -> None:
    for info in CODES.values():
        if info.outcome is H:
            assert not info.cascadable and not info.acquirer_side, info.code


@pytest.mark.parametrize("code", ["XX", "99", "A1", "", "000"])
def test_unknown_codes_are_soft_and_not_cascadable(code: str) -> None:
    info = classify(code)
    assert info.code == code  # the raw code is kept
    assert info.outcome is S
    assert not info.cascadable
    assert not info.acquirer_side


def _policy(**kwargs: object) -> RetryPolicy:
    return RetryPolicy.model_validate(kwargs)


DEFAULT = _policy(max_attempts=3)


@pytest.mark.parametrize("code", ["05", "19", "91", "96", "68"])
def test_acquirer_side_failures_cascade(code: str) -> None:
    assert may_cascade(DEFAULT, classify(code), attempts_made=1, elapsed_ms=100.0)


@pytest.mark.parametrize("code", ["00", "51", "59", "61", "65", "1A", "94", "ZZ"])
def test_other_answers_do_not_cascade(code: str) -> None:
    assert not may_cascade(DEFAULT, classify(code), attempts_made=1, elapsed_ms=100.0)


def test_insufficient_funds_never_cascades_whatever_the_policy() -> None:
    info = classify("51")
    for classes in (ALL_CLASSES, ["soft_decline"]):
        retry = _policy(max_attempts=10, budget_ms=1e9, cascade_on=classes)
        for attempts in range(1, 10):
            assert not may_cascade(retry, info, attempts, 0.0)


def test_max_attempts_is_respected() -> None:
    retry = _policy(max_attempts=3)
    info = classify("05")
    assert may_cascade(retry, info, 1, 0.0)
    assert may_cascade(retry, info, 2, 0.0)
    assert not may_cascade(retry, info, 3, 0.0)
    assert not may_cascade(retry, info, 4, 0.0)
    assert not may_cascade(_policy(max_attempts=1), info, 1, 0.0)


def test_budget_is_respected() -> None:
    retry = _policy(max_attempts=5, budget_ms=2_000.0, attempt_timeout_ms=1_000.0)
    info = classify("96")
    assert may_cascade(retry, info, 1, 1_999.9)
    assert not may_cascade(retry, info, 1, 2_000.0)
    assert not may_cascade(retry, info, 1, 5_000.0)


@pytest.mark.parametrize(
    ("code", "needed"),
    [
        ("05", "soft_decline"),
        ("19", "soft_decline"),
        ("91", "technical_error"),
        ("96", "technical_error"),
        ("68", "timeout"),
    ],
)
def test_cascade_on_lists_the_classes_that_may_cascade(code: str, needed: DeclineClass) -> None:
    info = classify(code)
    without: list[DeclineClass] = [c for c in ALL_CLASSES if c != needed]
    assert may_cascade(_policy(cascade_on=[needed]), info, 1, 0.0)
    assert not may_cascade(_policy(cascade_on=without), info, 1, 0.0)
    assert not may_cascade(_policy(cascade_on=[]), info, 1, 0.0)


def test_on_timeout_stop_means_no_cascade_after_a_timeout() -> None:
    info = classify("68")
    assert may_cascade(_policy(on_timeout="void_then_cascade"), info, 1, 0.0)
    assert not may_cascade(_policy(on_timeout="stop"), info, 1, 0.0)
    # 'stop' is about unknown outcomes only: technical errors still cascade
    assert may_cascade(_policy(on_timeout="stop"), classify("96"), 1, 0.0)


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from([*sorted(CODES), "XX"]),
    attempts=st.integers(0, 12),
    elapsed=st.floats(0.0, 20_000.0),
    max_attempts=st.integers(1, 10),
    budget=st.floats(1.0, 20_000.0),
    cascade_on=st.lists(st.sampled_from(ALL_CLASSES), unique=True),
    on_timeout=st.sampled_from(["void_then_cascade", "stop"]),
)
def test_may_cascade_invariants(
    *,
    code: str,
    attempts: int,
    elapsed: float,
    max_attempts: int,
    budget: float,
    cascade_on: list[DeclineClass],
    on_timeout: str,
) -> None:
    retry = _policy(
        max_attempts=max_attempts,
        budget_ms=budget,
        attempt_timeout_ms=min(budget, 4_000.0),
        cascade_on=cascade_on,
        on_timeout=on_timeout,
    )
    info: CodeInfo = classify(code)
    allowed = may_cascade(retry, info, attempts, elapsed)
    if allowed:
        assert info.outcome not in (A, H)
        assert info.cascadable
        assert attempts < max_attempts
        assert elapsed < budget
        assert info.outcome.value in cascade_on
        if info.outcome is TO:
            assert on_timeout == "void_then_cascade"
    elif (
        info.cascadable
        and info.outcome.value in cascade_on
        and attempts < max_attempts
        and elapsed < budget
        and (info.outcome is not TO or on_timeout != "stop")
    ):
        pytest.fail(f"{code} should cascade under {retry}")


def test_attempt_timeout_is_cut_by_the_remaining_budget() -> None:
    retry = _policy(attempt_timeout_ms=4_000.0, budget_ms=10_000.0)
    assert attempt_timeout_ms(retry, 0.0) == 4_000.0
    assert attempt_timeout_ms(retry, 6_000.0) == 4_000.0
    assert attempt_timeout_ms(retry, 7_500.0) == 2_500.0
    assert attempt_timeout_ms(retry, 10_000.0) == 0.0
    assert attempt_timeout_ms(retry, 12_000.0) == 0.0  # never negative
