"""The live stack as processes: mock acquirers and the router, started and stopped in order.

``routelab serve`` and the load-test harness both use :func:`start_stack`. Children run
in sessions of their own, so a Ctrl-C in the terminal reaches only the parent, which
then stops them in the safe order: the router first (uvicorn's graceful shutdown lets
payments in flight finish, and those still need their acquirers), then the mocks.
If the parent dies without stopping them, each child notices and shuts itself down the
same graceful way (``runtime.parent``). Everything binds to loopback unless told otherwise.

:func:`supervise` keeps the router up: a router that crashes (SIGKILL, a non-zero exit)
is restarted with the same arguments on the same port (so, with a journal, it replays
it), while the mock acquirers keep running with their ledgers. The restart is said
through a callback and counted (``Stack.restarts``, passed to the new router as
``ROUTELAB_RESTARTS``, which its ``/healthz`` shows). A crash loop is bounded: each
quick crash doubles the back-off, and :class:`RestartBudget` gives up after a number of
crashes in a row that each came soon after a start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from runtime.parent import PARENT_ENV
from runtime.serving import LOOPBACK, RESTARTS_ENV, TOKEN_ENV


class StackError(RuntimeError):
    """A service of the stack failed to start (the message says which and why)."""


class RestartLimitError(StackError):
    """The router crashed too often right after starting: supervision gave up."""


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One child process of the stack."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    log_file: IO[bytes] | None = field(default=None, repr=False)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    started_at: float = field(default_factory=time.monotonic)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, wait up to ``timeout_s`` for a graceful exit, else SIGKILL."""
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        return int(process.returncode)


@dataclass
class Stack:
    """A running stack; stop it with :meth:`stop` or by leaving the ``with`` block."""

    admin_token: str
    acquirers: Service
    router: Service | None = None
    log_dir: Path | None = None
    restarts: int = 0  # times the router was restarted after a crash

    @property
    def router_url(self) -> str:
        assert self.router is not None, "the router has not started"
        return self.router.url

    @property
    def acquirers_url(self) -> str:
        return self.acquirers.url

    @property
    def services(self) -> list[Service]:
        return [s for s in (self.router, self.acquirers) if s is not None]

    def dead(self) -> Service | None:
        """A child that has exited, if any."""
        return next((s for s in self.services if s.process.poll() is not None), None)

    def wait(self, poll_s: float = 0.2) -> Service:
        """Block until a child exits (signals interrupt the wait); returns that child."""
        while (gone := self.dead()) is None:
            time.sleep(poll_s)
        return gone

    def restart_router(self, startup_timeout_s: float = 30.0) -> Service:
        """Start the router again, same arguments and port, and wait until it is healthy."""
        old = self.router
        assert old is not None, "the router has not started"
        old.stop(timeout_s=5.0)  # it is dead already; this reaps it and closes its log
        self.restarts += 1
        env = {**old.env, RESTARTS_ENV: str(self.restarts)}
        self.router = _spawn(old.name, old.args, env, old.url, self.log_dir, append=True)
        wait_healthy(self.router, startup_timeout_s)
        return self.router

    def stop(self, timeout_s: float = 30.0) -> dict[str, int]:
        """Stop the router (draining payments in flight), then the acquirers."""
        codes: dict[str, int] = {}
        try:
            for service in self.services:
                codes[service.name] = service.stop(timeout_s)
        except KeyboardInterrupt:
            for service in self.services:  # a second Ctrl-C: no more patience
                if service.process.poll() is None:
                    service.process.kill()
            raise
        return codes

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _spawn(
    name: str,
    args: list[str],
    env: dict[str, str],
    url: str,
    log_dir: Path | None,
    append: bool = False,
) -> Service:
    log_path = log_file = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        log_file = log_path.open("ab" if append else "wb")  # a restart keeps the crash's log
    process = subprocess.Popen(
        args,
        env={**env, PARENT_ENV: str(os.getpid())},  # the service stops itself if we die
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT if log_file else None,
        start_new_session=True,
    )
    return Service(name, url, process, log_path, log_file, list(args), dict(env))


