"""sr_window complete: reset p_max over untried candidates, recovery after a reset, decline
classes, one candidate, three segment fields, Beta priors, and exact propensities."""

from __future__ import annotations

import math

import pytest
from scipy import integrate
from scipy import stats as sps
from strategy_kit import answer, assert_propensities_match, build, feed, pay, rule

from router.engine.strategies import Ordering, SrWindow


def sr(seed: int = 3, **config: object) -> SrWindow:
    strategy = build({"type": "sr_window", **config}, seed=seed)
    assert isinstance(strategy, SrWindow)
    return strategy


def threshold(p_max: float, window: int = 125, sigma: float = 3.0) -> float:
    """docs/domain.md: p_max - sigma * sqrt(max(p_max (1 - p_max), 0.09) / window)."""
    return p_max - sigma * math.sqrt(max(p_max * (1.0 - p_max), 0.09) / window)


def test_reset_counts_an_untried_candidate_as_a_full_window() -> None:
    # a alone has answered; b, a candidate of the same payments, never has. b's optimistic
    # window (1.0) is the segment's best, so a is reset under 1 - 3 * 0.3 / sqrt(125)
    strategy = sr(exploration=0.0)
    rates = []
    for _ in range(50):
        feed(strategy, "a", "05", candidates=rule("a", "b"))
        rates.append(strategy.scores()["visa/False"]["a"])
    assert threshold(1.0) == pytest.approx(0.919502, abs=1e-6)
    assert rates[:10] == [(124 - k) / 125 for k in range(10)]
    assert set(rates[10:]) == {115 / 125}  # rebuilt just above the threshold each time
    # the same failures with a the payments' only candidate: nothing to reset against
    alone = sr(exploration=0.0)
    for _ in range(50):
        feed(alone, "a", "05", candidates=rule("a"))
    assert alone.scores()["visa/False"]["a"] == 75 / 125


def test_a_reset_window_climbs_back_at_the_pace_of_real_successes() -> None:
    strategy = sr(exploration=0.0)
    ab = rule("a", "b")
    feed(strategy, "b", "00", candidates=ab)
    for _ in range(11):  # the eleventh failure falls under the threshold: a is rebuilt
        feed(strategy, "a", "05", candidates=ab)
    assert strategy.scores()["visa/False"] == {"b": 1.0, "a": 115 / 125}
    assert strategy.order(pay(), ab, 0.0).acquirers == ("b", "a")
    rates = []
    for _ in range(125):
        feed(strategy, "a", "00", candidates=ab)
        rates.append(strategy.scores()["visa/False"]["a"])
    # the ten synthetic failures are spread through the window, the first at the slot the
    # next answer overwrites: every ~12.5 successes replace one of them
    assert rates[0] == 116 / 125
    assert rates[11] == 116 / 125 and rates[12] == 117 / 125
    assert rates == sorted(rates) and rates[-1] == 1.0
    assert strategy.order(pay(), ab, 0.0).acquirers == ("a", "b")  # tie: rule order


def test_reset_sigma_below_one_still_resets() -> None:
    strategy = sr(exploration=0.0, reset_sigma=0.5)
    ab = rule("a", "b")
    feed(strategy, "b", "00", candidates=ab)
    line = threshold(1.0, sigma=0.5)  # 0.98658
    rates = []
    for _ in range(10):
        feed(strategy, "a", "05", candidates=ab)
        rates.append(strategy.scores()["visa/False"]["a"])
    rebuilt = (math.floor(line * 125) + 1) / 125
    assert rebuilt == 124 / 125 > line
    assert rates == [124 / 125] * 10  # one failure below 124/125 and it is rebuilt


@pytest.mark.parametrize(
    ("classes", "moved_by"),
    [(["technical_error", "timeout"], {"96", "68"}), (["soft_decline"], {"05"})],
)
def test_failure_classes_decide_what_counts(classes: list[str], moved_by: set[str]) -> None:
    for code in ["05", "96", "68", "51"]:
        strategy = sr(exploration=0.0, failure_classes=classes)
        feed(strategy, "a", "00" + code)
        expected = 124 / 125 if code in moved_by else 1.0
        assert strategy.scores()["visa/False"]["a"] == expected, code


def test_one_candidate_goes_first_for_sure() -> None:
    strategy = sr(exploration=0.5)
    only = rule("b", name="only_b")
    for _ in range(20):
        d = strategy.order(pay(), only, 0.0)
        assert d == Ordering("only_b", ("b",), ("visa", False), "b", False, 1.0)


