"""Runs side by side: every headline figure, differences against the first run, a verdict.

The runs may differ by policy, seed or engine. Runs are matched by their identity
(``results.pairing``), never by scenario name: differences use the strongest method the
pair allows (``reports.differences``); two runs that are not the same experiment
(another scenario content, timeline, time scale or rate scale) get a sentence saying so
and what differs, and no interval or verdict. When a live run and a simulator run of the
same experiment are both present, a fidelity section says how far apart they are
(``reports.fidelity``). :func:`write_comparison` is the one call behind
``routelab compare`` and ``make demo``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reports import charts
from reports.differences import METHOD_TEXT, Difference, differences, run_pair_method
from reports.fidelity import Fidelity, Tolerances, fidelity, fidelity_pairs
from reports.html import CI_NOTE, UNITS_NOTE, render
from reports.metrics import (
    ATTEMPTS,
    AUTH_RATE,
    COST_BPS,
    COST_PER_APPROVED,
    ENGINE_LABELS,
    FIRST_ATTEMPT,
    HEADLINE,
    LATENCY_P95,
    Metric,
    count,
    format_range,
    incident_text,
    pct,
)
from reports.rundata import Run, experiment_text, load_runs, run_labels
from reports.verdict import comparison_sentence
from reports.yardstick_charts import has_oracle, regret_over_time
from results.contract import RunSummary
from results.pairing import Pairing, pairing
from results.stats import defined

# Differences shown in the comparison table (the others are in the figures table).
DIFFERENCE_METRICS: list[Metric] = [
    AUTH_RATE,
    FIRST_ATTEMPT,
    ATTEMPTS,
    COST_PER_APPROVED,
    COST_BPS,
    LATENCY_P95,
]

METHOD_LABELS: dict[str, str] = {
    "paired": "paired: same payments in both runs",
    "welch": "Welch: independent runs",
    "two-proportion": "two-proportion: a single-run side",
    "different": "not the same experiment: no interval",
    "none": "no interval",
}

METHOD_NOTES: dict[str, str] = {
    "paired": "Paired: the runs are the same experiment (scenario content, timeline, time "
    "scale and rate scale) with the same seed and replications, so each replication "
    "saw the same payments and issuer answers under both policies; the interval "
    "is a paired t over the per-replication differences.",
    "welch": "Welch: independent runs with several replications each; Welch's t over the "
    "per-replication figures.",
    "two-proportion": "Two-proportion: a run with a single replication (e.g. a live load "
    "test) has no spread between replications; Newcombe's interval "
    "combines each run's own 95 % CI for the authorisation rates. Other "
    "figures get no interval.",
    "different": "Not the same experiment: runs of another scenario content, timeline, "
    "time scale or rate scale are shown side by side; their differences have no "
    "interval and no verdict, since they are not the effect of the policy alone.",
}


@dataclass(frozen=True)
class Comparison:
    """Several runs, their differences against the first, and any fidelity checks."""

    runs: list[Run]
    labels: list[str]
    differences: list[list[Difference]]  # one list per run after the first
    sentences: list[str]
    fidelities: list[Fidelity]
    pairings: list[Pairing]  # how each run after the first relates to the first

    @property
    def base(self) -> Run:
        return self.runs[0]

    def difference(self, run_index: int, key: str) -> Difference:
        """Difference of run ``run_index`` (>= 1) against the first, for one metric."""
        return next(d for d in self.differences[run_index - 1] if d.metric.key == key)


def compare_runs(runs: Sequence[Run], tolerances: Tolerances | None = None) -> Comparison:
    """Differences of every run against the first, verdict sentences and fidelity checks."""
    if not runs:
        raise ValueError("nothing to compare: give at least one run")
    labels = run_labels(runs)
    base = runs[0].summary
    summaries = [r.summary for r in runs]
    relations = [pairing(base, s) for s in summaries[1:]]
    diffs = [differences(base, s, HEADLINE) for s in summaries[1:]]
    sentences = []
    # Rank like with like: a short live run is there to check fidelity, and a run of
    # another experiment answers another question, so policies are ranked on the
    # simulator's runs of the baseline's experiment.
    engines = {s.engine for s in summaries}
    same = [True] + [p.same_experiment for p in relations]
    ranked = [
        (s, label)
        for s, label, alike in zip(summaries, labels, same, strict=True)
        if alike and defined(s.auth_rate) and (len(engines) == 1 or s.engine == "simulator")
    ]
    if len(ranked) > 1:
        best, best_label = max(ranked, key=lambda x: x[0].auth_rate or 0.0)
        where = " in the simulator" if len(engines) > 1 else ""
        where += f" on {base.scenario}" if not all(same) else ""
        ci = AUTH_RATE.format_range(*best.auth_rate_ci95)
        sentences.append(
            f"Highest authorisation rate{where}: {best_label}, "
            f"{pct(best.auth_rate)} (95 % CI {ci})."
        )
    for i, (relation, d) in enumerate(zip(relations, diffs, strict=True), start=1):
        if relation.kind == "different":
            sentences.append(f"{labels[i]} and {labels[0]} are {relation.reason}.")
            continue
        sentences.append(comparison_sentence(labels[0], labels[i], d, base.latency_ms.p95))
        if relation.kind == "unknown":
            sentences.append(f"{labels[i]} against {labels[0]}: {relation.reason}.")
    fids = [fidelity(summaries[i], summaries[j], tolerances) for i, j in fidelity_pairs(summaries)]
    sentences += [f.sentence() for f in fids]
    return Comparison(list(runs), labels, diffs, sentences, fids, relations)


def _value_rows(c: Comparison) -> list[dict[str, object]]:
    summaries = [r.summary for r in c.runs]
    rows: list[dict[str, object]] = [
        {
            "label": "Payments counted",
            "hint": "after warm-up",
            "values": [count(s.payments) for s in summaries],
        }
    ]
    for m in HEADLINE:
        values: list[str | tuple[str, str]] = [m.format(m.value(s)) for s in summaries]
        if m.key == AUTH_RATE.key:
            values = [
                (m.format(m.value(s)), "95 % CI " + m.format_range(*s.auth_rate_ci95))
                for s in summaries
            ]
        elif m.key == FIRST_ATTEMPT.key:
            values = [
                (m.format(m.value(s)), "95 % CI " + m.format_range(*s.first_attempt_auth_rate_ci95))
                for s in summaries
            ]
        rows.append({"label": m.label, "hint": m.note, "values": values})
    acquirers = list(dict.fromkeys(a for r in c.runs for a in r.acquirers))
    for name in acquirers:
        rows.append(
            {
                "label": f"Share of first attempts, {name}",
                "hint": "",
                "values": [pct(s.acquirer_share.get(name)) for s in summaries],
            }
        )
    if any(s.engine == "live" for s in summaries):

        def live(fn: Callable[[RunSummary], str]) -> list[str]:
            return [fn(s) if s.engine == "live" else "–" for s in summaries]

        rows.append(
            {
                "label": "Offered rate",
                "hint": "payments/s asked of the load generator",
                "values": live(
                    lambda s: f"{s.offered_rate:,.1f}/s" if defined(s.offered_rate) else "n/a"
                ),
            }
        )
        rows.append(
            {
                "label": "Achieved rate",
                "hint": "payments/s actually answered",
                "values": live(
                    lambda s: f"{s.achieved_rate:,.1f}/s" if defined(s.achieved_rate) else "n/a"
                ),
            }
        )
        rows.append(
            {
                "label": "HTTP error rate",
                "hint": "5xx, timeouts, connection errors",
                "values": live(lambda s: pct(s.http_error_rate)),
            }
        )
    return rows


def _difference_rows(c: Comparison) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, label in enumerate(c.labels[1:], start=1):
        cells = []
        for m in DIFFERENCE_METRICS:
            d = c.difference(i, m.key)
            interval = (
                m.format_range(d.low, d.high, signed=True) if d.has_interval else "no interval"
            )
            tone = ("good" if d.improves else "bad") if d.significant else "muted"
            if d.significant is None:
                tone = ""
            cells.append(
                {"value": m.format_difference(d.estimate), "interval": interval, "tone": tone}
            )
        method = run_pair_method(c.base.summary, c.runs[i].summary)
        relation = c.pairings[i - 1]
        method_label = METHOD_LABELS[method]
        if relation.kind in ("different", "unknown"):
            method_label = relation.reason  # says what differs, or that nobody knows
        rows.append(
            {"label": label, "cells": cells, "method": method, "method_label": method_label}
        )
    return rows


def render_comparison(c: Comparison) -> str:
    """The comparison as one self-contained HTML page."""
    runs, labels = c.runs, c.labels
    scenarios = list(dict.fromkeys(r.summary.scenario for r in runs))
    methods = sorted({row["method"] for row in _difference_rows(c)}, key=str)
    incidents = list(dict.fromkeys(t for r in runs for t in incident_text(r.summary)))
    return render(
        "compare.html.j2",
        title=f"{' vs '.join(scenarios)} · comparison · routelab",
        heading=(
            f"{', '.join(scenarios)}: {' vs '.join(labels)}"
            if len(runs) <= 2
            else f"{', '.join(scenarios)}: {len(runs)} runs compared"
        ),
        base_label=labels[0],
        incidents=incidents,
        runs=[
            {
                "label": label,
                "engine": ENGINE_LABELS.get(r.summary.engine, r.summary.engine),
                "scenario": r.summary.scenario,
                "policy": r.summary.policy,
                "replications": r.summary.replications,
                "seed": r.summary.seed,
                "experiment": experiment_text(r.summary),
                "payments": count(r.summary.payments),
                "path": str(r.path),
            }
            for r, label in zip(runs, labels, strict=True)
        ],
        sentences=c.sentences,
        values=_value_rows(c),
        difference_metrics=[m.label for m in DIFFERENCE_METRICS],
        differences=_difference_rows(c),
        method_text=METHOD_TEXT,
        fidelities=[_fidelity_view(f) for f in c.fidelities],
        charts={
            "auth_rate": charts.auth_rate_over_time(runs, labels),
            "share": charts.acquirer_share_over_time(runs, labels),
            "latency": charts.latency_distribution(runs, labels),
            "cost": charts.cost_vs_auth(runs, labels),
            "outcomes": charts.payment_outcomes(runs, labels),
            "declines": charts.declines(runs, labels),
            **(
                {"regret": regret_over_time(runs, labels)}
                if any(has_oracle(r) for r in runs)
                else {}
            ),
        },
        notes=[CI_NOTE, *[METHOD_NOTES[m] for m in methods if m in METHOD_NOTES], UNITS_NOTE],
    )


def _fidelity_view(f: Fidelity) -> dict[str, object]:
    rows = []
    for check in f.checks:
        ci = format_range(check.kind, *check.simulated_ci) if check.simulated_ci else ""
        verdict = {True: "within", False: "outside", None: "n/a"}[check.within]
        rows.append(
            {
                "label": check.label,
                "simulated": check.formatted(check.simulated),
                "ci": ci,
                "live": check.formatted(check.live),
                "difference": check.formatted(check.difference, signed=True),
                "allowed": check.format_allowed(),
                "rule": check.rule,
                "verdict": verdict,
            }
        )
    return {
        "sentence": f.sentence(),
        "refused": f.refused,
        "simulated": f.simulated.policy,
        "live": f.live.policy,
        "rows": rows,
        "tolerances": f.tolerances.describe(),
    }


def write_comparison(
    run_dirs: Sequence[str | Path], out: str | Path, tolerances: Tolerances | None = None
) -> Path:
    """Compare run directories (simulated and/or live) into one HTML file; returns its path.

    The first run is the baseline every other run is measured against. A live run of a
    scenario that also has a simulated run gets a fidelity section.
    """
    comparison = compare_runs(load_runs(run_dirs), tolerances)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_comparison(comparison), encoding="utf-8")
    return target
