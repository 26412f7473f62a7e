"""Running the locustfile as a Locust process: command line, supervision, CPU, results.

Locust runs in a child process of its own (it monkey-patches the interpreter with
gevent, which the orchestrator must not be), headless, in Locust's own distributed
mode: ``--processes N`` forks N workers under one master, all on loopback. The child
gets a session of its own so that its whole process group (master and workers) can be
stopped together whatever happens.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import psutil

from loadtests.options import HarnessOptions
from loadtests.run_progress import read_snapshot
from runtime.serving import LOOPBACK
from runtime.stack import free_port

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")


class LocustError(RuntimeError):
    """Locust did not run to its end (the message says why)."""


def locust_command(
    *,
    host: str,
    harness: HarnessOptions,
    processes: int,
    users: int,
    run_time_s: float,
    csv_prefix: Path | None = None,
    html_path: Path | None = None,
) -> list[str]:
    """The Locust command line for a headless run of the locustfile.

    ``run_time_s`` is only a safety limit: the master ends the test itself once every
    arrival stream has finished. The master binds loopback on a free port.
    """
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{math.ceil(run_time_s)}s",
        "--exit-code-on-error",
        "0",
    ]
    if processes > 0:
        port = str(free_port())
        argv += [
            "--processes",
            str(processes),
            "--master-bind-host",
            LOOPBACK,
            "--master-bind-port",
            port,
            "--master-host",
            LOOPBACK,
            "--master-port",
            port,
        ]
    if csv_prefix is not None:
        argv += ["--csv", str(csv_prefix)]
    if html_path is not None:
        argv += ["--html", str(html_path)]
    return argv + harness.locust_args()


@dataclass(frozen=True)
class LocustRun:
    """A finished Locust process."""

    returncode: int
    wall_s: float
    cpu_s: float | None  # master and workers together (from the kernel, at exit)
    results: dict[str, Any] | None
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


class CpuMeter:
    """CPU seconds a running service process has used since the meter was made."""

    def __init__(self, process: psutil.Process | None) -> None:
        self._process = process
        self._start = self._now()

    @classmethod
    def of(cls, pid: int | None) -> CpuMeter:
        try:
            return cls(psutil.Process(pid) if pid is not None else None)
        except psutil.Error:
            return cls(None)

    def _now(self) -> float | None:
        if self._process is None:
            return None
        try:
            times = self._process.cpu_times()
        except psutil.Error:
            return None
        return float(times.user + times.system)

    def seconds(self) -> float | None:
        now = self._now()
        if now is None or self._start is None:
            return None
        return round(now - self._start, 3)


def run_locust(
    argv: list[str],
    env: dict[str, str],
    log_path: Path,
    progress_path: Path,
    *,
    timeout_s: float,
    results_path: Path | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    service_died: Callable[[], str | None] | None = None,
    poll_s: float = 0.25,
) -> LocustRun:
    """Run Locust to its end, feeding progress snapshots to ``on_progress``.

    Raises :class:`LocustError` when it overruns ``timeout_s`` or a service it loads
    dies (``service_died`` names it); the process group is stopped either way.
    """
    results_path = results_path or _results_path(argv)
    if results_path is not None:
        results_path.unlink(missing_ok=True)
    log: IO[bytes]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status, usage = _supervise(
                process, started + timeout_s, progress_path, on_progress, service_died, poll_s
            )
        finally:
            _stop_group(process)
    wall = time.perf_counter() - started
    results = None
    if results_path is not None and results_path.exists():
        results = orjson.loads(results_path.read_bytes())
    cpu = round(usage.ru_utime + usage.ru_stime, 3) if usage is not None else None
    return LocustRun(os.waitstatus_to_exitcode(status), wall, cpu, results, log_path)


def _supervise(
    process: subprocess.Popen[bytes],
    deadline: float,
    progress_path: Path,
    on_progress: Callable[[dict[str, Any]], None] | None,
    service_died: Callable[[], str | None] | None,
    poll_s: float,
) -> tuple[int, Any]:
    while True:
        # wait4: the kernel's CPU account of the master, including the workers it reaped
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return status, usage
        if on_progress is not None and (snapshot := read_snapshot(progress_path)):
            on_progress(snapshot)
        if service_died is not None and (gone := service_died()):
            raise LocustError(f"the {gone} process died during the load test")
        if time.perf_counter() > deadline:
            raise LocustError("Locust overran its time limit and was stopped")
        time.sleep(poll_s)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop Locust's master and workers (its process group) if still running."""
    if process.returncode is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _results_path(argv: list[str]) -> Path | None:
    if "--results-file" in argv:
        return Path(argv[argv.index("--results-file") + 1])
    return None
