"""Fitted numbers with their interval, sample size and grade.

Every figure the calibration fits is an :class:`Estimate`, so the scenario file, the
HTML report and the tests speak of the same thing. Grades: ``good`` from
:data:`GOOD_N` observations, ``fair`` from :data:`MIN_N`, ``thin`` below (a warning).
Fees have their own rule (the decision engine's: n >= 200 and RMSE <= 15 bps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_N = 30
GOOD_N = 200


@dataclass(frozen=True)
class Estimate:
    """A fitted number: ``value`` in ``[low, high]`` (at the calibration's level) from
    ``n`` observations, graded; ``method`` says how it was fitted."""

    value: float
    low: float
    high: float
    n: int
    grade: str
    method: str

    def contains(self, truth: float) -> bool:
        return self.low <= truth <= self.high


def grade_of(n: int) -> str:
    return "good" if n >= GOOD_N else "fair" if n >= MIN_N else "thin"


def z_of(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2.0))


def proportion(k: int, n: int, level: float, method: str = "Wilson score interval") -> Estimate:
    """A rate ``k / n`` with its Wilson score interval."""
    if n <= 0:
        return Estimate(math.nan, 0.0, 1.0, 0, "thin", method)
    z = z_of(level)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n, grade_of(n), method)


def beta_posterior(
    a: np.ndarray, b: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior means and equal-tailed intervals of Beta(a, b), elementwise."""
    mean = a / (a + b)
    tail = (1.0 - level) / 2.0
    return mean, stats.beta.ppf(tail, a, b), stats.beta.ppf(1.0 - tail, a, b)


def normal(value: float, se: float, n: int, level: float, method: str) -> Estimate:
    z = z_of(level)
    return Estimate(value, value - z * se, value + z * se, n, grade_of(n), method)
