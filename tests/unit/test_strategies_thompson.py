"""thompson: Beta-Bernoulli sampling per (segment, acquirer), discounted or windowed."""

from __future__ import annotations

import math

import pytest
from scipy import integrate
from scipy import stats as sps
from strategy_kit import answer, assert_propensities_match, build, feed, pay, rule

from router.engine.strategies import Strategy, Thompson

AB = rule("a", "b")


def thompson(seed: int = 2, **config: object) -> Strategy:
    strategy = build({"type": "thompson", **config}, seed=seed)
    assert isinstance(strategy, Thompson)
    return strategy


def beta_beats(a: tuple[float, float], b: tuple[float, float]) -> float:
    """P(a draw of Beta(*a) > a draw of Beta(*b))."""
    pa, pb = sps.beta(*a), sps.beta(*b)
    return float(integrate.quad(lambda x: pa.pdf(x) * pb.cdf(x), 0.0, 1.0)[0])


@pytest.mark.parametrize(("successes", "failures"), [(1.0, 1.0), (2.0, 8.0)])
def test_first_choice_frequency_is_the_posterior_probability_of_being_best(
    successes: float, failures: float
) -> None:
    prior = {"successes": successes, "failures": failures}
    strategy = thompson(seed=4, memory={"discount": 1.0}, prior=prior)
    feed(strategy, "a", "00" * 3 + "05", candidates=AB)  # a: 3 successes, 1 failure
    feed(strategy, "b", "00", candidates=AB)  # b: 1 success
    p_a = beta_beats((successes + 3, failures + 1), (successes + 1, failures))
    n = 20_000
    wins_a = sum(strategy.order(pay(), AB, 0.0).acquirers[0] == "a" for _ in range(n))
    lo, hi = sps.binom.interval(0.999, n, p_a)
    assert lo <= wins_a <= hi, (wins_a, n * p_a)
    assert strategy.scores()["visa/False"] == pytest.approx(
        {
            "a": (successes + 3) / (successes + failures + 4),
            "b": (successes + 1) / (successes + failures + 1),
        }
    )


def test_the_priors_give_different_answers() -> None:
    # the check above could not tell the priors apart if they agreed
    assert abs(beta_beats((4, 2), (2, 1)) - beta_beats((5, 9), (3, 8))) > 0.05


def test_discount_multiplies_the_segments_counts_on_each_verdict() -> None:
    strategy = thompson(memory={"discount": 0.9})
    feed(strategy, "a", "05" * 30, candidates=AB)
    feed(strategy, "b", "00" * 50, candidates=AB)
    failures_a = sum(0.9**k for k in range(30)) * 0.9**50
    successes_b = sum(0.9**k for k in range(50))
    assert strategy.scores()["visa/False"] == pytest.approx(
        {"a": 1.0 / (2.0 + failures_a), "b": (1.0 + successes_b) / (2.0 + successes_b)}
    )


def test_a_forgotten_acquirer_is_tried_again() -> None:
    # a fails forty times in a row; b then answers alone (60 % approvals): a's failures
    # fade with every verdict b gets, and a is back near the prior and tried again
    strategy = thompson(seed=3, memory={"discount": 0.95})
    feed(strategy, "b", "00" * 19 + "05", candidates=AB)
    feed(strategy, "a", "05" * 40, candidates=AB)
    early = sum(strategy.order(pay(), AB, 0.0).acquirers[0] == "a" for _ in range(2_000))
    feed(strategy, "b", ("00" * 3 + "0505") * 20, candidates=AB)
    later = sum(strategy.order(pay(), AB, 0.0).acquirers[0] == "a" for _ in range(2_000))
    assert early < 40 and later > 500, (early, later)


def test_the_window_keeps_the_segments_last_verdicts() -> None:
    strategy = thompson(memory={"window": 10})
    feed(strategy, "a", "05" * 10, candidates=AB)
    assert strategy.scores()["visa/False"] == {"a": 1 / 12}
    feed(strategy, "b", "00" * 9, candidates=AB)
    assert strategy.scores()["visa/False"] == {"a": 1 / 3, "b": 10 / 11}
    feed(strategy, "b", "00", candidates=AB)  # the tenth: a's last failure leaves the window
    assert strategy.scores()["visa/False"] == {"b": 11 / 12}


def test_card_declines_are_not_counted_and_slow_approvals_are_failures() -> None:
    strategy = thompson(latency_threshold_ms=300.0, memory={"discount": 1.0})
    feed(strategy, "a", "51" * 5 + "54" + "41", candidates=AB)
    assert strategy.scores()["visa/False"] == {}
    feed(strategy, "a", "00", candidates=AB, latency_ms=300.0)
    feed(strategy, "b", "00", candidates=AB, latency_ms=301.0)
    assert strategy.scores()["visa/False"] == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_segments_are_separate() -> None:
    strategy = thompson(segment_by=["network", "card_type"])
    debit = pay(card_type="debit")
    d = feed(strategy, "a", "05" * 5, payment=debit, candidates=AB)
    assert d.segment == ("visa", "debit") and d.rule == "r" and not d.explored
    assert set(strategy.scores()) == {"visa/debit"}
    assert strategy.order(pay(), AB, 0.0).segment == ("visa", "credit")


def test_one_candidate() -> None:
    strategy = thompson()
    d = strategy.order(pay(), rule("c", name="c_only"), 0.0)
    assert (d.rule, d.acquirers, d.preferred, d.propensity) == ("c_only", ("c",), "c", 1.0)


def test_propensities_match_first_choice_frequencies() -> None:
    strategy = thompson(seed=5, memory={"discount": 1.0})
    abc = rule("a", "b", "c")
    feed(strategy, "a", "00" * 8 + "05" * 2, candidates=abc)
    feed(strategy, "b", "00" * 6 + "05" * 2, candidates=abc)
    feed(strategy, "c", "00" * 3 + "05" * 2, candidates=abc)
    means = assert_propensities_match(lambda: strategy.order(pay(), abc, 0.0), 6_000, False)
    assert sum(means.values()) == pytest.approx(1.0, abs=0.03)
    assert min(means.values()) > 0.1  # every acquirer is first often enough to be checked


def test_propensity_estimates_never_move_the_routing_stream() -> None:
    abc = rule("a", "b", "c")
    runs = []
    for propensities in (True, False):
        strategy = build({"type": "thompson"}, seed=9, propensities=propensities)
        orders = []
        for k in range(300):
            d = strategy.order(pay(), abc, float(k))
            strategy.record(answer(d, d.acquirers[0], "05" if k % 3 == 0 else "00"))
            orders.append(d.acquirers)
            assert math.isnan(d.propensity) != propensities
        runs.append(orders)
    assert runs[0] == runs[1]
