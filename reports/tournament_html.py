"""The tournament's HTML report: the standings table and a regret chart per scenario.

One self-contained file, like every routelab report (``reports.html``): charts inline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reports.figures import RUN_COLOURS, Chart, new_figure, render_chart, styled
from reports.html import render
from reports.tournament import LEGEND, METRICS, Row, Standings
from results.stats import t_interval


@styled
def regret_bars(scenario: str, rows: list[Row]) -> Chart:
    """Each entrant's regret against the oracle on one scenario, with its 95 % CI."""
    played = [r for r in rows if r.cells and r.cells["regret"].values]
    fig, (ax,) = new_figure((10.0, 0.45 * max(2, len(played)) + 1.2))
    for i, row in enumerate(played):
        values = row.cells["regret"].values
        mean = float(np.mean(values))
        ci = t_interval(values) if len(values) > 1 else None
        err = None if ci is None else [[mean - ci.low], [ci.high - mean]]
        ax.barh(i, mean, xerr=err, color=RUN_COLOURS[i % len(RUN_COLOURS)], capsize=3)
    ax.set_yticks(range(len(played)), [r.entrant for r in played])
    ax.invert_yaxis()
    ax.axvline(0.0, color="#444444", lw=0.8)
    ax.set_xlabel("regret against the oracle (pp; lower is better)")
    ax.set_title(f"{scenario}: regret against the oracle")
    return render_chart(
        fig,
        f"{scenario}: regret against the oracle",
        "The oracle's figure minus each strategy's, on the same payments, with its paired "
        "95 % interval over replications.",
    )


def write_html(table: Standings, out: Path, header: str) -> Path:
    """Write the tournament's HTML report to ``out``."""
    scenarios = list(dict.fromkeys(r.scenario for r in table.rows))
    sections = []
    for scenario in scenarios:
        rows = [r for r in table.rows if r.scenario == scenario]
        sections.append(
            {
                "scenario": scenario,
                "chart": regret_bars(scenario, rows),
                "rows": [
                    {
                        "entrant": r.entrant,
                        "sat_out": r.sat_out,
                        "cells": [
                            {"text": r.cells[m.key].text, "best": r.cells[m.key].best}
                            for m in METRICS
                        ]
                        if r.cells
                        else [],
                    }
                    for r in rows
                ],
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        render(
            "tournament.html.j2",
            title="routelab tournament",
            header=header,
            legend=LEGEND.replace("**Bold**", "Bold"),
            columns=[m.label for m in METRICS],
            sections=sections,
            tests=table.tests,
        ),
        encoding="utf-8",
    )
    return out
