"""Cards that come back: the card population in the one sampler."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from scenarios.cards import CardChooser
from scenarios.loader import ScenarioError, load_scenario, validate_scenario
from scenarios.sampler import PaymentSampler
from scenarios.schema import CardPopulation, Traffic

BASE = load_scenario("baseline")


def traffic(cards: dict[str, Any] | None) -> Traffic:
    data = BASE.traffic.model_dump(mode="python")
    data["cards"] = cards
    return Traffic.model_validate(data)


def draw(cards: dict[str, Any] | None, seed: int = 1, n: int = 20_000) -> list[Any]:
    sampler = PaymentSampler(traffic(cards), "DE", np.random.default_rng(seed))
    return sampler.draw(n)


def test_without_a_population_every_payment_is_an_unknown_card() -> None:
    assert {p.card for p in draw(None, n=500)} == {-1}


def test_every_payment_has_a_card_of_the_population_which_keeps_its_attributes() -> None:
    payments = draw({"count": 300}) + draw({"count": 300}, seed=2)  # another seed too
    assert {p.card for p in payments} == set(range(300))
    seen: dict[int, tuple[str, str, str, str, bool]] = {}
    for p in payments:
        attributes = (p.network, p.card_type, p.issuer_country, p.bin, p.cross_border)
        assert seen.setdefault(p.card, attributes) == attributes
    # ...while amount and currency are the payment's own
    per_card = Counter(p.card for p in payments)
    busy = max(per_card, key=per_card.__getitem__)
    assert len({p.amount for p in payments if p.card == busy}) > 10


def test_the_population_follows_the_payment_mix() -> None:
    payments = draw({"count": 50_000}, n=50_000)
    shares = Counter(p.network for p in payments)
    mix = BASE.traffic.mix.networks
    for network, weight in mix.items():
        assert shares[network] / len(payments) == pytest.approx(
            weight / sum(mix.values()), abs=0.015
        )


def test_a_population_changes_no_other_draw_of_the_sampler() -> None:
    plain, with_cards = draw(None, n=2_000), draw({"count": 100, "skew": 1.0}, n=2_000)
    assert [p.amount for p in plain] == [p.amount for p in with_cards]
    assert [p.currency for p in plain] == [p.currency for p in with_cards]


def test_card_numbers_follow_the_seed_and_skew_brings_loyal_customers_back() -> None:
    assert [p.card for p in draw({"count": 1_000}, seed=5, n=200)] == [
        p.card for p in draw({"count": 1_000}, seed=5, n=200)
    ]
    assert [p.card for p in draw({"count": 1_000}, seed=5, n=200)] != [
        p.card for p in draw({"count": 1_000}, seed=6, n=200)
    ]
    uniform = Counter(p.card for p in draw({"count": 1_000}, n=20_000))
    skewed = Counter(p.card for p in draw({"count": 1_000, "skew": 1.2}, n=20_000))
    assert max(uniform.values()) < 45  # about 20 each
    assert skewed[0] > 2_000  # card 1 of a Zipf(1.2) population: about 1/zeta share
    assert skewed[0] > skewed[9] > skewed[99]


@pytest.mark.parametrize(("count", "skew"), [(1_000, 0.0), (1_000, 1.1), (50, 0.5)])
def test_the_expected_repeat_share_matches_the_draws(count: int, skew: float) -> None:
    population = CardPopulation(count=count, skew=skew)
    chooser = CardChooser(population, np.random.default_rng(3))
    n = 5_000
    seen = chooser.choose(n)
    observed = 1.0 - len(set(seen.tolist())) / n
    assert chooser.repeat_share(n) == pytest.approx(observed, abs=0.02)
    assert chooser.repeat_share(0) == 0.0


def test_a_population_is_checked_like_any_field() -> None:
    data = BASE.model_dump(mode="python", by_alias=True)
    data["traffic"]["cards"] = {"count": 0}
    with pytest.raises(ScenarioError, match=r"traffic\.cards\.count"):
        validate_scenario(data, "s.yaml")
    data["traffic"]["cards"] = {"count": 10, "repeat": 2}
    with pytest.raises(ScenarioError, match=r"traffic\.cards\.repeat"):
        validate_scenario(data, "s.yaml")
