"""ucb: approval share plus c * sqrt(ln N / n), discounted or sliding-window; deterministic."""

from __future__ import annotations

import math

import pytest
from strategy_kit import build, feed, pay, rule

from router.engine.strategies import Strategy, Ucb
from router.engine.strategies.evidence import DiscountedCounts
from router.engine.strategies.ucb import upper_bounds

AB = rule("a", "b")
ABC = rule("a", "b", "c")


def ucb(**config: object) -> Strategy:
    strategy = build({"type": "ucb", **config})
    assert isinstance(strategy, Ucb)
    return strategy


def test_untried_acquirers_go_first_in_rule_order() -> None:
    strategy = ucb()
    assert strategy.order(pay(), ABC, 0.0).acquirers == ("a", "b", "c")
    feed(strategy, "a", "00", candidates=ABC)
    assert strategy.order(pay(), ABC, 0.0).acquirers == ("b", "c", "a")
    feed(strategy, "c", "00", candidates=ABC)
    assert strategy.order(pay(), ABC, 0.0).acquirers == ("b", "a", "c")  # a, c tied: rule order


def test_the_bound_is_share_plus_c_sqrt_log_total_over_count() -> None:
    counts = DiscountedCounts(1.0)
    for success in (True, True, True, False):
        counts.add(0, success)
    counts.add(1, True)
    counts.add(1, False)
    n_total = 6.0
    for c in (0.0, 0.1, 1.0):
        assert upper_bounds(c, counts, (0, 1, 2)) == pytest.approx(
            [
                0.75 + c * math.sqrt(math.log(n_total) / 4),
                0.5 + c * math.sqrt(math.log(n_total) / 2),
                math.inf,
            ]
        )
    # one count in all: ln 1 = 0, no bonus; never the log of a number below 1
    single = DiscountedCounts(1.0)
    single.add(0, False)
    assert upper_bounds(1.0, single, (0, 1)) == [0.0, math.inf]


@pytest.mark.parametrize(("c", "first"), [(0.0, "a"), (0.1, "a"), (1.0, "b")])
def test_c_trades_the_share_for_the_bonus(c: float, first: str) -> None:
    # a 3/4, b 1/2: the bonus for b's fewer answers wins only with a large c
    strategy = ucb(c=c, memory={"discount": 1.0})
    feed(strategy, "a", "000000" + "05", candidates=AB)
    feed(strategy, "b", "0005", candidates=AB)
    d = strategy.order(pay(), AB, 0.0)
    assert d.acquirers[0] == first and d.preferred == first
    assert (d.propensity, d.explored, d.rule) == (1.0, False, "r")


def test_the_sliding_window_forgets_at_its_boundary() -> None:
    strategy = ucb(c=0.1, memory={"window": 10})
    feed(strategy, "b", "05", candidates=AB)
    feed(strategy, "a", "00" * 8, candidates=AB)
    assert strategy.order(pay(), AB, 0.0).acquirers[0] == "a"  # b: 0 of 1
    feed(strategy, "a", "00", candidates=AB)  # ten verdicts: b's failure is still in
    assert strategy.order(pay(), AB, 0.0).acquirers[0] == "a"
    feed(strategy, "a", "00", candidates=AB)  # the eleventh pushes it out: b is untried
    assert strategy.order(pay(), AB, 0.0).acquirers[0] == "b"


def test_a_discounted_acquirer_without_traffic_is_tried_again_when_its_bonus_says() -> None:
    gamma, c = 0.9, 0.2
    strategy = ucb(c=c, memory={"discount": gamma})
    feed(strategy, "b", "0005", candidates=AB)  # b: 1/2
    # a answers every payment with an approval; b's counts shrink by gamma each time
    s_b, f_b, n_a = 1.0 * gamma, 1.0, 0.0
    expected_turn = None
    for k in range(1, 200):
        s_b, f_b, n_a = s_b * gamma, f_b * gamma, n_a * gamma + 1.0
        total = n_a + s_b + f_b
        bound_a = 1.0 + c * math.sqrt(math.log(total) / n_a)
        bound_b = s_b / (s_b + f_b) + c * math.sqrt(math.log(total) / (s_b + f_b))
        if bound_b > bound_a:
            expected_turn = k
            break
    assert expected_turn is not None and 5 < expected_turn < 100
    for k in range(1, expected_turn + 1):
        assert strategy.order(pay(), AB, 0.0).acquirers[0] == "a", k
        feed(strategy, "a", "00", candidates=AB)
    assert strategy.order(pay(), AB, 0.0).acquirers[0] == "b"


def test_card_declines_say_nothing() -> None:
    strategy = ucb(memory={"discount": 1.0})
    feed(strategy, "a", "00", candidates=AB)
    feed(strategy, "b", "00", candidates=AB)
    before = strategy.scores()
    feed(strategy, "b", "51" * 10 + "54", candidates=AB)
    assert strategy.scores() == before == {"visa/False": {"a": 1.0, "b": 1.0}}
