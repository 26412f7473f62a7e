"""The terminal table's rows for the oracle's yardsticks and the card schemes' fees
(worded as the reports word them, ``reports.yardstick_rows``)."""

from __future__ import annotations

from rich.table import Table

from reports.yardstick_rows import lost_text, regret_text, scheme_text, time_text
from results.contract import RunSummary

__all__ = ["add_yardstick_rows", "scheme_text"]


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
