"""Report charts: one function per picture, each taking runs and their labels.

A run report and a comparison draw the same pictures: every chart takes one or more
:class:`~reports.rundata.Run` with their labels and returns a rendered
:class:`~reports.figures.Chart` (an inline SVG with its title and a reading guide).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, PercentFormatter

from reports.figures import (
    ACQUIRER_COLOURS,
    CLASS_COLOURS,
    FULL,
    HALF,
    INCIDENT_COLOUR,
    RUN_COLOURS,
    WARMUP_COLOUR,
    Chart,
    figure_legend,
    legend,
    new_figure,
    render_chart,
    styled,
)
from reports.metrics import CLASS_LABELS, first_attempt_approved
from reports.rundata import ATTEMPTS_PREFIX, Run
from reports.yardstick_charts import mark_detection_and_recovery
from results.stats import t_interval

MIN_RATE_SPAN = 0.04  # keep a few pp of y range so bucket noise does not look like a crash
MIN_BUCKET_PAYMENTS = 60  # fewer per point and a time series shows sampling noise
MARKS = (
    " Dotted lines: the failing acquirer's share of first attempts fell below 10 % of its"
    " share before (median over replications); dash-dot: back to half of it."
)


def _time_axis(runs: Sequence[Run]) -> tuple[float, str]:
    """Divisor and label for the x axis: the scenario's timeline in minutes or seconds."""
    span = max(r.scenario_span_s for r in runs)
    if span <= 180:
        return 1.0, "scenario time (s)"
    return 60.0, "scenario time (min)"


