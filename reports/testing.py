"""Test support: a live-shaped run directory made from a one-replication simulator run.

Reports must handle live runs (``engine: live``, one replication, the load-test fields)
without starting services. This relabels a *simulated* run so tests and examples can
exercise that path quickly; real live runs come from the load-test harness
(``routelab loadtest``), and nothing here should be mistaken for one: the run's
``scenario`` and figures are the simulator's, shifted by a stated network delay.
"""

from __future__ import annotations

from pathlib import Path

from reports.metrics import first_attempt_approved
from reports.rundata import load_run
from results.contract import LatencyHistogram, LatencySummary, write_run
from results.stats import wilson_interval


def shifted_histogram(histogram: LatencyHistogram, delay_ms: float) -> LatencyHistogram:
    """Every latency ``delay_ms`` longer (each bucket moves as a whole)."""
    edges = histogram.edges()
    shifted = LatencyHistogram()
    for i, n in enumerate(histogram.counts):
        if n:
            middle = float((edges[i] * edges[i + 1]) ** 0.5)
            shifted.counts[LatencyHistogram.index(middle + delay_ms)] += n
    return shifted


def live_shaped_run(
    sim_run_dir: str | Path,
    out_dir: str | Path,
    *,
    network_ms: float = 3.0,
    http_error_rate: float = 0.0,
    time_scale: float = 1.0,
) -> Path:
    """Write ``out_dir`` as a live-engine run derived from a one-replication simulated run.

    Latencies grow by ``network_ms`` (the live path's HTTP hops); the CIs become Wilson
    intervals, as for any single run; the load-test fields say every offered payment was
    answered. ``time_scale`` > 1 lays the run out as the harness does when it plays the
    scenario faster than real time: wall-clock ``duration_s`` and ``warmup_s``, a
    ``t_wall_s`` column beside the scenario-time ``t_start_s``; its identity records that
    time scale (so it is another experiment than the simulated run unless 1), and the
    reversed approvals are unknown, as in a live run that could not read the ledgers.
    Returns ``out_dir``.
    """
    run = load_run(sim_run_dir)
    s = run.summary
    if s.engine != "simulator" or s.replications != 1:
        raise ValueError(
            f"{run.path}: need a simulator run with one replication "
            f"(got {s.engine}, {s.replications} replications)"
        )
    histogram = shifted_histogram(run.histogram or LatencyHistogram(), network_ms)
    auth = wilson_interval(s.approved, s.payments)
    first = wilson_interval(first_attempt_approved(s), s.payments)
    counted_s = max(s.duration_s - s.warmup_s, 1e-9) / time_scale
    per_rep = [
        r.model_copy(update={"latency_p95_ms": histogram.quantile(0.95)}) for r in s.per_replication
    ]
    # the same experiment as the simulated run when played at its speed, another one if not
    identity = (
        s.identity.model_copy(update={"engine": "live", "time_scale": time_scale})
        if s.identity is not None
        else None
    )
    live = s.model_copy(
        update={
            "engine": "live",
            "duration_s": s.duration_s / time_scale,
            "warmup_s": s.warmup_s / time_scale,
            "ci_method": "wilson",
            "auth_rate_ci95": (auth.low, auth.high),
            "first_attempt_auth_rate_ci95": (first.low, first.high),
            "latency_ms": LatencySummary(**histogram.percentiles()),
            "per_replication": per_rep,
            "identity": identity,
            "reversed_approvals_source": None,
            "timeouts": {**s.timeouts, "reversed_approvals": None},
            "sim_payments_per_second": None,
            "offered_rate": round(s.payments / counted_s, 3),
            "achieved_rate": round(s.payments / counted_s, 3),
            "http_error_rate": http_error_rate,
            "reconciliation": {
                "router_payments": s.payments,
                "router_approved": s.approved,
                "ledger_approved": s.approved,
                "mismatches": 0,
            },
        }
    )
    timeseries = [
        dict(zip(run.series, values, strict=True))
        for values in zip(*run.series.values(), strict=True)
    ]
    for row in timeseries:
        row["t_wall_s"] = row["t_start_s"] / time_scale
    target = Path(out_dir)
    write_run(target, live, timeseries, histogram)
    return target
