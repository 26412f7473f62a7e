"""Comparisons of runs (policies, seeds, engines) and the ``report``/``compare`` commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reports.compare import compare_runs, render_comparison, write_comparison
from reports.fidelity import Tolerances
from reports.metrics import pct
from reports.rundata import load_run, load_runs, run_labels
from reports.testing import live_shaped_run
from routelab.report import compare_command, report_command
from routelab.tables import lifecycle, paired_auth_difference
from scenarios.loader import load_scenario
from scenarios.transform import compress_timeline
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


# -- runs are matched by identity -------------------------------------------------------

OLD_RUNS = Path(__file__).parent / "data" / "written_before_identity"


def test_compare_says_plainly_when_runs_are_not_the_same_experiment(
    cli: typer.Typer, runs: dict[str, Path], tmp_path: Path
) -> None:
    """A run of the timeline compressed to 300 s is another experiment than the full one."""
    short = compress_timeline(load_scenario("acquirer_outage"), 300.0)
    simulate(short, "sr_window", replications=3).write(tmp_path / "short")
    c = compare_runs(load_runs([runs["priority"], tmp_path / "short"]))
    (relation,) = c.pairings
    reason = (
        "not the same experiment: the scenario content and the timeline "
        "(1,800 s vs 300 s of the scenario) differ"
    )
    assert relation.kind == "different" and relation.reason == reason
    assert c.sentences == [f"sr_window and priority are {reason}."]  # no ranking, no verdict
    for d in c.differences[0]:
        assert d.method == "none" and not d.has_interval and d.significant is None
    html = render_comparison(c)
    assert f"sr_window and priority are {reason}." in html
    assert html.count(reason) == 2  # the verdict and the differences table
    out = tmp_path / "c.html"
    args = ["compare", str(runs["priority"]), str(tmp_path / "short"), "--out", str(out)]
    result = CliRunner().invoke(cli, args, terminal_width=240)
    assert result.exit_code == 0, result.output
    assert "not the same experiment" in result.output and "300 s of the scenario" in result.output


def test_a_compressed_live_run_is_not_checked_against_the_full_simulation(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    single = tmp_path / "single"
    simulate(load_scenario("acquirer_outage"), "sr_window", seed=11, replications=1).write(single)
    live_shaped_run(single, tmp_path / "fast", time_scale=30.0)
    c = compare_runs(load_runs([runs["sr_window"], tmp_path / "fast"]))
    (f,) = c.fidelities
    assert f.refused == "not the same experiment: the time scale (×1 vs ×30) differs"
    assert c.sentences[-1] == f.sentence() and "not checked" in f.sentence()
    html = render_comparison(c)
    assert f.sentence() in html and 'class="badge' not in html  # no checks shown


def test_runs_written_before_identities_load_and_are_not_paired(
    cli: typer.Typer, tmp_path: Path
) -> None:
    old = load_runs([OLD_RUNS / "priority", OLD_RUNS / "sr_window"])
    for run in old:
        assert run.summary.identity is None and run.summary.reversed_approvals_source is None
        assert set(run.summary.timeouts) == {"timeouts", "voided_late_approvals"}
    c = compare_runs(old)
    assert c.pairings[0].kind == "unknown"
    assert c.difference(1, "auth_rate").method == "welch"  # unpaired: 3 replications each
    assert "sr_window against priority: identity unknown: not paired." in c.sentences
    html = render_comparison(c)
    assert "identity unknown: not paired" in html and "identity unknown" in html
    assert paired_auth_difference(old[0].summary, old[1].summary) == (
        "n/a (identity unknown: not paired)"
    )
    assert lifecycle(old[1].summary) == "107 (voided late approvals 92)"
    report = tmp_path / "old.html"
    args = ["report", str(OLD_RUNS / "sr_window"), "--out", str(report)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Late approvals voided" in report.read_text("utf-8")


def test_new_runs_show_their_lifecycle_counters(runs: dict[str, Path]) -> None:
    s = load_run(runs["sr_window"]).summary
    t = s.timeouts
    assert set(t) == {"timeouts", "settled", "unsettled", "reversed_approvals"}
    assert lifecycle(s) == (
        f"{t['timeouts']:,} / {t['settled']:,} / {t['unsettled']:,} / {t['reversed_approvals']:,}"
    )
    live = load_run(runs["live"]).summary
    assert live.timeouts["reversed_approvals"] is None and lifecycle(live).endswith("/ n/a")
