"""``routelab sweep --scheduler`` on a real Dask cluster started with Dask's own CLI:
``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (ephemeral ports, no
dashboard), started and stopped by the test. The figures equal a local run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

from scenarios.loader import load_scenario
from scenarios.overrides import apply
from scenarios.transform import scenario_yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DASK = str(Path(sys.executable).with_name("dask"))
ROUTELAB = [sys.executable, "-m", "routelab.cli"]
START_TIMEOUT_S = 60.0
WINDOW = "policies[sr_window].strategy.window"


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a scheduler with two single-threaded workers, all on 127.0.0.1."""
    work = tmp_path_factory.mktemp("dask")
    info = work / "scheduler.json"
    logs = work / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, argv: list[str]) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    argv, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )

    try:
        start(
            "scheduler",
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not info.exists() or not info.read_text().strip():
            assert processes[0].poll() is None, (logs / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler never wrote its address"
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for n in range(2):
            start(
                f"worker{n}",
                [
                    DASK,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--death-timeout",
                    "60",
                ],
            )
        with Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address
    finally:
        _stop(processes[1:])
        _stop(processes[:1])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    small = apply(load_scenario("baseline"), {"traffic.duration_s": 90, "name": "small"})
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(scenario_yaml(small), encoding="utf-8")
    return path


def sweep(scenario: Path, out: Path, *executor: str) -> dict[str, Any]:
    argv = [
        *ROUTELAB,
        "sweep",
        str(scenario),
        "--set",
        f"{WINDOW}=50,500",
        "--set",
        "policies[sr_window].strategy.exploration=0.01,0.2",
        "--replications",
        "3",
        "--quiet",
        "--out",
        str(out),
        *executor,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    data: dict[str, Any] = json.loads((out / "sweep.json").read_text())
    data.pop("tasks")
    return data


def test_a_sweep_on_a_dask_cluster_equals_a_local_run(
    scheduler: str, scenario: Path, tmp_path: Path
) -> None:
    on_cluster = sweep(scenario, tmp_path / "dask", "--scheduler", scheduler)
    local = sweep(scenario, tmp_path / "local", "--workers", "1")
    assert on_cluster == local
    # the tasks ran on both workers (each stored outcome says where it ran)
    where = {
        json.loads(p.read_text())["outcome"]["worker"]
        for p in (tmp_path / "dask" / "tasks").glob("*.json")
    }
    assert len(where) == 2, where
