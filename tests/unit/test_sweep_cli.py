"""``routelab sweep``, ``routelab tune`` and ``simulate --workers``: bad input exits 2 with
one line naming what is wrong; results do not depend on the number of workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from routelab.cli import app
from scenarios.loader import load_scenario
from scenarios.overrides import apply
from scenarios.transform import scenario_yaml

WINDOW = "policies[sr_window].strategy.window"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = apply(
        load_scenario("baseline"), {"traffic.duration_s": 60, "warmup_s": 5, "name": "small"}
    )
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(scenario_yaml(scenario), encoding="utf-8")
    return path


def invoke(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def sweep_figures(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "sweep.json").read_text())
    data.pop("tasks")
    return data


def summary_figures(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    for key in ("wall_seconds", "sim_payments_per_second"):
        data.pop(key)
    return data


def test_a_bad_set_path_exits_2_naming_the_path(small: Path, tmp_path: Path) -> None:
    result = invoke(
        "sweep",
        small,
        "--set",
        f"{WINDOW}=50,500",
        "--set",
        "policies[sr_window].strategy.windw=1,2",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 2
    assert (
        "policies[sr_window].strategy.windw: unknown key; did you mean 'window'?" in result.output
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "tasks").exists()  # nothing ran
    bad_value = invoke("sweep", small, "--set", f"{WINDOW}=50,1", "--out", tmp_path)
    assert bad_value.exit_code == 2 and f"{WINDOW}: Input should be greater" in bad_value.output
    malformed = invoke("sweep", small, "--set", "policies[sr_window.window=5", "--out", tmp_path)
    assert (
        malformed.exit_code == 2
        and "--set policies[sr_window.window: '[' at character 9 is never closed"
        in (malformed.output)
    )


def test_bad_options_exit_2_with_one_line(small: Path, tmp_path: Path) -> None:
    objective = invoke("sweep", small, "--set", f"{WINDOW}=50,500", "--objective", "auth + 1")
    assert objective.exit_code == 2
    assert "unknown name 'auth'" in objective.output and "allowed: auth_rate" in objective.output
    both = invoke(
        "sweep",
        small,
        "--set",
        f"{WINDOW}=50,500",
        "--workers",
        "2",
        "--scheduler",
        "tcp://127.0.0.1:1",
        "--out",
        tmp_path,
    )
    assert both.exit_code == 2 and "--workers or --scheduler, not both" in both.output
    baseline = invoke("sweep", small, "--set", f"{WINDOW}=50,500", "--baseline", "seed=3")
    assert baseline.exit_code == 2 and "does not vary" in baseline.output
    param = invoke("tune", small, "--param", f"{WINDOW}=500..50", "--objective", "auth_rate")
    assert param.exit_code == 2 and f"--param {WINDOW}=500..50" in param.output
    bound = invoke(
        "tune", small, "--param", f"{WINDOW}=1..50", "--objective", "auth_rate", "--out", tmp_path
    )
    assert bound.exit_code == 2 and f"{WINDOW}: Input should be greater" in bound.output
    unknown = invoke("tune", small, "--param", f"{WINDOW}=5..50", "--objective", "regret")
    assert unknown.exit_code == 2 and "unknown name 'regret'" in unknown.output


def test_a_sweep_gives_the_same_figures_on_one_worker_or_two(small: Path, tmp_path: Path) -> None:
    args = (
        "sweep",
        small,
        "--set",
        f"{WINDOW}=50,500",
        "--set",
        "policies[sr_window].strategy.exploration=0.01,0.2",
        "--replications",
        "2",
        "--quiet",
    )
    one = invoke(*args, "--workers", "1", "--out", tmp_path / "one")
    two = invoke(*args, "--workers", "2", "--out", tmp_path / "two")
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert sweep_figures(tmp_path / "one") == sweep_figures(tmp_path / "two")
    assert "routelab sweep: small" in two.output and "Best point by auth_rate" in two.output
    for name in ("sweep.json", "sweep.csv", "sweep.html"):
        assert f"wrote {tmp_path / 'two' / name}" in two.output
    # the policy the swept paths name runs, not the scenario's first
    assert json.loads((tmp_path / "two" / "sweep.json").read_text())["points"][0]["policy"] == (
        "sr_window"
    )


def test_simulate_gives_the_same_figures_on_one_worker_or_two(small: Path, tmp_path: Path) -> None:
    args = (
        "simulate",
        small,
        "--policy",
        "priority",
        "--policy",
        "sr_window",
        "--replications",
        "3",
        "--attempt-log",
        "--quiet",
    )
    assert invoke(*args, "--workers", "1", "--out", tmp_path / "one").exit_code == 0
    assert invoke(*args, "--workers", "2", "--out", tmp_path / "two").exit_code == 0
    for policy in ("priority", "sr_window"):
        one = summary_figures(tmp_path / "one" / policy / "summary.json")
        assert one == summary_figures(tmp_path / "two" / policy / "summary.json")
        # the attempt log: every replication's part joined in replication order, the same
        # rows whichever worker wrote them; no part left behind
        logs = [pq.read_table(tmp_path / d / policy / "attempts.parquet") for d in ("one", "two")]
        assert logs[0].num_rows > 1000 and logs[0].equals(logs[1])
        assert sorted(set(logs[1].column("replication").to_pylist())) == [0, 1, 2]
        assert not list((tmp_path / "two" / policy).glob("*.part"))


def test_tune_writes_a_scenario_ready_to_run(small: Path, tmp_path: Path) -> None:
    result = invoke(
        "tune",
        small,
        "--param",
        f"{WINDOW}=20..400",
        "--objective",
        "auth_rate - 0.0005 * cost_bps",
        "--trials",
        "4",
        "--replications",
        "2",
        "--confirm",
        "2",
        "--workers",
        "2",
        "--quiet",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "policy sr_window" in result.output and "Recommended:" in result.output
    tuned = tmp_path / "tuned.yaml"
    assert f"wrote {tuned}" in result.output
    check = invoke("validate", tuned)
    assert check.exit_code == 0, check.output
    run = invoke(
        "simulate",
        tuned,
        "--policy",
        "sr_window",
        "--replications",
        "2",
        "--quiet",
        "--out",
        tmp_path / "run",
    )
    assert run.exit_code == 0, run.output
    data = json.loads((tmp_path / "tune.json").read_text())
    chosen = data["recommended"]["values"][WINDOW]
    assert load_scenario(tuned).policy("sr_window").strategy.model_dump()["window"] == chosen
