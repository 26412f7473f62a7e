"""A traffic's card population: which card pays each payment, and what each card is.

The payment sampler (``scenarios.sampler``) uses it when a scenario sets
``traffic.cards``: every payment then comes with a card number from 0 to ``count - 1``
(``Payment.card``), and a card keeps its network, card type, issuer country and BIN
from one payment to the next. Both engines draw from the same sampler, so a returning
card is the same card in a simulation and in a load test.

Two independent sources of randomness, neither shifting the sampler's own draws (so a
scenario without a population plays exactly as before, and adding one changes only the
card attributes and the card numbers):

- the population itself (each card's attribute uniforms) comes from a stream fixed by
  the population's size alone: every seed, every replication and every Locust user
  see the same customers, as one merchant's customer base would be;
- which card pays comes from a child of the sampler's generator.
"""

from __future__ import annotations

import numpy as np

from scenarios.traffic import CardPopulation

# Seeds the population's own stream (with the population size): "card" in ASCII.
POPULATION_SALT = 0x63617264
# Per card, the uniforms behind network, card type, issuer country and BIN.
ATTRIBUTES = 4


class CardChooser:
    """Draws which card of a population pays each payment."""

    def __init__(self, population: CardPopulation, rng: np.random.Generator) -> None:
        self.count = population.count
        self._rng = rng
        self._cdf: np.ndarray | None = None
        if population.skew > 0.0:
            weights = np.arange(1, self.count + 1, dtype=float) ** -population.skew
            self._cdf = np.cumsum(weights / weights.sum())

    def choose(self, n: int) -> np.ndarray:
        """``n`` card numbers in [0, count), one uniform each."""
        u = self._rng.random(n)
        if self._cdf is None:
            return np.minimum((u * self.count).astype(np.int64), self.count - 1)
        return np.minimum(np.searchsorted(self._cdf, u, side="right"), self.count - 1)

    def repeat_share(self, payments: int) -> float:
        """The expected share of ``payments`` made with a card seen before in them.

        One minus the expected number of distinct cards over the payments: card k is seen
        at least once with probability 1 - (1 - p_k) ** payments.
        """
        if payments <= 0:
            return 0.0
        if self._cdf is None:
            p = np.full(self.count, 1.0 / self.count)
        else:
            p = np.diff(self._cdf, prepend=0.0)
        distinct = float(np.sum(1.0 - np.exp(payments * np.log1p(-np.minimum(p, 1.0 - 1e-16)))))
        return 1.0 - distinct / payments


def population_uniforms(population: CardPopulation) -> np.ndarray:
    """Per card, the ``ATTRIBUTES`` uniforms its attributes are drawn from (count x 4)."""
    rng = np.random.default_rng([POPULATION_SALT, population.count])
    return rng.random((population.count, ATTRIBUTES))
