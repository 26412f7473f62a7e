"""What learning strategies learn from: verdicts by decline class, and counts that forget."""

from __future__ import annotations

import pytest
from strategy_kit import answer, rule

from router.engine.rules import Candidates
from router.engine.strategies import FAILURE, NEUTRAL, SUCCESS, Attribution, Ordering
from router.engine.strategies.evidence import DiscountedCounts, Slots, WindowedCounts, counts_for
from scenarios.schema import Memory
from scenarios.taxonomy import APPROVED, TIMEOUT_CODE, OutcomeClass

DECISION = Ordering("r", ("a", "b"), (), "a", False, 1.0)
EVERY_CLASS = ["soft_decline", "hard_decline", "technical_error", "timeout"]


def test_the_taxonomy_codes_and_classes_the_strategies_rely_on() -> None:
    assert (APPROVED, TIMEOUT_CODE) == ("00", "68")
    assert [c.value for c in OutcomeClass] == ["approved", *EVERY_CLASS]


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("00", SUCCESS),
        ("05", FAILURE),  # do not honour: the acquirer's set-up
        ("19", FAILURE),
        ("91", FAILURE),  # technical
        ("96", FAILURE),
        ("94", FAILURE),
        ("68", FAILURE),  # timeout
        ("51", NEUTRAL),  # insufficient funds: the card's own
        ("59", NEUTRAL),
        ("54", NEUTRAL),  # expired card
        ("41", NEUTRAL),  # lost card (hard)
        ("57", NEUTRAL),
        ("XX", NEUTRAL),  # unknown codes are never the acquirer's fault
    ],
)
def test_every_acquirer_side_class_counts_and_card_declines_never_do(
    code: str, verdict: int
) -> None:
    assert Attribution(EVERY_CLASS, None).verdict(answer(DECISION, "a", code)) == verdict


@pytest.mark.parametrize(
    ("classes", "counted"),
    [
        (["technical_error", "timeout"], {"91", "96", "94", "68"}),
        (["soft_decline"], {"05", "19"}),
        (["timeout"], {"68"}),
        (["hard_decline"], set()),  # no hard decline is the acquirer's fault
    ],
)
def test_failure_classes_choose_which_acquirer_failures_count(
    classes: list[str], counted: set[str]
) -> None:
    attribution = Attribution(classes, None)
    for code in ["05", "19", "91", "96", "94", "68", "51", "41"]:
        expected = FAILURE if code in counted else NEUTRAL
        assert attribution.verdict(answer(DECISION, "a", code)) == expected, code
    assert attribution.verdict(answer(DECISION, "a", "00")) == SUCCESS


def test_an_approval_slower_than_the_threshold_counts_against_the_acquirer() -> None:
    attribution = Attribution(EVERY_CLASS, 500.0)
    assert attribution.verdict(answer(DECISION, "a", "00", latency_ms=500.0)) == SUCCESS
    assert attribution.verdict(answer(DECISION, "a", "00", latency_ms=500.01)) == FAILURE
    # a slow card decline is still the card's business
    assert attribution.verdict(answer(DECISION, "a", "51", latency_ms=5_000.0)) == NEUTRAL


def test_discounted_counts_multiply_every_count_before_adding() -> None:
    counts = DiscountedCounts(0.5)
    counts.add(0, True)
    counts.add(1, False)  # a's success halves; b gets one failure
    counts.add(0, False)
    assert (counts.successes(0), counts.failures(0)) == (0.25, 1.0)
    assert (counts.successes(1), counts.failures(1)) == (0.0, 0.5)
    assert counts.observations(1) == 0.5
    assert (counts.successes(7), counts.failures(7), counts.observations(7)) == (0.0, 0.0, 0.0)
    never = DiscountedCounts(1.0)
    for _ in range(1_000):
        never.add(2, True)
    assert never.successes(2) == 1_000.0


def test_windowed_counts_keep_exactly_the_last_verdicts_of_the_segment() -> None:
    counts = WindowedCounts(10)
    for _ in range(10):
        counts.add(0, False)
    assert counts.failures(0) == 10.0
    counts.add(1, True)  # the eleventh verdict pushes out the first
    assert (counts.failures(0), counts.successes(1)) == (9.0, 1.0)
    for k in range(1, 10):
        counts.add(1, True)
        assert counts.failures(0) == 9.0 - k
    assert (counts.observations(0), counts.successes(1)) == (0.0, 10.0)


def test_memory_chooses_the_counts() -> None:
    windowed = counts_for(Memory(window=10))()
    discounted = counts_for(Memory(discount=0.9))()
    assert isinstance(windowed, WindowedCounts) and isinstance(discounted, DiscountedCounts)
    discounted.add(0, True)
    discounted.add(0, True)
    assert discounted.successes(0) == pytest.approx(1.9)
    with pytest.raises(ValueError, match="exactly one of discount or window"):
        Memory()
    with pytest.raises(ValueError, match="exactly one of discount or window"):
        Memory(discount=0.9, window=100)


def test_slots_number_the_scenario_acquirers_first_and_others_when_seen() -> None:
    slots = Slots(("a", "b"))
    assert (slots.of("a"), slots.of("b"), slots.of("z"), slots.of("a")) == (0, 1, 2, 0)
    candidates: Candidates = rule("z", "a")
    assert slots.candidates(candidates) == (2, 0)
    assert slots.names() == ["a", "b", "z"]
