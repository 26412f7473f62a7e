"""Terminal tables of run summaries, side by side."""

from __future__ import annotations

from rich.table import Table

from results.contract import RunSummary
from results.pairing import pairing
from results.stats import defined, paired_difference
from routelab.yardstick_rows import add_yardstick_rows, scheme_text

# A figure with nothing to compute it from is None in a summary read from disk and NaN
# in one just simulated: both print as n/a.


def _pct(x: float | None) -> str:
    return f"{100 * x:.2f}%" if defined(x) else "n/a"


def _ci(lo: float | None, hi: float | None) -> str:
    if not (defined(lo) and defined(hi)):
        return "n/a"
    return f"[{100 * lo:.2f}, {100 * hi:.2f}]"


def _ms(x: float | None) -> str:
    return f"{x:.0f}" if defined(x) else "n/a"


def _num(x: float | None, fmt: str) -> str:
    return format(x, fmt) if defined(x) else "n/a"


def _rates(summary: RunSummary) -> list[float]:
    """Per-replication auth rates (replications with no payments are left out)."""
    return [r.auth_rate for r in summary.per_replication if defined(r.auth_rate)]


def paired_auth_difference(base: RunSummary, other: RunSummary) -> str:
    """Auth-rate difference vs ``base`` in pp with a paired 95 % CI, when runs are paired.

    Whether they are is :func:`results.pairing.pairing`'s call, as in every report.
    """
    relation = pairing(base, other)
    a, b = _rates(base), _rates(other)
    if not relation.paired:
        return f"n/a ({relation.reason})"
    if len(a) != len(b) or len(a) < 2:
        return "n/a (replications without payments)"
    diff = paired_difference(b, a)
    verdict = "significant" if diff.excludes_zero else "not significant"
    return (
        f"{100 * diff.estimate:+.2f} pp [{100 * diff.low:+.2f}, {100 * diff.high:+.2f}] {verdict}"
    )


def lifecycle(summary: RunSummary) -> str:
    """Timeouts, settled / unsettled, reversed approvals (as a summary holds them)."""
    t = summary.timeouts

    def n(key: str) -> str:
        value = t.get(key)
        return "n/a" if value is None else f"{value:,}"

    if "settled" not in t:  # written before the lifecycle counters
        return f"{n('timeouts')} (voided late approvals {n('voided_late_approvals')})"
    return f"{n('timeouts')} / {n('settled')} / {n('unsettled')} / {n('reversed_approvals')}"


def comparison_table(summaries: list[RunSummary]) -> Table:
    """Headline figures per run; with several runs, paired differences vs the first."""
    table = Table(title=f"routelab: {summaries[0].scenario}", show_lines=False)
    table.add_column("metric", style="bold")
    for s in summaries:
        table.add_column(f"{s.policy}\n({s.engine})", justify="right")
    acquirers = list(summaries[0].acquirer_share)

    def row(label: str, values: list[str]) -> None:
        table.add_row(label, *values)

    row("payments", [f"{s.payments:,}" for s in summaries])
    row("auth rate", [_pct(s.auth_rate) for s in summaries])
    row(
        "  95% CI",
        [_ci(*s.auth_rate_ci95) + f" ({s.ci_method}, n={s.replications})" for s in summaries],
    )
    if len(summaries) > 1:
        row(
            "  Δ vs first (paired)",
            ["-"] + [paired_auth_difference(summaries[0], s) for s in summaries[1:]],
        )
    row("first-attempt auth", [_pct(s.first_attempt_auth_rate) for s in summaries])
    row("attempts / payment", [_num(s.attempts_per_payment, ".3f") for s in summaries])
    row(
        "latency p50 / p95 / p99 ms",
        [
            f"{_ms(s.latency_ms.p50)} / {_ms(s.latency_ms.p95)} / {_ms(s.latency_ms.p99)}"
            for s in summaries
        ],
    )
    row(
        "cost per approved (major units)",
        [
            _num(s.cost.per_approved / 100 if defined(s.cost.per_approved) else None, ".3f")
            for s in summaries
        ],
    )
    row("cost bps", [_num(s.cost.bps, ".1f") for s in summaries])
    for name in acquirers:
        row(f"share {name}", [_pct(s.acquirer_share.get(name, 0.0)) for s in summaries])
    row("timeouts / settled / unsettled / reversed approvals", [lifecycle(s) for s in summaries])
    if any(s.schemes is not None and s.schemes.excess_attempts for s in summaries):
        row("scheme fees (excess attempts)", [scheme_text(s) for s in summaries])
    if any(s.schemes is not None and s.schemes.stopped_payments for s in summaries):
        row(
            "stopped by a scheme rule",
            [f"{s.schemes.stopped_payments:,}" if s.schemes else "n/a" for s in summaries],
        )
    if any(s.yardsticks is not None for s in summaries):
        add_yardstick_rows(table, summaries)
    if summaries[0].sim_payments_per_second is not None:
        row("simulated payments/s", [_num(s.sim_payments_per_second, ",.0f") for s in summaries])
    return table
