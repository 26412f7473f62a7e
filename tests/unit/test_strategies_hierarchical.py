"""hierarchical: counts at every level; a payment scored at the finest level whose segment
holds ``min_observations`` verdicts of its candidates, else at the coarsest."""

from __future__ import annotations

from typing import Any

import pytest
from strategy_kit import CONFIG, assert_propensities_match, build, feed, pay, rule

from router.engine.strategies import Hierarchical
from router.engine.strategies.hierarchical import LevelKey

AB = rule("a", "b")
FINE = pay(bin="411111")  # bin4 4111
OTHER_BIN = pay(bin="400012")  # bin4 4000, the same network
LEVELS = [["network", "bin4"], ["network"], []]


def hierarchical(seed: int = 1, **config: Any) -> Hierarchical:
    settings = {
        "type": "hierarchical",
        "levels": LEVELS,
        "min_observations": 10,
        "score": "mean",
        "memory": {"discount": 1.0},
        **config,
    }
    strategy = build(settings, seed=seed)
    assert isinstance(strategy, Hierarchical)
    return strategy


def test_level_keys_take_fields_and_bin_prefixes() -> None:
    assert LevelKey(["network", "bin4"])(FINE) == ("visa", "4111")
    assert LevelKey(["bin2", "issuer_country", "bin6"])(FINE) == ("41", "DE", "411111")
    assert LevelKey([])(FINE) == ()
    assert LevelKey(["network", "bin4"])(pay(bin="411199")) == ("visa", "4111")


def coarse_says_a_fine_says_b(strategy: Hierarchical, fine_each: int) -> None:
    """At BIN 4000 a approves and b fails twenty times; at BIN 4111 the opposite,
    ``fine_each`` answers each."""
    feed(strategy, "a", "00" * 20, payment=OTHER_BIN, candidates=AB)
    feed(strategy, "b", "05" * 20, payment=OTHER_BIN, candidates=AB)
    feed(strategy, "a", "05" * fine_each, payment=FINE, candidates=AB)
    feed(strategy, "b", "00" * fine_each, payment=FINE, candidates=AB)


def test_a_level_is_used_from_min_observations_on() -> None:
    few = hierarchical()
    coarse_says_a_fine_says_b(few, 4)  # eight answers at 4111: the network level decides
    assert few.order(FINE, AB, 0.0).acquirers == ("a", "b")
    enough = hierarchical()
    coarse_says_a_fine_says_b(enough, 5)  # ten: the BIN level decides
    assert enough.order(FINE, AB, 0.0).acquirers == ("b", "a")
    assert enough.order(OTHER_BIN, AB, 0.0).acquirers == ("a", "b")
    expected = {
        "0:visa/4000": {"a": 21 / 22, "b": 1 / 22},
        "0:visa/4111": {"a": 1 / 7, "b": 6 / 7},
        "1:visa": {"a": 21 / 27, "b": 6 / 27},
        "2:all": {"a": 21 / 27, "b": 6 / 27},
    }
    scores = enough.scores()
    assert set(scores) == set(expected)
    for segment, means in expected.items():
        assert scores[segment] == pytest.approx(means), segment


def test_every_candidate_is_compared_at_the_same_level() -> None:
    # at 4111 only b has answered, ten times: enough for the level. a is judged there (the
    # prior, 1/2), not by its twenty approvals on another BIN (21/22 at the network level)
    strategy = hierarchical()
    feed(strategy, "a", "00" * 20, payment=OTHER_BIN, candidates=AB)
    feed(strategy, "b", "00" * 9 + "05", payment=FINE, candidates=AB)
    assert strategy.order(FINE, AB, 0.0).acquirers == ("b", "a")
    assert strategy.order(OTHER_BIN, AB, 0.0).acquirers == ("a", "b")
    assert strategy.scores()["1:visa"] == pytest.approx({"a": 21 / 22, "b": 10 / 12})


def test_the_coarsest_level_decides_whatever_its_counts() -> None:
    strategy = hierarchical(min_observations=1_000)
    feed(strategy, "a", "05", payment=FINE, candidates=AB)
    assert strategy.order(OTHER_BIN, AB, 0.0).acquirers == ("b", "a")
    mastercard = pay(network="mastercard", bin="510000")
    assert strategy.order(mastercard, AB, 0.0).acquirers == ("b", "a")


def test_the_decision_carries_every_levels_key() -> None:
    strategy = hierarchical()
    d = strategy.order(FINE, rule("a", "b", name="eu"), 0.0)
    assert d.segment == (("visa", "4111"), ("visa",), ())
    assert (d.rule, d.preferred, d.explored, d.propensity) == ("eu", "a", False, 1.0)


def test_card_declines_are_not_counted_anywhere() -> None:
    strategy = hierarchical()
    feed(strategy, "a", "51" * 10 + "54", payment=FINE, candidates=AB)
    assert all(not scores for scores in strategy.scores().values())


@pytest.mark.parametrize("score", ["mean", "thompson"])
def test_propensities_match_first_choice_frequencies(score: str) -> None:
    strategy = hierarchical(seed=4, score=score, exploration=0.2)
    coarse_says_a_fine_says_b(strategy, 3)
    means = assert_propensities_match(
        lambda: strategy.order(FINE, AB, 0.0), 10_000, exact=score == "mean"
    )
    if score == "mean":
        assert means == pytest.approx({"a": 0.9, "b": 0.1})
    else:
        assert sum(means.values()) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize(
    ("levels", "problem"),
    [
        ([["network", "network"]], "lists a field twice"),
        ([["network", "bin5"]], "Input should be"),
        ([], "at least 1 item"),
    ],
)
def test_bad_levels_are_refused(levels: list[list[str]], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        CONFIG.validate_python({"type": "hierarchical", "levels": levels})
