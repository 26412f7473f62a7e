"""Fees per acquirer and network by least squares: fee = pct_bps × amount + fixed.

Approved attempts are fitted (``fee − per_attempt`` against ``amount / 10 000`` and a
constant); ``per_attempt`` is the mean fee of attempts that were not approved. Each
network with enough approved attempts is fitted on its own; networks whose fit does
not differ from the largest network's (neither the percentage nor the fixed part by
more than 3 standard errors) are pooled into the default schedule, the others get a
``by_network`` entry. Graded as the open-source decision engine grades fee fits:
``good`` when n >= 200 and the RMSE, in basis points of each payment's amount, is at
most 15 bps; else ``fair`` from 30 observations, ``thin`` below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.estimates import MIN_N, Estimate, z_of

GOOD_FEE_N = 200
GOOD_RMSE_BPS = 15.0


@dataclass(frozen=True)
class FeeFit:
    pct_bps: Estimate
    fixed: Estimate
    per_attempt: float
    rmse_bps: float
    n: int
    grade: str


def fee_grade(n: int, rmse_bps: float) -> str:
    if n >= GOOD_FEE_N and rmse_bps <= GOOD_RMSE_BPS:
        return "good"
    return "fair" if n >= MIN_N else "thin"


def fit_fee(amount: np.ndarray, fee: np.ndarray, per_attempt: float, level: float) -> FeeFit | None:
    ok = np.isfinite(fee) & (amount > 0)
    x, y = amount[ok].astype(float), fee[ok] - per_attempt
    n = int(x.size)
    if n < 3:
        return None
    design = np.column_stack([x / 10_000.0, np.ones(n)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = max(n - 2, 1)
    s2 = float(resid @ resid) / dof
    try:
        cov = s2 * np.linalg.inv(design.T @ design)
    except np.linalg.LinAlgError:
        cov = np.full((2, 2), np.inf)
    z = z_of(level)
    se_pct, se_fixed = (math.sqrt(max(float(cov[i, i]), 0.0)) for i in (0, 1))
    # exact fees leave no residual: keep the interval as wide as a rounding to 1e-6
    se_pct, se_fixed = max(se_pct, 1e-6), max(se_fixed, 1e-6)
    rmse = float(np.sqrt(np.mean((resid / x) ** 2)) * 10_000.0)
    grade = fee_grade(n, rmse)
    method = "least squares, fee = pct × amount + fixed"
    return FeeFit(
        pct_bps=Estimate(
            float(coef[0]),
            float(coef[0] - z * se_pct),
            float(coef[0] + z * se_pct),
            n,
            grade,
            method,
        ),
        fixed=Estimate(
            float(coef[1]),
            float(coef[1] - z * se_fixed),
            float(coef[1] + z * se_fixed),
            n,
            grade,
            method,
        ),
        per_attempt=per_attempt,
        rmse_bps=rmse,
        n=n,
        grade=grade,
    )


def differs(a: FeeFit, b: FeeFit) -> bool:
    """Whether two fits differ by more than 3 combined standard errors in either part."""
    for ea, eb in ((a.pct_bps, b.pct_bps), (a.fixed, b.fixed)):
        se = math.hypot(ea.high - ea.value, eb.high - eb.value) / max(z_of(0.95), 1e-9)
        if abs(ea.value - eb.value) > 3.0 * se + 1e-6:
            return True
    return False


def fit_fees(
    network: np.ndarray, amount: np.ndarray, fee: np.ndarray, approved: np.ndarray, level: float
) -> tuple[FeeFit | None, dict[str, FeeFit]]:
    """The default schedule and the networks that need their own (``network``: names)."""
    declined_fees = fee[~approved & np.isfinite(fee)]
    per_attempt = float(declined_fees.mean()) if declined_fees.size else 0.0
    per_attempt = max(0.0, per_attempt)
    names, counts = np.unique(network[approved & np.isfinite(fee)], return_counts=True)
    if not names.size:
        return None, {}
    order = np.argsort(-counts)
    fits: dict[str, FeeFit] = {}
    for name in names[order]:
        rows = approved & (network == name)
        fit = fit_fee(amount[rows], fee[rows], per_attempt, level)
        if fit is not None and fit.n >= MIN_N:
            fits[str(name)] = fit
    largest = str(names[order[0]])
    if largest not in fits:
        return fit_fee(amount[approved], fee[approved], per_attempt, level), {}
    own = {name: f for name, f in fits.items() if name != largest and differs(f, fits[largest])}
    pooled = approved & ~np.isin(network, list(own))
    default = fit_fee(amount[pooled], fee[pooled], per_attempt, level)
    return default, own
