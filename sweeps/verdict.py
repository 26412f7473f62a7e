"""A sweep's findings in words and formatted figures, for the terminal and the HTML report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.metrics import NA, bps, ms, pct, plain, pp
from results.stats import defined
from scenarios.overrides import describe
from sweeps.analysis import OBJECTIVE, Difference, Figure, PointFigures, SweepAnalysis
from sweeps.plan import SweepPlan


def figure_text(name: str, value: float | None) -> str:
    """A figure formatted by its kind (rates in %, cost in bps, latency in ms)."""
    if name in ("auth_rate", "first_attempt_auth_rate"):
        return pct(value)
    if name == "cost_bps":
        return bps(value)
    if name == "latency_p95_ms":
        return ms(value)
    return plain(value, 4 if name == OBJECTIVE else 3)


def delta_text(name: str, value: float | None) -> str:
    """A difference formatted by the figure's kind, signed."""
    if name in ("auth_rate", "first_attempt_auth_rate"):
        return pp(value)
    if name == "cost_bps":
        return bps(value, signed=True)
    if name == "latency_p95_ms":
        return ms(value, signed=True)
    return plain(value, 4 if name == OBJECTIVE else 3, signed=True)


def _bounds(name: str, low: float, high: float) -> str:
    return f"[{delta_text(name, low)}, {delta_text(name, high)}]"


def ci_text(name: str, figure: Figure) -> str:
    if figure.ci95 is None:
        return NA
    low, high = figure.ci95
    return f"[{figure_text(name, low)}, {figure_text(name, high)}]"


def difference_text(name: str, diff: Difference | None, adjusted: bool = True) -> str:
    """``+0.45 pp [+0.20, +0.70], adjusted [+0.05, +0.85]: significant``."""
    if diff is None:
        return NA
    text = f"{delta_text(name, diff.estimate)} {_bounds(name, *diff.ci95)}"
    if adjusted and diff.adjusted != diff.ci95:
        text += f", adjusted {_bounds(name, *diff.adjusted)}"
    return f"{text}: {'significant' if diff.significant else 'not significant'}"


def short_difference(name: str, diff: Difference | None, adjusted: bool) -> str:
    """``+0.45 pp [+0.20, +0.70]``, or with ``adjusted`` ``adjusted [+0.05, +0.85]``."""
    if diff is None:
        return NA
    if adjusted:
        return f"adjusted {_bounds(name, *diff.adjusted)}"
    return f"{delta_text(name, diff.estimate)} {_bounds(name, *diff.ci95)}"


def values_text(values: Mapping[str, Any], short: bool = False) -> str:
    """Values for people: floats to 4 significant digits; ``short`` keeps only the last
    key of each path (when that stays unambiguous). The files keep the exact values."""
    keys = {path: path.rsplit(".", 1)[-1] if short else path for path in values}
    if len(set(keys.values())) < len(keys):
        keys = {path: path for path in values}
    shown = {
        keys[path]: float(f"{v:.4g}") if isinstance(v, float) else v for path, v in values.items()
    }
    return describe(shown)


def point_text(point: PointFigures) -> str:
    return f"{point.point.text} ({point.point.label})"


def best_sentences(plan: SweepPlan, analysis: SweepAnalysis) -> list[str]:
    """The best point, its paired difference against the baseline, and the caveat."""
    best, base = analysis.best, analysis.baseline
    name = "auth_rate"
    objective = analysis.objective.text
    by = "" if objective == name else f" (objective {objective} = {plain(best.objective, 4)})"
    lines = [
        f"Best point by {objective} ({analysis.direction}): {point_text(best)}: auth rate "
        f"{pct(best.figures[name].value)} {ci_text(name, best.figures[name])}{by}."
    ]
    where = base.point.text + ("" if plan.baseline_given else ": the scenario's own values")
    if best.point.label == base.point.label:
        lines.append(f"The best point is the baseline itself ({where}).")
    else:
        key = OBJECTIVE if objective != name else name
        diff = best.differences.get(key)
        lines.append(
            f"Against the baseline ({where}), paired on the same replications: "
            f"{'objective ' if key == OBJECTIVE else 'auth rate '}"
            f"{difference_text(key, diff)}."
        )
        if key != name:
            lines.append(f"Auth rate: {difference_text(name, best.differences.get(name))}.")
    grid = len(plan.grid)
    if grid > 1:
        lines.append(
            f"It is the best of {grid} points on the very replications that measure it, so "
            "its lead is biased upward (the winner's curse): re-measure it on fresh seeds "
            "before believing its size (routelab tune re-runs its top candidates so)."
        )
    if not defined(best.objective):
        lines.append("No point has a defined objective value.")
    return lines
