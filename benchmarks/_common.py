"""Shared plumbing for the benchmarks: timing repeats, child-process peak RSS, output.

Every benchmark prints a readable table of figures and targets (PASS/FAIL), then ends
with exactly one line holding a JSON object, so humans read the table and scripts (CI,
trend tracking) read the last line. Progress goes to stderr to keep stdout clean.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil
from rich.console import Console
from rich.table import Table

BYTES_PER_MB = 1024 * 1024
# ru_maxrss is in kilobytes on Linux, in bytes on macOS
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def progress(message: str) -> None:
    """A progress note on stderr (stdout is reserved for the table and the JSON line)."""
    err.print(f"[dim]… {message}[/dim]")


# --- timing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One timed run: how much work it did and how long it took."""

    work: int  # units of work done (payments simulated, requests served...)
    wall_s: float
    cpu_s: float  # process CPU time: far below wall_s means the core was shared
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.work / self.wall_s if self.wall_s > 0 else math.nan


def timed(run: Callable[[], tuple[int, dict[str, Any]]]) -> Timed:
    """Run ``run`` once under ``perf_counter``; it returns (work done, extra figures)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    work, extra = run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Timed(work, wall, cpu, extra)


@dataclass(frozen=True)
class Repeats:
    """Several timed runs of one thing; the median rate is the figure reported."""

    runs: list[Timed]

    @property
    def rates(self) -> list[float]:
        return [r.rate for r in self.runs]

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def median_cpu_rate(self) -> float:
        """Median work per CPU second: the one-core rate with the noise of sharing removed."""
        return statistics.median(r.work / r.cpu_s if r.cpu_s > 0 else math.nan for r in self.runs)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.rates), max(self.rates)

    @property
    def cpu_share(self) -> float:
        """CPU time over wall time, summed over runs: about 1.0 on an idle core."""
        wall = sum(r.wall_s for r in self.runs)
        return sum(r.cpu_s for r in self.runs) / wall if wall > 0 else math.nan

    @property
    def median_run(self) -> Timed:
        """The run whose rate is the median (the upper median for an even count)."""
        ordered = sorted(self.runs, key=lambda r: r.rate)
        return ordered[len(ordered) // 2]


def repeat(
    runs: dict[str, Callable[[], tuple[int, dict[str, Any]]]], times: int
) -> dict[str, Repeats]:
    """Time each of ``runs`` ``times`` times, interleaved (a, b, a, b...).

    Interleaving matters on a shared machine: when other processes come and go, every
    contender meets the same mix of busy and quiet spells, so ratios stay fair.
    """
    timings: dict[str, list[Timed]] = {label: [] for label in runs}
    for k in range(times):
        for label, run in runs.items():
            result = timed(run)
            progress(
                f"{label} run {k + 1}/{times}: {result.work:,} in {result.wall_s:.2f} s "
                f"= {result.rate:,.0f}/s (cpu {result.cpu_s / result.wall_s:.0%})"
            )
            timings[label].append(result)
    return {label: Repeats(results) for label, results in timings.items()}


# --- child processes -------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: its output, exit code, own peak RSS and wall time."""

    stdout: str
    returncode: int
    peak_rss_mb: float
    wall_s: float

    def last_json(self) -> dict[str, Any]:
        """The JSON object on the child's last non-empty stdout line."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if not lines:
            raise ValueError("the child printed nothing")
        data = json.loads(lines[-1])
        if not isinstance(data, dict):
            raise ValueError(f"the child's last line is not a JSON object: {lines[-1]!r}")
        return data


def run_child(argv: Sequence[str], timeout_s: float = 600.0) -> ChildRun:
    """Run ``argv`` to completion and measure that process's own peak resident set size.

    ``os.wait4`` returns the kernel's high-water mark for exactly this child, so the
    figure is neither polluted by the parent nor by earlier children (as
    ``RUSAGE_CHILDREN`` would be) and cannot miss a short peak (as polling can).
    stderr passes through so the child's progress stays visible.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None  # stdout=PIPE guarantees it
    try:
        stdout = proc.stdout.read()  # the child's output is small: reading to EOF is safe
        _, status, usage = _wait4(proc.pid, started + timeout_s)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        stdout,
        proc.returncode,
        usage.ru_maxrss * _MAXRSS_UNIT / BYTES_PER_MB,
        time.perf_counter() - started,
    )


