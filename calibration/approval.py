"""Approval by segment with partial pooling, and its translation into base + effects.

A segment (cell) is a combination of network, card type and cross-border. Per
acquirer, the approval probability of each cell is estimated from its
acquirer-decided attempts (approvals and acquirer-side declines; technical errors,
timeouts and the card's own declines say nothing about the acquirer's approval) by
empirical-Bayes partial pooling: a Beta prior centred on the acquirer's overall rate,
with a strength fitted to the between-cell spread (DerSimonian–Laird moments), so a cell
with few attempts is pulled towards the acquirer's mean instead of getting a wild
effect. The posterior mean is the estimate and its equal-tailed interval the interval.

In the scenario the most used cell is ``approval.base`` and every other cell is an
effect whose condition names that cell exactly (cells are disjoint, so one effect
applies per payment) with ``delta`` = its estimate minus the base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.estimates import Estimate, beta_posterior, grade_of, z_of

Cell = tuple[str, str, bool]  # network, card type, cross-border
MIN_DELTA = 0.0005  # smaller deltas are not written (rounding)
MAX_PRIOR = 1e6


@dataclass(frozen=True)
class ApprovalFit:
    cells: dict[Cell, Estimate]  # posterior per cell
    observed: dict[Cell, tuple[int, int]]  # (approved, decided) per cell
    base_cell: Cell
    base: Estimate
    effects: dict[Cell, Estimate]  # delta per other cell
    prior_strength: float


def prior_strength(k: np.ndarray, n: np.ndarray) -> float:
    """The Beta prior's a + b from the spread of cell rates (moment estimate)."""
    used = n > 0
    k, n = k[used], n[used]
    if k.size < 2:
        return MAX_PRIOR
    p = k.sum() / n.sum()
    var = max(p * (1 - p), 1e-9)
    w = n / var
    r = k / n
    q = float(np.sum(w * (r - p) ** 2))
    denom = float(w.sum() - np.sum(w**2) / w.sum())
    tau2 = max(0.0, (q - (k.size - 1)) / denom) if denom > 0 else 0.0
    if tau2 <= 0.0:
        return MAX_PRIOR
    return float(min(MAX_PRIOR, max(1.0, var / tau2 - 1.0)))


def fit_approval(
    cells: list[Cell], approved: np.ndarray, decided: np.ndarray, level: float
) -> ApprovalFit:
    k = approved.astype(float)
    n = decided.astype(float)
    total_n = max(n.sum(), 1.0)
    p = k.sum() / total_n
    kappa = prior_strength(k, n)
    a = k + kappa * p
    b = n - k + kappa * (1 - p)
    mean, low, high = beta_posterior(a, b, level)
    var = a * b / ((a + b) ** 2 * (a + b + 1))
    method = f"Beta-binomial partial pooling (prior strength {kappa:.0f})"
    estimates = {
        cell: Estimate(
            float(mean[i]), float(low[i]), float(high[i]), int(n[i]), grade_of(int(n[i])), method
        )
        for i, cell in enumerate(cells)
    }
    b_i = int(np.argmax(n))
    base_cell = cells[b_i]
    z = z_of(level)
    effects: dict[Cell, Estimate] = {}
    for i, cell in enumerate(cells):
        if i == b_i or n[i] <= 0:
            continue
        delta = float(mean[i] - mean[b_i])
        se = math.sqrt(float(var[i] + var[b_i]))
        effects[cell] = Estimate(
            delta,
            delta - z * se,
            delta + z * se,
            int(n[i]),
            grade_of(int(n[i])),
            "difference of posteriors",
        )
    return ApprovalFit(
        cells=estimates,
        observed={cell: (int(k[i]), int(n[i])) for i, cell in enumerate(cells)},
        base_cell=base_cell,
        base=estimates[base_cell],
        effects=effects,
        prior_strength=kappa,
    )


def cell_condition(cell: Cell, fields: tuple[bool, bool, bool]) -> dict[str, object]:
    """The scenario condition naming ``cell`` (only the fields that vary)."""
    condition: dict[str, object] = {}
    network, card_type, cross_border = cell
    if fields[0]:
        condition["network"] = network
    if fields[1]:
        condition["card_type"] = card_type
    if fields[2]:
        condition["cross_border"] = cross_border
    return condition
