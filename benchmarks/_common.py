"""Shared plumbing for the benchmarks: timing repeats, child-process peak RSS, output.

Every benchmark prints a readable table of figures and targets (PASS/FAIL), then ends
with exactly one line holding a JSON object, so humans read the table and scripts (CI,
trend tracking) read the last line. Progress goes to stderr to keep stdout clean.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
        digits = 2 if t.unit in ("x", "MB") else 0
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
