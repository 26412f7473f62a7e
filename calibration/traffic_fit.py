"""Traffic fitted from payments (first attempts): arrivals, the payment mix, amounts,
and the card's own declines.

- Arrivals: a ``piecewise`` profile, one step per :func:`step_length` (an hour for an
  export of six hours or more), each step's rate its payments over its length, with an
  exact Poisson interval.
- Mix: the shares of networks, card types, issuer countries and currencies.
- Amounts: lognormal by maximum likelihood when its Kolmogorov–Smirnov distance is at
  most 0.05, else the ``empirical`` amount distribution (observed percentiles).
- Issuer declines: the card's own decline codes (the taxonomy's card-side codes: not
  ``acquirer_side``) among each payment's issuer-reaching attempt, as a Poisson
  log-linear model with a multiplicative factor per card type and cross-border level
  (reference: the level with the lowest rate); a factor is kept when its interval
  excludes 1, then the model is refitted with the kept factors only. Each code's base
  rate is the reference rate times the code's share of these declines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from calibration.attempts import HARD_I, SOFT_I, code_table
from calibration.distributions import LognormalFit, fit_lognormal
from calibration.estimates import MIN_N, Estimate, grade_of, z_of
from calibration.timeline import Timeline


@dataclass(frozen=True)
class Step:
    start_s: float
    end_s: float
    rate: Estimate


@dataclass(frozen=True)
class Factor:
    field: str
    level: str | bool
    factor: Estimate


@dataclass
class TrafficFit:
    payments: int
    steps: list[Step]
    networks: dict[str, int]
    card_types: dict[str, int]
    issuer_countries: dict[str, int]
    currencies: dict[str, int]
    amount: LognormalFit | None
    amounts: np.ndarray
    issuer_base: dict[str, Estimate]
    issuer_factors: list[Factor]
    issuer_reaching: int
    warnings: list[str] = field(default_factory=list)


def step_length(duration_s: float, bucket_s: float) -> float:
    if duration_s >= 6 * 3600:
        return 3600.0
    return max(bucket_s, 300.0) if duration_s >= 1800 else bucket_s


def poisson_rate(count: int, length_s: float, level: float) -> Estimate:
    tail = (1 - level) / 2
    low = stats.chi2.ppf(tail, 2 * count) / 2 if count else 0.0
    high = stats.chi2.ppf(1 - tail, 2 * count + 2) / 2
    return Estimate(
        count / length_s, low / length_s, high / length_s, count, grade_of(count), "Poisson (exact)"
    )


def fit_traffic(timeline: Timeline, bucket_s: float, level: float) -> TrafficFit:
    att = timeline.attempts
    first = timeline.first
    t = att.t_s[first]
    step = step_length(timeline.duration_s, bucket_s)
    steps: list[Step] = []
    start = 0.0
    while start < timeline.duration_s - 1e-9:
        end = min(start + step, timeline.duration_s)
        count = int(((t >= start) & (t < end)).sum())
        steps.append(Step(start, end, poisson_rate(count, end - start, level)))
        start = end
    amounts = att.amount[first]
    amount = fit_lognormal(amounts.astype(float), level, "amount (minor units)")
    issuer_base, factors, reaching, warnings = _issuer_declines(timeline, level)
    return TrafficFit(
        payments=int(first.sum()),
        steps=steps,
        networks=att.network.take(np.flatnonzero(first)).counts(),
        card_types=att.card_type.take(np.flatnonzero(first)).counts(),
        issuer_countries=att.issuer_country.take(np.flatnonzero(first)).counts(),
        currencies=att.currency.take(np.flatnonzero(first)).counts(),
        amount=amount,
        amounts=amounts,
        issuer_base=issuer_base,
        issuer_factors=factors,
        issuer_reaching=reaching,
        warnings=warnings,
    )


def poisson_glm(
    y: np.ndarray, exposure: np.ndarray, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their covariance of a Poisson log-linear model (IRLS)."""
    beta = np.zeros(design.shape[1])
    beta[0] = math.log(max(y.sum(), 0.5) / max(exposure.sum(), 1.0))
    offset = np.log(np.maximum(exposure, 1e-300))
    for _ in range(50):
        eta = design @ beta + offset
        mu = np.exp(eta)
        z = eta - offset + (y - mu) / np.maximum(mu, 1e-300)
        w = mu
        xtw = design.T * w
        new = np.linalg.solve(xtw @ design + 1e-9 * np.eye(design.shape[1]), xtw @ z)
        if np.max(np.abs(new - beta)) < 1e-10:
            beta = new
            break
        beta = new
    mu = np.exp(design @ beta + offset)
    cov = np.linalg.inv((design.T * mu) @ design + 1e-9 * np.eye(design.shape[1]))
    return beta, cov


