"""The oracle's yardsticks and the schemes' fees as words: one wording for the HTML
report, the tournament and the terminal table (``routelab.tables``)."""

from __future__ import annotations

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
    """Payments lost to the incident against the oracle, with the paired 95 % CI."""
    low, high = incident.lost_payments_ci95
    if not defined(incident.lost_payments):
        return "n/a"
    if defined(low) and defined(high):
        return f"{incident.lost_payments:,.0f} [{low:,.0f}, {high:,.0f}]"
    return f"{incident.lost_payments:,.0f}"


def scheme_text(summary: RunSummary) -> str:
    """Scheme fees in major units, with the attempts they were charged for."""
    figures = summary.schemes
    if figures is None:
        return "n/a"
    return f"{figures.fees / 100:,.2f} ({figures.excess_attempts:,} attempts)"


def yardstick_rows(summary: RunSummary) -> list[dict[str, str]]:
    """The report's rows: regret, then per incident detection, recovery and loss."""
    rows: list[dict[str, str]] = []
    figures = summary.schemes
    if figures is not None and (figures.excess_attempts or figures.stopped_payments):
        rows.append(
            {
                "label": "Scheme fees",
                "value": scheme_text(summary),
                "hint": "excess retries (Visa) and declines (Mastercard), included in cost",
            }
        )
        rows.append(
            {
                "label": "Payments a scheme rule stopped",
                "value": f"{figures.stopped_payments:,}",
                "hint": "retries the policy allowed and the schemes did not",
            }
        )
    yard = summary.yardsticks
    if yard is None:
        return rows
    regret = yard.regret
    rows.append(
        {
            "label": "Regret against the oracle",
            "value": regret_text(regret),
            "hint": "oracle minus policy auth rate, same payments, paired 95 % CI",
        }
    )
    if regret.lambda_pp_per_bps > 0:
        rows.append(
            {
                "label": "Regret in the objective",
                "value": regret_text(regret, objective=True),
                "hint": f"100 × auth rate − {regret.lambda_pp_per_bps:g} × cost in bps",
            }
        )
    for incident in yard.incidents:
        name = f"{incident.name} ({incident.acquirer}, {incident.segment})"
        rows += [
            {
                "label": f"{name}: detected after",
                "value": time_text(incident.detection),
                "hint": "median; replications where it happened / could",
            },
            {"label": "…recovered after", "value": time_text(incident.recovery), "hint": ""},
            {
                "label": "…payments lost against the oracle",
                "value": lost_text(incident),
                "hint": "from its start to 120 s after its end",
            },
        ]
    rows.append({"label": "How these are measured", "value": "", "hint": yard.method})
    return rows
