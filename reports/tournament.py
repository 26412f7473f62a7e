"""The tournament's tables: every entrant on every scenario, each figure with its CI.

Reads the run summaries a tournament played (``simulator.tournament``) and nothing
else. Per scenario and entrant: authorisation rate, regret against the oracle (in the
scenario's objective when it has one, else in authorisation rate), the share of the
gap between the scenario's ``priority`` entrant and the oracle that the entrant closes,
cost in bps, p95 latency, and the detection and recovery times of the scenario's
incidents. Intervals are 95 % t intervals over replications (paired where the figure is
a difference: regret, gap closed).

**The best per scenario** is marked (bold) for authorisation rate, regret, cost and p95
only where it is significantly better than the runner-up: a paired t test over the
replications (common random numbers: replication r of both met the same payments), with
the **Holm-Bonferroni** correction over every such test in the table (family-wise error
rate 5 %). Detection and recovery times are not marked (a policy that never detects has
no time to compare).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from results.contract import RunSummary
from results.stats import defined, holm, paired_p_value, t_interval

ALPHA: Final = 0.05
BASELINE: Final = "priority"  # the static policy the gap to the oracle is measured from
MIN_GAP_PP: Final = 0.1  # a smaller gap between it and the oracle is not shared out


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    marked: bool


METRICS: Final = (
    Metric("auth_rate", "auth rate %", True, True),
    Metric("regret", "regret pp", False, True),
    Metric("gap_closed", "gap closed %", True, False),
    Metric("cost_bps", "cost bps", False, True),
    Metric("p95_ms", "p95 ms", False, True),
    Metric("detection_s", "detection s", False, False),
    Metric("recovery_s", "recovery s", False, False),
)


@dataclass
class Cell:
    """One figure of one entrant on one scenario, per replication and in words."""

    values: list[float]
    text: str
    best: bool = False

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan


@dataclass
class Row:
    scenario: str
    entrant: str
    cells: dict[str, Cell]
    sat_out: str = ""


@dataclass
class Standings:
    """Every row, and the tests behind the marks."""

    rows: list[Row]
    tests: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    # (scenario, metric, best, runner-up, p-value) for every best-vs-runner-up test
    replications: dict[str, int] = field(default_factory=dict)  # per scenario, as played


def _interval_text(values: list[float], fmt: str) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    if len(values) < 2:
        return format(mean, fmt)
    ci = t_interval(values)
    return f"{mean:{fmt}} [{ci.low:{fmt}}, {ci.high:{fmt}}]"


def _times(summary: RunSummary, which: str) -> Cell:
    """Detection or recovery over all the scenario's incidents: median · mean [CI] · n/N."""
    yard = summary.yardsticks
    if yard is None:
        return Cell([], "n/a")
    happened: list[float] = []
    measured = 0
    for incident in yard.incidents:
        event = incident.detection if which == "detection" else incident.recovery
        measured += event.replications
        happened += [v for v in event.per_replication if v is not None]
    if not measured:
        return Cell([], "n/a")
    if not happened:
        return Cell([], f"never (0/{measured})")
    median = statistics.median(happened)
    return Cell(
        happened, f"{median:.0f} · {_interval_text(happened, '.0f')} · {len(happened)}/{measured}"
    )


def _defined(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if defined(v)]


def row_of(summary: RunSummary, baseline: RunSummary | None) -> dict[str, Cell]:
    """The figures of one entrant on one scenario."""
    reps = summary.per_replication
    auth = _defined([100.0 * r.auth_rate if r.auth_rate is not None else None for r in reps])
    cells = {
        "auth_rate": Cell(auth, _interval_text(auth, ".2f")),
        "cost_bps": Cell(c := _defined([r.cost_bps for r in reps]), _interval_text(c, ".1f")),
        "p95_ms": Cell(p := _defined([r.latency_p95_ms for r in reps]), _interval_text(p, ".0f")),
        "detection_s": _times(summary, "detection"),
        "recovery_s": _times(summary, "recovery"),
        "regret": Cell([], "n/a"),
        "gap_closed": Cell([], "n/a"),
    }
    yard = summary.yardsticks
    if yard is not None:
        objective = yard.regret.lambda_pp_per_bps > 0
        regret = _regrets(summary)
        suffix = " (obj.)" if objective else ""
        cells["regret"] = Cell(regret, _interval_text(regret, "+.2f") + suffix)
        gaps = _regrets(baseline) if baseline is not None else []
        if len(gaps) == len(regret) and _shareable(gaps):
            closed = [100.0 * (g - m) / g for g, m in zip(gaps, regret, strict=True)]
            cells["gap_closed"] = Cell(closed, _interval_text(closed, ".0f"))
    return cells


def _shareable(gaps: list[float]) -> bool:
    """Whether the priority entrant's regret is a gap worth sharing out: positive in every
    replication and at least :data:`MIN_GAP_PP` on average (a near-zero gap makes the
    share closed noise divided by noise)."""
    return bool(gaps) and min(gaps) > 0.0 and statistics.fmean(gaps) >= MIN_GAP_PP