def _issuer_declines(
    timeline: Timeline, level: float
) -> tuple[dict[str, Estimate], list[Factor], int, list[str]]:
    att = timeline.attempts
    rows = np.flatnonzero(timeline.reaching)
    codes = att.code.codes[rows]
    card_side = ~code_table(att.code, "acquirer_side")[codes]
    outcome = att.outcome[rows]
    issuer = card_side & ((outcome == SOFT_I) | (outcome == HARD_I))
    levels: list[tuple[str, np.ndarray, Sequence[str | bool]]] = [
        ("card_type", att.card_type.codes[rows], att.card_type.names),
        ("cross_border", (att.cross_border[rows] == 1).astype(np.int32), [False, True]),
    ]
    cell = np.zeros(rows.size, dtype=np.int64)
    for _, values, names in levels:
        cell = cell * (len(names) + 1) + values
    cells, index = np.unique(cell, return_inverse=True)
    exposure = np.bincount(index, minlength=cells.size).astype(float)
    y = np.bincount(index[issuer], minlength=cells.size).astype(float)
    # the levels of each field in each cell
    decoded: list[np.ndarray] = []
    rest = cells.copy()
    for _, _, names in reversed(levels):
        decoded.insert(0, rest % (len(names) + 1))
        rest = rest // (len(names) + 1)
    candidates: list[tuple[str, str | bool, np.ndarray]] = []
    for (field_name, _, names), per_cell in zip(levels, decoded, strict=True):
        present = [
            v for v in np.unique(per_cell).tolist() if exposure[per_cell == v].sum() >= MIN_N
        ]
        if len(present) < 2:
            continue
        rates = {v: y[per_cell == v].sum() / exposure[per_cell == v].sum() for v in present}
        reference = min(present, key=lambda v: rates[v])
        candidates += [(field_name, names[v], per_cell == v) for v in present if v != reference]
    z = z_of(level)
    kept = candidates
    for _ in range(2):
        design = np.column_stack([np.ones(cells.size), *[c[2].astype(float) for c in kept]])
        beta, cov = poisson_glm(y, exposure, design)
        se = np.sqrt(np.diag(cov))
        significant = [c for k, c in enumerate(kept) if abs(beta[k + 1]) > z * se[k + 1]]
        if len(significant) == len(kept):
            break
        kept = significant
    factors = [
        Factor(
            name,
            value,
            Estimate(
                math.exp(beta[k + 1]),
                math.exp(beta[k + 1] - z * se[k + 1]),
                math.exp(beta[k + 1] + z * se[k + 1]),
                int(exposure[mask].sum()),
                grade_of(int(y[mask].sum())),
                "Poisson log-linear model (IRLS)",
            ),
        )
        for k, (name, value, mask) in enumerate(kept)
    ]
    total = int(y.sum())
    counts = np.bincount(codes[issuer], minlength=len(att.code.names))
    base: dict[str, Estimate] = {}
    warnings: list[str] = []
    for c in np.flatnonzero(counts):
        share = counts[c] / total
        value = math.exp(beta[0]) * share
        log_se = math.sqrt(cov[0, 0] + (1 - share) / max(counts[c], 1))
        base[att.code.names[c]] = Estimate(
            value,
            value * math.exp(-z * log_se),
            value * math.exp(z * log_se),
            int(counts[c]),
            grade_of(int(counts[c])),
            "reference rate × the code's share of card-side declines",
        )
    return base, factors, int(rows.size), warnings