def wait_healthy(service: Service, timeout_s: float) -> None:
    """Poll ``{url}/healthz`` until it answers 200; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = service.process.poll()
        if code is not None:
            tail = service.log_tail()
            raise StackError(
                f"{service.name} exited with code {code} while starting"
                + (f":\n{tail}" if tail else "")
            )
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(service.url + "/healthz", timeout=1.0) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() >= deadline:
            raise StackError(
                f"{service.name} did not answer {service.url}/healthz within {timeout_s:g} s"
            )
        time.sleep(0.05)


def start_stack(
    scenario: str | Path,
    *,
    router_port: int = 0,
    acquirer_port: int = 0,
    policy: str | None = None,
    time_scale: float = 1.0,
    host: str = LOOPBACK,
    admin_token: str | None = None,
    log_dir: Path | None = None,
    router_args: Sequence[str] = (),
    startup_timeout_s: float = 30.0,
    journal: Path | None = None,
) -> Stack:
    """Start the mock acquirers, then the router, each as a process, and wait until healthy.

    Port 0 picks a free port. The admin token (generated unless given) is shared by
    both services and passed through the environment, not the command line. With
    ``journal`` the router journals its payments in that file (``--journal``); a
    restart (:meth:`Stack.restart_router`) passes the same file, so it replays it.
    """
    token = admin_token or secrets.token_urlsafe(24)
    env = {**os.environ, TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}
    acquirer_port = acquirer_port or free_port(host)
    acquirers_url = f"http://{host}:{acquirer_port}"
    acquirers = _spawn(
        "acquirers",
        [
            sys.executable,
            "-m",
            "mock_acquirers",
            "--scenario",
            str(scenario),
            "--host",
            host,
            "--port",
            str(acquirer_port),
            "--time-scale",
            repr(time_scale),
        ],
        env,
        acquirers_url,
        log_dir,
    )
    stack = Stack(token, acquirers, log_dir=log_dir)
    try:
        wait_healthy(acquirers, startup_timeout_s)
        router_port = router_port or free_port(host)
        args = [
            sys.executable,
            "-m",
            "router",
            "--scenario",
            str(scenario),
            "--host",
            host,
            "--port",
            str(router_port),
            "--acquirers-url",
            acquirers_url,
            *router_args,
        ]
        if journal is not None:
            args += ["--journal", str(journal)]
        if policy is not None:
            args += ["--policy", policy]
        stack.router = _spawn("router", args, env, f"http://{host}:{router_port}", log_dir)
        wait_healthy(stack.router, startup_timeout_s)
    except BaseException:
        stack.stop(timeout_s=5.0)
        raise
    return stack


@dataclass
class RestartBudget:
    """When to restart a crashed router, and when to stop trying (pure: time passed in).

    A crash within ``stable_after_s`` of a start is a quick one; each quick crash in a
    row doubles the back-off from ``first_backoff_s`` up to ``max_backoff_s``, and after
    ``max_quick_restarts`` of them in a row the budget is spent. A router that ran for
    longer than ``stable_after_s`` starts the count afresh.
    """

    max_quick_restarts: int = 5
    stable_after_s: float = 30.0
    first_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    quick: int = 0  # quick crashes in a row so far

    def after_crash(self, ran_for_s: float) -> float | None:
        """Seconds to wait before the next start, or None to give up."""
        if ran_for_s >= self.stable_after_s:
            self.quick = 0
        if self.quick >= self.max_quick_restarts:
            return None
        delay = min(self.max_backoff_s, self.first_backoff_s * 2.0**self.quick)
        self.quick += 1
        return delay


def exit_description(code: int) -> str:
    """How a child process ended, as a person reads it ("killed by SIGKILL", "exit code 1")."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def supervise(stack: Stack, budget: RestartBudget, say: Callable[[str], None]) -> Service:
    """Keep the router running until another child exits; returns that child.

    Only a crash is restarted (a router that exits with code 0 was stopped on purpose
    and ends the stack, as the acquirers' exit does). Raises :class:`RestartLimitError`
    when ``budget`` is spent. Blocks; signals interrupt it as they do :meth:`Stack.wait`.
    """
    while True:
        gone = stack.wait()
        router = stack.router
        if gone is not router or router is None or router.process.returncode == 0:
            return gone
        how = exit_description(router.process.returncode)
        delay = budget.after_crash(time.monotonic() - router.started_at)
        if delay is None:
            raise RestartLimitError(
                f"router crashed {budget.quick} times in a row within "
                f"{budget.stable_after_s:g} s of starting (last: {how}); giving up"
                + (f"; see {router.log_path}" if router.log_path else "")
            )
        say(f"router {how}; restarting it in {delay:g} s (restart {stack.restarts + 1})")
        time.sleep(delay)
        try:
            stack.restart_router()
        except StackError as exc:
            say(f"router restart failed: {exc}")
            continue  # the dead router is seen at once by wait(): a quick crash
        say(f"router restarted on {router.url} (restarts so far: {stack.restarts})")