def _regrets(summary: RunSummary) -> list[float]:
    """Per replication, regret in the scenario's objective (its auth rate without one)."""
    yard = summary.yardsticks
    if yard is None:
        return []
    regret = yard.regret
    if regret.lambda_pp_per_bps > 0 and regret.objective_per_replication_pp:
        return _defined(regret.objective_per_replication_pp)
    return _defined(regret.per_replication_pp)


ORACLE_ROW: Final = "oracle (yardstick)"


def oracle_row(scenario: str, summary: RunSummary) -> Row | None:
    """The oracle's own authorisation rate on a scenario, per replication: any
    entrant's rate plus its regret (the same oracle run for all)."""
    yard = summary.yardsticks
    if yard is None:
        return None
    rates = [r.auth_rate for r in summary.per_replication]
    pairs = zip(rates, yard.regret.per_replication_pp, strict=True)
    auth = [100.0 * a + g for a, g in pairs if a is not None and g is not None]
    cells = {m.key: Cell([], "—") for m in METRICS}
    cells["auth_rate"] = Cell(auth, _interval_text(auth, ".2f"))
    cells["regret"] = Cell([], "0 by definition")
    return Row(scenario, ORACLE_ROW, cells)


def standings(matches: Sequence[tuple[str, str, RunSummary | None, str]]) -> Standings:
    """Rows for every (scenario, entrant, summary, sat_out reason), marks where earned;
    each scenario's rows open with the oracle's."""
    baselines = {s: summary for s, e, summary, _ in matches if e == BASELINE and summary}
    rows: list[Row] = []
    for scenario in dict.fromkeys(s for s, _, _, _ in matches):
        entries = [(e, summary, reason) for s, e, summary, reason in matches if s == scenario]
        first = next((summary for _, summary, _ in entries if summary is not None), None)
        oracle = oracle_row(scenario, first) if first is not None else None
        if oracle is not None:
            rows.append(oracle)
        rows += [
            Row(scenario, e, row_of(summary, baselines.get(scenario)) if summary else {}, reason)
            for e, summary, reason in entries
        ]
    table = Standings(rows)
    table.replications = {
        s: summary.replications for s, _, summary, _ in matches if summary is not None
    }
    candidates: list[tuple[Row, Metric]] = []
    for scenario in dict.fromkeys(r.scenario for r in rows):
        played = [r for r in rows if r.scenario == scenario and r.cells and r.entrant != ORACLE_ROW]
        for metric in METRICS:
            if not metric.marked:
                continue
            scored = [r for r in played if r.cells[metric.key].values]
            if len(scored) < 2:
                continue
            sign = -1.0 if metric.higher_is_better else 1.0
            scored.sort(key=lambda r: sign * r.cells[metric.key].mean)
            best, runner = scored[0], scored[1]
            a, b = best.cells[metric.key].values, runner.cells[metric.key].values
            p = paired_p_value(a, b) if len(a) == len(b) else math.nan
            table.tests.append((scenario, metric.key, best.entrant, runner.entrant, p))
            candidates.append((best, metric))
    for (best, metric), significant in zip(
        candidates, holm([t[4] for t in table.tests], ALPHA), strict=True
    ):
        best.cells[metric.key].best = significant
    return table


LEGEND: Final = (
    "Figures are means over replications with 95 % t intervals in brackets. Regret: the "
    "oracle's figure minus the entrant's, paired by replication (in the scenario's "
    "objective, 100 × auth rate − λ × cost bps, where it sets one: marked obj.). Gap closed: "
    "the share of the priority entrant's regret the entrant closes (in the same measure), "
    "paired by replication (n/a where that regret is under 0.1 pp or not positive in every "
    "replication). Detection and recovery: over every incident of the scenario and "
    "every replication where they could be measured: median · mean [95 % CI] · happened/"
    "measured (see results/yardsticks.py for the definitions). **Bold**: best of the scenario "
    "and significantly better than the runner-up (paired t test over replications, "
    "Holm-Bonferroni correction over every best-vs-runner-up test of the table, family-wise "
    "α = 5 %); auth rate, regret, cost and p95 only."
)


def markdown(table: Standings, header: str) -> str:
    """The tournament as a markdown document: ``header``, the legend, one table."""
    columns = [m.label for m in METRICS]
    lines = [header.rstrip(), "", LEGEND, ""]
    lines.append("| scenario | strategy | " + " | ".join(columns) + " |")
    lines.append("|---|---|" + "---|" * len(columns))
    last = ""
    for row in table.rows:
        scenario = row.scenario if row.scenario != last else ""
        last = row.scenario
        if not row.cells:
            lines.append(
                f"| {scenario} | {row.entrant} | sat out: {row.sat_out} |"
                + " |" * (len(columns) - 1)
            )
            continue
        cells = []
        for metric in METRICS:
            cell = row.cells[metric.key]
            cells.append(f"**{cell.text}**" if cell.best else cell.text)
        lines.append(f"| {scenario} | {row.entrant} | " + " | ".join(cells) + " |")
    tests = len(table.tests)
    marked = sum(1 for r in table.rows for c in r.cells.values() if c.best)
    lines += [
        "",
        f"{marked} of {tests} best-vs-runner-up tests significant after Holm's correction.",
    ]
    return "\n".join(lines) + "\n"
