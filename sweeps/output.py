"""A sweep's files: ``sweep.json``, ``sweep.csv`` and one run directory per point.

``sweep.json`` holds, per point, the values it set, its figures (auth rate with its 95 %
CI, first-attempt auth rate, cost in bps, latency p95, attempts per payment, acquirer
shares, the objective) and the paired difference of each figure against the baseline
point (unadjusted and Bonferroni-adjusted CIs, significant when the adjusted one
excludes zero). ``sweep.csv`` is the same table flat, one row per point. Each point's
pooled run is a normal run directory (``points/<label>/summary.json`` and its time
series and latency histogram), so ``routelab report`` and ``compare`` read it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import orjson

from scenarios.overrides import describe
from sweeps.analysis import METRICS, OBJECTIVE, Figure, PointFigures
from sweeps.sweep import SweepResult

SWEEP_JSON = "sweep.json"
SWEEP_CSV = "sweep.csv"
POINTS_DIR = "points"


def _num(x: float | None, digits: int = 8) -> float | None:
    if x is None or math.isnan(x) or math.isinf(x):
        return None
    return round(x, digits)


def _figure(figure: Figure) -> dict[str, Any]:
    ci = figure.ci95
    return {
        "value": _num(figure.value),
        "ci95": [_num(ci[0]), _num(ci[1])] if ci else None,
    }


def _value(value: Any) -> Any:
    """A point's value as plain JSON (a mapping or list as it was given)."""
    return orjson.loads(orjson.dumps(value, default=str))


def point_record(p: PointFigures) -> dict[str, Any]:
    """One point of ``sweep.json``."""
    s = p.summary
    return {
        "label": p.point.label,
        "values": {path: _value(v) for path, v in p.point.values.items()},
        "policy": p.point.policy,
        "baseline": p.point.baseline,
        "in_grid": p.point.in_grid,
        "run_dir": f"{POINTS_DIR}/{p.point.label}",
        "replications": s.replications,
        "payments": s.payments,
        "auth_rate": _num(s.auth_rate),
        "auth_rate_ci95": [_num(s.auth_rate_ci95[0]), _num(s.auth_rate_ci95[1])],
        "first_attempt_auth_rate": _num(s.first_attempt_auth_rate),
        "cost_bps": _num(s.cost.bps),
        "latency_p95_ms": _num(s.latency_ms.p95),
        "attempts_per_payment": _num(s.attempts_per_payment),
        "acquirer_share": {k: _num(v) for k, v in s.acquirer_share.items()},
        "objective": _num(p.objective),
        "figures": {name: _figure(f) for name, f in p.figures.items()},
        "vs_baseline": (
            None if p.point.baseline else {name: d.as_dict() for name, d in p.differences.items()}
        ),
    }


def sweep_record(result: SweepResult) -> dict[str, Any]:
    """Everything ``sweep.json`` holds."""
    plan, analysis = result.plan, result.analysis
    return {
        "scenario": plan.base.name,
        "source": plan.source,
        "seed": plan.seed,
        "replications": plan.replications,
        "mode": plan.mode,
        "parameters": plan.parameters,
        "common_random_numbers": (
            f"every point ran replications 0..{plan.replications - 1} of seed {plan.seed}: "
            "differences between points are paired by replication"
        ),
        "objective": {"expression": analysis.objective.text, "direction": analysis.direction},
        "multiple_comparisons": {
            "method": "bonferroni" if analysis.comparisons > 1 else "none",
            "comparisons": analysis.comparisons,
            "family_level": 0.95,
            "per_comparison_level": (
                round(1.0 - 0.05 / analysis.comparisons, 6) if analysis.comparisons else 0.95
            ),
            "note": analysis.method,
        },
        "baseline": analysis.baseline.point.label,
        "best": analysis.best.point.label,
        "tasks": {"total": plan.tasks, "ran": result.ran, "reused": result.reused},
        "points": [point_record(p) for p in analysis.points],
    }


def _cell(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return describe({"": value})[1:]  # flow YAML without the "=" of an empty path


def csv_rows(result: SweepResult) -> list[dict[str, Any]]:
    """One flat row per point: ``sweep.csv``."""
    plan, analysis = result.plan, result.analysis
    acquirers = list(plan.base.acquirer_names)
    rows = []
    for p in analysis.points:
        record = point_record(p)
        row: dict[str, Any] = {"label": p.point.label}
        for path in plan.parameters:
            row[path] = _cell(p.point.values.get(path))
        row |= {
            "policy": p.point.policy,
            "baseline": p.point.baseline,
            "in_grid": p.point.in_grid,
            "payments": record["payments"],
        }
        for name in METRICS:
            row[name] = record[name]
        row["auth_rate_ci_low"], row["auth_rate_ci_high"] = record["auth_rate_ci95"]
        row[OBJECTIVE] = record[OBJECTIVE]
        for name in acquirers:
            row[f"share_{name}"] = record["acquirer_share"].get(name)
        for name in (*METRICS, OBJECTIVE):
            diff = p.differences.get(name)
            row[f"{name}_diff"] = _num(diff.estimate) if diff else None
            row[f"{name}_diff_ci_low"] = _num(diff.ci95[0]) if diff else None
            row[f"{name}_diff_ci_high"] = _num(diff.ci95[1]) if diff else None
            row[f"{name}_diff_adj_low"] = _num(diff.adjusted[0]) if diff else None
            row[f"{name}_diff_adj_high"] = _num(diff.adjusted[1]) if diff else None
            row[f"{name}_diff_significant"] = diff.significant if diff else None
        rows.append(row)
    return rows


def write_sweep(result: SweepResult, out: Path) -> dict[str, Path]:
    """Write ``sweep.json``, ``sweep.csv`` and every point's run directory into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for label, run in result.results.items():
        run.write(out / POINTS_DIR / label)
    paths = {"json": out / SWEEP_JSON, "csv": out / SWEEP_CSV}
    paths["json"].write_bytes(orjson.dumps(sweep_record(result), option=orjson.OPT_INDENT_2))
    rows = csv_rows(result)
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return paths
