"""Honest statistics: confidence intervals over replications and paired differences."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeGuard

import numpy as np
from scipy import stats as sps

Z95 = 1.959963984540054


def defined(value: float | None) -> TypeGuard[float]:
    """Whether a figure has a value (not None, NaN or infinite)."""
    return value is not None and not math.isnan(value) and not math.isinf(value)


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float
    method: Literal["t", "t-prediction", "wilson", "paired-t", "welch", "none"]
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def t_interval(values: list[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Student-t interval for the mean of independent replications."""
    return _student_t(values, level, one_more_run=False)


def prediction_interval(values: list[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Student-t interval for one more independent replication, not for the mean.

    Where a single new run (a live run, say) should land if it behaves like the
    replications: mean ± t · sd · sqrt(1 + 1/n). Infinite with fewer than two values.
    """
    return _student_t(values, level, one_more_run=True)


def _student_t(values: list[float] | np.ndarray, level: float, one_more_run: bool) -> Interval:
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return Interval(mean, -math.inf, math.inf, "none", n)
    # the mean is off by sd / sqrt(n); one more run by sd for itself plus that
    scale = math.sqrt(1.0 + 1.0 / n) if one_more_run else 1.0 / math.sqrt(n)
    half = float(sps.t.ppf(0.5 + level / 2.0, n - 1)) * float(x.std(ddof=1)) * scale
    return Interval(mean, mean - half, mean + half, "t-prediction" if one_more_run else "t", n)


def wilson_interval(successes: int, trials: int) -> Interval:
    """Wilson score interval for a proportion (one replication: assumes independent trials)."""
    if trials <= 0:
        return Interval(math.nan, 0.0, 1.0, "wilson", 0)
    p = successes / trials
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), "wilson", trials)


def rate_interval(successes: list[int], trials: list[int]) -> Interval:
    """CI of a rate over replications: t over per-replication rates, Wilson with one.

    The point estimate is the pooled rate (all successes over all trials).
    """
    total_s, total_n = sum(successes), sum(trials)
    if len(trials) < 2:
        return wilson_interval(total_s, total_n)
    per_rep = [s / n for s, n in zip(successes, trials, strict=True) if n > 0]
    t = t_interval(per_rep)
    pooled = total_s / total_n if total_n else math.nan
    return Interval(pooled, t.low - t.estimate + pooled, t.high - t.estimate + pooled, "t", t.n)


def paired_difference(b: list[float], a: list[float]) -> Interval:
    """CI of mean(b - a) for replications paired by seed (common random numbers)."""
    if len(a) != len(b):
        raise ValueError("paired replications must have the same count")
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    t = t_interval(diff)
    return Interval(t.estimate, t.low, t.high, "paired-t", t.n)


def welch_difference(b: list[float], a: list[float]) -> Interval:
    """CI of mean(b) - mean(a) for independent samples (Welch's t)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = xa.size, xb.size
    est = float(xb.mean() - xa.mean())
    if na < 2 or nb < 2:
        return Interval(est, -math.inf, math.inf, "none", min(na, nb))
    va, vb = xa.var(ddof=1) / na, xb.var(ddof=1) / nb
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1)) if se > 0 else na + nb - 2
    half = float(sps.t.ppf(0.975, dof)) * se
    return Interval(est, est - half, est + half, "welch", min(na, nb))


def paired_p_value(b: list[float], a: list[float]) -> float:
    """Two-sided p-value of the paired t test of mean(b - a) = 0 (NaN with fewer than
    two pairs; 0 or 1 when the differences do not vary, as they then say it all)."""
    if len(a) != len(b):
        raise ValueError("paired replications must have the same count")
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if diff.size < 2:
        return math.nan
    sd = float(diff.std(ddof=1))
    if sd == 0.0:
        return 1.0 if float(diff.mean()) == 0.0 else 0.0
    t = float(diff.mean()) / (sd / math.sqrt(diff.size))
    return float(2.0 * sps.t.sf(abs(t), diff.size - 1))


def holm(p_values: list[float], alpha: float = 0.05) -> list[bool]:
    """Holm-Bonferroni: which of a family of tests reject at family-wise level ``alpha``.

    Sorted ascending, the k-th smallest p-value (from 0) is compared with alpha / (m - k);
    the first that is not below stops the rejections. NaN p-values never reject.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (math.isnan(p_values[i]), p_values[i]))
    rejected = [False] * m
    for k, i in enumerate(order):
        p = p_values[i]
        if math.isnan(p) or p >= alpha / (m - k):
            break
        rejected[i] = True
    return rejected
