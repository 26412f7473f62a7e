"""The oracle's yardsticks in the reports: the regret chart, the detection and recovery
marks on the share chart, the figures table, the terminal rows; none without an oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from reports.compare import write_comparison
from reports.html import write_report
from reports.rundata import load_run
from reports.yardstick_charts import has_oracle, regret_series
from reports.yardstick_rows import time_text, yardstick_rows
from results.contract import TimeToEvent
from routelab.tables import comparison_table
from scenarios.loader import load_scenario
from scenarios.transform import compress_timeline
from simulator import simulate
from simulator.yardsticks import OracleRuns

SCENARIO = compress_timeline(load_scenario("acquirer_outage"), 600.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("yardstick_runs")
    oracle = OracleRuns()
    for policy in ("priority", "sr_window"):
        simulate(SCENARIO, policy, replications=2, oracle=oracle).write(out / policy)
    simulate(SCENARIO, "sr_window", replications=2).write(out / "plain")
    return {name: out / name for name in ("priority", "sr_window", "plain")}


def test_the_regret_series_is_the_oracles_approvals_minus_the_policys(
    runs: dict[str, Path],
) -> None:
    run = load_run(runs["priority"])
    assert has_oracle(run) and not has_oracle(load_run(runs["plain"]))
    found = regret_series(run)
    assert found is not None
    t, pp = found
    payments = np.nan_to_num(run.column("payments"))  # type: ignore[arg-type]
    mask = payments > 0
    oracle = np.nan_to_num(run.column("oracle_approved"))[mask]  # type: ignore[arg-type]
    approved = np.nan_to_num(run.column("approved"))[mask]  # type: ignore[arg-type]
    assert pp == pytest.approx(100.0 * (oracle - approved) / payments[mask])
    during = (t >= 200.0) & (t < 400.0)
    assert pp[during].mean() > 2.0 > pp[~during].mean()  # priority loses in the outage


def test_the_run_report_shows_regret_marks_and_the_figures(runs: dict[str, Path]) -> None:
    html = write_report(runs["sr_window"]).read_text("utf-8")
    assert "Regret against the oracle over time" in html
    assert "Against the oracle" in html and "detected after" in html
    assert "Dotted lines: the failing acquirer" in html  # marks on the share chart
    plain = write_report(runs["plain"]).read_text("utf-8")
    assert "Regret against the oracle" not in plain and "Dotted lines" not in plain


def test_the_comparison_shows_every_runs_regret(runs: dict[str, Path], tmp_path: Path) -> None:
    html = write_comparison([runs["priority"], runs["sr_window"]], tmp_path / "c.html").read_text(
        "utf-8"
    )
    assert "Regret against the oracle over time" in html


def test_the_figures_rows_and_the_terminal_table(runs: dict[str, Path]) -> None:
    summary = load_run(runs["priority"]).summary
    rows = {row["label"]: row["value"] for row in yardstick_rows(summary)}
    assert rows["Regret against the oracle"].startswith("+")
    detected = next(v for k, v in rows.items() if k.endswith("detected after"))
    assert detected == "never (0/2)"  # a priority list never moves
    console = Console(width=200, record=True)
    console.print(comparison_table([summary, load_run(runs["sr_window"]).summary]))
    text = console.export_text()
    assert "regret vs oracle" in text and "never (0/2)" in text and "payments lost" in text


def test_times_read_plainly() -> None:
    def event(values: list[float | None], replications: int) -> TimeToEvent:
        happened = [v for v in values if v is not None]
        median = float(np.median(happened)) if happened else None
        return TimeToEvent(
            per_replication=values,
            replications=replications,
            happened=len(happened),
            median_s=median,
            mean_s=median,
            mean_ci95=(None, None),
        )

    assert time_text(event([10.0, 20.0, None], 3)) == "15 s (2/3)"
    assert time_text(event([None, None], 2)) == "never (0/2)"
    assert time_text(event([None], 0)) == "n/a"
