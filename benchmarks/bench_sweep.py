"""Sweep benchmark: one fixed sweep, serially, on local processes and on a Dask LocalCluster.

In one run it measures the same sweep (8 points × 4 replications of ``bench_scenario.yaml``
stretched to ``--payments`` payments per replication, about 1-2 s each; ``sr_window``'s
window × exploration, the scenario's own values among the points)

(a) serially in this process (``SerialExecutor``);
(b) on 2 local worker processes (``ProcessExecutor(2)``, spawn); the wall time includes
    starting the pool, which every command pays;
(c) on a Dask ``LocalCluster`` of 2 worker processes with 1 thread each; the wall time
    includes scattering the scenarios to the workers but not starting the cluster
    (reported apart: a real cluster is running before the sweep starts);

and prints the parallel efficiency of (b) and (c) (speed-up over (a) / 2 workers), the
per-task overhead of each executor, and whether the three sweeps give identical figures
(``sweep.json`` without the task counts, compared as JSON). Per-task overhead, in ms:

- ``overhead_ms``: worker time not spent simulating, per task:
  ``(workers × wall − Σ task compute time) / tasks``, where a task's compute time is
  measured inside the worker around the replication. It holds everything an executor
  adds: start-up, shipping scenarios and tasks, bringing tallies back, idle workers at the
  end of the sweep;
- ``dispatch_ms``: the mean gap on one worker between the end of a task and the start of
  the next (from the start times and compute times the workers record): the round trip
  of handing a worker its next task, without start-up or the idle tail.

The last stdout line is one JSON object. Run from the repository root on a quiet machine::

    .venv/bin/python benchmarks/bench_sweep.py            # about 2-3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_sweep.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
from _common import Target, emit_json, environment, fmt, print_figures, print_targets, progress

from scenarios.loader import load_scenario
from scenarios.overrides import apply, parse_override
from scenarios.schema import Scenario
from simulator import Executor, ProcessExecutor, ReplicationOutcome, SerialExecutor
from simulator.dask_executor import DaskExecutor
from sweeps import Sweep, plan_sweep
from sweeps.output import sweep_record

SCENARIO_PATH = Path(__file__).resolve().parent / "bench_scenario.yaml"
WORKERS = 2
TARGET_PROCESSES = 0.85
TARGET_DASK = 0.80
GRID = (
    "policies[sr_window].strategy.window=50,125,250,500",
    "policies[sr_window].strategy.exploration=0.05,0.1",
)
FULL = {"payments": 300_000, "replications": 4}  # about 1.2 s per task on a 2-core machine
QUICK = {"payments": 10_000, "replications": 2}


def scenario_for(payments: int) -> Scenario:
    base = load_scenario(SCENARIO_PATH)
    rate = base.traffic.arrival.model_dump()["rate_per_s"]
    return apply(base, {"traffic.duration_s": payments / rate})


def run(executor: Executor, scenario: Scenario, replications: int) -> dict[str, Any]:
    """One sweep on ``executor``: wall time, the figures, every task's outcome."""
    plan = plan_sweep(
        scenario, "bench", [parse_override(t) for t in GRID], replications=replications
    )
    sweep = Sweep(plan)
    started_at = time.time()
    started = time.perf_counter()
    result = sweep.run(executor)
    wall = time.perf_counter() - started
    record = sweep_record(result)
    record.pop("tasks")
    outcomes = [sweep.batch.outcomes[j] for j in range(sweep.total)]
    return {
        "wall_s": wall,
        "started_at": started_at,
        "figures": orjson.dumps(record, option=orjson.OPT_SORT_KEYS),
        "outcomes": outcomes,
        "tasks": sweep.total,
        "points": len(plan.points),
    }