def _wait4(pid: int, deadline: float) -> tuple[int, int, Any]:
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return waited, status, usage
        if time.perf_counter() > deadline:
            raise TimeoutError(f"child {pid} still running at its deadline")
        time.sleep(0.05)


def self_rss_mb() -> float:
    """This process's current resident set size."""
    return float(psutil.Process().memory_info().rss) / BYTES_PER_MB


# --- output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A figure's goal: ``measured`` must be ``>=`` or ``<=`` ``goal``; None = not measured."""

    name: str
    measured: float | None
    goal: float
    direction: Literal[">=", "<="]
    unit: str = ""

    @property
    def passed(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        if self.direction == ">=":
            return self.measured >= self.goal
        return self.measured <= self.goal


def fmt(value: float | None, digits: int = 0) -> str:
    """A figure with thousands separators; 'n/a' for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def print_figures(title: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """A table of (figure, value, note) rows."""
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    for name, value, note in rows:
        table.add_row(name, value, note)
    out.print(table)


def print_targets(targets: Sequence[Target]) -> None:
    """A table of targets with PASS / FAIL (or n/a when the figure was not measured)."""
    table = Table(title="targets", title_justify="left")
    table.add_column("target")
    table.add_column("goal", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("result")
    for t in targets:
        digits = 2 if t.unit in ("x", "MB", "ms") else 0
        verdict = {
            True: "[green]PASS[/green]",
            False: "[red]FAIL[/red]",
            None: "[yellow]n/a[/yellow]",
        }[t.passed]
        table.add_row(
            t.name,
            f"{t.direction} {fmt(t.goal, digits)} {t.unit}".rstrip(),
            f"{fmt(t.measured, digits)} {t.unit}".rstrip() if t.passed is not None else "n/a",
            verdict,
        )
    out.print(table)


def environment() -> dict[str, Any]:
    """Where the figures were measured: interpreter, cores, load when the run started."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        "loadavg_1m_at_start": round(load[0], 2),
    }


def emit_json(figures: dict[str, Any]) -> None:
    """The final stdout line: one JSON object (NaN becomes null so it stays valid JSON)."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in figures.items()}
    out.file.flush()
    sys.stdout.write(json.dumps(clean, sort_keys=True) + "\n")
    sys.stdout.flush()


# --- HTTP load with wrk ----------------------------------------------------------------
#
# wrk is C and spends far less CPU per request than a Python load generator, which
# matters when the generator shares two cores with the services it measures. A Lua
# script drives it: the benchmark's own part writes requests (``init``, ``request``,
# optionally ``delay``); :data:`WRK_CHECK_LUA` below checks every answer and reports.

WRK_JSON_PREFIX = "WRK_JSON "

# Appended to a benchmark's Lua script. Its ``init(args)`` must set the global ``marker``:
# an answer counts as valid when its status is 200 and its body contains ``marker``.
# Counters are globals so that ``done()`` can read every thread's with ``thread:get``.
WRK_CHECK_LUA = r"""
local wrk_threads = {}
bad_status = 0
bad_body = 0

