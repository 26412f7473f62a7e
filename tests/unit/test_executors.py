"""Executors run the same replication tasks with the same figures, and stop alike on Ctrl-C.

A local process pool and a Dask LocalCluster must give figure-for-figure the summary a
serial run gives (only the wall time may differ); Ctrl-C (a KeyboardInterrupt while the
caller waits, here raised from the progress callback) cancels what has not finished,
keeps what has and leaves no worker process behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import psutil
import pytest

from results.contract import RunSummary
from scenarios.loader import load_scenario
from scenarios.overrides import apply
from scenarios.schema import Scenario
from scenarios.streams import replication_seeds
from simulator import (
    Executor,
    Interrupted,
    ProcessExecutor,
    ReplicationOutcome,
    ReplicationTask,
    SerialExecutor,
    simulate,
    simulate_policies,
)
from simulator.dask_executor import DaskExecutor
from simulator.executors import SchedulerError, make_executor, run_replication, scenario_key
from simulator.run import ORACLE_TASKS
from simulator.yardsticks import OracleRuns

WALL_CLOCK = ("wall_seconds", "sim_payments_per_second")


def figures(summary: RunSummary) -> bytes:
    """A summary as JSON without the figures that measure the machine, not the run."""
    data = summary.model_dump(mode="json")
    for key in WALL_CLOCK:
        data.pop(key)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


@pytest.fixture(scope="module")
def small() -> Scenario:
    return apply(
        load_scenario("baseline"),
        {"traffic.duration_s": 90, "warmup_s": 10, "replications": 4},
    )


@pytest.fixture(scope="module")
def serial_run(small: Scenario) -> dict[str, RunSummary]:
    runs = simulate_policies(small, ["priority", "sr_window"], seed=5)
    return {name: run.summary for name, run in runs.items()}


@pytest.fixture(scope="module")
def dask() -> Iterator[DaskExecutor]:
    with DaskExecutor.local(n_workers=2, threads_per_worker=1) as executor:
        yield executor


def test_a_task_seed_is_the_replication_seed_of_the_run() -> None:
    seeds = replication_seeds(11, 5)
    for r, expected in enumerate(seeds):
        got = ReplicationTask("k", "p", 11, r).seed_sequence()
        assert got.generate_state(8).tolist() == expected.generate_state(8).tolist()


def test_an_outcome_survives_its_plain_data_report(small: Scenario) -> None:
    task = ReplicationTask(scenario_key(small), "sr_window", 3, 1)
    outcome = run_replication(small, task)
    back = ReplicationOutcome.from_report(orjson.loads(orjson.dumps(outcome.report())))
    assert back.tally.report() == outcome.tally.report()
    assert (back.simulated, back.queue_wait_ms) == (outcome.simulated, outcome.queue_wait_ms)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_local_processes_give_the_serial_figures(
    small: Scenario, serial_run: dict[str, RunSummary], workers: int
) -> None:
    seen: list[tuple[str, int, float]] = []
    with ProcessExecutor(workers) as executor:
        runs = simulate_policies(
            small,
            ["priority", "sr_window"],
            seed=5,
            executor=executor,
            progress=lambda p, r, f: seen.append((p, r, f)),
        )
    for name, run in runs.items():
        assert figures(run.summary) == figures(serial_run[name])
    done = {(p, r) for p, r, f in seen if f == 1.0}
    assert done == {(p, r) for p in ("priority", "sr_window") for r in range(4)}
    # fractional progress travels from the workers too
    assert any(0.0 < f < 1.0 for _, _, f in seen)


def test_a_dask_cluster_gives_the_serial_figures(
    small: Scenario, serial_run: dict[str, RunSummary], dask: DaskExecutor
) -> None:
    assert dask.workers == 2
    runs = simulate_policies(small, ["priority", "sr_window"], seed=5, executor=dask)
    for name, run in runs.items():
        assert figures(run.summary) == figures(serial_run[name])


def test_the_oracle_runs_on_the_executor_with_the_serial_yardsticks(small: Scenario) -> None:
    """The oracle's replications are tasks of the same batch: on worker processes they
    give the yardsticks of the oracle run here, one after another, and are reported to
    progress under their own name; policies sharing a set-up share one oracle run."""
    names = ["priority", "sr_window"]
    here = OracleRuns()
    serial = simulate_policies(small, names, seed=5, oracle=here)
    assert here.runs == 1  # both policies route under the same rules: one oracle
    seen: list[tuple[str, int, float]] = []
    spread = OracleRuns()
    with ProcessExecutor(2) as executor:
        runs = simulate_policies(
            small,
            names,
            seed=5,
            executor=executor,
            oracle=spread,
            progress=lambda p, r, f: seen.append((p, r, f)),
        )
    assert spread.runs == 1
    for name in names:
        assert runs[name].summary.yardsticks is not None
        assert figures(runs[name].summary) == figures(serial[name].summary)
        assert runs[name].timeseries == serial[name].timeseries
    finished = {(p, r) for p, r, f in seen if f == 1.0}
    assert {(p, r) for p, r in finished if p == ORACLE_TASKS} == {
        (ORACLE_TASKS, r) for r in range(4)
    }
    # an oracle already run is not run again
    again = simulate_policies(small, ["sr_window"], seed=5, oracle=spread)
    assert spread.runs == 1
    assert figures(again["sr_window"].summary) == figures(serial["sr_window"].summary)


def test_a_pool_takes_scenarios_that_come_after_it_started(small: Scenario) -> None:
    other = apply(small, {"acquirers[acq_a].approval.base": 0.6})
    with ProcessExecutor(2) as executor:
        simulate(small, "priority", seed=2, replications=2, executor=executor)
        later = simulate(other, "priority", seed=2, replications=2, executor=executor)
    assert figures(later.summary) == figures(
        simulate(other, "priority", seed=2, replications=2).summary
    )


def _interrupt_after(count: int) -> Callable[[int, ReplicationOutcome], None]:
    finished: list[int] = []

    def on_done(i: int, outcome: ReplicationOutcome) -> None:
        finished.append(i)
        if len(finished) == count:
            raise KeyboardInterrupt

    return on_done


def _workers_left(before: set[int]) -> list[psutil.Process]:
    children = psutil.Process().children(recursive=True)
    return [c for c in children if c.pid not in before and c.is_running()]


EXECUTORS = [
    pytest.param("serial", SerialExecutor, id="serial"),
    pytest.param("processes", lambda: ProcessExecutor(2), id="processes"),
]


@pytest.mark.parametrize(("name", "make"), EXECUTORS)
def test_ctrl_c_cancels_the_rest_and_keeps_what_finished(
    small: Scenario, name: str, make: Callable[[], Executor]
) -> None:
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    key = scenario_key(small)
    tasks = [ReplicationTask(key, "sr_window", 1, r) for r in range(8)]
    executor = make()
    with pytest.raises(Interrupted) as caught:
        executor.run({key: small}, tasks, on_done=_interrupt_after(2))
    assert caught.value.total == 8
    assert 2 <= len(caught.value.finished) < 8
    for i, outcome in caught.value.finished.items():  # what finished is the real result
        assert outcome.tally.report() == run_replication(small, tasks[i]).tally.report()
    assert not _workers_left(before), f"{name}: workers still running after Ctrl-C"
    # the executor still works afterwards (a process pool starts anew)
    again = executor.run({key: small}, tasks[:2])
    expected = [run_replication(small, task).tally.report() for task in tasks[:2]]
    assert [o.tally.report() for o in again] == expected
    executor.close()


def test_ctrl_c_on_dask_cancels_the_rest(small: Scenario, dask: DaskExecutor) -> None:
    key = scenario_key(small)
    tasks = [ReplicationTask(key, "sr_window", 1, r) for r in range(8)]
    with pytest.raises(Interrupted) as caught:
        dask.run({key: small}, tasks, on_done=_interrupt_after(2))
    assert 2 <= len(caught.value.finished) < 8
    assert len(dask.run({key: small}, tasks[:2])) == 2  # the cluster serves the next run


def test_a_failing_task_stops_the_run_with_its_error(small: Scenario) -> None:
    key = scenario_key(small)
    tasks = [ReplicationTask(key, "no_such_policy", 1, 0)]
    with ProcessExecutor(2) as executor, pytest.raises(KeyError, match="no_such_policy"):
        executor.run({key: small}, tasks)


def test_the_command_line_choice_of_executor() -> None:
    assert isinstance(make_executor(1), SerialExecutor)
    assert isinstance(make_executor(4, tasks=1), SerialExecutor)  # one task: no pool
    chosen: Any = make_executor(2, tasks=10)
    assert isinstance(chosen, ProcessExecutor) and chosen.workers == 2


def test_a_scheduler_out_of_reach_is_one_clear_error() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        SchedulerError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    ):
        DaskExecutor.connect(f"tcp://127.0.0.1:{port}", timeout_s=1.0)


def test_workers_with_other_versions_are_refused(
    dask: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.dask_executor as module

    ours = module.versions()
    monkeypatch.setattr(module, "versions", lambda: {**ours, "numpy": "0.0.1"})
    with pytest.raises(SchedulerError, match=r"runs numpy .* \(here 0.0.1\)"):
        dask.check_workers()
