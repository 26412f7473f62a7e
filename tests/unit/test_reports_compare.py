"""Comparisons of runs (policies, seeds, engines) and the ``report``/``compare`` commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reports.compare import compare_runs, write_comparison
from reports.fidelity import Tolerances
from reports.metrics import pct
from reports.rundata import load_run, load_runs, run_labels
from reports.testing import live_shaped_run
from routelab.report import compare_command, report_command
from scenarios.loader import load_scenario
from simulator import simulate


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    scenario = load_scenario("acquirer_outage")
    out = tmp_path_factory.mktemp("runs")
    for policy in ("priority", "sr_window"):
        simulate(scenario, policy, replications=3).write(out / policy)
    simulate(scenario, "sr_window", seed=11, replications=1).write(out / "single")
    live_shaped_run(out / "single", out / "live", network_ms=4.0)
    return {name: out / name for name in ("priority", "sr_window", "live")}


@pytest.fixture
def cli() -> typer.Typer:
    """The two commands as routelab/cli.py registers them."""
    app = typer.Typer(add_completion=False)
    app.command("report")(report_command)
    app.command("compare")(compare_command)
    return app


def test_policies_on_the_same_seed_are_compared_paired(runs: dict[str, Path]) -> None:
    c = compare_runs(load_runs([runs["priority"], runs["sr_window"]]))
    assert c.labels == ["priority", "sr_window"]
    auth = c.difference(1, "auth_rate")
    assert auth.method == "paired"
    assert c.sentences[0].startswith("Highest authorisation rate: ")
    assert c.sentences[1].startswith("sr_window ")
    assert "compared with priority" in c.sentences[1]
    assert c.fidelities == []


def test_the_outage_verdict_matches_the_measured_difference(runs: dict[str, Path]) -> None:
    """In acquirer_outage, success-rate routing moves traffic off the failing acquirer."""
    c = compare_runs(load_runs([runs["priority"], runs["sr_window"]]))
    auth = c.difference(1, "auth_rate")
    assert auth.estimate is not None and auth.estimate > 0 and auth.significant
    assert "raises the authorisation rate" in c.sentences[1]
    assert c.sentences[1].endswith("(paired over 3 replications with the same payments).")


def test_a_live_run_brings_a_fidelity_section(runs: dict[str, Path], tmp_path: Path) -> None:
    dirs = [runs["priority"], runs["sr_window"], runs["live"]]
    c = compare_runs(load_runs(dirs))
    assert c.labels == ["priority", "sr_window (simulator)", "sr_window (live)"]
    assert c.difference(2, "auth_rate").method == "two-proportion"
    (f,) = c.fidelities
    assert f.simulated.policy == f.live.policy == "sr_window" and f.simulated.engine == "simulator"
    assert c.sentences[-1] == f.sentence()
    html = write_comparison(dirs, tmp_path / "cmp.html").read_text("utf-8")
    assert "Fidelity: simulator (sr_window) against live (sr_window)" in html
    assert "±2\u00a0pp" in html and "prediction interval" in html  # the share tolerance
    assert html.count('class="badge') == len(f.checks)


def test_tolerances_reach_the_report(runs: dict[str, Path], tmp_path: Path) -> None:
    dirs = [runs["sr_window"], runs["live"]]
    tight = Tolerances(share_pp=0.01, latency_rel=0.0, network_ms=0.0)
    html = write_comparison(dirs, tmp_path / "cmp.html", tight).read_text("utf-8")
    assert "±0.01\u00a0pp" in html and "outside" in html


def test_the_comparison_table_holds_every_run_and_metric(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    dirs = [runs["priority"], runs["sr_window"]]
    html = write_comparison(dirs, tmp_path / "cmp.html").read_text("utf-8")
    for run_dir in dirs:
        s = load_run(run_dir).summary
        assert pct(s.auth_rate) in html and f"{s.payments:,}" in html
    assert "Differences against priority" in html
    assert len(re.findall(r'<img src="data:image/svg\+xml;base64,', html)) == 6


def test_runs_with_the_same_label_are_told_apart(runs: dict[str, Path]) -> None:
    twice = load_runs([runs["sr_window"], runs["sr_window"]])
    labels = run_labels(twice)
    assert len(set(labels)) == 2 and all("sr_window" in label for label in labels)


def test_report_command_writes_html(
    cli: typer.Typer, runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(runs["sr_window"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and f"wrote {out}" in result.output
    assert "authorisation rate" in result.output


def test_compare_command_prints_and_writes(
    cli: typer.Typer, runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "c.html"
    args = [
        "compare",
        str(runs["priority"]),
        str(runs["sr_window"]),
        str(runs["live"]),
        "--out",
        str(out),
        "--tol-share-pp",
        "3",
        "--network-ms",
        "25",
    ]
    result = CliRunner().invoke(cli, args, terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "Highest authorisation rate" in result.output
    assert "Differences against priority" in result.output
    assert "Fidelity: simulator vs live" in result.output
    html = out.read_text("utf-8")
    assert "±3\u00a0pp" in html and "25\u00a0ms network allowance" in html


def test_compare_defaults_to_a_file_beside_the_first_run(
    cli: typer.Typer, runs: dict[str, Path]
) -> None:
    result = CliRunner().invoke(cli, ["compare", str(runs["priority"]), str(runs["sr_window"])])
    assert result.exit_code == 0, result.output
    assert (runs["priority"].parent / "comparison.html").exists()


def test_commands_reject_a_non_run_directory(cli: typer.Typer, tmp_path: Path) -> None:
    for args in (["report", str(tmp_path)], ["compare", str(tmp_path), str(tmp_path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert "not a run directory" in result.output
        assert "Traceback" not in result.output