def test_three_segment_fields_are_all_part_of_the_segment() -> None:
    strategy = sr(exploration=0.0, segment_by=["network", "card_type", "issuer_country"])
    fr = pay(issuer_country="FR")
    d = feed(strategy, "a", "05" * 3, payment=fr, candidates=rule("a", "b"))
    assert d.segment == ("visa", "credit", "FR") and d.rule == "r"
    assert strategy.order(fr, rule("a", "b"), 0.0).preferred == "b"
    # the same network and card type from another country is another segment
    assert strategy.order(pay(issuer_country="NL"), rule("a", "b"), 0.0).preferred == "a"
    assert strategy.scores() == {"visa/credit/FR": {"a": 122 / 125}, "visa/credit/NL": {}}


def test_an_explored_decision_keeps_its_segment_rule_and_preference() -> None:
    strategy = sr(seed=8, exploration=0.5)
    ab = rule("a", "b", name="eu")
    feed(strategy, "b", "05", candidates=ab)
    decisions = [strategy.order(pay(), ab, 0.0) for _ in range(200)]
    explored = [d for d in decisions if d.explored]
    assert 50 < len(explored) < 150
    for d in explored:
        assert (d.rule, d.segment, d.preferred) == ("eu", ("visa", False), "a")
        assert d.propensity == (0.75 if d.acquirers[0] == "a" else 0.25)


def test_window_score_propensities_are_exact() -> None:
    strategy = sr(seed=5, exploration=0.2)
    abc = rule("a", "b", "c")
    feed(strategy, "b", "05", candidates=abc)
    feed(strategy, "c", "0505", candidates=abc)
    means = assert_propensities_match(lambda: strategy.order(pay(), abc, 0.0), 20_000, True)
    assert means == pytest.approx({"a": 0.8 + 0.2 / 3, "b": 0.2 / 3, "c": 0.2 / 3})


def beta_beats(a: tuple[float, float], b: tuple[float, float]) -> float:
    """P(a draw of Beta(*a) > a draw of Beta(*b))."""
    pa, pb = sps.beta(*a), sps.beta(*b)
    return float(integrate.quad(lambda x: pa.pdf(x) * pb.cdf(x), 0.0, 1.0)[0])


def test_thompson_score_samples_beta_successes_plus_one_failures_plus_one() -> None:
    # a small window makes the +1 pseudo-counts matter: a 8/10, b 6/10
    strategy = sr(seed=6, window=10, exploration=0.0, score="thompson", reset_sigma=0.0)
    ab = rule("a", "b")
    feed(strategy, "a", "0505", candidates=ab)
    feed(strategy, "b", "05050505", candidates=ab)
    assert strategy.scores()["visa/False"] == {"a": 0.8, "b": 0.6}
    p_a = beta_beats((9, 3), (7, 5))
    assert abs(p_a - beta_beats((10, 4), (8, 6))) > 0.02  # other priors: another answer
    n = 20_000
    wins_a = sum(strategy.order(pay(), ab, 0.0).acquirers[0] == "a" for _ in range(n))
    lo, hi = sps.binom.interval(0.999, n, p_a)
    assert lo <= wins_a <= hi, (wins_a, p_a * n)


def test_thompson_score_propensities_match_frequencies() -> None:
    strategy = sr(seed=7, window=20, exploration=0.1, score="thompson", reset_sigma=0.0)
    abc = rule("a", "b", "c")
    feed(strategy, "a", "05" * 3, candidates=abc)
    feed(strategy, "b", "05" * 4, candidates=abc)
    feed(strategy, "c", "05" * 6, candidates=abc)
    means = assert_propensities_match(lambda: strategy.order(pay(), abc, 0.0), 8_000, False)
    assert sum(means.values()) == pytest.approx(1.0, abs=0.02)


def test_propensity_estimates_never_move_the_routing_stream() -> None:
    abc = rule("a", "b", "c")
    runs = []
    for propensities in (True, False):
        strategy = build(
            {"type": "sr_window", "score": "thompson", "window": 20},
            seed=9,
            propensities=propensities,
        )
        orders = []
        for k in range(300):
            d = strategy.order(pay(), abc, float(k))
            strategy.record(answer(d, d.acquirers[0], "05" if k % 3 == 0 else "00"))
            orders.append((d.acquirers, d.explored))
            assert math.isnan(d.propensity) != propensities
        runs.append(orders)
    assert runs[0] == runs[1]
