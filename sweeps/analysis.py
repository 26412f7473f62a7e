"""What a sweep found: each point's figures with CIs, paired differences against the
baseline point, and the best point by an objective.

Every point ran on the same seeds (common random numbers), so replication ``r`` of a
point and of the baseline saw the same payments: the difference of a figure is a paired
t interval over replications. A sweep compares many points with one baseline, and the
best of many noisy comparisons looks better than it is: each figure's differences are
therefore also given as **Bonferroni-adjusted** intervals (each at level
``1 - 0.05 / m`` for ``m`` points compared, so all ``m`` hold together with 95 %
confidence), and a difference is called *significant* only when its adjusted interval
excludes zero. The unadjusted 95 % interval is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from results.contract import RunSummary
from results.stats import defined, paired_difference, t_interval
from simulator.run import SimulationResult
from sweeps.objective import Objective, replication_figures, summary_figures
from sweeps.plan import SweepPoint

LEVEL = 0.95
METRICS = (
    "auth_rate",
    "first_attempt_auth_rate",
    "cost_bps",
    "latency_p95_ms",
    "attempts_per_payment",
)
OBJECTIVE = "objective"
Direction = Literal["maximize", "minimize"]


def method_text(comparisons: int) -> str:
    """How the differences were adjusted for multiple comparisons, in words."""
    if comparisons <= 1:
        return "one comparison: no adjustment needed (paired t, 95 %)"
    level = 1.0 - (1.0 - LEVEL) / comparisons
    return (
        f"Bonferroni over {comparisons} comparisons with the baseline: each adjusted "
        f"interval at {100 * level:.3g} %, so all hold together with 95 % confidence"
    )


@dataclass(frozen=True)
class Figure:
    """One figure of a point: pooled value, its 95 % CI, and per-replication values."""

    value: float
    ci95: tuple[float, float] | None  # pooled ± t half-width over replications
    per_replication: tuple[float, ...]


@dataclass(frozen=True)
class Difference:
    """A figure's paired difference against the baseline (this point minus baseline)."""

    estimate: float
    ci95: tuple[float, float]
    adjusted: tuple[float, float]
    significant: bool  # the adjusted interval excludes zero
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": _clean(self.estimate),
            "ci95": [_clean(self.ci95[0]), _clean(self.ci95[1])],
            "adjusted_ci": [_clean(self.adjusted[0]), _clean(self.adjusted[1])],
            "significant": self.significant,
            "replications": self.n,
        }


def _clean(x: float) -> float | None:
    return round(x, 8) if defined(x) else None


@dataclass(frozen=True)
class PointFigures:
    """A point, its pooled run and what the sweep says about it."""

    point: SweepPoint
    summary: RunSummary
    figures: dict[str, Figure]  # METRICS and "objective"
    differences: dict[str, Difference]  # empty for the baseline itself

    @property
    def objective(self) -> float:
        return self.figures[OBJECTIVE].value


@dataclass(frozen=True)
class SweepAnalysis:
    points: list[PointFigures]
    baseline: PointFigures
    best: PointFigures
    comparisons: int
    objective: Objective
    direction: Direction

    @property
    def method(self) -> str:
        return method_text(self.comparisons)

    def of(self, point: SweepPoint) -> PointFigures:
        return next(p for p in self.points if p.point.label == point.label)


def _figure(pooled: float | None, values: Sequence[float]) -> Figure:
    value = pooled if defined(pooled) else math.nan
    clean = [v for v in values if defined(v)]
    ci: tuple[float, float] | None = None
    if len(clean) >= 2 and len(clean) == len(values) and defined(value):
        t = t_interval(clean, LEVEL)
        ci = (value - t.half_width, value + t.half_width)
    return Figure(value, ci, tuple(values))


def point_figures(summary: RunSummary, objective: Objective) -> dict[str, Figure]:
    """The figures of one point's run (METRICS and the objective)."""
    pooled = summary_figures(summary)
    reps = [replication_figures(r) for r in summary.per_replication]
    figures = {name: _figure(pooled[name], [_value(r.get(name)) for r in reps]) for name in METRICS}
    figures[OBJECTIVE] = _figure(objective(pooled), [objective(r) for r in reps])
    return figures


def _value(x: float | None) -> float:
    return math.nan if x is None else float(x)


def difference(point: Figure, base: Figure, comparisons: int) -> Difference | None:
    """``point - base`` paired by replication; None when a replication lacks the figure."""
    a, b = list(base.per_replication), list(point.per_replication)
    if len(a) != len(b) or len(a) < 2 or not all(defined(x) for x in a + b):
        return None
    raw = paired_difference(b, a)
    level = 1.0 - (1.0 - LEVEL) / max(1, comparisons)
    adjusted = t_interval([y - x for x, y in zip(a, b, strict=True)], level)
    return Difference(
        raw.estimate,
        (raw.low, raw.high),
        (adjusted.low, adjusted.high),
        adjusted.excludes_zero,
        raw.n,
    )


def better(a: float, b: float, direction: Direction) -> bool:
    """Whether objective value ``a`` beats ``b`` (NaN never wins)."""
    if not defined(a):
        return False
    if not defined(b):
        return True
    return a > b if direction == "maximize" else a < b


def analyse(
    points: Sequence[SweepPoint],
    results: Mapping[str, SimulationResult],
    objective: Objective,
    direction: Direction = "maximize",
    candidates: Sequence[SweepPoint] | None = None,
) -> SweepAnalysis:
    """Figures, paired differences against the baseline point, and the best point of
    ``candidates`` (default: the grid) by ``objective``."""
    baseline = next(p for p in points if p.baseline)
    comparisons = len(points) - 1
    base_figures = point_figures(results[baseline.label].summary, objective)
    analysed: list[PointFigures] = []
    for point in points:
        summary = results[point.label].summary
        figures = base_figures if point is baseline else point_figures(summary, objective)
        diffs: dict[str, Difference] = {}
        if point is not baseline:
            for name, figure in figures.items():
                found = difference(figure, base_figures[name], comparisons)
                if found is not None:
                    diffs[name] = found
        analysed.append(PointFigures(point, summary, figures, diffs))
    labels = {q.label for q in (candidates or [q for q in points if q.in_grid])}
    pool = [p for p in analysed if p.point.label in labels]
    best = pool[0] if pool else analysed[0]
    for candidate in pool[1:]:
        if better(candidate.objective, best.objective, direction):
            best = candidate
    base = next(p for p in analysed if p.point is baseline)
    return SweepAnalysis(analysed, base, best, comparisons, objective, direction)
