"""A tuning's files: ``tune.json``, ``tune.csv``, ``tuned.yaml`` and ``tune.html``.

``tuned.yaml`` is the scenario with the recommended values, ready for ``routelab
simulate`` or ``loadtest``. ``tune.json`` holds every trial (values, objective on the
tuning seeds, headline figures), the confirmation on fresh seeds (each candidate and the
baseline, with paired and Bonferroni-adjusted differences) and the recommendation;
``tune.csv`` has one row per trial. The HTML report shows the objective per trial, each
parameter against the objective, and the confirmation table.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from matplotlib.figure import Figure as MplFigure

from reports.figures import RUN_COLOURS, Chart, render_chart, styled
from reports.html import CI_NOTE
from scenarios.overrides import describe
from scenarios.transform import scenario_yaml
from sweeps.analysis import OBJECTIVE, PointFigures, method_text
from sweeps.objective import summary_figures
from sweeps.output import point_record
from sweeps.report import render
from sweeps.tune import TuneResult
from sweeps.verdict import difference_text, figure_text, values_text

TUNE_JSON = "tune.json"
TUNE_CSV = "tune.csv"
TUNE_HTML = "tune.html"
TUNED_SCENARIO = "tuned.yaml"


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 8)


def recommendation_sentences(result: TuneResult) -> list[str]:
    """The recommendation and what the fresh seeds say of it, in words."""
    best = result.recommended
    analysis = result.confirmation
    diff = best.differences.get(OBJECTIVE)
    searched = figure_text(OBJECTIVE, _trial_value(result, best))
    lines = [
        f"Recommended: {values_text(best.point.values)} (objective {result.objective.text} = "
        f"{figure_text(OBJECTIVE, best.objective)} on {result.confirm_replications} fresh "
        f"replications of seed {result.confirm_seed}; {searched} in the search).",
        f"Against the scenario's own values on the same fresh seeds: objective "
        f"{difference_text(OBJECTIVE, diff)}; auth rate "
        f"{difference_text('auth_rate', best.differences.get('auth_rate'))}.",
    ]
    if not result.significant:
        lines.append(
            "The recommendation is not significantly better than the scenario's own values "
            "after the adjustment: keep the current values, or tune with more replications."
        )
    lines.append(f"Multiple comparisons: {analysis.method}.")
    return lines


def _trial_value(result: TuneResult, point: PointFigures) -> float:
    key = describe(point.point.values)
    found = [t.objective for t in result.trials if describe(t.values) == key]
    return found[0] if found else math.nan


def tune_record(result: TuneResult, scenario_file: str) -> dict[str, Any]:
    """Everything ``tune.json`` holds."""
    analysis = result.confirmation
    return {
        "scenario": result.base.name,
        "source": result.source,
        "policy": result.policy,
        "objective": {"expression": result.objective.text, "direction": result.direction},
        "params": [
            {"path": p.path, "low": p.low, "high": p.high, "integer": p.integer, "log": p.log}
            for p in result.params
        ],
        "search": {
            "sampler": "optuna TPE",
            "seed": result.seed,
            "replications": result.replications,
            "common_random_numbers": "every trial ran the same replications of this seed",
        },
        "trials": [
            {
                "number": t.number,
                "values": t.values,
                "objective": _num(t.objective),
                "failed": t.failed or None,
                "figures": (
                    {k: _num(v) for k, v in summary_figures(t.summary).items()}
                    if t.summary
                    else None
                ),
            }
            for t in result.trials
        ],
        "confirmation": {
            "seed": result.confirm_seed,
            "replications": result.confirm_replications,
            "multiple_comparisons": {
                "method": "bonferroni" if analysis.comparisons > 1 else "none",
                "comparisons": analysis.comparisons,
                "note": method_text(analysis.comparisons),
            },
            "points": [point_record(p) for p in analysis.points],
        },
        "recommended": {
            "label": result.recommended.point.label,
            "values": result.recommended.point.values,
            "objective": _num(result.recommended.objective),
            "significant": result.significant,
            "scenario_file": scenario_file,
        },
        "summary": recommendation_sentences(result),
    }


@styled
def trials_chart(result: TuneResult) -> Chart:
    """Objective per trial, with the best so far."""
    fig = MplFigure(figsize=(10.0, 3.6), layout="constrained")
    ax = fig.subplots()
    numbers = np.array([t.number for t in result.trials])
    values = np.array([t.objective for t in result.trials], dtype=float)
    ax.plot(numbers, values, "o", ms=4, color=RUN_COLOURS[0], label="trial")
    running = (
        np.fmax.accumulate(values) if result.direction == "maximize" else np.fmin.accumulate(values)
    )
    ax.step(numbers, running, where="post", color=RUN_COLOURS[1], label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(result.objective.text)
    ax.legend(fontsize=8.5)
    return render_chart(
        fig,
        "Objective per trial",
        f"{result.objective.text} of each trial on the tuning seeds (seed {result.seed}, "
        f"{result.replications} replications each: the same payments for every trial).",
    )


@styled
def parameters_chart(result: TuneResult) -> Chart:
    """Each parameter against the objective; later trials darker."""
    n = len(result.params)
    fig = MplFigure(figsize=(10.0, 3.4), layout="constrained")
    axes = list(fig.subplots(1, n, squeeze=False)[0])
    done = [t for t in result.trials if not t.failed]
    for ax, param in zip(axes, result.params, strict=True):
        x = [t.values[param.path] for t in done]
        y = [t.objective for t in done]
        ax.scatter(x, y, c=[t.number for t in done], cmap="Blues", edgecolors="#555555", s=24)
        chosen = result.recommended.point.values.get(param.path)
        if chosen is not None:
            ax.axvline(chosen, color=RUN_COLOURS[1], lw=1.2, ls="--", label="recommended")
        if param.log:
            ax.set_xscale("log")
        ax.set_xlabel(param.path, fontsize=8.5)
        ax.set_ylabel(result.objective.text, fontsize=8.5)
    return render_chart(
        fig,
        "Parameters against the objective",
        "One dot per trial (darker: later; TPE samples more where it found good values); "
        "the dashed line is the recommended value.",
    )


def confirmation_rows(result: TuneResult) -> list[dict[str, str]]:
    rows = []
    for p in result.confirmation.points:
        rows.append(
            {
                "label": p.point.label
                + (" (recommended)" if p.point.label == result.recommended.point.label else ""),
                "setting": values_text(p.point.values, short=True) or "the scenario's own values",
                "search": "—"
                if p.point.baseline
                else figure_text(OBJECTIVE, _trial_value(result, p)),
                "objective": figure_text(OBJECTIVE, p.objective),
                "auth": figure_text("auth_rate", p.figures["auth_rate"].value),
                "diff": (
                    "baseline"
                    if p.point.baseline
                    else difference_text(OBJECTIVE, p.differences.get(OBJECTIVE))
                ),
                "auth_diff": (
                    "—"
                    if p.point.baseline
                    else difference_text("auth_rate", p.differences.get("auth_rate"))
                ),
            }
        )
    return rows


def write_tune(result: TuneResult, out: Path) -> dict[str, Path]:
    """Write the tuning's files into ``out``; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "scenario": out / TUNED_SCENARIO,
        "json": out / TUNE_JSON,
        "csv": out / TUNE_CSV,
        "html": out / TUNE_HTML,
    }
    paths["scenario"].write_text(scenario_yaml(result.tuned), encoding="utf-8")
    record = tune_record(result, TUNED_SCENARIO)
    paths["json"].write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2, default=str))
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        fields = ["trial", *(p.path for p in result.params), "objective", "failed"]
        names = list(summary_figures(result.confirmation.baseline.summary))
        writer = csv.DictWriter(fh, fieldnames=fields + names)
        writer.writeheader()
        for t in result.trials:
            figures = summary_figures(t.summary) if t.summary else {}
            writer.writerow(
                {
                    "trial": t.number,
                    **{p.path: t.values[p.path] for p in result.params},
                    "objective": _num(t.objective),
                    "failed": t.failed,
                    **{k: _num(v) for k, v in figures.items()},
                }
            )
    html = render(
        "tune.html.j2",
        title=f"routelab tune: {result.base.name}",
        heading=f"Tuning {result.policy} on {result.base.name}",
        meta=[
            f"{len(result.trials)} trials (Optuna TPE) × {result.replications} replications of "
            f"seed {result.seed}, objective {result.objective.text} ({result.direction}).",
            f"Confirmation: the {len(result.confirmation.points) - 1} best distinct trials and "
            f"the scenario's own values, {result.confirm_replications} replications of the "
            f"fresh seed {result.confirm_seed}.",
        ],
        sentences=recommendation_sentences(result),
        rows=confirmation_rows(result),
        charts=[trials_chart(result), parameters_chart(result)],
        scenario_file=TUNED_SCENARIO,
        notes=[CI_NOTE],
    )
    paths["html"].write_text(html, encoding="utf-8")
    return paths
