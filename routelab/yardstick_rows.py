"""The terminal table's rows for the oracle's yardsticks and the card schemes' fees."""

from __future__ import annotations

from rich.table import Table

from results.contract import IncidentYardstick, Regret, RunSummary, TimeToEvent
from results.stats import defined


def _pp(x: float | None) -> str:
    return f"{x:+.2f} pp" if defined(x) else "n/a"


def regret_text(regret: Regret, objective: bool = False) -> str:
    """Regret against the oracle with its paired 95 % CI (pp)."""
    estimate = regret.objective_pp if objective else regret.auth_rate_pp
    low, high = regret.objective_pp_ci95 if objective else regret.auth_rate_pp_ci95
    if not (defined(low) and defined(high)):
        return _pp(estimate)
    return f"{_pp(estimate)} [{low:+.2f}, {high:+.2f}]"


def time_text(event: TimeToEvent) -> str:
    """A detection or recovery time: median over the replications where it happened,
    and in how many of those where it could be measured it did."""
    if not event.replications:
        return "n/a"
    if event.median_s is None:
        return f"never (0/{event.replications})"
    return f"{event.median_s:.0f} s ({event.happened}/{event.replications})"


def lost_text(incident: IncidentYardstick) -> str:
    low, high = incident.lost_payments_ci95
    if not defined(incident.lost_payments):
        return "n/a"
    if defined(low) and defined(high):
        return f"{incident.lost_payments:,.0f} [{low:,.0f}, {high:,.0f}]"
    return f"{incident.lost_payments:,.0f}"


def scheme_fees(summary: RunSummary) -> str:
    figures = summary.schemes
    if figures is None:
        return "n/a"
    return f"{figures.fees / 100:,.2f} ({figures.excess_attempts:,})"


def add_yardstick_rows(table: Table, summaries: list[RunSummary]) -> None:
    """Regret against the oracle, and per incident detection, recovery and loss."""
    yard = [s.yardsticks for s in summaries]
    table.add_row(
        "regret vs oracle (auth, paired CI)",
        *[regret_text(y.regret) if y else "n/a" for y in yard],
    )
    if any(y is not None and y.regret.lambda_pp_per_bps > 0 for y in yard):
        table.add_row(
            "regret vs oracle (objective)",
            *[regret_text(y.regret, objective=True) if y else "n/a" for y in yard],
        )
    first = next(y for y in yard if y is not None)
    for i, incident in enumerate(first.incidents):
        label = f"{incident.name} ({incident.acquirer})"
        rows: list[list[str]] = [[], [], []]
        for y in yard:
            found = y.incidents[i] if y is not None and i < len(y.incidents) else None
            rows[0].append(time_text(found.detection) if found else "n/a")
            rows[1].append(time_text(found.recovery) if found else "n/a")
            rows[2].append(lost_text(found) if found else "n/a")
        table.add_row(f"{label}: detected after", *rows[0])
        table.add_row("  recovered after", *rows[1])
        table.add_row("  payments lost vs oracle", *rows[2])
