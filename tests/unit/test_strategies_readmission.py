"""An acquirer a circuit breaker lets back in, judged afresh (``readmitted: fresh``).

``Strategy.forget(acquirer)``: what each learning strategy drops, and the elimination
strategy asking for it once per readmission, never with ``readmitted: keep``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from strategy_kit import CONFIG, answer, build, feed, pay, rule

from router.engine.strategies import (
    Elimination,
    Ordering,
    SrWindow,
    Strategy,
    StrategyContext,
)
from router.engine.strategies.evidence import DiscountedCounts, WindowedCounts
from router.engine.strategies.learner import CountingStrategy
from scenarios.streams import UniformStream

ABC = rule("a", "b", "c")
SEG = "visa/False"


def test_sr_window_rebuilds_a_forgotten_window_just_above_the_best_rival() -> None:
    strategy = build({"type": "sr_window", "exploration": 0.0, "reset_sigma": 0.0})
    assert isinstance(strategy, SrWindow)
    feed(strategy, "a", ["05"] * 40)  # a: 85/125
    feed(strategy, "b", ["05"] * 10)  # b: 115/125, the best rival
    feed(strategy, "c", ["05"] * 20)  # c: 105/125
    assert strategy.order(pay(), ABC, 0.0).acquirers == ("b", "c", "a")  # ranking cached
    strategy.forget("a")
    assert strategy.scores()[SEG] == {"a": 116 / 125, "b": 115 / 125, "c": 105 / 125}
    assert strategy.order(pay(), ABC, 0.0).acquirers == ("a", "b", "c")  # cache dropped
    feed(strategy, "a", ["05"] * 3)  # its own next verdicts decide at once
    assert strategy.scores()[SEG]["a"] == 114 / 125
    assert strategy.order(pay(), ABC, 0.0).acquirers == ("b", "a", "c")


def test_sr_window_drops_a_window_without_rivals_and_leaves_other_segments_alone() -> None:
    strategy = build({"type": "sr_window", "exploration": 0.0, "reset_sigma": 0.0})
    feed(strategy, "a", ["05"] * 5, candidates=rule("a"))
    feed(strategy, "a", ["05"] * 5, payment=pay(network="mastercard"))
    feed(strategy, "b", ["05"] * 3, payment=pay(network="mastercard"))
    strategy.forget("a")
    scores = strategy.scores()
    assert scores[SEG] == {}  # untried again: it scores a full window
    assert scores["mastercard/False"] == {"a": 123 / 125, "b": 122 / 125}
    strategy.forget("z")  # an acquirer never seen: nothing to do


def test_discounted_counts_forget_one_slot_only() -> None:
    counts = DiscountedCounts(0.5)
    counts.add(0, True)
    counts.add(1, False)
    counts.add(0, False)
    counts.forget(0)
    assert counts.values == [0.0, 0.0, 0.0, 0.5]
    counts.forget(5)  # a slot beyond the counts
    assert counts.values == [0.0, 0.0, 0.0, 0.5]
    three = DiscountedCounts(1.0)
    for slot, success in [(0, True), (1, True), (2, True), (1, False)]:
        three.add(slot, success)
    assert three.values == [1.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    three.forget(1)  # the middle slot: its two values only
    assert three.values == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    three.forget(2)
    assert three.values == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    two = DiscountedCounts(1.0)
    two.add(1, True)
    two.forget(2)  # just past the end: nothing to drop, nothing raised
    assert two.values == [0.0, 0.0, 1.0, 0.0]


def test_windowed_counts_forget_a_slot_and_keep_the_rest_in_order() -> None:
    counts = WindowedCounts(4)
    for slot, success in [(0, True), (1, False), (0, False), (1, True), (1, True)]:
        counts.add(slot, success)  # the ring holds the last four, the first one left
    assert counts.values == [0.0, 1.0, 2.0, 1.0]
    counts.forget(0)
    assert counts.values == [0.0, 0.0, 2.0, 1.0]
    # three verdicts kept: the next one fills the window, nothing leaves it
    counts.add(2, True)
    assert counts.values == [0.0, 0.0, 2.0, 1.0, 1.0, 0.0]
    counts.add(2, True)  # then the oldest kept verdict leaves first: slot 1's failure
    assert counts.values == [0.0, 0.0, 2.0, 0.0, 2.0, 0.0]
    counts.add(2, True)  # ... then its older success
    assert counts.values == [0.0, 0.0, 1.0, 0.0, 3.0, 0.0]


@pytest.mark.parametrize(
    "config",
    [
        {"type": "thompson", "segment_by": ["network"]},
        {"type": "ucb", "memory": {"window": 50}},
        {"type": "hierarchical"},
    ],
)
def test_counting_strategies_forget_an_acquirer_in_every_segment(config: dict[str, Any]) -> None:
    strategy = build(config)
    assert isinstance(strategy, CountingStrategy)
    for network in ("visa", "mastercard"):
        feed(strategy, "a", ["05", "00", "05"], payment=pay(network=network))
        feed(strategy, "b", ["00"], payment=pay(network=network))
    before = strategy.scores()
    strategy.forget("a")
    after = strategy.scores()
    assert before and all("a" in by_acquirer for by_acquirer in before.values())
    assert all("a" not in by_acquirer for by_acquirer in after.values())
    assert {s: {k: v for k, v in m.items() if k != "a"} for s, m in before.items()} == after


class Recorder(Strategy):
    """A priority inner strategy that writes down what it is asked to forget."""

    learns = True

    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def order(self, payment: Any, candidates: Any, now: float) -> Ordering:
        acquirers = candidates.acquirers
        return Ordering(candidates.rule, acquirers, (), acquirers[0], False, 1.0)

    def forget(self, acquirer: str) -> None:
        self.forgotten.append(acquirer)


def breaker(readmitted: str) -> tuple[Elimination, Recorder]:
    config = CONFIG.validate_python(
        {"type": "elimination", "inner": {"type": "priority"}, "probe": 0.0,
         "readmitted": readmitted,
         "breaker": {"type": "leaky_bucket", "size": 2, "leak_interval_s": 10.0}}
    )  # fmt: skip
    inner = Recorder()
    context = StrategyContext(UniformStream(np.random.default_rng(1)), ("a", "b", "c"))
    return Elimination(config, context, inner), inner


def test_a_readmitted_acquirer_is_forgotten_once_per_readmission() -> None:
    strategy, inner = breaker("fresh")
    for _ in range(2):
        strategy.record(answer(strategy.order(pay(), ABC, 0.0), "a", "91", at=0.0))
    assert strategy.order(pay(), ABC, 1.0).acquirers == ("b", "c", "a")
    assert strategy.order(pay(), ABC, 9.0).acquirers == ("b", "c", "a")
    assert inner.forgotten == []  # still out: nothing to forget yet
    assert strategy.order(pay(), ABC, 10.0).acquirers == ("a", "b", "c")  # one unit leaked
    assert strategy.order(pay(), ABC, 11.0).acquirers == ("a", "b", "c")
    assert inner.forgotten == ["a"]  # once, when it came back
    strategy.record(answer(strategy.order(pay(), ABC, 12.0), "a", "91", at=12.0))
    assert strategy.order(pay(), ABC, 12.0).acquirers == ("b", "c", "a")
    assert strategy.order(pay(), ABC, 22.0).acquirers == ("a", "b", "c")
    assert inner.forgotten == ["a", "a"]


def test_readmitted_keep_forgets_nothing_and_is_the_default() -> None:
    strategy, inner = breaker("keep")
    for _ in range(2):
        strategy.record(answer(strategy.order(pay(), ABC, 0.0), "a", "91", at=0.0))
    assert strategy.order(pay(), ABC, 1.0).acquirers == ("b", "c", "a")
    assert strategy.order(pay(), ABC, 10.0).acquirers == ("a", "b", "c")
    assert inner.forgotten == []
    default = CONFIG.validate_python({"type": "elimination", "inner": {"type": "priority"}})
    assert default.readmitted == "keep"
    with pytest.raises(ValidationError, match="readmitted"):
        CONFIG.validate_python(
            {"type": "elimination", "inner": {"type": "priority"}, "readmitted": "reset"}
        )


def test_sr_window_behind_a_breaker_comes_back_first_when_readmitted_fresh() -> None:
    """End to end: the readmitted acquirer goes first again at once with ``fresh``, and
    stays behind its rivals with ``keep`` (its window still holds the incident)."""
    firsts = {}
    for readmitted in ("fresh", "keep"):
        strategy = build(
            {
                "type": "elimination",
                "probe": 0.0,
                "readmitted": readmitted,
                "breaker": {"type": "leaky_bucket", "size": 5, "leak_interval_s": 10.0},
                "inner": {"type": "sr_window", "exploration": 0.0},
            }
        )
        feed(strategy, "b", ["00"] * 5)
        feed(strategy, "a", ["91"] * 5, candidates=rule("a", "b", "c"))
        assert strategy.order(pay(), ABC, 1.0).acquirers[-1] == "a"
        firsts[readmitted] = strategy.order(pay(), ABC, 10.0).acquirers[0]
    assert firsts == {"fresh": "a", "keep": "b"}
