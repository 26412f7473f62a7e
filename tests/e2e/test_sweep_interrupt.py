"""Ctrl-C on a real ``routelab sweep`` and ``simulate``: SIGINT to the whole process group
(as a terminal sends it) after some tasks finished. The command stops with one line and
exit code 130, leaves no worker process behind, keeps what finished, and the same
command started again runs only the rest and gives the figures of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from scenarios.loader import load_scenario
from scenarios.overrides import apply
from scenarios.transform import scenario_yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUTELAB = [sys.executable, "-m", "routelab.cli"]
WINDOW = "policies[sr_window].strategy.window"
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # about 0.2-0.4 s per replication here: long enough to interrupt mid-sweep
    small = apply(load_scenario("baseline"), {"traffic.duration_s": 600, "name": "small"})
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(scenario_yaml(small), encoding="utf-8")
    return path


def sweep_args(scenario: Path, out: Path, workers: int) -> list[str]:
    return [
        *ROUTELAB,
        "sweep",
        str(scenario),
        "--set",
        f"{WINDOW}=25,50,250,500,1000",
        "--replications",
        "4",
        "--workers",
        str(workers),
        "--quiet",
        "--out",
        str(out),
    ]


def interrupt_when(
    argv: list[str], ready: Any, cwd: Path
) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Run ``argv`` in a process group of its own; SIGINT the group once ``ready()``."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    group: list[int] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not ready():
            assert proc.poll() is None, f"finished before the interrupt: {proc.communicate()}"
            assert time.monotonic() < deadline, "never got ready to interrupt"
            time.sleep(0.05)
        group = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr), group


def alive(pids: list[int], grace_s: float = 5.0) -> list[str]:
    """The command lines of those of ``pids`` still running after ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while True:
        left = []
        for pid in pids:
            try:
                process = psutil.Process(pid)
                if process.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(process.cmdline()))
            except psutil.NoSuchProcess:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def figures(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "sweep.json").read_text())
    data.pop("tasks")
    return data


def test_an_interrupted_sweep_resumes_to_the_figures_of_a_whole_run(
    scenario: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    tasks = out / "tasks"
    total = 6 * 4  # five windows, the baseline (125) off the grid, four replications

    def three_done() -> bool:
        return tasks.is_dir() and len(list(tasks.glob("*.json"))) >= 3

    done, workers = interrupt_when(sweep_args(scenario, out, 2), three_done, tmp_path)
    assert done.returncode == 130, done.stderr
    stored = len(list(tasks.glob("*.json")))
    assert 3 <= stored < total
    assert f"interrupted: {stored} of {total} tasks are done and kept in {tasks}" in (
        " ".join(done.stderr.split())
    )
    assert "Traceback" not in done.stderr
    assert workers and not alive(workers), alive(workers)
    assert not (out / "sweep.json").exists()

    resumed = subprocess.run(
        sweep_args(scenario, out, 2),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"= {total} tasks ({stored} already done in {out})" in " ".join(resumed.stdout.split())
    record = json.loads((out / "sweep.json").read_text())
    assert record["tasks"] == {"total": total, "ran": total - stored, "reused": stored}

    whole = tmp_path / "whole"
    subprocess.run(
        sweep_args(scenario, whole, 1),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=True,
    )
    assert figures(out) == figures(whole)


def test_an_interrupted_simulation_says_what_it_dropped(scenario: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    argv = [
        *ROUTELAB,
        "simulate",
        str(scenario),
        "--replications",
        "40",
        "--workers",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    done, workers = interrupt_when(argv, lambda: time.monotonic() - started > 4.0, tmp_path)
    assert done.returncode == 130, done.stderr
    # 40 of the policy and 40 of the oracle on the same seeds, all on the executor
    said = " ".join(done.stderr.split())
    assert "interrupted:" in said and "of 80 replications had finished (the oracle's" in said
    assert "nothing was written" in done.stderr and "Traceback" not in done.stderr
    assert not alive(workers), alive(workers)
    assert not (tmp_path / "run").exists()
