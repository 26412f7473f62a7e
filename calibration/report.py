"""calibration.html: every fitted number with its interval, sample size and grade,
observed vs fitted charts, what the importers left out, and warnings where data is thin."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from calibration.charts import all_charts
from calibration.estimates import Estimate

if TYPE_CHECKING:
    from calibration.calibrate import Calibration

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.thin{color:#b00020;font-weight:bold}.fair{color:#b36b00}.good{color:#2e7d32}
.warn{background:#fff4e5;border-left:4px solid #e69f00;padding:.5rem 1rem}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}img{max-width:100%}
"""


def _num(value: float, digits: int) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def _row(name: str, e: Estimate, digits: int = 4, unit: str = "") -> str:
    return (
        f"<tr><td>{escape(name)}</td><td>{_num(e.value, digits)}{unit}</td>"
        f"<td>[{_num(e.low, digits)}, {_num(e.high, digits)}]</td><td>{e.n}</td>"
        f'<td class="{e.grade}">{e.grade}</td><td>{escape(e.method)}</td></tr>'
    )


HEAD = (
    "<tr><th>figure</th><th>value</th><th>interval</th><th>n</th><th>grade</th><th>method</th></tr>"
)


def _cells(*values: object) -> str:
    return "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in values)


def _table(rows: list[str]) -> str:
    return f"<table>{HEAD}{''.join(rows)}</table>"


