"""Sweep charts: each figure against each swept parameter with CI bands, and a heatmap
of two parameters. Drawn in routelab's chart style (:mod:`reports.figures`) as inline SVG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import PercentFormatter

from reports.figures import RUN_COLOURS, Chart, render_chart, styled
from scenarios.overrides import describe
from sweeps.analysis import METRICS, OBJECTIVE, PointFigures, SweepAnalysis

MAX_LINES = len(RUN_COLOURS) - 1  # the last colour (black) marks the baseline
RATES = {"auth_rate", "first_attempt_auth_rate"}
LABELS = {
    "auth_rate": "auth rate",
    "first_attempt_auth_rate": "first-attempt auth rate",
    "cost_bps": "cost (bps of approved amount)",
    "latency_p95_ms": "latency p95 (ms)",
    "attempts_per_payment": "attempts per payment",
    OBJECTIVE: "objective",
}
BASELINE_COLOUR = RUN_COLOURS[-1]


def metric_names(analysis: SweepAnalysis) -> list[str]:
    """The figures charted: the headline ones, plus the objective when it is not one."""
    names = list(METRICS)
    if analysis.objective.text not in METRICS:
        names.append(OBJECTIVE)
    return names


def _label(name: str, analysis: SweepAnalysis) -> str:
    if name == OBJECTIVE:
        return f"objective: {analysis.objective.text}"
    return LABELS[name]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def value_text(value: Any) -> str:
    return describe({"": value})[1:]


class Axis:
    """Where a parameter's values go on an x axis: numbers as numbers, anything else as
    categories in the order first met."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.numeric = bool(values) and all(_is_number(v) for v in values)
        self.categories: list[str] = []
        if not self.numeric:
            for v in values:
                if value_text(v) not in self.categories:
                    self.categories.append(value_text(v))
        positive = self.numeric and all(v > 0 for v in values)
        self.log = positive and max(values) / min(values) >= 20

    def x(self, value: Any) -> float:
        if self.numeric:
            return float(value)
        text = value_text(value)
        if text not in self.categories:
            self.categories.append(text)
        return float(self.categories.index(text))

    def style(self, ax: Axes) -> None:
        if self.log:
            ax.set_xscale("log")
        if not self.numeric:
            ax.set_xticks(range(len(self.categories)), self.categories, rotation=20, ha="right")


def _groups(
    points: Sequence[PointFigures], parameter: str, parameters: Sequence[str]
) -> dict[str, list[PointFigures]]:
    """Grid points by the values of the other parameters (one line each)."""
    others = [p for p in parameters if p != parameter]
    groups: dict[str, list[PointFigures]] = {}
    for p in points:
        key = describe({o: p.point.values.get(o) for o in others}) if others else "all points"
        groups.setdefault(key, []).append(p)
    return groups


def _format_axis(ax: Axes, name: str) -> None:
    if name in RATES:
        low, high = ax.get_ylim()
        decimals = 0 if high - low >= 0.05 else 1 if high - low >= 0.005 else 2
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def _draw_metric(
    ax: Axes,
    name: str,
    analysis: SweepAnalysis,
    groups: dict[str, list[PointFigures]],
    axis: Axis,
    parameter: str,
) -> None:
    shown = list(groups.items())
    if len(shown) > MAX_LINES:  # too many lines to read: those through the best point
        best_label = analysis.best.point.label
        shown = [(k, g) for k, g in shown if any(p.point.label == best_label for p in g)]
    for colour, (line, group) in zip(RUN_COLOURS, shown, strict=False):
        ordered = sorted(group, key=lambda p: axis.x(p.point.values.get(parameter)))
        x = np.array([axis.x(p.point.values.get(parameter)) for p in ordered])
        y = np.array([p.figures[name].value for p in ordered], dtype=float)
        low = np.array([(p.figures[name].ci95 or (math.nan,) * 2)[0] for p in ordered])
        high = np.array([(p.figures[name].ci95 or (math.nan,) * 2)[1] for p in ordered])
        ax.plot(x, y, marker="o", ms=4, lw=1.6, color=colour, label=line)
        ax.fill_between(x, low, high, color=colour, alpha=0.15, lw=0)
    best = analysis.best
    ax.plot(
        [axis.x(best.point.values.get(parameter))],
        [best.figures[name].value],
        marker="o",
        ms=11,
        mfc="none",
        mec="#000000",
        mew=1.4,
        ls="none",
        label="best point",
    )
    base = analysis.baseline
    base_ci = base.figures[name].ci95
    base_x = axis.x(base.point.values.get(parameter))
    ax.errorbar(
        [base_x],
        [base.figures[name].value],
        yerr=(
            [[base.figures[name].value - base_ci[0]], [base_ci[1] - base.figures[name].value]]
            if base_ci
            else None
        ),
        marker="*",
        ms=11,
        color=BASELINE_COLOUR,
        ls="none",
        capsize=3,
        label="baseline",
        zorder=6,
    )
    ax.set_title(_label(name, analysis), fontsize=10)
    axis.style(ax)
    _format_axis(ax, name)


