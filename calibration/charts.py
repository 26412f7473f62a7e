"""Observed vs fitted charts of a calibration, rendered to inline SVG with matplotlib.

Drawn in the run reports' style and rendered by the same code (reports/figures.py), so
calibration.html needs nothing from the network. Each function returns a
:class:`reports.figures.Chart` (title, reading guide, data URI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from calibration.distributions import monotone_percentiles
from reports.figures import STYLE, Chart, new_figure
from reports.figures import render_chart as _render

if TYPE_CHECKING:
    from calibration.calibrate import Calibration

OBSERVED, FITTED = "#0072B2", "#D55E00"


def _figure(width: float, height: float, ncols: int) -> tuple[Figure, list[Any]]:
    fig, axes = new_figure((width, height), ncols)
    return fig, list(axes)


def approval_by_segment(cal: Calibration) -> Chart:
    with mpl.rc_context(STYLE):
        fits = cal.acquirers
        fig, axes = _figure(10.0, 0.9 + 0.28 * max(len(f.approval.cells) for f in fits), len(fits))
        for ax, fit in zip(axes, fits, strict=True):
            cells = sorted(fit.approval.cells, key=lambda c: (c[0], c[1], c[2]))
            y = np.arange(len(cells))
            observed = [fit.approval.observed[c] for c in cells]
            rates = [k / n if n else np.nan for k, n in observed]
            est = [fit.approval.cells[c] for c in cells]
            ax.errorbar(
                [e.value for e in est],
                y,
                xerr=[[e.value - e.low for e in est], [e.high - e.value for e in est]],
                fmt="o",
                color=FITTED,
                ms=4,
                label="fitted (interval)",
            )
            ax.plot(rates, y, "x", color=OBSERVED, label="observed")
            ax.set_yticks(y, [f"{n} {t} {'x-border' if cb else 'domestic'}" for n, t, cb in cells])
            ax.set_title(fit.name)
            ax.set_xlabel("acquirer-side approval")
            ax.legend(fontsize=7.5, loc="lower left")
        return _render(
            fig,
            "Approval by segment",
            "Observed approval of acquirer-decided attempts (x) and the partially pooled fit with "
            "its interval, per network, card type and cross-border, outside incidents.",
        )


def latency_cdf(cal: Calibration) -> Chart:
    with mpl.rc_context(STYLE):
        fits = [f for f in cal.acquirers if f.latency is not None]
        fig, axes = _figure(10.0, 3.2, max(len(fits), 1))
        for ax, fit in zip(axes, fits, strict=False):
            sample = np.sort(fit.latency_sample)
            if sample.size > 5000:
                sample = sample[np.linspace(0, sample.size - 1, 5000).astype(int)]
            ax.plot(sample, np.linspace(0, 1, sample.size), color=OBSERVED, label="observed")
            lat = fit.latency
            assert lat is not None
            grid = np.linspace(sample.min(), sample.max(), 300) if sample.size else np.array([0.0])
            if lat.good:
                fitted = stats.norm.cdf(
                    (np.log(grid) - np.log(lat.median.value)) / max(lat.sigma, 1e-9)
                )
                label = f"lognormal (KS {lat.ks_distance:.3f})"
            else:
                points = monotone_percentiles(lat.percentiles, 2)
                fitted = np.interp(grid, list(points.values()), [p / 100 for p in points])
                label = f"empirical (lognormal KS {lat.ks_distance:.3f})"
            ax.plot(grid, fitted, "--", color=FITTED, label=label)
            ax.set_title(fit.name)
            ax.set_xlabel("latency (ms)")
            ax.legend(fontsize=7.5, loc="lower right")
        if not fits:
            axes[0].text(
                0.5, 0.5, "no latency in the export", ha="center", transform=axes[0].transAxes
            )
        return _render(
            fig,
            "Latency CDF",
            "Observed latency of answered attempts outside incidents against the fitted "
            "distribution; the Kolmogorov–Smirnov distance is the largest vertical gap.",
        )


def decline_mix(cal: Calibration) -> Chart:
    with mpl.rc_context(STYLE):
        fig, axes = _figure(10.0, 3.2, 2)
        traffic = cal.traffic
        codes = sorted(traffic.issuer_base)
        observed = np.array([traffic.issuer_base[c].n for c in codes], dtype=float)
        fitted = np.array([traffic.issuer_base[c].value for c in codes])
        x = np.arange(len(codes))
        if codes:
            axes[0].bar(
                x - 0.2, observed / observed.sum(), 0.4, color=OBSERVED, label="observed share"
            )
            axes[0].bar(x + 0.2, fitted / fitted.sum(), 0.4, color=FITTED, label="fitted share")
            axes[0].set_xticks(x, codes)
        axes[0].set_title("card's own declines (traffic.issuer_declines)")
        axes[0].legend(fontsize=7.5)
        labels, obs, fit_share = [], [], []
        for fit in cal.acquirers:
            total = sum(fit.decline_codes.values()) or 1
            for code, count in fit.decline_codes.items():
                labels.append(f"{fit.name}\n{code}")
                obs.append(count / total)
                fit_share.append(round(count / total, 5))
        x = np.arange(len(labels))
        axes[1].bar(x - 0.2, obs, 0.4, color=OBSERVED, label="observed share")
        axes[1].bar(x + 0.2, fit_share, 0.4, color=FITTED, label="fitted weight")
        axes[1].set_xticks(x, labels, fontsize=7.5)
        axes[1].set_title("acquirer-side declines (decline_codes)")
        axes[1].legend(fontsize=7.5)
        return _render(
            fig,
            "Decline mix",
            "Card-side decline codes (the same at every acquirer) and each acquirer's own "
            "decline codes: observed shares against the fitted scenario's.",
        )


def volume(cal: Calibration) -> Chart:
    with mpl.rc_context(STYLE):
        fig, axes = _figure(10.0, 3.0, 1)
        ax = axes[0]
        att = cal.timeline.attempts
        t = att.t_s[cal.timeline.first]
        hourly = cal.timeline.duration_s >= 2 * 3600
        width = 3600.0 if hourly else cal.bucket_s
        edges = np.arange(0.0, cal.timeline.duration_s + width, width)
        counts, _ = np.histogram(t, bins=edges)
        scale = 3600.0 if hourly else 60.0
        ax.bar(
            edges[:-1] / scale,
            counts,
            width / scale,
            align="edge",
            color=OBSERVED,
            alpha=0.6,
            label="observed payments",
        )
        starts = [s.start_s for s in cal.traffic.steps] + [cal.timeline.duration_s]
        rates = [s.rate.value * width for s in cal.traffic.steps]
        ax.step(
            np.array(starts) / scale,
            [*rates, rates[-1]],
            where="post",
            color=FITTED,
            label="fitted profile",
        )
        ax.set_xlabel("scenario time (h)" if hourly else "scenario time (min)")
        ax.set_ylabel(f"payments per {width / 60:g} min")
        ax.legend(fontsize=7.5)
        return _render(
            fig,
            "Volume over time" + (" (hourly)" if hourly else ""),
            "Payments (first attempts) per bucket and the fitted piecewise arrival profile.",
        )


def all_charts(cal: Calibration) -> list[Chart]:
    return [volume(cal), approval_by_segment(cal), latency_cdf(cal), decline_mix(cal)]
