"""The sweep's HTML report: one self-contained file (charts inline as SVG, no script).

It renders through routelab's report templates (``reports/templates/base.html.j2``: the
same look as run and comparison reports) with the templates of this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reports.figures import Chart
from reports.html import CI_NOTE, TEMPLATES, UNITS_NOTE
from sweeps.analysis import METRICS, OBJECTIVE, PointFigures, SweepAnalysis
from sweeps.charts import heatmap_chart, parameter_chart, value_text
from sweeps.sweep import SweepResult
from sweeps.verdict import (
    best_sentences,
    ci_text,
    difference_text,
    figure_text,
    short_difference,
)

SWEEP_HTML = "sweep.html"
OWN_TEMPLATES = Path(__file__).with_name("templates")

environment = Environment(
    loader=ChoiceLoader([FileSystemLoader(OWN_TEMPLATES), FileSystemLoader(TEMPLATES)]),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    return environment.get_template(template).render(**context)


def point_row(p: PointFigures, parameters: list[str], acquirers: list[str]) -> dict[str, Any]:
    """One row of the points table, formatted."""
    f = p.figures
    diff = p.differences.get("auth_rate")
    return {
        "label": p.point.label + (" (baseline)" if p.point.baseline else ""),
        "baseline": p.point.baseline,
        "cells": [value_text(p.point.values.get(path)) for path in parameters],
        "auth": figure_text("auth_rate", f["auth_rate"].value),
        "auth_ci": ci_text("auth_rate", f["auth_rate"]),
        "diff": "—" if p.point.baseline else short_difference("auth_rate", diff, adjusted=False),
        "diff_hint": "" if diff is None else short_difference("auth_rate", diff, adjusted=True),
        "significant": bool(diff.significant) if diff else False,
        "figures": [figure_text(name, f[name].value) for name in METRICS[1:]],
        "objective": figure_text(OBJECTIVE, f[OBJECTIVE].value),
        "shares": [
            figure_text("auth_rate", p.summary.acquirer_share.get(name)) for name in acquirers
        ],
    }


def sweep_charts(analysis: SweepAnalysis, parameters: list[str], mode: str) -> list[Chart]:
    """A chart per parameter, and the heatmap when the grid has exactly two."""
    charts = [parameter_chart(analysis, path, parameters) for path in parameters]
    if len(parameters) == 2 and mode == "product":
        charts.append(heatmap_chart(analysis, parameters[0], parameters[1]))
    return charts


def write_sweep_report(result: SweepResult, out: Path) -> Path:
    """Write ``sweep.html`` into ``out``; returns its path."""
    plan, analysis = result.plan, result.analysis
    acquirers = list(plan.base.acquirer_names)
    best = analysis.best
    html = render(
        "sweep.html.j2",
        title=f"routelab sweep: {plan.base.name}",
        heading=f"Sweep of {plan.base.name}",
        meta=[
            f"{len(plan.grid)} points ({plan.mode}) × {plan.replications} replications, seed "
            f"{plan.seed}: every point ran the same replications (common random numbers), "
            "so differences between points are paired.",
            f"Swept: {', '.join(plan.parameters)}. Baseline: {analysis.baseline.point.text}"
            + ("" if plan.baseline_given else " (the scenario's own values)")
            + ".",
            f"Tasks: {plan.tasks} ({result.ran} run now, {result.reused} reused from "
            "earlier runs).",
        ],
        sentences=best_sentences(plan, analysis),
        parameters=plan.parameters,
        acquirers=acquirers,
        metric_labels=["first-attempt auth", "cost", "latency p95", "attempts / payment"],
        rows=[point_row(p, plan.parameters, acquirers) for p in analysis.points],
        best_rows=[
            {
                "figure": name.replace("_", " "),
                "best": figure_text(name, best.figures[name].value),
                "baseline": figure_text(name, analysis.baseline.figures[name].value),
                "diff": (
                    "—"
                    if best.point.baseline
                    else difference_text(name, best.differences.get(name))
                ),
            }
            for name in (*METRICS, OBJECTIVE)
        ],
        objective=analysis.objective.text,
        charts=sweep_charts(analysis, plan.parameters, plan.mode),
        notes=[
            f"Multiple comparisons: {analysis.method}. A difference is called significant "
            "only when its adjusted interval excludes zero; the unadjusted paired 95 % "
            "interval is shown first.",
            CI_NOTE,
            UNITS_NOTE,
        ],
    )
    path = out / SWEEP_HTML
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