@styled
def parameter_chart(analysis: SweepAnalysis, parameter: str, parameters: Sequence[str]) -> Chart:
    """Every charted figure against ``parameter``: a line per value of the others."""
    grid = [p for p in analysis.points if p.point.in_grid]
    axis = Axis([p.point.values.get(parameter) for p in grid])
    names = metric_names(analysis)
    fig = MplFigure(figsize=(10.0, 6.4), layout="constrained")
    axes = list(fig.subplots(2, 3, squeeze=False).flat)
    groups = _groups(grid, parameter, parameters)
    for ax, name in zip(axes, names, strict=False):
        _draw_metric(ax, name, analysis, groups, axis, parameter)
        ax.set_xlabel(parameter, fontsize=8.5)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(
        list(unique.values()),
        list(unique.keys()),
        loc="outside lower center",
        ncols=min(3, len(unique)),
        fontsize=8,
    )
    lines = len(groups)
    caption = (
        "Pooled figure per point with its 95 % CI band (t over replications); "
        + ("one line per value of the other parameters; " if lines > 1 else "")
        + "the star is the baseline point, the ring the best point by the objective."
    )
    if lines > MAX_LINES:
        caption += f" {lines} lines are too many to read: only the best point's line is drawn."
    return render_chart(fig, f"Figures against {parameter}", caption)


def _cells(
    analysis: SweepAnalysis, rows: str, columns: str
) -> tuple[Axis, Axis, dict[tuple[float, float], PointFigures]]:
    grid = [p for p in analysis.points if p.point.in_grid]
    row_axis = Axis([p.point.values.get(rows) for p in grid])
    col_axis = Axis([p.point.values.get(columns) for p in grid])
    cells = {
        (row_axis.x(p.point.values.get(rows)), col_axis.x(p.point.values.get(columns))): p
        for p in grid
    }
    return row_axis, col_axis, cells


def _ordered(axis: Axis, values: Sequence[Any]) -> list[Any]:
    unique: list[Any] = []
    for v in values:
        if all(axis.x(v) != axis.x(u) for u in unique):
            unique.append(v)
    return sorted(unique, key=axis.x)


def _heat(
    ax: Axes,
    analysis: SweepAnalysis,
    rows: str,
    columns: str,
    value: Callable[[PointFigures], float],
    text: Callable[[PointFigures], str],
    title: str,
    cmap: str,
    centred: bool = False,
) -> None:
    row_axis, col_axis, cells = _cells(analysis, rows, columns)
    grid = [p for p in analysis.points if p.point.in_grid]
    row_values = _ordered(row_axis, [p.point.values.get(rows) for p in grid])
    col_values = _ordered(col_axis, [p.point.values.get(columns) for p in grid])
    matrix = np.full((len(row_values), len(col_values)), np.nan)
    for i, rv in enumerate(row_values):
        for j, cv in enumerate(col_values):
            found = cells.get((row_axis.x(rv), col_axis.x(cv)))
            if found is not None:
                matrix[i, j] = value(found)
                ax.text(j, i, text(found), ha="center", va="center", fontsize=8)
    low = high = None
    if centred and np.isfinite(matrix).any():
        high = float(np.nanmax(np.abs(matrix))) or 1.0
        low = -high
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", origin="lower", vmin=low, vmax=high)
    ax.figure.colorbar(image, ax=ax, shrink=0.85)
    ax.set_xticks(
        range(len(col_values)), [value_text(v) for v in col_values], rotation=20, ha="right"
    )
    ax.set_yticks(range(len(row_values)), [value_text(v) for v in row_values])
    ax.set_xlabel(columns, fontsize=8.5)
    ax.set_ylabel(rows, fontsize=8.5)
    ax.set_title(title, fontsize=10)
    ax.grid(False)


@styled
def heatmap_chart(analysis: SweepAnalysis, rows: str, columns: str) -> Chart:
    """Auth rate and its paired difference against the baseline over two parameters."""
    fig = MplFigure(figsize=(10.0, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, squeeze=False)[0]

    def rate(p: PointFigures) -> float:
        return 100 * p.figures["auth_rate"].value

    def diff(p: PointFigures) -> float:
        d = p.differences.get("auth_rate")
        return 0.0 if p.point.baseline else (100 * d.estimate if d else math.nan)

    def diff_text(p: PointFigures) -> str:
        if p.point.baseline:
            return "baseline"
        d = p.differences.get("auth_rate")
        return "n/a" if d is None else f"{100 * d.estimate:+.2f}{'*' if d.significant else ''}"

    _heat(
        left, analysis, rows, columns, rate, lambda p: f"{rate(p):.2f}", "auth rate (%)", "viridis"
    )
    title = "Δ auth rate vs baseline (pp)"
    _heat(right, analysis, rows, columns, diff, diff_text, title, "RdBu", centred=True)
    return render_chart(
        fig,
        f"Auth rate over {rows} × {columns}",
        "Left: pooled auth rate per point. Right: paired difference against the baseline "
        "in percentage points; * marks a difference significant after the Bonferroni "
        "adjustment.",
    )
