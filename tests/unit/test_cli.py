"""The ``routelab`` console script, run for real in a subprocess as a user would run it.

Bad input must end with exit code 2 and a one-line-per-problem message naming the file,
the field path and the problem, never a Python traceback.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXIT_BAD_INPUT = 2

# the installed entry point when there is one (it is what users run), else the module
_SCRIPT = shutil.which("routelab", path=str(Path(sys.executable).parent))
ROUTELAB = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "routelab.cli"]

# A scenario small enough to simulate in well under a second per policy.
TINY_SCENARIO = """\
# Question: does the CLI write a complete run directory?
name: tiny
seed: 11
replications: 2
warmup_s: 5
bucket_s: 10
merchant: {country: DE}
acquirers:
  - name: acq_a
    latency: {dist: lognormal, median_ms: 250, sigma: 0.3}
    technical_error_rate: 0.01
    approval: {base: 0.95, effects: [{when: {cross_border: true}, delta: -0.04}]}
    fees: {default: {pct_bps: 110, fixed: 10}}
  - name: acq_b
    latency: {dist: lognormal, median_ms: 300, sigma: 0.35}
    approval: {base: 0.93}
    fees: {default: {pct_bps: 150, fixed: 12}}
traffic:
  duration_s: 60
  arrival: {profile: constant, rate_per_s: 20}
  mix:
    networks: {visa: 0.6, mastercard: 0.4}
    issuer_countries: {DE: 0.8, FR: 0.2}
    currencies: {EUR: 1}
    amount: {dist: lognormal, median: 4000, sigma: 0.8}
policies:
  - name: priority
    strategy: {type: priority}
    default: [acq_a, acq_b]
  - name: sr_window
    strategy: {type: sr_window, window: 25}
    default: [acq_a, acq_b]
