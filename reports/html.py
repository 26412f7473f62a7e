"""Self-contained HTML reports: one file, charts inline, readable without a network.

:func:`write_report` turns one run directory into ``report.html``; the comparison of
several runs (``reports.compare``) renders through the same templates and styles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reports import charts
from reports.figures import Chart
from reports.metrics import (
    ATTEMPTS,
    AUTH_RATE,
    COST_BPS,
    COST_PER_APPROVED,
    ENGINE_LABELS,
    FIRST_ATTEMPT,
    HEADLINE,
    LATENCY_P95,
    NA,
    count,
    incident_text,
    ms,
    pct,
)
from reports.rundata import Run, experiment_text, load_run
from reports.verdict import run_sentences
from reports.yardstick_charts import has_oracle, regret_over_time
from reports.yardstick_rows import yardstick_rows
from results.contract import RunSummary
from results.stats import defined

TEMPLATES = Path(__file__).with_name("templates")
REPORT_FILE = "report.html"

CI_NOTE = (
    "95 % CI (confidence interval): the range that would contain the true value in 95 of "
    "100 repetitions of this experiment. With several replications it comes from the "
    "spread between them (Student's t); a single run (e.g. a live load test) uses the "
    "Wilson interval for a proportion, which assumes payments are independent."
)
UNITS_NOTE = (
    "Latency is end to end, as the payer waits, retries included. Costs are acquirer fees "
    "in major currency units; bps = basis points of the approved amount (100 bps = 1 %). "
    '"n/a" marks a figure with nothing to compute it from.'
)

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    """Render one of ``reports/templates`` with HTML escaping on."""
    return _environment.get_template(template).render(**context)


def decline_meanings() -> dict[str, tuple[str, str]]:
    """Code -> (plain meaning, decline class), from the router's one decline taxonomy."""
    from scenarios.taxonomy import CODES

    return {code: (info.meaning, info.outcome.value) for code, info in CODES.items()}


def run_meta(run: Run) -> list[str]:
    s = run.summary
    reps = f"{s.replications} replications" if s.replications > 1 else "1 run"
    length = f"{reps} × {s.duration_s:,.0f} s (first {s.warmup_s:,.0f} s not counted)"
    if abs(run.time_scale - 1.0) > 0.01:
        length += (
            f", playing {run.scenario_span_s:,.0f} s of the scenario {run.time_scale:,.1f}× faster"
        )
    lines = [
        f"Scenario {s.scenario} · policy {s.policy} · {ENGINE_LABELS.get(s.engine, s.engine)}",
        f"{length} · seed {s.seed} · {s.payments:,} payments · from {run.path}",
        f"Experiment: {experiment_text(s)}",
    ]
    incidents = incident_text(s)
    if incidents:
        lines.append("Incidents in the scenario: " + "; ".join(incidents))
    return lines


def _ci(low: float | None, high: float | None) -> str:
    return f"95 % CI {pct(low)} – {pct(high)}" if defined(low) and defined(high) else "no CI"


def headline_tiles(run: Run) -> list[dict[str, str]]:
    s = run.summary
    return [
        {"label": AUTH_RATE.label, "value": pct(s.auth_rate), "sub": _ci(*s.auth_rate_ci95)},
        {
            "label": FIRST_ATTEMPT.label,
            "value": pct(s.first_attempt_auth_rate),
            "sub": _ci(*s.first_attempt_auth_rate_ci95),
        },
        {
            "label": COST_PER_APPROVED.label,
            "value": COST_PER_APPROVED.format(s.cost.per_approved),
            "sub": f"{COST_BPS.format(s.cost.bps)} of the approved amount",
        },
        {
            "label": "Latency, p95",
            "value": ms(s.latency_ms.p95),
            "sub": f"median {ms(s.latency_ms.p50)} · p99 {ms(s.latency_ms.p99)}",
        },
    ]


def live_rows(run: Run) -> list[dict[str, str]]:
    """The load-test figures only a live run has (empty for the simulator)."""
    s = run.summary
    if s.engine != "live":
        return []

    def rate(value: float | None) -> str:
        return f"{value:,.1f} payments/s" if defined(value) else NA

    ratio = (
        s.achieved_rate / s.offered_rate
        if defined(s.achieved_rate) and defined(s.offered_rate) and s.offered_rate > 0
        else None
    )
    rows = [
        {
            "label": "Offered rate",
            "value": rate(s.offered_rate),
            "hint": "payments the load generator was asked to send",
        },
        {
            "label": "Achieved rate",
            "value": rate(s.achieved_rate),
            "hint": f"payments actually sent and answered ({pct(ratio, 1)} of offered)",
        },
        {
            "label": "HTTP error rate",
            "value": pct(s.http_error_rate),
            "hint": "requests that failed at the HTTP level (5xx, timeouts, connection errors)",
        },
    ]
    for i, (key, value) in enumerate((s.reconciliation or {}).items()):
        rows.append(
            {
                "label": f"Reconciliation: {key.replace('_', ' ')}",
                "value": count(value),
                "hint": "the router's records against the acquirers' ledgers" if i == 0 else "",
            }
        )
    return rows