function setup(thread)
  thread:set("thread_id", #wrk_threads + 1)
  table.insert(wrk_threads, thread)
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif not string.find(body, marker, 1, true) then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local bs, bb = 0, 0
  for _, t in ipairs(wrk_threads) do
    bs = bs + t:get("bad_status")
    bb = bb + t:get("bad_body")
  end
  local e = summary.errors
  io.write(string.format("WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"connect_errors\":%d,"
    .. "\"read_errors\":%d,\"write_errors\":%d,\"status_errors\":%d,\"timeouts\":%d,"
    .. "\"bad_status\":%d,\"bad_body\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,"
    .. "\"mean_us\":%.1f,\"max_us\":%d}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    bs, bb, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def wrk_executable() -> str | None:
    """The wrk executable, or None when it is not installed (Debian package ``wrk``)."""
    return shutil.which("wrk")


def pin(pid: int, cpus: Collection[int]) -> None:
    """Pin every thread of process ``pid`` to ``cpus``; threads it starts later inherit it.

    ``sched_setaffinity(pid)`` alone moves only the main thread: helper threads already
    running (a resolver, an executor) would stay free to run on any core.
    """
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far (all its threads)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class WrkRun:
    """One wrk run: throughput, latency as wrk measured it, and every kind of bad answer."""

    connections: int
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    socket_errors: int  # connect, read and write errors and timeouts
    bad_status: int  # answers other than 200
    bad_body: int  # 200 answers whose body lacked the expected marker
    wrk_cpu_s: float
    server_cpu_s: dict[str, float]  # CPU seconds each watched process used during the run

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def invalid(self) -> int:
        """Requests that did not get a 200 with a valid body (or no answer at all)."""
        return self.socket_errors + self.bad_status + self.bad_body

    def cpu_share(self, label: str) -> float:
        """A watched process's CPU time over the run's wall time (1.0 = one full core)."""
        if label == "wrk":
            return self.wrk_cpu_s / self.duration_s
        return self.server_cpu_s[label] / self.duration_s


def run_wrk(
    url: str,
    script: Path,
    script_args: Sequence[str],
    *,
    connections: int,
    duration_s: float,
    timeout_s: float = 5.0,
    cpus: Collection[int] | None = None,
    watch: dict[str, int] | None = None,
) -> WrkRun:
    """Run wrk (one thread, closed loop) against ``url`` and read its JSON report.

    ``script`` must end with :data:`WRK_CHECK_LUA`; ``script_args`` reach its
    ``init(args)``. ``cpus`` pins wrk; ``watch`` names processes whose CPU time the run
    reports. The run is bounded: wrk is killed if it outlives its duration by 30 s.
    """
    wrk = wrk_executable()
    if wrk is None:
        raise FileNotFoundError("wrk is not installed (apt-get install -y wrk)")
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "-s",
        str(script),
        url,
        "--",
        *script_args,
    ]
    taskset = shutil.which("taskset") if cpus else None
    if taskset is not None and cpus:
        # taskset pins before wrk starts its threads (it execs wrk: same pid)
        argv = [taskset, "-c", ",".join(str(cpu) for cpu in sorted(cpus)), *argv]
    pids = watch or {}
    before = {label: cpu_seconds(pid) for label, pid in pids.items()}
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            if cpus and taskset is None:
                pin(proc.pid, cpus)
            _, status, usage = _wait4(proc.pid, started + duration_s + 30.0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        after = {label: cpu_seconds(pid) for label, pid in pids.items()}
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    report = next(
        (
            line[len(WRK_JSON_PREFIX) :]
            for line in text.splitlines()
            if line.startswith(WRK_JSON_PREFIX)
        ),
        None,
    )
    if proc.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {text.strip()[-800:]}")
    data = json.loads(report)
    return WrkRun(
        connections=connections,
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000.0,
        p90_ms=data["p90_us"] / 1000.0,
        p99_ms=data["p99_us"] / 1000.0,
        mean_ms=data["mean_us"] / 1000.0,
        max_ms=data["max_us"] / 1000.0,
        socket_errors=sum(
            int(data[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        bad_status=int(data["bad_status"]),
        bad_body=int(data["bad_body"]),
        wrk_cpu_s=usage.ru_utime + usage.ru_stime,
        server_cpu_s={label: after[label] - before[label] for label in pids},
    )
