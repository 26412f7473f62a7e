"""What a finished live run says: the run directory, live.json, the verdicts, the lines
to print.

``summary.json`` and its companions follow the result contract both engines share;
``live.json`` holds what only a live run has (generator health, router metrics over the
run, CPU, reconciliation problems, SLO verdicts, notes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loadtests.admin_client import MetricsSnapshot
from loadtests.live_summary import build_summary, timeseries
from loadtests.live_tally import GENERATOR_COUNTS, LiveTally
from loadtests.locust_process import LocustRun
from loadtests.plan import RunPlan
from loadtests.reconcile import Reconciliation
from loadtests.slo import EXIT_SLO_BREACHED, Observed, Verdict, effective_slo, evaluate
from results.contract import RunSummary, write_run
from results.stats import defined

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RECONCILIATION = 4
LATE_SHARE_NOTED = 0.01  # above this share of late sends, the run says it fell behind


@dataclass
class LoadTestOutcome:
    """A finished run: its summary, verdicts and what the report should say."""

    summary: RunSummary
    summary_path: Path
    verdict: Verdict
    reconciliation: Reconciliation | None
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    live: dict[str, Any] = field(default_factory=dict)  # live.json

    @property
    def exit_code(self) -> int:
        """4 on a reconciliation mismatch (money beats speed), 3 on an SLO breach, 1 when
        the run was cut short, else 0."""
        if self.reconciliation is not None and not self.reconciliation.ok:
            return EXIT_RECONCILIATION
        if not self.verdict.ok:
            return EXIT_SLO_BREACHED
        return 0 if self.complete else EXIT_RUN_FAILED


def conclude(
    plan: RunPlan,
    run: LocustRun,
    *,
    processes: int,
    policy: str,
    metrics: tuple[MetricsSnapshot, MetricsSnapshot],
    reconciliation: Reconciliation | None,
    services_cpu: dict[str, float | None],
    notes: list[str],
    out: Path,
    reversed_approvals: int | None = None,
) -> LoadTestOutcome:
    """Write the run directory from Locust's results and judge the run.

    ``reversed_approvals``: approvals a void reversed, from the acquirers' ledgers
    (``live_summary.ledger_reversed_approvals``); None when they could not be read.
    """
    before, after = metrics
    recon = reconciliation
    cpu = services_cpu
    results = run.results
    assert results is not None
    tally = LiveTally.from_report(results["tally"], plan.warmup_s, plan.bucket_s)
    c = tally.counts
    streams = int(results["streams"])
    complete = c["streams_finished"] >= streams
    if not complete:
        notes.append(
            f"cut short by the safety time limit: {int(c['streams_finished'])} of "
            f"{streams} streams finished"
        )
    summary = build_summary(
        tally,
        plan,
        policy=policy,
        wall_seconds=run.wall_s,
        reconciliation=recon.counts() if recon else None,
        reversed_approvals=reversed_approvals,
    )
    path = write_run(out, summary, timeseries(tally, plan), tally.histogram("latency"))
    verdict = evaluate(
        effective_slo(plan.scenario.slo, plan.options.slo), Observed.from_summary(summary)
    )
    routed = after.total("routelab_router_payments_total") - before.total(
        "routelab_router_payments_total"
    )
    if routed > c["answered_all"] + c["errors_all"]:
        notes.append(
            f"the router routed {routed:.0f} payments, the generator heard back "
            f"about {int(c['answered_all'] + c['errors_all'])}"
        )
    _notes_on_generator(tally, plan, notes)
    generator_cpu = run.cpu_s
    live = {
        "run_id": results["run_id"],
        "processes": processes,
        "streams": streams,
        "model": plan.options.model,
        "complete": complete,
        "timeline": {
            "duration_s": plan.duration_s,
            "compression": plan.timeline.compression,
            "truncate": plan.timeline.truncate,
            "warmup_s": plan.warmup_s,
            "bucket_s": plan.bucket_s,
            "rate_scale": plan.options.rate_scale,
        },
        "expected_payments": results["expected_payments"],
        "generator": {
            **{k: c[k] for k in GENERATOR_COUNTS},
            "late_ms": plan.options.late_ms,
            "max_lateness_ms": round(tally.maxima["max_lateness_ms"], 3),
            "lateness_p99_ms": _p99(tally, "lateness"),
            "http_errors": dict(tally.http_errors),
            "latency_from_send_ms": tally.histogram("latency_from_send").percentiles(),
            "cpu_s": generator_cpu,
            "cpu_share": (
                round(generator_cpu / run.wall_s, 3)
                if generator_cpu is not None and run.wall_s
                else None
            ),
        },
        "services_cpu_s": cpu,
        "router_metrics": {
            "payments": _delta(before, after, "routelab_router_payments_total", "outcome"),
            "attempts": _delta(before, after, "routelab_router_attempts_total", "class"),
            "rejected": _delta(before, after, "routelab_router_rejected_requests_total", "reason"),
            "idempotent_replays": (
                after.total("routelab_router_idempotent_replays_total")
                - before.total("routelab_router_idempotent_replays_total")
            ),
        },
        "locust": results["locust"],
        "reconciliation": ({**recon.counts(), "problems": recon.problems} if recon else None),
        "slo": {
            "breaches": [b.line() for b in verdict.breaches],
            "passed": verdict.passed,
            "unmeasured": verdict.unmeasured,
        },
        "notes": notes,
    }
    (out / "live.json").write_bytes(orjson.dumps(live, option=orjson.OPT_INDENT_2))
    (out / "router_metrics.prom").write_text(after.text, encoding="utf-8")
    return LoadTestOutcome(summary, path, verdict, recon, notes, complete, live)


def _notes_on_generator(tally: LiveTally, plan: RunPlan, notes: list[str]) -> None:
    c = tally.counts
    sent = c["sent_all"] or 1
    if c["late_all"] / sent > LATE_SHARE_NOTED:
        notes.append(
            f"the generator fell behind: {c['late_all'] / sent:.1%} of sends more "
            f"than {plan.options.late_ms:g} ms late (max "
            f"{tally.maxima['max_lateness_ms']:.0f} ms)"
        )
    if c["dropped_all"]:
        notes.append(
            f"{int(c['dropped_all'])} arrivals dropped: "
            f"{plan.options.max_in_flight} payments already in flight per stream"
        )


def _p99(tally: LiveTally, name: str) -> float | None:
    hist = tally.histogram(name)
    return round(hist.quantile(0.99), 3) if hist.total else None


def _delta(
    before: MetricsSnapshot, after: MetricsSnapshot, name: str, label: str
) -> dict[str, float]:
    start = before.by_label(name, label)
    return {
        k: v - start.get(k, 0.0)
        for k, v in after.by_label(name, label).items()
        if v - start.get(k, 0.0)
    }


def outcome_lines(outcome: LoadTestOutcome) -> list[str]:
    """What to tell the user at the end, most important last."""
    s = outcome.summary
    lines = [f"wrote {outcome.summary_path}"]
    generator = outcome.live.get("generator", {})
    achieved = s.achieved_rate if defined(s.achieved_rate) else 0.0
    load = [f"achieved {achieved:.1f}/s"]
    if defined(s.offered_rate) and s.offered_rate > 0:
        load = [f"offered {s.offered_rate:.1f}/s", f"{load[0]} ({achieved / s.offered_rate:.1%})"]
    errors = f"{s.http_error_rate:.2%}" if defined(s.http_error_rate) else "n/a"
    load.append(f"HTTP errors {errors}")
    load += [
        f"{generator.get(k, 0)} {what}"
        for k, what in (("late_all", "late sends"), ("dropped_all", "dropped"))
    ]
    lines.append("load: " + ", ".join(load))
    lines += [f"note: {n}" for n in outcome.notes]
    lines += [f"SLO not measured: {u}" for u in outcome.verdict.unmeasured]
    lines += [f"SLO met: {p}" for p in outcome.verdict.passed]
    if outcome.reconciliation is not None:
        lines.append(outcome.reconciliation.describe())
        lines += [f"  {p}" for p in outcome.reconciliation.problems]
    lines += [b.line() for b in outcome.verdict.breaches]
    return lines
