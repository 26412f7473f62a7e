"""``routelab serve``: the live stack (mock acquirers + router) on loopback until Ctrl-C.

Thin by design: the process orchestration lives in :mod:`runtime.stack`, which the
load-test harness uses too. The router is supervised: after a crash it is restarted on
the same port with the same arguments while the mock acquirers keep their ledgers; each
restart is printed (and shown as ``restarts`` in the router's ``/healthz``), and after
``--max-restarts`` quick crashes in a row serve gives up and stops the stack.

The router journals its payments in ``<--dir>/journal-<router port>.sqlite`` (default
folder ``.routelab/serve``), so a router restarted by the supervisor, or by the next
``routelab serve`` on the same port, replays it: every idempotency key answers with
its first answer and every attempt a crash left open is settled. ``--no-journal`` keeps
everything in memory, as before.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from runtime.stack import (
    RestartBudget,
    RestartLimitError,
    Stack,
    StackError,
    start_stack,
    supervise,
)
from scenarios.loader import ScenarioError, load_scenario

EXIT_BAD_INPUT = 2
EXIT_CHILD_DIED = 1
DEFAULT_DIR = Path(".routelab/serve")


def journal_path(folder: Path, router_port: int) -> Path:
    """The router's journal in the serve folder; one per port, so two stacks side by side
    never share one, and a restart on the same port finds its own."""
    return folder / f"journal-{router_port}.sqlite"


class _TerminatedError(Exception):
    """SIGTERM arrived: stop the stack as for Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _TerminatedError


def _say(message: str) -> None:
    print(message, flush=True)


def _fail(message: str, code: int) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def serve_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name (baseline).")],
    router_port: Annotated[int, typer.Option(help="Router port on 127.0.0.1.")] = 8080,
    acquirer_port: Annotated[int, typer.Option(help="Mock acquirers' port on 127.0.0.1.")] = 9100,
    policy: Annotated[str | None, typer.Option(help="Routing policy (default: the first).")] = None,
    time_scale: Annotated[
        float, typer.Option(help="Scenario seconds per wall second for the mocks' incidents.")
    ] = 1.0,
    max_restarts: Annotated[
        int,
        typer.Option(
            help="Crashes in a row, each within 30 s of a start, after which the router "
            "is not restarted again."
        ),
    ] = 5,
    folder: Annotated[
        Path,
        typer.Option(
            "--dir",
            help="Serve folder: the router's payment journal (journal-<router port>.sqlite) "
            "lives here, so a restarted router replays it.",
        ),
    ] = DEFAULT_DIR,
    no_journal: Annotated[
        bool,
        typer.Option("--no-journal", help="Keep payments in memory only (a crash forgets them)."),
    ] = False,
) -> None:
    """Serve the mock acquirers and the router for a scenario until Ctrl-C or SIGTERM."""
    try:
        loaded = load_scenario(scenario)
        loaded.policy(policy)
    except ScenarioError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    except KeyError as exc:
        raise _fail(f"{scenario}: {exc.args[0]}", EXIT_BAD_INPUT) from None
    if not time_scale > 0.0:
        raise _fail("--time-scale must be positive", EXIT_BAD_INPUT)
    if max_restarts < 0:
        raise _fail("--max-restarts must not be negative", EXIT_BAD_INPUT)
    journal = None
    if not no_journal:
        if router_port == 0:
            raise _fail(
                "--router-port 0 needs --no-journal (the journal is per port)", EXIT_BAD_INPUT
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(f"--dir {folder}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
        journal = journal_path(folder, router_port).resolve()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    stack: Stack | None = None
    try:
        stack = start_stack(
            scenario,
            router_port=router_port,
            acquirer_port=acquirer_port,
            policy=policy,
            time_scale=time_scale,
            journal=journal,
        )
        _say(f"scenario   {loaded.name} (policy {loaded.policy(policy).name})")
        _say(f"router     {stack.router_url}   POST /v1/payments, GET /metrics")
        _say(
            f"acquirers  {stack.acquirers_url}   "
            + ", ".join(f"/{a.name} ({a.dialect})" for a in loaded.acquirers)
        )
        _say(f"admin token {stack.admin_token}   (Authorization: Bearer <token>)")
        _say(f"journal    {journal}" if journal else "journal    off (payments in memory only)")
        _say("Ctrl-C to stop.")
        try:
            gone = supervise(stack, RestartBudget(max_quick_restarts=max_restarts), _say)
            message = (
                f"{gone.name} exited unexpectedly (code {gone.process.returncode}); "
                "stopping the stack"
            )
        except RestartLimitError as exc:
            message = f"{exc}; stopping the stack"
        print(f"error: {message}", file=sys.stderr, flush=True)
        stack.stop()
        raise typer.Exit(EXIT_CHILD_DIED)
    except StackError as exc:
        raise _fail(str(exc), EXIT_CHILD_DIED) from None
    except (KeyboardInterrupt, _TerminatedError):
        if stack is not None:
            _say("stopping: router first (draining payments in flight), then the acquirers")
            stack.stop()
            _say("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