def render(cal: Calibration) -> str:
    level = f"{cal.level:.0%}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Calibration: {escape(cal.scenario.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Calibration of {escape(cal.scenario.name)}</h1>",
        f"<p>{len(cal.timeline.attempts)} attempts, {cal.traffic.payments} payments over "
        f"{cal.timeline.duration_s:g} s; merchant country {escape(cal.merchant_country)}; "
        "intervals at "
        f"{level}. Grades: <span class='good'>good</span> from 200 observations, "
        "<span class='fair'>fair</span> from 30, <span class='thin'>thin</span> below; "
        "fees: good when "
        "n &ge; 200 and RMSE &le; 15 bps.</p>",
    ]
    if cal.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in cal.warnings)
        parts.append(f"<div class='warn'><b>Warnings</b><ul>{items}</ul></div>")
    parts.append("<h2>Exports read</h2><ul>")
    for report in cal.reports:
        parts += [f"<li>{escape(line)}</li>" for line in report.summary_lines()]
    parts.append("</ul>")
    for chart in all_charts(cal):
        parts.append(
            f"<figure><h3>{escape(chart.title)}</h3>"
            f"<img alt='{escape(chart.title)}' src='{chart.uri}'>"
            f"<figcaption>{escape(chart.caption)}</figcaption></figure>"
        )
    traffic = cal.traffic
    rows = [_row(f"arrival rate from {s.start_s:g} s (per s)", s.rate, 3) for s in traffic.steps]
    if traffic.amount is not None:
        a = traffic.amount
        rows.append(_row("amount median (minor units)", a.median, 1))
        rows.append(
            _cells("amount sigma / KS distance", f"{a.sigma:.4f}", "", a.median.n)
            + f"<td class='{'good' if a.good else 'fair'}'>"
            + f"{'lognormal' if a.good else 'empirical'}</td>"
            f"<td>KS {a.ks_distance:.4f} (lognormal if &le; 0.05)</td></tr>"
        )
    rows += [_row(f"card's own decline {code}", e, 5) for code, e in traffic.issuer_base.items()]
    rows += [
        _row(f"issuer decline factor {f.field}={f.level}", f.factor, 3)
        for f in traffic.issuer_factors
    ]
    parts += ["<h2>Traffic</h2>", _table(rows)]
    mix = [
        ("networks", traffic.networks),
        ("card types", traffic.card_types),
        ("issuer countries", traffic.issuer_countries),
        ("currencies", traffic.currencies),
    ]
    parts.append("<table><tr><th>mix</th><th>shares (n)</th></tr>")
    for label, counts in mix:
        total = sum(counts.values()) or 1
        shown = ", ".join(f"{escape(k)} {v / total:.2%} ({v})" for k, v in counts.items())
        parts.append(f"<tr><td>{label}</td><td style='text-align:left'>{shown}</td></tr>")
    parts.append("</table>")
    for fit in cal.acquirers:
        rows = [
            _cells("share of first attempts", f"{fit.share:.2%}", "", fit.attempts, "", "attempts")
            + "</tr>",
            _row("technical error rate", fit.technical_error_rate, 5),
            _row("timeout rate", fit.timeout_rate, 5),
            _row(f"approval base {fit.approval.base_cell}", fit.approval.base, 4),
        ]
        rows += [
            _row(f"approval {cell}", est, 4)
            for cell, est in fit.approval.cells.items()
            if cell != fit.approval.base_cell
        ]
        if fit.latency is not None:
            rows.append(_row("latency median (ms)", fit.latency.median, 1))
            rows.append(
                f"<tr><td>latency sigma / KS distance</td><td>{fit.latency.sigma:.4f}</td><td></td>"
                f"<td>{fit.latency.median.n}</td>"
                f"<td class='{'good' if fit.latency.good else 'fair'}'>"
                f"{'lognormal' if fit.latency.good else 'empirical'}</td>"
                f"<td>KS {fit.latency.ks_distance:.4f}</td></tr>"
            )
        schedules = ([("default", fit.fees_default)] if fit.fees_default else []) + list(
            fit.fees_by_network.items()
        )
        for label, fee in schedules:
            if fee is None:
                continue
            rows.append(_row(f"fee pct_bps ({label})", fee.pct_bps, 2))
            rows.append(_row(f"fee fixed ({label}, minor units)", fee.fixed, 2))
            rows.append(
                _cells(f"fee RMSE ({label})", f"{fee.rmse_bps:.2f} bps", "", fee.n)
                + f"<td class='{fee.grade}'>{fee.grade}</td>"
                + f"<td>per attempt {fee.per_attempt:.3f}</td></tr>"
            )
        for inc in fit.incidents:
            window = f"incident {inc.start_s:g}-{inc.end_s:g} s"
            rows.append(_row(f"{window}: approval delta", inc.approval_delta, 4))
            rows.append(_row(f"{window}: extra error rate", inc.error_rate, 4))
            rows.append(_row(f"{window}: extra timeout rate", inc.timeout_rate, 4))
        total = sum(fit.decline_codes.values())
        mix_text = (
            ", ".join(f"{c}: {n} ({n / total:.1%})" for c, n in fit.decline_codes.items()) or "none"
        )
        parts += [
            f"<h2>Acquirer {escape(fit.name)}</h2>",
            _table(rows),
            f"<p>Acquirer-side decline codes outside incidents: {escape(mix_text)}; "
            "technical error "
            f"code {escape(fit.technical_error_code)}.</p>",
        ]
    parts.append("<h2>Routing</h2><p>" + escape(" ".join(cal.policy_comment)) + "</p>")
    parts.append(
        "<h2>Methods</h2><ul>" + "".join(f"<li>{escape(m)}</li>" for m in METHODS) + "</ul>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


METHODS = [
    "Approval: acquirer-decided attempts (approvals and acquirer-side declines) per network × "
    "card type × cross-border, Beta-binomial partial pooling towards the acquirer's rate "
    "(empirical Bayes, moment-fitted prior strength); the most used segment is the base, "
    "every other segment an effect.",
    "Card's own declines: card-side codes (scenarios.taxonomy, not acquirer_side) at each "
    "payment's first attempt that was not a technical error or timeout; Poisson log-linear "
    "factors per card type and cross-border kept when significant.",
    "Codes both issuers and acquirers give (05 do not honour) count as acquirer-side, and "
    "technical codes in a decline mix count as technical errors: an export cannot tell them apart.",
    "Faults: technical errors and timeouts over all attempts outside incidents (Wilson intervals).",
    "Latency: lognormal by maximum likelihood; empirical percentiles when the KS distance "
    "exceeds 0.05.",
    "Fees: least squares of fee = pct × amount + fixed per acquirer and network; networks that "
    "do not differ by more than 3 standard errors are pooled.",
    "Incidents: optimal partitioning (PELT) of per-bucket binomial counts with a BIC penalty; a "
    "segment whose approval departs by 2 pp or whose error rate rises by 1 pp, with z >= 5, is "
    "an incident.",
]


def write_report(cal: Calibration, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(cal), encoding="utf-8")
    return out