"""

# The run result contract of docs/architecture.md, plus the simulator's own figure.
CONTRACT_KEYS = {
    "engine",
    "scenario",
    "policy",
    "seed",
    "payments",
    "approved",
    "auth_rate",
    "auth_rate_ci95",
    "first_attempt_auth_rate",
    "attempts_per_payment",
    "latency_ms",
    "acquirer_share",
    "acquirer_auth_rate",
    "declines_by_code",
    "cost",
    "wall_seconds",
    "sim_payments_per_second",
}


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``routelab`` with plain, uncoloured output, as in a CI log."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "400"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [*ROUTELAB, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SCENARIO, encoding="utf-8")
    return path


def read_summary(run_dir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text("utf-8"))
    return summary


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "simulate"])
def test_broken_scenario_exits_2_naming_file_field_and_problem(
    tmp_path: Path, command: str
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        TINY_SCENARIO.replace("median_ms: 300", "median_ms: -300").replace(
            "replications: 2", "replicatons: 2"
        ),
        encoding="utf-8",
    )
    result = run_cli(command, broken, cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert_no_traceback(result)
    assert f"{broken}: acquirers[1].latency.median_ms: Input should be greater than 0" in (
        result.stderr
    )
    assert f"{broken}: replicatons: unknown key" in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("validate", tmp_path / "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert_no_traceback(result)
    assert f"{tmp_path / 'nowhere.yaml'}: file not found" in result.stderr


def test_yaml_syntax_error_exits_2_with_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "syntax.yaml"
    broken.write_text("name: tiny\nacquirers: [acq_a\n", encoding="utf-8")
    result = run_cli("validate", broken, cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert_no_traceback(result)
    assert f"{broken}: line 3, column 1: YAML syntax error" in result.stderr


def test_error_text_is_printed_verbatim(tmp_path: Path) -> None:
    broken = tmp_path / "markup.yaml"
    broken.write_text(TINY_SCENARIO.replace("name: tiny", 'name: "[/x] Tiny"'), encoding="utf-8")
    result = run_cli("validate", broken, cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == EXIT_BAD_INPUT
    assert r"String should match pattern '^[a-z][a-z0-9_\-]*$'" in result.stderr
    assert "'[/x] Tiny'" in result.stderr


def test_unknown_policy_exits_2_listing_the_known_ones(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "simulate",
        tiny,
        "--policy",
        "priority",
        "--policy",
        "sr_thompsn",
        "--out",
        out,
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert_no_traceback(result)
    assert "no policy named 'sr_thompsn'" in result.stderr
    assert "known: priority, sr_window" in result.stderr
    assert not out.exists()  # checked before anything runs


# --- good input --------------------------------------------------------------------------


def test_schema_prints_json_schema(tmp_path: Path) -> None:
    result = run_cli("schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert {"acquirers", "traffic", "policies", "merchant"} <= set(schema["properties"])
    assert "Acquirer" in schema["$defs"]


def test_validate_good_file_exits_0(tiny: Path, tmp_path: Path) -> None:
    result = run_cli("validate", tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{tiny}: ok: 2 acquirers, 2 policies (priority, sr_window)" in result.stdout


def test_validate_bundled_name_exits_0(tmp_path: Path) -> None:
    result = run_cli("validate", "acquirer_outage", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "acquirer_outage: ok: 3 acquirers" in result.stdout


def test_simulate_writes_a_complete_run_directory(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "simulate",
        tiny,
        "--out",
        out,
        "--seed",
        "7",
        "--replications",
        "2",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    summary = read_summary(out)
    assert set(summary) >= CONTRACT_KEYS
    assert set(summary["latency_ms"]) >= {"p50", "p95", "p99"}
    assert set(summary["cost"]) == {"total", "per_approved", "bps"}
    assert summary["engine"] == "simulator"
    assert (summary["scenario"], summary["policy"], summary["seed"]) == ("tiny", "priority", 7)
    assert summary["replications"] == 2
    # ~20/s for 55 s after warm-up, two replications: a Poisson count near 2,200
    assert 1_900 < summary["payments"] < 2_500
    assert summary["approved"] <= summary["payments"]
    low, high = summary["auth_rate_ci95"]
    assert 0.5 < low <= summary["auth_rate"] <= high < 1.0
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert summary["acquirer_share"] == {"acq_a": 1.0, "acq_b": 0.0}  # priority: acq_a first
    assert summary["attempts_per_payment"] >= 1.0
    assert summary["sim_payments_per_second"] > 0 and summary["wall_seconds"] > 0

    with (out / "timeseries.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6  # 60 s in 10 s buckets
    assert {"t_start_s", "payments", "approved", "auth_rate"} <= set(rows[0])
    assert sum(int(r["payments"]) for r in rows) == summary["payments"]
    # the time series and the summary count the same payments, approvals and attempts
    assert sum(int(r["approved"]) for r in rows) == summary["approved"]
    for r in rows:
        if int(r["payments"]):
            assert float(r["auth_rate"]) == pytest.approx(int(r["approved"]) / int(r["payments"]))
    attempts = sum(int(r[f"attempts_{a}"]) for r in rows for a in ("acq_a", "acq_b"))
    assert attempts == pytest.approx(summary["attempts_per_payment"] * summary["payments"], abs=0.5)
    assert attempts > summary["payments"]  # declines cascade: some payments take two

    with (out / "latency_histogram.csv").open(newline="") as fh:
        bins = list(csv.DictReader(fh))
    assert sum(int(b["count"]) for b in bins) == summary["payments"]
    assert all(float(b["low_ms"]) < float(b["high_ms"]) for b in bins)


def test_simulate_two_policies_writes_one_directory_each(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    result = run_cli(
        "simulate",
        tiny,
        "--policy",
        "priority",
        "--policy",
        "sr_window",
        "--out",
        out,
        "--replications",
        "1",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["priority", "sr_window"]
    summaries = {name: read_summary(out / name) for name in ("priority", "sr_window")}
    for name, summary in summaries.items():
        assert summary["policy"] == name
        assert (out / name / "timeseries.csv").exists()
        assert (out / name / "latency_histogram.csv").exists()
    # common random numbers: both policies meet the very same payments
    assert summaries["priority"]["payments"] == summaries["sr_window"]["payments"]
    assert summaries["sr_window"]["acquirer_share"]["acq_b"] > 0.0
    assert f"wrote {out / 'sr_window' / 'summary.json'}" in result.stdout


def test_simulation_progress_counts_replications_finished_in_any_order() -> None:
    from rich.console import Console

    from routelab.progress import simulation_progress

    console = Console(width=100, record=True, force_terminal=False)
    with simulation_progress(console, ["priority", "sr_window"], 5) as progress:
        # parallel workers: replications advance and finish out of order
        progress.callback("priority")(3, 1.0)
        progress.callback("priority")(0, 1.0)
        progress.callback("priority")(2, 0.5)
        progress.callback("priority")(2, 0.25)  # a late, older report never goes back
        for r in (4, 1, 0, 3, 2):
            progress.report("sr_window", r, 1.0)
    lines = console.export_text().splitlines()
    priority = next(line for line in lines if line.startswith("priority"))
    sr_window = next(line for line in lines if line.startswith("sr_window"))
    assert "50%" in priority and "2/5 replications" in priority
    assert "100%" in sr_window and "5/5 replications" in sr_window


def test_terminal_tables_print_undefined_figures_as_n_a() -> None:
    """A just-simulated summary holds NaN where a figure has nothing to compute it from."""
    import math

    import yaml
    from rich.console import Console

    from routelab.tables import comparison_table
    from scenarios.loader import BUNDLED_DIR, validate_scenario
    from simulator import simulate

    data = yaml.safe_load((BUNDLED_DIR / "baseline.yaml").read_text(encoding="utf-8"))
    data["traffic"]["duration_s"] = 30.0
    data["warmup_s"] = 0.0
    for acquirer in data["acquirers"]:  # nothing is ever approved: no cost per approval
        acquirer["approval"] = {"base": 0.0}
    summary = simulate(validate_scenario(data, "<no approvals>"), replications=2).summary
    assert summary.approved == 0 and math.isnan(summary.cost.bps or 0.0)
    console = Console(width=200, record=True, force_terminal=False)
    console.print(comparison_table([summary, summary]))
    text = console.export_text()
    assert "nan" not in text.lower()
    cost_line = next(line for line in text.splitlines() if "cost bps" in line)
    assert "n/a" in cost_line


# --- --set overrides ---------------------------------------------------------------------


def test_set_changes_what_is_simulated(tiny: Path, tmp_path: Path) -> None:
    common = ("--policy", "priority", "--replications", "2", "--quiet")
    plain = run_cli("simulate", tiny, "--out", tmp_path / "plain", *common, cwd=tmp_path)
    weaker = run_cli(
        "simulate",
        tiny,
        "--set",
        "acquirers[acq_a].approval.base=0.5",
        "--out",
        tmp_path / "weaker",
        *common,
        cwd=tmp_path,
    )
    assert plain.returncode == 0, plain.stderr
    assert weaker.returncode == 0, weaker.stderr
    before, after = read_summary(tmp_path / "plain"), read_summary(tmp_path / "weaker")
    assert before["payments"] == after["payments"]  # the same seed: the same payments
    # acq_a approves about half of what the issuers would; cascades to acq_b save some
    assert before["acquirer_auth_rate"]["acq_a"] > 0.85
    assert after["acquirer_auth_rate"]["acq_a"] < 0.55
    assert after["first_attempt_auth_rate"] < before["first_attempt_auth_rate"] - 0.3
    assert after["auth_rate"] < before["auth_rate"]


def test_validate_with_set_reports_the_overridden_scenario(tiny: Path, tmp_path: Path) -> None:
    result = run_cli(
        "validate",
        tiny,
        "--set",
        "policies[sr_window].strategy.window=50",
        "--set",
        "acquirers[acq_b].latency={dist: fixed, ms: 200}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"{tiny} --set policies[sr_window].strategy.window=50 "
        "--set acquirers[acq_b].latency={dist: fixed, ms: 200}: ok: 2 acquirers"
    ) in result.stdout


@pytest.mark.parametrize(
    ("command", "override", "message"),
    [
        (
            "validate",
            "policies[sr_window].strategy.windw=50",
            "policies[sr_window].strategy.windw: unknown key; did you mean 'window'?",
        ),
        (
            "simulate",
            "acquirers[acq_c].approval.base=0.5",
            "acquirers[acq_c]: no acquirer named 'acq_c' (known: acq_a, acq_b)",
        ),
        (
            "loadtest",
            "acquirers[2].approval.base=0.5",
            "acquirers[2]: index 2 out of range: acquirers has 2 items (0 to 1)",
        ),
        (
            "loadtest",
            "acquirers[acq_b].latency.median_ms=-5",
            "acquirers[acq_b].latency.median_ms: Input should be greater than 0 (got -5)",
        ),
    ],
)
def test_a_bad_set_exits_2_naming_the_path(
    tiny: Path, tmp_path: Path, command: str, override: str, message: str
) -> None:
    out = tmp_path / "run"
    args: list[str | Path] = ["--out", out, "--quiet"] if command != "validate" else []
    result = run_cli(command, tiny, "--set", override, *args, cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT, result.stdout + result.stderr
    assert_no_traceback(result)
    assert result.stderr.strip().splitlines() == [f"error: {tiny}: {message}"]
    assert not out.exists()  # checked before anything runs


def test_several_values_on_simulate_point_to_sweep(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "simulate",
        tiny,
        "--set",
        "policies[sr_window].strategy.window=25,50",
        "--out",
        out,
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert_no_traceback(result)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --set policies[sr_window].strategy.window=25,50: 2 values")
    assert "`routelab sweep`" in line
    assert not out.exists()


def test_a_malformed_set_exits_2(tiny: Path, tmp_path: Path) -> None:
    result = run_cli("validate", tiny, "--set", "seed", cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert_no_traceback(result)
    assert result.stderr.strip() == "error: --set seed: expected PATH=VALUE[,VALUE...], e.g. seed=7"


def test_loadtest_runs_the_overridden_scenario_from_its_run_directory(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack and the Locust workers load the scenario by path: the overridden one is
    written into the run directory and that path is what the run is given."""
    from typer.testing import CliRunner

    from loadtests import orchestrator
    from routelab.cli import app
    from scenarios.loader import load_scenario

    given: list[orchestrator.LoadTest] = []

    def no_run(test: orchestrator.LoadTest, console: object = None) -> None:
        given.append(test)
        raise orchestrator.RunFailedError("not run in a unit test")

    monkeypatch.setattr(orchestrator, "run_loadtest", no_run)
    out = tmp_path / "live"
    runner = CliRunner()
    args = ["loadtest", str(tiny), "--out", str(out), "--seed", "3", "--quiet"]
    result = runner.invoke(app, [*args, "--set", "acquirers[acq_a].approval.base=0.5"])
    assert result.exit_code == 1, result.output
    written = (out / "scenario.yaml").resolve()
    assert given[0].harness.scenario == str(written)
    assert given[0].harness.seed == 3 and given[0].out == out  # the other options kept
    played, original = load_scenario(written), load_scenario(tiny)
    assert played.acquirer("acq_a").approval.base == 0.5
    assert played.model_copy(update={"acquirers": original.acquirers}) == original
    assert played.acquirers[1] == original.acquirers[1]
    # without --set the scenario goes by its own path and nothing is written
    result = runner.invoke(app, [*args[:3], str(tmp_path / "plain"), "--quiet"])
    assert result.exit_code == 1, result.output
    assert given[1].harness.scenario == str(tiny)
    assert not (tmp_path / "plain").exists()