def overheads(measured: dict[str, Any], workers: int) -> dict[str, float]:
    """Per-task overhead and dispatch gap in ms, mean compute per task in s."""
    outcomes: list[ReplicationOutcome] = measured["outcomes"]
    tasks = len(outcomes)
    compute = sum(o.compute_s for o in outcomes)
    by_worker: dict[str, list[ReplicationOutcome]] = defaultdict(list)
    for o in outcomes:
        by_worker[o.worker].append(o)
    gaps: list[float] = []
    for ran in by_worker.values():
        ran.sort(key=lambda o: o.started_at)
        gaps += [b.started_at - (a.started_at + a.compute_s) for a, b in pairwise(ran)]
    first = [min(o.started_at for o in ran) - measured["started_at"] for ran in by_worker.values()]
    return {
        "overhead_ms": 1000.0 * (workers * measured["wall_s"] - compute) / tasks,
        "dispatch_ms": 1000.0 * sum(gaps) / len(gaps) if gaps else 0.0,
        "first_task_after_s": max(first),
        "task_s": compute / tasks,
        "cpu_share": sum(o.cpu_s for o in outcomes) / compute if compute else math.nan,
        "workers_used": float(len(by_worker)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small tasks: a smoke test")
    parser.add_argument("--payments", type=int, help="payments per replication")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    payments = args.payments or size["payments"]
    replications = size["replications"]
    env = environment()
    scenario = scenario_for(payments)

    progress(f"serial: 8 points × {replications} replications of {payments:,} payments")
    serial = run(SerialExecutor(), scenario, replications)
    progress(f"serial: {serial['wall_s']:.1f} s")
    with ProcessExecutor(WORKERS) as processes_executor:
        processes = run(processes_executor, scenario, replications)
    progress(f"processes: {processes['wall_s']:.1f} s")
    cluster_started = time.perf_counter()
    with DaskExecutor.local(n_workers=WORKERS, threads_per_worker=1) as dask_executor:
        cluster_s = time.perf_counter() - cluster_started
        dask = run(dask_executor, scenario, replications)
    progress(f"dask: {dask['wall_s']:.1f} s (cluster start {cluster_s:.1f} s, not counted)")
    load_end = os.getloadavg()[0]

    serial_o, processes_o, dask_o = (
        overheads(serial, 1),
        overheads(processes, WORKERS),
        overheads(dask, WORKERS),
    )
    efficiency_processes = serial["wall_s"] / processes["wall_s"] / WORKERS
    efficiency_dask = serial["wall_s"] / dask["wall_s"] / WORKERS
    identical = serial["figures"] == processes["figures"] == dask["figures"]
    print_figures(
        f"sweep benchmark: {serial['points']} points × {replications} replications = "
        f"{serial['tasks']} tasks of {payments:,} payments",
        [
            (
                "serial",
                f"{fmt(serial['wall_s'], 2)} s",
                f"task {serial_o['task_s']:.2f} s, cpu {serial_o['cpu_share']:.0%}",
            ),
            (
                "processes (2)",
                f"{fmt(processes['wall_s'], 2)} s",
                f"task {processes_o['task_s']:.2f} s, cpu {processes_o['cpu_share']:.0%}; "
                "pool start included",
            ),
            (
                "dask LocalCluster (2 × 1 thread)",
                f"{fmt(dask['wall_s'], 2)} s",
                f"task {dask_o['task_s']:.2f} s, cpu {dask_o['cpu_share']:.0%}; "
                f"cluster start {cluster_s:.1f} s not included",
            ),
            ("efficiency processes", fmt(efficiency_processes, 3), "speed-up / 2 workers"),
            ("efficiency dask", fmt(efficiency_dask, 3), "speed-up / 2 workers"),
            (
                "overhead per task: serial",
                f"{fmt(serial_o['overhead_ms'], 1)} ms",
                "(wall - Σ compute) / tasks",
            ),
            (
                "overhead per task: processes",
                f"{fmt(processes_o['overhead_ms'], 1)} ms",
                "(2 × wall - Σ compute) / tasks: start-up, transfer, idle tail",
            ),
            (
                "overhead per task: dask",
                f"{fmt(dask_o['overhead_ms'], 1)} ms",
                "same, scatter included",
            ),
            (
                "dispatch gap: processes",
                f"{fmt(processes_o['dispatch_ms'], 1)} ms",
                "between tasks on one worker",
            ),
            (
                "dispatch gap: dask",
                f"{fmt(dask_o['dispatch_ms'], 1)} ms",
                "between tasks on one worker",
            ),
            (
                "first task after: processes",
                f"{fmt(processes_o['first_task_after_s'], 2)} s",
                "pool start (spawn + imports)",
            ),
            (
                "first task after: dask",
                f"{fmt(dask_o['first_task_after_s'], 2)} s",
                "scatter + first dispatch",
            ),
            ("identical figures", str(identical), "sweep.json of the three, as JSON"),
            (
                "load average 1 min",
                f"{env['loadavg_1m_at_start']} → {load_end:.2f}",
                "at start → at end",
            ),
        ],
    )
    print_targets(
        [
            Target(
                "parallel efficiency, processes",
                100 * efficiency_processes,
                100 * TARGET_PROCESSES,
                ">=",
                "%",
            ),
            Target(
                "parallel efficiency, dask", 100 * efficiency_dask, 100 * TARGET_DASK, ">=", "%"
            ),
        ]
    )
    emit_json(
        {
            **env,
            "loadavg_1m_at_end": round(load_end, 2),
            "payments_per_task": payments,
            "tasks": serial["tasks"],
            "serial_s": round(serial["wall_s"], 3),
            "processes_s": round(processes["wall_s"], 3),
            "dask_s": round(dask["wall_s"], 3),
            "dask_cluster_start_s": round(cluster_s, 3),
            "efficiency_processes": round(efficiency_processes, 4),
            "efficiency_dask": round(efficiency_dask, 4),
            "overhead_ms_serial": round(serial_o["overhead_ms"], 2),
            "overhead_ms_processes": round(processes_o["overhead_ms"], 2),
            "overhead_ms_dask": round(dask_o["overhead_ms"], 2),
            "dispatch_ms_processes": round(processes_o["dispatch_ms"], 2),
            "dispatch_ms_dask": round(dask_o["dispatch_ms"], 2),
            "task_s_serial": round(serial_o["task_s"], 3),
            "task_s_processes": round(processes_o["task_s"], 3),
            "task_s_dask": round(dask_o["task_s"], 3),
            "cpu_share_serial": round(serial_o["cpu_share"], 3),
            "cpu_share_processes": round(processes_o["cpu_share"], 3),
            "cpu_share_dask": round(dask_o["cpu_share"], 3),
            "identical": identical,
            "passed": identical
            and efficiency_processes >= TARGET_PROCESSES
            and efficiency_dask >= TARGET_DASK,
        }
    )


if __name__ == "__main__":
    main()
