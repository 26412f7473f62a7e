"""Lognormal fits by maximum likelihood, their goodness of fit, and empirical percentiles.

For a lognormal the MLE is closed-form: ``median = exp(mean(ln x))`` and
``sigma = std(ln x)``; the median's interval comes from the mean of ``ln x``. The fit
is judged by the Kolmogorov–Smirnov distance D (the largest gap between the observed
and fitted CDF): at most :data:`MAX_KS` is a good fit; above it the calibration
writes the observed percentiles instead (:data:`PERCENTILES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from calibration.estimates import Estimate, grade_of, z_of

MAX_KS = 0.05
PERCENTILES = (0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0)
KS_SAMPLE = 200_000  # D is computed on at most this many values (a seeded subsample)


@dataclass(frozen=True)
class LognormalFit:
    median: Estimate
    sigma: float
    ks_distance: float
    percentiles: dict[float, float]

    @property
    def good(self) -> bool:
        return self.ks_distance <= MAX_KS


def fit_lognormal(values: np.ndarray, level: float, what: str) -> LognormalFit | None:
    """The lognormal MLE of positive ``values`` (None if there are fewer than two)."""
    x = values[np.isfinite(values) & (values > 0)]
    n = int(x.size)
    if n < 2:
        return None
    logs = np.log(x)
    mu, sigma = float(logs.mean()), float(logs.std())
    half = z_of(level) * sigma / math.sqrt(n)
    median = Estimate(
        math.exp(mu),
        math.exp(mu - half),
        math.exp(mu + half),
        n,
        grade_of(n),
        f"lognormal MLE of {what}",
    )
    sample = x
    if n > KS_SAMPLE:
        sample = np.random.default_rng(0).choice(x, KS_SAMPLE, replace=False)
    if sigma > 0:
        distance = float(stats.kstest(np.log(sample), "norm", args=(mu, sigma)).statistic)
    else:
        distance = 0.0
    points = np.percentile(x, PERCENTILES)
    return LognormalFit(
        median, sigma, distance, {p: float(v) for p, v in zip(PERCENTILES, points, strict=True)}
    )


def monotone_percentiles(points: dict[float, float], digits: int = 1) -> dict[float, float]:
    """Percentiles rounded and made non-decreasing (the scenario format requires it)."""
    out: dict[float, float] = {}
    last = 0.0
    for p in sorted(points):
        value = max(last, round(points[p], digits))
        out[p] = value
        last = value
    return out
