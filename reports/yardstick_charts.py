"""The oracle's yardsticks in pictures: regret over time, detection and recovery marks.

Both read only the run result contract: ``timeseries.csv``'s ``oracle_approved`` column
(the oracle's approvals per bucket, on the same payments) and ``summary.json``'s
``yardsticks`` (median detection and recovery time per incident).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from reports.figures import (
    INCIDENT_COLOUR,
    RUN_COLOURS,
    Chart,
    legend,
    new_figure,
    render_chart,
    styled,
)
from reports.rundata import Run

ORACLE_COLUMN = "oracle_approved"


def has_oracle(run: Run) -> bool:
    """Whether the run was simulated beside the oracle (its time series says so)."""
    return run.column(ORACLE_COLUMN) is not None


def regret_series(run: Run, group: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
    """Bucket starts and regret in pp, (oracle approvals - approvals) / payments, over
    buckets merged ``group`` at a time; None without the oracle's column."""
    t, payments = run.column("t_start_s"), run.column("payments")
    approved, oracle = run.column("approved"), run.column(ORACLE_COLUMN)
    if t is None or payments is None or approved is None or oracle is None:
        return None
    starts = np.arange(0, len(t), max(1, group))
    pay = np.add.reduceat(np.nan_to_num(payments), starts) if len(t) else payments
    gap = np.add.reduceat(np.nan_to_num(oracle) - np.nan_to_num(approved), starts)
    mask = pay > 0
    return t[starts][mask], 100.0 * gap[mask] / pay[mask]


@styled
def regret_over_time(runs: Sequence[Run], labels: Sequence[str]) -> Chart:
    """Regret against the oracle per time bucket, for every run that has it."""
    fig, (ax,) = new_figure((10.0, 3.2))
    span = max(r.scenario_span_s for r in runs)
    div, xlabel = (1.0, "scenario time (s)") if span <= 180 else (60.0, "scenario time (min)")
    for run in runs:
        for incident in run.summary.incidents:
            ax.axvspan(
                incident.start_s / div, incident.end_s / div, color=INCIDENT_COLOUR, alpha=0.08
            )
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        found = regret_series(run)
        if found is None or not len(found[0]):
            continue
        t, pp = found
        ax.plot(
            np.append(t, t[-1] + (t[1] - t[0] if len(t) > 1 else 1.0)) / div,
            np.append(pp, pp[-1]),
            drawstyle="steps-post",
            lw=1.5,
            color=RUN_COLOURS[i % len(RUN_COLOURS)],
            label=label,
        )
    ax.axhline(0.0, color="#444444", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pp below the oracle")
    ax.set_xlim(left=0)
    ax.set_title("Regret against the oracle over time")
    legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return render_chart(
        fig,
        "Regret against the oracle over time",
        "Per time bucket, the oracle's approvals minus the policy's, over the payments of "
        "the bucket (the same payments: common random numbers), in percentage points. "
        "Above zero the policy approves fewer than the best routing would; below, luck "
        "favoured it. Red bands mark incidents.",
    )


def mark_detection_and_recovery(
    ax: Axes, runs: Sequence[Run], div: float, acquirer: str | None = None
) -> bool:
    """Vertical marks at each incident's start + median detection time and end + median
    recovery time, in each run's colour (only incidents of ``acquirer`` when given).
    True when anything was marked."""
    labelled: set[str] = set()
    for i, run in enumerate(runs):
        yard = run.summary.yardsticks
        if yard is None:
            continue
        colour = RUN_COLOURS[i % len(RUN_COLOURS)] if len(runs) > 1 else "#111111"
        for incident in yard.incidents:
            if acquirer is not None and incident.acquirer != acquirer:
                continue
            for what, at, style in (
                ("detected (median)", incident.start_s, ":"),
                ("recovered (median)", incident.end_s, "-."),
            ):
                event = incident.detection if what.startswith("detected") else incident.recovery
                if event.median_s is None:
                    continue
                ax.axvline(
                    (at + event.median_s) / div,
                    color=colour,
                    ls=style,
                    lw=1.4,
                    label=None if what in labelled else what,
                )
                labelled.add(what)
    return bool(labelled)