def _rate_axis(ax: Axes) -> None:
    """Percent ticks on y with as many decimals as the range needs (no repeated labels)."""
    low, high = ax.get_ylim()
    span = high - low
    decimals = 0 if span >= 0.05 else 1 if span >= 0.005 else 2
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def _steps(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bucket starts and values plus the last bucket's end, for ``drawstyle="steps-post"``."""
    if len(t) < 2:
        return t, y
    width = float(np.min(np.diff(t)))
    return np.append(t, t[-1] + width), np.append(y, y[-1])


def _shade_windows(ax: Axes, runs: Sequence[Run], div: float, outline: bool = False) -> None:
    """Warm-up (grey) and incident windows (red), once each however many runs share them.

    ``outline`` draws incidents as dashed frames, for charts whose areas would hide a fill.
    """
    seen: set[tuple[str, float, float]] = set()
    for run in runs:
        warmup = run.warmup_scenario_s
        if warmup > 0 and ("warm-up", 0.0, warmup) not in seen:
            seen.add(("warm-up", 0.0, warmup))
            ax.axvspan(
                0,
                warmup / div,
                color=WARMUP_COLOUR,
                alpha=0.25,
                lw=0,
                label="warm-up (not counted)",
            )
        for incident in run.summary.incidents:
            key = (incident.name, incident.start_s, incident.end_s)
            if key in seen:
                continue
            seen.add(key)
            label = f"incident: {incident.name} ({incident.acquirer})"
            if outline:
                ax.axvspan(
                    incident.start_s / div,
                    incident.end_s / div,
                    fill=False,
                    edgecolor=INCIDENT_COLOUR,
                    lw=1.6,
                    ls="--",
                    label=label,
                    zorder=5,
                )
            else:
                ax.axvspan(
                    incident.start_s / div,
                    incident.end_s / div,
                    color=INCIDENT_COLOUR,
                    alpha=0.10,
                    lw=0,
                    label=label,
                )


def _merged(run: Run, columns: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """Count columns per time bucket, neighbouring buckets merged until a typical bucket
    holds :data:`MIN_BUCKET_PAYMENTS` payments (a short live run has a handful per bucket,
    and a rate over six payments is noise, not a trend)."""
    t, payments = run.column("t_start_s"), run.column("payments")
    if t is None or payments is None or not len(t):
        return None
    counts = {c: np.nan_to_num(col) for c in columns if (col := run.column(c)) is not None}
    busy = np.nan_to_num(payments)[np.nan_to_num(payments) > 0]
    group = max(1, math.ceil(MIN_BUCKET_PAYMENTS / float(np.median(busy)))) if len(busy) else 1
    if group == 1:
        return t, counts
    starts = np.arange(0, len(t), group)
    return t[starts], {c: np.add.reduceat(v, starts) for c, v in counts.items()}


@styled
def auth_rate_over_time(runs: Sequence[Run], labels: Sequence[str]) -> Chart:
    """Authorisation rate per time bucket, incident windows shaded."""
    fig, (ax,) = new_figure(FULL)
    div, xlabel = _time_axis(runs)
    _shade_windows(ax, runs, div)
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        merged = _merged(run, ["payments", "approved"])
        if merged is None or len(merged[1]) < 2:
            continue
        t, counts = merged
        pay, appr = counts["payments"], counts["approved"]
        mask = np.nan_to_num(pay) > 0
        x, rate = _steps(t[mask] / div, appr[mask] / pay[mask])
        ax.plot(
            x,
            rate,
            color=RUN_COLOURS[i % len(RUN_COLOURS)],
            lw=1.6,
            label=label,
            drawstyle="steps-post",
        )
    low, high = ax.get_ylim()
    if high - low < MIN_RATE_SPAN:
        middle = (low + high) / 2
        ax.set_ylim(middle - MIN_RATE_SPAN / 2, middle + MIN_RATE_SPAN / 2)
    _rate_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("approved / payments")
    ax.set_xlim(left=0)
    ax.set_title("Authorisation rate over time")
    legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return render_chart(
        fig,
        "Authorisation rate over time",
        "Share of payments approved in each time bucket (after retries). Red bands "
        "mark incidents written into the scenario; grey is warm-up, not counted.",
    )


def _shares(run: Run) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    merged = _merged(run, [ATTEMPTS_PREFIX + a for a in run.acquirers])
    if merged is None or not merged[1]:
        return None
    t, columns = merged
    present = {c.removeprefix(ATTEMPTS_PREFIX): v for c, v in columns.items()}
    total = np.sum(list(present.values()), axis=0)
    mask = total > 0
    return t[mask], {a: c[mask] / total[mask] for a, c in present.items()}


@styled
def acquirer_share_over_time(runs: Sequence[Run], labels: Sequence[str]) -> Chart:
    """Where attempts went: one stacked area for one run, one panel per acquirer for several."""
    div, xlabel = _time_axis(runs)
    acquirers = list(dict.fromkeys(a for r in runs for a in r.acquirers))
    title = "Traffic share per acquirer over time"
    caption = (
        "Share of all attempts (first tries and retries) sent to each acquirer in each time bucket."
    )
    if len(runs) == 1:
        fig, (ax,) = new_figure(FULL)
        shares = _shares(runs[0])
        if shares is not None:
            t, by_acq = shares
            colours = [ACQUIRER_COLOURS[acquirers.index(a) % len(ACQUIRER_COLOURS)] for a in by_acq]
            steps = [_steps(t / div, v) for v in by_acq.values()]
            ax.stackplot(
                steps[0][0],
                *[v for _, v in steps],
                labels=list(by_acq),
                colors=colours,
                alpha=0.85,
                step="post",
            )
        _shade_windows(ax, runs, div, outline=True)
        marked = mark_detection_and_recovery(ax, runs, div)
        ax.set_ylim(0, 1)
        ax.set_xlim(left=0)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return render_chart(
            fig, title, caption + " Dashed red frames mark incidents." + (MARKS if marked else "")
        )
    fig, axes = new_figure((FULL[0], 3.2), ncols=len(acquirers), sharey=True)
    marked = False
    for ax, acquirer in zip(axes, acquirers, strict=True):
        _shade_windows(ax, runs, div)
        for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
            shares = _shares(run)
            if shares is not None and acquirer in shares[1]:
                ax.plot(
                    *_steps(shares[0] / div, shares[1][acquirer]),
                    lw=1.4,
                    label=label,
                    color=RUN_COLOURS[i % len(RUN_COLOURS)],
                    drawstyle="steps-post",
                )
        marked = mark_detection_and_recovery(ax, runs, div, acquirer) or marked
        ax.set_title(acquirer, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(xlabel, fontsize=8)
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold", fontsize=11)
    figure_legend(fig, axes[0])
    return render_chart(
        fig, title, caption + " One panel per acquirer." + (MARKS if marked else "")
    )


@styled
def latency_distribution(runs: Sequence[Run], labels: Sequence[str]) -> Chart:
    """Cumulative distribution of end-to-end latency, with p50/p95/p99 for a single run."""
    fig, (ax,) = new_figure(HALF)
    lows, highs = [], []
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        hist = run.histogram
        if hist is None or hist.total == 0:
            continue
        counts = np.asarray(hist.counts, dtype=float)
        upper = hist.edges()[1:]
        cdf = np.cumsum(counts) / counts.sum()
        keep = counts > 0
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        ax.plot(upper[keep], cdf[keep], color=colour, lw=1.6, label=label)
        lows.append(hist.quantile(0.005))
        highs.append(hist.quantile(0.999))
        if len(runs) == 1:
            for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                x = hist.quantile(q)
                ax.axvline(x, color="#555555", ls=":", lw=1)
                ax.annotate(
                    f"{name} {x:,.0f} ms",
                    (x, q),
                    xytext=(4, -12),
                    textcoords="offset points",
                    fontsize=8.5,
                )
    if lows:
        ax.set_xscale("log")
        ax.set_xlim(min(lows) * 0.8, max(highs) * 1.25)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("latency as the payer waits (ms, log scale)")
    ax.set_ylabel("payments answered within")
    ax.set_title("Latency distribution")
    if len(runs) > 1:
        legend(ax, loc="lower right")
    return render_chart(
        fig,
        "Latency distribution",
        "Read across: the share of payments answered within a given time, retries included.",
    )


@styled
def declines(
    runs: Sequence[Run],
    labels: Sequence[str],
    code_meanings: dict[str, tuple[str, str]] | None = None,
) -> Chart:
    """Declines as % of payments: by code and class for one run, by class for several.

    ``code_meanings`` maps a code to (meaning, class) for labels and colours.
    """
    meanings = code_meanings or {}
    title = "Declines by code and class" if len(runs) == 1 else "Declines by class"
    if len(runs) == 1:
        s = runs[0].summary
        fig, (ax_code, ax_class) = new_figure(FULL, ncols=2)
        top = list(s.declines_by_code.items())[:10][::-1]
        names = [f"{c}  {meanings.get(c, ('', ''))[0]}".strip() for c, _ in top]
        colours = [CLASS_COLOURS.get(meanings.get(c, ("", ""))[1], "#777777") for c, _ in top]
        values = [n / s.payments if s.payments else 0.0 for _, n in top]
        ax_code.barh(names, values, color=colours)
        ax_code.set_title("Final decline code (top 10)", fontsize=10)
        classes = list(s.declines_by_class.items())[::-1]
        ax_class.barh(
            [CLASS_LABELS.get(k, k) for k, _ in classes],
            [n / s.payments if s.payments else 0.0 for _, n in classes],
            color=[CLASS_COLOURS.get(k, "#777777") for k, _ in classes],
        )
        ax_class.set_title("Decline class", fontsize=10)
        axes = [ax_code, ax_class]
    else:
        fig, (ax,) = new_figure((FULL[0], 3.2))
        classes_all = list(dict.fromkeys(k for r in runs for k in r.summary.declines_by_class))
        height = 0.8 / len(runs)
        y = np.arange(len(classes_all))
        for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
            s = run.summary
            values = [
                s.declines_by_class.get(k, 0) / s.payments if s.payments else 0.0
                for k in classes_all
            ]
            ax.barh(
                y + (len(runs) - 1 - i) * height,
                values,
                height=height,
                label=label,
                color=RUN_COLOURS[i % len(RUN_COLOURS)],
            )
        ax.set_yticks(y + 0.4 - height / 2, [CLASS_LABELS.get(k, k) for k in classes_all])
        legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes = [ax]
    for ax in axes:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("% of all payments")
        ax.grid(axis="y", visible=False)
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold", fontsize=11)
    caption = "The answer each declined payment ended with, as a share of all payments."
    if len(runs) == 1:
        caption += (
            " Orange: soft (may work later or elsewhere), red: hard, pink: technical,"
            " grey: timeout."
        )
    return render_chart(fig, title, caption)


OUTCOME_PARTS = [
    ("approved at the first attempt", "#009E73"),
    ("approved after a retry", "#7FD1B9"),
    ("declined after a retry", "#E69F00"),
    ("declined, not retried", "#D55E00"),
]


def outcome_shares(run: Run) -> list[float]:
    """Fractions of payments in each of :data:`OUTCOME_PARTS`; they sum to 1."""
    s = run.summary
    if not s.payments:
        return [0.0] * len(OUTCOME_PARTS)
    recovered = s.cascade.get("recovered", 0)
    failed_retry = s.cascade.get("cascaded", 0) - recovered
    not_retried = s.payments - s.approved - failed_retry
    counts = [first_attempt_approved(s), recovered, failed_retry, not_retried]
    return [c / s.payments for c in counts]


@styled
def payment_outcomes(runs: Sequence[Run], labels: Sequence[str]) -> Chart:
    """What happened to payments: first-attempt approvals, what retries recovered, declines."""
    fig, (ax,) = new_figure((FULL[0], 1.2 + 0.55 * len(runs)))
    y = np.arange(len(runs))[::-1]
    left = np.zeros(len(runs))
    for part, (name, colour) in enumerate(OUTCOME_PARTS):
        widths = np.array([outcome_shares(r)[part] for r in runs])
        ax.barh(y, widths, left=left, color=colour, label=name, height=0.6)
        for yi, x0, w in zip(y, left, widths, strict=True):
            if w >= 0.035:
                ax.text(
                    x0 + w / 2,
                    yi,
                    f"{100 * w:.1f} %",
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    color="white" if part in (0, 3) else "#222222",
                )
        left += widths
    ax.set_yticks(y, list(labels))
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", visible=False)
    ax.set_title("Retries and what they recovered")
    legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(runs) < 3 else -0.2), ncols=4)
    return render_chart(
        fig,
        "Retries and what they recovered",
        "Every payment ends in one of four ways; light green is what retrying on "
        "another acquirer won back.",
    )


@styled
def cost_vs_auth(runs: Sequence[Run], labels: Sequence[str]) -> Chart:
    """Authorisation rate (95 % CI) against cost in bps: the trade-off between runs."""
    fig, (ax,) = new_figure(HALF)
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        s = run.summary
        if s.auth_rate is None or s.cost.bps is None:
            continue
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        lo, hi = s.auth_rate_ci95
        yerr = None
        if lo is not None and hi is not None:
            yerr = [[s.auth_rate - lo], [hi - s.auth_rate]]
        reps = [
            (r.cost_bps, r.auth_rate)
            for r in s.per_replication
            if r.cost_bps is not None and r.auth_rate is not None
        ]
        xerr = None
        if len(reps) >= 2:
            interval = t_interval([c for c, _ in reps])
            xerr = [[s.cost.bps - interval.low], [interval.high - s.cost.bps]]
            ax.scatter(
                [c for c, _ in reps], [a for _, a in reps], s=10, color=colour, alpha=0.35, lw=0
            )
        ax.errorbar(
            [s.cost.bps],
            [s.auth_rate],
            yerr=yerr,
            xerr=xerr,
            fmt="o",
            ms=7,
            color=colour,
            capsize=3,
            label=label,
        )
        if len(runs) == 1:
            ax.annotate(
                label,
                (s.cost.bps, s.auth_rate),
                xytext=(7, 5),
                textcoords="offset points",
                fontsize=8.5,
                color=colour,
            )
    ax.margins(x=0.25, y=0.25)
    ax.set_xlabel("cost, bps of approved amount (lower is cheaper)")
    ax.set_ylabel("authorisation rate")
    _rate_axis(ax)
    ax.set_title("Approvals against cost")
    if len(runs) > 1:
        legend(ax, loc="best")
    return render_chart(
        fig,
        "Approvals against cost",
        "Up is more approvals, left is cheaper. Bars are 95 % CIs; faint dots are "
        "single replications.",
    )