def detail_rows(run: Run) -> list[dict[str, str]]:
    s = run.summary
    rows = [
        {"label": "Payments counted", "value": count(s.payments), "hint": "after warm-up"},
        {"label": "Approved", "value": count(s.approved), "hint": ""},
    ]
    rows += [{"label": m.label, "value": m.format(m.value(s)), "hint": m.note} for m in HEADLINE]
    rows += [
        {
            "label": "Payments retried on another acquirer",
            "value": count(s.cascade.get("cascaded")),
            "hint": "",
        },
        {
            "label": "…of which approved by the retry",
            "value": count(s.cascade.get("recovered")),
            "hint": "",
        },
        *lifecycle_rows(s),
        {"label": "Wall-clock time", "value": f"{s.wall_seconds:,.1f} s", "hint": ""},
    ]
    if defined(s.sim_payments_per_second):
        rows.append(
            {
                "label": "Simulation speed",
                "value": f"{s.sim_payments_per_second:,.0f} payments/s",
                "hint": "simulated payments per second of wall-clock time",
            }
        )
    return rows


def lifecycle_rows(s: RunSummary) -> list[dict[str, str]]:
    """The payment lifecycle's counters: timeouts and how their unknown outcomes ended."""
    t = s.timeouts
    rows = [
        {
            "label": "Timeouts",
            "value": count(t.get("timeouts")),
            "hint": "attempts with no answer in time (unknown outcome)",
        }
    ]
    if "settled" not in t:  # a summary written before the lifecycle counters
        rows.append(
            {
                "label": "Late approvals voided",
                "value": count(t.get("voided_late_approvals")),
                "hint": "as counted before the lifecycle counters (meaning differed by engine)",
            }
        )
        return rows
    source = s.reversed_approvals_source
    return [
        *rows,
        {
            "label": "Unknown outcomes settled",
            "value": count(t.get("settled")),
            "hint": "voided, or shown to hold no approval, while the payment was routed",
        },
        {
            "label": "Unknown outcomes left unsettled",
            "value": count(t.get("unsettled")),
            "hint": "still unknown when the payment finished; settled in the background",
        },
        {
            "label": "Approvals reversed",
            "value": count(t.get("reversed_approvals")),
            "hint": (
                f"approvals a void reversed (from the {source})"
                if source
                else "not known for this run"
            ),
        },
    ]


def run_charts(run: Run, label: str) -> dict[str, Chart]:
    runs, labels = [run], [label]
    extra = {"regret": regret_over_time(runs, labels)} if has_oracle(run) else {}
    return {
        **extra,
        "auth_rate": charts.auth_rate_over_time(runs, labels),
        "share": charts.acquirer_share_over_time(runs, labels),
        "outcomes": charts.payment_outcomes(runs, labels),
        "declines": charts.declines(runs, labels, decline_meanings()),
        "latency": charts.latency_distribution(runs, labels),
        "cost": charts.cost_vs_auth(runs, labels),
    }


def notes(*extra: str) -> list[str]:
    return [CI_NOTE, UNITS_NOTE, *extra]


def render_run(run: Run) -> str:
    """The HTML report of one run, as a string."""
    s = run.summary
    return render(
        "run.html.j2",
        title=f"{s.scenario} · {s.policy} · routelab report",
        heading=f"{s.scenario}: {s.policy}",
        meta=run_meta(run),
        sentences=run_sentences(run),
        tiles=headline_tiles(run),
        live=live_rows(run),
        charts=run_charts(run, s.policy),
        acquirers=[
            {"name": name, "share": pct(share), "auth_rate": pct(s.acquirer_auth_rate.get(name))}
            for name, share in s.acquirer_share.items()
        ],
        details=detail_rows(run),
        yardsticks=yardstick_rows(s),
        notes=notes(f"{ATTEMPTS.label}: {ATTEMPTS.note}. {LATENCY_P95.label}: {LATENCY_P95.note}."),
    )


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a run directory; default ``RUN_DIR/report.html``."""
    run = load_run(run_dir)
    target = Path(out) if out is not None else run.path / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_run(run), encoding="utf-8")
    return target
