"""The one payment sampler: arrival times and card payments drawn from a scenario's traffic.

The simulator draws from it in virtual time and the Locust harness in wall-clock time,
so both engines see the same traffic model. Draws are vectorised in numpy batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

from scenarios.cards import CardChooser, population_uniforms
from scenarios.schema import (
    ArrivalProfile,
    ConstantArrivals,
    DiurnalArrivals,
    EmpiricalAmount,
    FixedAmount,
    LognormalAmount,
    PiecewiseArrivals,
    RampArrivals,
    SpikeArrivals,
    Traffic,
    UniformAmount,
)
from scenarios.streams import BATCH


class Payment(NamedTuple):
    """A card payment as the router sees it. ``amount`` is in minor units.

    A named tuple: immutable and several times cheaper to create than a frozen
    dataclass, which matters at hundreds of thousands of payments per second.
    """

    amount: int
    currency: str
    network: str
    card_type: str
    issuer_country: str
    bin: str
    cross_border: bool
    # the card's number in the traffic's card population, -1 without one (a card never
    # seen before): what per-card rules and sticky routing key on, never a card number
    card: int = -1


_new_payment = partial(tuple.__new__, Payment)


def _bin_strings(values: np.ndarray) -> list[str]:
    """Six-digit BINs as strings, zero-padded (``str`` alone where none needs padding:
    half the cost of formatting each one, per payment)."""
    if values.size == 0 or int(values.min()) >= 100_000:
        return list(map(str, values.tolist()))
    return [f"{v:06d}" for v in values.tolist()]


def is_cross_border(issuer_country: str, merchant_country: str) -> bool:
    """Whether a card is cross-border for a merchant: routelab's one definition of it.

    The sampler, the mock acquirers and the router all decide it here.
    """
    return issuer_country != merchant_country


def card_payment(
    amount: int,
    currency: str,
    network: str,
    card_type: str,
    issuer_country: str,
    bin_: str,
    merchant_country: str,
    card: int = -1,
) -> Payment:
    """A :class:`Payment` from a card's fields and the merchant's country."""
    cross_border = is_cross_border(issuer_country, merchant_country)
    return Payment(amount, currency, network, card_type, issuer_country, bin_, cross_border, card)


# --- arrivals --------------------------------------------------------------------------


def arrival_rate(profile: ArrivalProfile, t: np.ndarray, duration_s: float) -> np.ndarray:
    """Offered rate (payments per second) at times ``t`` on the scenario timeline."""
    t = np.asarray(t, dtype=float)
    if isinstance(profile, ConstantArrivals):
        return np.full_like(t, profile.rate_per_s)
    if isinstance(profile, PiecewiseArrivals):
        starts = np.array([s.start_s for s in profile.steps])
        rates = np.array([s.rate_per_s for s in profile.steps])
        return rates[np.searchsorted(starts, t, side="right") - 1]
    if isinstance(profile, RampArrivals):
        frac = np.clip(t / duration_s, 0.0, 1.0)
        return profile.start_rate_per_s + frac * (profile.end_rate_per_s - profile.start_rate_per_s)
    if isinstance(profile, SpikeArrivals):
        in_spike = (t >= profile.start_s) & (t < profile.end_s)
        return np.where(in_spike, profile.spike_rate_per_s, profile.base_rate_per_s)
    if isinstance(profile, DiurnalArrivals):
        phase = 2.0 * np.pi * (t - profile.peak_s) / profile.period_s
        return profile.mean_rate_per_s * (1.0 + profile.amplitude * np.cos(phase))
    raise TypeError(f"unknown arrival profile {profile!r}")


def peak_rate(profile: ArrivalProfile) -> float:
    """An upper bound of the offered rate over the whole run."""
    if isinstance(profile, ConstantArrivals):
        return profile.rate_per_s
    if isinstance(profile, PiecewiseArrivals):
        return max(s.rate_per_s for s in profile.steps)
    if isinstance(profile, RampArrivals):
        return max(profile.start_rate_per_s, profile.end_rate_per_s)
    if isinstance(profile, SpikeArrivals):
        return max(profile.base_rate_per_s, profile.spike_rate_per_s)
    if isinstance(profile, DiurnalArrivals):
        return profile.mean_rate_per_s * (1.0 + profile.amplitude)
    raise TypeError(f"unknown arrival profile {profile!r}")


def expected_arrivals(profile: ArrivalProfile, duration_s: float) -> float:
    """Expected number of payments over ``[0, duration_s)`` (numerical integral of the rate)."""
    grid = np.linspace(0.0, duration_s, 20_001)
    rates = arrival_rate(profile, grid, duration_s)
    return float(np.sum((rates[1:] + rates[:-1]) * 0.5 * np.diff(grid)))


def arrival_times(
    profile: ArrivalProfile,
    duration_s: float,
    rng: np.random.Generator,
    batch: int = BATCH,
    start_s: float = 0.0,
) -> Iterator[np.ndarray]:
    """Poisson arrival times on ``[start_s, duration_s)``, in increasing order, in batches.

    Non-homogeneous profiles use thinning (Lewis & Shedler): candidates at the peak
    rate, each kept with probability rate(t) / peak.
    """
    peak = peak_rate(profile)
    constant = isinstance(profile, ConstantArrivals)
    t = start_s
    while t < duration_s:
        gaps = rng.exponential(1.0 / peak, batch)
        times = t + np.cumsum(gaps)
        t = float(times[-1])
        if not constant:
            keep = rng.random(batch) * peak < arrival_rate(profile, times, duration_s)
            times = times[keep]
        times = times[times < duration_s]
        if times.size:
            yield times


# --- payments --------------------------------------------------------------------------


def _categorical(weights: dict[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(weights)
    probs = np.array([weights[n] for n in names], dtype=float)
    return names, np.cumsum(probs / probs.sum())


class PaymentSampler:
    """Draws card payments from a traffic mix: network, card type, issuer country,
    currency, amount and a BIN within the network's ranges, independently per payment.

    With a card population (``traffic.cards``) each payment is made with one of its
    cards (``Payment.card``), which brings its own network, card type, issuer country and
    BIN (see ``scenarios.cards``); currency and amount are still drawn per payment.
    """

    def __init__(self, traffic: Traffic, merchant_country: str, rng: np.random.Generator) -> None:
        mix = traffic.mix
        self._rng = rng
        self._networks, self._network_cdf = _categorical(mix.networks)
        self._types, self._type_cdf = _categorical(mix.card_types)
        self._countries, self._country_cdf = _categorical(mix.issuer_countries)
        self._currencies, self._currency_cdf = _categorical(mix.currencies)
        self._amount = mix.amount
        self._network_names = np.array(self._networks, dtype=object)
        self._type_names = np.array(self._types, dtype=object)
        self._country_names = np.array(self._countries, dtype=object)
        self._country_cross_border = np.array(
            [is_cross_border(c, merchant_country) for c in self._countries], dtype=bool
        )
        self._currency_names = np.array(self._currencies, dtype=object)
        self._bins: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        for network in self._networks:
            ranges = mix.bin_ranges(network)
            lows = np.array([int(r.min[:6].ljust(6, "0")) for r in ranges])
            highs = np.array([int(r.max[:6].ljust(6, "9")) for r in ranges])
            sizes = highs - lows + 1
            self._bins.append((lows, np.cumsum(sizes), sizes, int(sizes.sum())))
        self._buffer: list[Payment] = []
        self._cards: CardChooser | None = None
        if traffic.cards is not None:
            # the population's attributes, drawn as payments' are, once per card
            u = population_uniforms(traffic.cards)
            self._card_network = np.searchsorted(self._network_cdf, u[:, 0], side="right")
            self._card_type = np.searchsorted(self._type_cdf, u[:, 1], side="right")
            self._card_country = np.searchsorted(self._country_cdf, u[:, 2], side="right")
            self._card_bin = self._bin_values(self._card_network, u[:, 3])
            # a child stream: choosing cards never shifts the payments' own draws
            self._cards = CardChooser(traffic.cards, rng.spawn(1)[0])

    def draw(self, n: int) -> list[Payment]:
        """``n`` payments; consumes the same number of draws whatever the traffic is used for."""
        rng = self._rng
        u = rng.random((n, 6))
        cur = np.searchsorted(self._currency_cdf, u[:, 3], side="right")
        amounts = self._draw_amounts(u[:, 5])
        if self._cards is None:
            net = np.searchsorted(self._network_cdf, u[:, 0], side="right")
            typ = np.searchsorted(self._type_cdf, u[:, 1], side="right")
            ctry = np.searchsorted(self._country_cdf, u[:, 2], side="right")
            bin_values = self._bin_values(net, u[:, 4])
            cards = [-1] * n
        else:
            chosen = self._cards.choose(n)
            net = self._card_network[chosen]
            typ = self._card_type[chosen]
            ctry = self._card_country[chosen]
            bin_values = self._card_bin[chosen]
            cards = chosen.tolist()
        columns = zip(
            amounts.tolist(),
            self._currency_names[cur].tolist(),
            self._network_names[net].tolist(),
            self._type_names[typ].tolist(),
            self._country_names[ctry].tolist(),
            _bin_strings(bin_values),
            self._country_cross_border[ctry].tolist(),
            cards,
            strict=True,
        )
        # tuple.__new__ builds the named tuples in C: a third of the cost of Payment(...)
        return list(map(_new_payment, columns))

    def next(self) -> Payment:
        """One payment (served from an internal batch)."""
        if not self._buffer:
            self._buffer = self.draw(BATCH)
            self._buffer.reverse()
        return self._buffer.pop()

    def _draw_amounts(self, u: np.ndarray) -> np.ndarray:
        """Amounts by inverse CDF from one uniform per payment, whatever the amount model,
        so changing the amount model never shifts the other draws (common random numbers)."""
        model = self._amount
        if isinstance(model, LognormalAmount):
            z = np.asarray(ndtri(np.clip(u, 1e-12, 1.0 - 1e-12)), dtype=float)
            raw = np.rint(model.median * np.exp(model.sigma * z))
            return np.asarray(np.clip(raw, 1, model.max), dtype=np.int64)
        if isinstance(model, UniformAmount):
            span = model.max - model.min + 1
            offsets = np.minimum(np.floor(u * span), span - 1)
            return np.asarray(model.min + offsets, dtype=np.int64)
        if isinstance(model, FixedAmount):
            return np.full(u.size, model.value, dtype=np.int64)
        if isinstance(model, EmpiricalAmount):
            points = sorted(model.percentiles)
            values = [model.percentiles[p] for p in points]
            raw = np.rint(np.interp(u * 100.0, points, values))
            return np.asarray(np.maximum(raw, 1), dtype=np.int64)
        raise TypeError(f"unknown amount model {model!r}")

    def _bin_values(self, network_idx: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Six-digit BINs as integers, uniform over each network's ranges."""
        values = np.empty(network_idx.size, dtype=np.int64)
        for k, (lows, cum_sizes, sizes, total) in enumerate(self._bins):
            mask = network_idx == k
            if not mask.any():
                continue
            pos = np.floor(u[mask] * total).astype(np.int64)
            which = np.searchsorted(cum_sizes, pos, side="right")
            offset = pos - (cum_sizes[which] - sizes[which])
            values[mask] = lows[which] + offset
        return values
