"""Sweeps: every point validated before anything runs, common random numbers across
points, paired and adjusted differences against the baseline, resumable task store,
identical figures on every executor, and the files a sweep writes."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from scenarios.loader import ScenarioError, load_scenario
from scenarios.overrides import OverrideError, apply, parse_override
from scenarios.schema import Scenario
from simulator import ProcessExecutor
from simulator.dask_executor import DaskExecutor
from sweeps import Sweep, parse_objective, plan_sweep, write_sweep, write_sweep_report
from sweeps.analysis import METRICS, OBJECTIVE
from sweeps.objective import ObjectiveError
from sweeps.output import SWEEP_JSON

WINDOW = "policies[sr_window].strategy.window"
EXPLORATION = "policies[sr_window].strategy.exploration"
APPROVAL = "acquirers[acq_a].approval.base"


@pytest.fixture(scope="module")
def small() -> Scenario:
    return apply(load_scenario("baseline"), {"traffic.duration_s": 60, "warmup_s": 5})


def grid(*texts: str) -> list[Any]:
    return [parse_override(t) for t in texts]


def record(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / SWEEP_JSON).read_text())
    data.pop("tasks")  # how many ran now and how many were reused
    return data


# --- the plan -----------------------------------------------------------------------------


def test_the_plan_has_every_point_and_finds_the_baseline_in_the_grid(small: Scenario) -> None:
    plan = plan_sweep(
        small, "small", grid(f"{WINDOW}=50,125", f"{EXPLORATION}=0.05,0.2"), replications=2
    )
    assert [p.values for p in plan.points] == [
        {WINDOW: 50, EXPLORATION: 0.05},
        {WINDOW: 50, EXPLORATION: 0.2},
        {WINDOW: 125, EXPLORATION: 0.05},
        {WINDOW: 125, EXPLORATION: 0.2},
    ]
    # the scenario's own values (125, 0.05) are a grid point: that point is the baseline
    assert plan.baseline.label == "p002" and plan.baseline.in_grid
    assert plan.tasks == 8
    zipped = plan_sweep(
        small, "small", grid(f"{WINDOW}=50,125", f"{EXPLORATION}=0.1,0.2"), mode="zip"
    )
    assert [p.values for p in zipped.grid] == [
        {WINDOW: 50, EXPLORATION: 0.1},
        {WINDOW: 125, EXPLORATION: 0.2},
    ]
    # off the grid, the baseline runs as one more point with the scenario's values
    assert zipped.points[-1].label == "baseline" and not zipped.baseline.in_grid
    assert zipped.baseline.values == {WINDOW: 125, EXPLORATION: 0.05}


def test_the_baseline_can_be_given_and_must_be_a_swept_field(small: Scenario) -> None:
    plan = plan_sweep(small, "small", grid(f"{WINDOW}=50,500"), baseline={WINDOW: 500})
    assert plan.baseline.label == "p001" and plan.baseline_given
    with pytest.raises(ScenarioError, match="does not vary"):
        plan_sweep(small, "small", grid(f"{WINDOW}=50,500"), baseline={EXPLORATION: 0.1})


def test_every_point_is_validated_before_anything_runs(small: Scenario) -> None:
    with pytest.raises(ScenarioError) as caught:
        plan_sweep(small, "small.yaml", grid(f"{WINDOW}=50,2,3"))
    assert str(caught.value) == (  # one line per problem, naming the point it is at
        f"small.yaml: {WINDOW}: Input should be greater than or equal to 5 (got 2) "
        f"(at {WINDOW}=2)\n"
        f"small.yaml: {WINDOW}: Input should be greater than or equal to 5 (got 3) "
        f"(at {WINDOW}=3)"
    )
    with pytest.raises(ScenarioError, match=r"small.yaml: policies\[sr_window\].strategy.windw: "):
        plan_sweep(small, "small.yaml", grid("policies[sr_window].strategy.windw=9"))
    # a swept field the policy run does not use: the points would all be the same run
    with pytest.raises(ScenarioError, match="run the same experiment under policy priority"):
        plan_sweep(small, "small", grid(f"{WINDOW}=50,500"), policies=["priority"])
    with pytest.raises(ScenarioError, match="no policy named 'nope'"):
        plan_sweep(small, "small", grid(f"{WINDOW}=50"), policies=["nope"])
    with pytest.raises(ScenarioError, match="sweep's seeds"):
        plan_sweep(small, "small", grid("seed=1,2"))
    with pytest.raises(OverrideError, match="equal length"):
        plan_sweep(
            small, "small", grid(f"{WINDOW}=50,60", f"{EXPLORATION}=0.1,0.2,0.3"), mode="zip"
        )


# --- running and analysing ----------------------------------------------------------------


def test_points_share_random_numbers_and_differences_are_paired(
    small: Scenario, tmp_path: Path
) -> None:
    plan = plan_sweep(
        small, "small", grid(f"{APPROVAL}=0.85,0.9,0.955"), policies=["priority"], replications=3
    )
    result = Sweep(plan).run()
    analysis = result.analysis
    by_value = {p.point.values[APPROVAL]: p for p in analysis.points}
    # the same payments at every point (only acq_a's approval changes)
    payments = {tuple(r.payments for r in p.summary.per_replication) for p in analysis.points}
    assert len(payments) == 1
    # 0.955 is the scenario's own value: the baseline, a grid point
    assert analysis.baseline.point.values[APPROVAL] == 0.955
    low = by_value[0.85].differences["auth_rate"]
    # a 10 pp drop in acq_a's approval, all traffic on acq_a first (cascades recover
    # most of it): lower,
    # significant even after the adjustment, which is wider than the raw interval
    assert low.estimate < -0.005 and low.significant
    assert low.adjusted[0] < low.ci95[0] and low.adjusted[1] > low.ci95[1]
    assert analysis.comparisons == 2
    assert analysis.best.point.values[APPROVAL] == 0.955
    # paired on the same seeds: far narrower than the two points' own CIs
    own = by_value[0.85].figures["auth_rate"].ci95
    assert own is not None and (low.ci95[1] - low.ci95[0]) < (own[1] - own[0])


def test_a_point_equal_to_the_baseline_differs_by_nothing(small: Scenario) -> None:
    plan = plan_sweep(
        small, "small", grid(f"{WINDOW}=125,126"), policies=["sr_window"], replications=2
    )
    analysis = Sweep(plan).run().analysis
    # window 125 is the scenario's own value: the baseline, in the grid
    other = next(p for p in analysis.points if not p.point.baseline)
    assert set(other.differences) >= {*METRICS, OBJECTIVE}
    assert not analysis.baseline.differences


def test_a_sweep_resumes_from_its_stored_tasks(small: Scenario, tmp_path: Path) -> None:
    plan = plan_sweep(
        small, "small", grid(f"{WINDOW}=50,500"), policies=["sr_window"], replications=2
    )
    first = Sweep(plan, tmp_path)
    assert first.stored == [] and first.total == 6
    done = first.run()
    assert (done.ran, done.reused) == (6, 0)
    write_sweep(done, tmp_path)
    before = record(tmp_path)
    again = Sweep(plan, tmp_path)
    assert again.stored == list(range(6))
    result = again.run()
    assert (result.ran, result.reused) == (0, 6)
    write_sweep(result, tmp_path)
    assert record(tmp_path) == before  # figures from stored tasks are the same figures
    # a changed grid runs only what is new: one more value, one more replication
    wider = plan_sweep(
        small, "small", grid(f"{WINDOW}=50,500,900"), policies=["sr_window"], replications=3
    )
    grown = Sweep(wider, tmp_path)
    assert len(grown.stored) == 6 and grown.total == 12
    assert grown.run().ran == 6


def test_a_damaged_stored_task_runs_again(small: Scenario, tmp_path: Path) -> None:
    plan = plan_sweep(small, "small", grid(f"{WINDOW}=50"), policies=["sr_window"], replications=2)
    Sweep(plan, tmp_path).run()
    damaged = sorted((tmp_path / "tasks").glob("*.json"))[0]
    damaged.write_text("{not json")
    again = Sweep(plan, tmp_path)
    assert len(again.stored) == 3
    assert again.run().ran == 1


def test_every_executor_gives_the_same_sweep(small: Scenario, tmp_path: Path) -> None:
    plan = plan_sweep(
        small,
        "small",
        grid(f"{WINDOW}=50,500", f"{EXPLORATION}=0.01,0.2"),
        policies=["sr_window"],
        replications=2,
    )
    outs = {name: tmp_path / name for name in ("serial", "processes", "dask")}
    write_sweep(Sweep(plan, outs["serial"]).run(), outs["serial"])
    with ProcessExecutor(2) as processes:
        write_sweep(Sweep(plan, outs["processes"]).run(processes), outs["processes"])
    with DaskExecutor.local(n_workers=2) as dask:
        write_sweep(Sweep(plan, outs["dask"]).run(dask), outs["dask"])
    serial = record(outs["serial"])
    assert record(outs["processes"]) == serial
    assert record(outs["dask"]) == serial


def test_the_files_of_a_sweep(small: Scenario, tmp_path: Path) -> None:
    plan = plan_sweep(
        small,
        "small",
        grid(f"{WINDOW}=50,500", f"{EXPLORATION}=0.01,0.2"),
        policies=["sr_window"],
        replications=2,
    )
    result = Sweep(plan, tmp_path).run(objective="auth_rate - 0.001 * cost_bps")
    paths = write_sweep(result, tmp_path)
    html = write_sweep_report(result, tmp_path).read_text()
    data = json.loads(paths["json"].read_text())
    assert data["multiple_comparisons"]["method"] == "bonferroni"
    assert data["multiple_comparisons"]["comparisons"] == 4
    assert data["objective"]["expression"] == "auth_rate - 0.001 * cost_bps"
    point = data["points"][0]
    assert set(point) >= {
        "values",
        "auth_rate",
        "auth_rate_ci95",
        "first_attempt_auth_rate",
        "cost_bps",
        "latency_p95_ms",
        "acquirer_share",
        "vs_baseline",
    }
    diff = point["vs_baseline"]["auth_rate"]
    assert set(diff) == {"estimate", "ci95", "adjusted_ci", "significant", "replications"}
    with paths["csv"].open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and {WINDOW, EXPLORATION, "auth_rate_diff_adj_low"} <= set(rows[0])
    # a run directory per point, readable like any run
    assert (tmp_path / "points" / "p000" / "summary.json").exists()
    # a chart per parameter and the two-parameter heatmap, inline, no script
    assert html.count("data:image/svg+xml;base64,") == 3
    assert "Auth rate over" in html and "<script" not in html
    assert "winner" in html and "Bonferroni" in html


# --- objectives ---------------------------------------------------------------------------


def test_an_objective_is_arithmetic_of_figures() -> None:
    goal = parse_objective("auth_rate - 0.0005 * (cost_bps + -2) / 2")
    assert goal({"auth_rate": 0.9, "cost_bps": 102.0}) == pytest.approx(0.9 - 0.0005 * 50)
    assert goal.names == {"auth_rate", "cost_bps"}
    assert math.isnan(
        parse_objective("auth_rate / attempts_per_payment")(
            {"auth_rate": 1.0, "attempts_per_payment": 0.0}
        )
    )
    assert math.isnan(parse_objective("cost_bps")({"cost_bps": None}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth_rte", "unknown name 'auth_rte'.*allowed: auth_rate, first_attempt_auth_rate"),
        ("__import__('os').system('x')", "is not allowed"),
        ("auth_rate ** 2", "is not allowed"),
        ("auth_rate.real", "is not allowed"),
        ("True + auth_rate", "is not allowed"),
        ("auth_rate +", "not an expression"),
        ("[auth_rate]", "is not allowed"),
    ],
)
def test_anything_else_is_refused(text: str, message: str) -> None:
    with pytest.raises(ObjectiveError, match=message):
        parse_objective(text)
