"""A whole live run: stack up, Locust headless over N workers, collect, reconcile, judge.

:func:`run_loadtest` is what ``routelab loadtest`` calls and what notebooks and tests
can call too. It starts the mock acquirers and the router (or uses a router already
running), runs the locustfile in Locust's own distributed mode (a master and
``--processes N`` workers on this machine), shows progress from the master's
snapshots, then collects Locust's statistics, the router's ``/metrics`` and the
acquirers' ledgers, and writes the run directory:

- ``summary.json``, ``timeseries.csv``, ``latency_histogram.csv``: the result contract
  both engines share (latency from the intended send time);
- ``live.json``: what only a live run has: generator health (late and dropped sends,
  CPU), router metrics over the run, reconciliation problems, SLO verdicts;
- ``locust.html``, ``locust_stats.csv`` (and Locust's other CSVs), ``locust.log``;
- ``logs/``: the router's and the mocks' logs when the stack was started here;
- ``journal.sqlite``: the router's payment journal when the stack was started here
  (a fresh one per run, like the mocks' ledgers: a router restarted during the run
  replays it);
- ``attempts.parquet``: with ``--attempt-log``, one row per attempt, written by the
  router (results/attempt_log.py holds the schema the simulator writes too).
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from loadtests.admin_client import AcquirerAdmin, RouterAdmin, ServiceError
from loadtests.live_summary import ledger_reversed_approvals
from loadtests.locust_process import (
    CpuMeter,
    LocustError,
    LocustRun,
    locust_command,
    run_locust,
)
from loadtests.options import HarnessOptions, OptionError
from loadtests.plan import RunPlan
from loadtests.reconcile import Reconciliation, reconcile
from loadtests.run_progress import LoadProgress
from loadtests.run_report import (
    EXIT_BAD_INPUT,
    EXIT_RECONCILIATION,
    EXIT_RUN_FAILED,
    LoadTestOutcome,
    conclude,
    outcome_lines,
)
from loadtests.slo import SloError, effective_slo
from runtime.serving import TOKEN_ENV
from runtime.stack import Stack, StackError, start_stack
from scenarios.loader import ScenarioError, load_scenario

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_RECONCILIATION",
    "EXIT_RUN_FAILED",
    "BadInputError",
    "LoadTest",
    "LoadTestOutcome",
    "RunFailedError",
    "outcome_lines",
    "prepare",
    "run_loadtest",
]
SETTLE_MARGIN_S = 10.0  # beyond the request timeout: voids and late checks


class BadInputError(ValueError):
    """Options or scenario the run cannot start with (exit code 2)."""


class RunFailedError(RuntimeError):
    """The run could not complete: a service or Locust failed (exit code 1)."""


ATTEMPT_LOG = "attempts.parquet"  # the router's attempt log, with --attempt-log


@dataclass(frozen=True)
class LoadTest:
    """What to run: ``routelab loadtest``'s arguments."""

    out: Path
    harness: HarnessOptions
    processes: int = 1
    users: int | None = None  # closed model only; the open model runs one user per process
    target: str | None = None
    policy: str | None = None
    admin_token: str | None = None
    acquirers_url: str | None = None
    show_progress: bool = True
    attempt_log: bool = False  # the router writes attempts.parquet into the run directory


def prepare(test: LoadTest) -> RunPlan:
    """Check everything that can be checked before starting anything."""
    try:
        scenario = load_scenario(test.harness.scenario)
        scenario.policy(test.policy)
        plan = RunPlan.build(scenario, test.harness)
        effective_slo(scenario.slo, test.harness.slo)
    except ScenarioError as exc:
        raise BadInputError(str(exc)) from None
    except KeyError as exc:
        raise BadInputError(f"{test.harness.scenario}: {exc.args[0]}") from None
    except (OptionError, SloError) as exc:
        raise BadInputError(str(exc)) from None
    if test.processes < 1:
        raise BadInputError(f"--processes must be at least 1, got {test.processes}")
    if test.users is not None and test.users < 1:
        raise BadInputError(f"--users must be at least 1, got {test.users}")
    if test.target is None and (test.acquirers_url or test.admin_token):
        raise BadInputError(
            "--acquirers-url and --admin-token go with --target (without it "
            "the run starts its own stack)"
        )
    return plan


def run_loadtest(test: LoadTest, console: Console | None = None) -> LoadTestOutcome:
    """Run the load test and write its run directory; see the module docstring."""
    console = console or Console(stderr=True)
    plan = prepare(test)
    out = test.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    run_id = "lt" + secrets.token_hex(4)
    notes: list[str] = []
    stack: Stack | None = None
    try:
        with console.status("starting the stack", spinner="dots"):
            stack, router, acquirers = _services(test, plan, out, notes)
            policy = _check_policy(test, plan, router)
            before = router.metrics()
        harness = replace(
            test.harness,
            run_id=run_id,
            results_path=str(out / "locust_results.json"),
            progress_path=str(out / ".progress.json"),
            align_clock_url=stack.acquirers_url if stack is not None else "",
        )
        meters = {
            "router": CpuMeter.of(stack.router.process.pid if stack and stack.router else None),
            "acquirers": CpuMeter.of(stack.acquirers.process.pid if stack else None),
        }
        run = _run_locust(test, plan, harness, router.url, out, stack, console)
        with console.status("settling and reconciling", spinner="dots"):
            after = router.wait_settled(plan.request_timeout_s + SETTLE_MARGIN_S)
            cpu = {name: meter.seconds() for name, meter in meters.items()}
            ledger = acquirers.ledger() if acquirers is not None else None
            recon = _reconcile(router, ledger, run_id, notes)
            reversed_approvals = _reversed_approvals(
                plan, ledger, run_id, clock_aligned=stack is not None, notes=notes
            )
        return conclude(
            plan,
            run,
            processes=test.processes,
            policy=policy,
            metrics=(before, after),
            reconciliation=recon,
            services_cpu=cpu,
            notes=notes,
            out=out,
            reversed_approvals=reversed_approvals,
        )
    except (ServiceError, LocustError) as exc:
        raise RunFailedError(str(exc)) from None
    except StackError as exc:
        raise RunFailedError(f"the stack did not start: {exc}") from None
    finally:
        if stack is not None:
            stack.stop()
        for leftover in (".progress.json", ".progress.json.tmp"):
            (out / leftover).unlink(missing_ok=True)


def _services(
    test: LoadTest, plan: RunPlan, out: Path, notes: list[str]
) -> tuple[Stack | None, RouterAdmin, AcquirerAdmin | None]:
    if test.target is None:
        journal = out / "journal.sqlite"
        for stale in (
            journal,
            journal.with_name(journal.name + "-wal"),
            journal.with_name(journal.name + "-shm"),
        ):
            stale.unlink(missing_ok=True)  # an earlier run's: these mocks never saw its keys
        stack = start_stack(
            test.harness.scenario,
            policy=test.policy,
            time_scale=plan.timeline.compression,
            log_dir=out / "logs",
            journal=journal,
            router_args=["--attempt-log", str(out / ATTEMPT_LOG)] if test.attempt_log else (),
        )
        return (
            stack,
            RouterAdmin(stack.router_url, stack.admin_token),
            AcquirerAdmin(stack.acquirers_url, stack.admin_token),
        )
    token = test.admin_token or os.environ.get(TOKEN_ENV) or None
    router = RouterAdmin(test.target, token)
    acquirers = None
    try:  # fail now, clearly, rather than after the load
        router.health()
        if token is not None and test.acquirers_url is not None:
            acquirers = AcquirerAdmin(test.acquirers_url, token)
            router.check_token()
            acquirers.check_token()
    except ServiceError as exc:
        raise BadInputError(f"--target: {exc}") from None
    if acquirers is None:
        missing = " and ".join(
            n
            for n, v in (("--admin-token", token), ("--acquirers-url", test.acquirers_url))
            if not v
        )
        notes.append(f"reconciliation skipped: it needs {missing} with --target")
    elif any(a.incidents for a in plan.scenario.acquirers):
        notes.append("external acquirers: their incident clock is not aligned with this run")
    return None, router, acquirers


def _check_policy(test: LoadTest, plan: RunPlan, router: RouterAdmin) -> str:
    """The policy the router serves; with --target and --policy, switch it first."""
    serving = str(router.health().get("policy", ""))
    if test.policy is None or serving == test.policy:
        return serving
    if router.token is None:
        raise BadInputError(
            f"the router at {router.url} serves policy {serving!r}; switching "
            f"to {test.policy!r} needs --admin-token"
        )
    router.put_policy(plan.scenario.policy(test.policy).model_dump(mode="json"))
    return test.policy


def _run_locust(
    test: LoadTest,
    plan: RunPlan,
    harness: HarnessOptions,
    host: str,
    out: Path,
    stack: Stack | None,
    console: Console,
) -> LocustRun:
    users = test.users if (test.users and not plan.open_model) else test.processes
    argv = locust_command(
        host=host,
        harness=harness,
        processes=test.processes,
        users=users,
        run_time_s=plan.duration_s + plan.request_timeout_s + 15.0,
        csv_prefix=out / "locust",
        html_path=out / "locust.html",
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if stack is not None:
        env[TOKEN_ENV] = stack.admin_token  # for --align-acquirer-clock, kept out of `ps`
    expected = plan.expected_payments() if plan.open_model else None
    alive: Callable[[], str | None] = (
        (lambda: None) if stack is None else (lambda: gone.name if (gone := stack.dead()) else None)
    )
    with LoadProgress(
        console, expected, plan.duration_s, disable=not test.show_progress
    ) as progress:
        run = run_locust(
            argv,
            env,
            out / "locust.log",
            Path(harness.progress_path),
            timeout_s=plan.duration_s + plan.request_timeout_s + 90.0,
            on_progress=progress.update,
            service_died=alive,
        )
    if run.results is None:
        raise RunFailedError(
            f"Locust ended (exit code {run.returncode}) without results; "
            f"last lines of {out / 'locust.log'}:\n{run.log_tail()}"
        )
    return run


def _reconcile(
    router: RouterAdmin, ledger: list[dict[str, Any]] | None, run_id: str, notes: list[str]
) -> Reconciliation | None:
    if ledger is None or router.token is None:
        return None
    result = reconcile(router.payments(), ledger, key_prefix=run_id + "-")
    evicted = router.payments_evicted()
    if evicted:
        notes.append(
            f"the router's book evicted {evicted} old payments: reconciliation saw only the newest"
        )
    if result.unresolved:
        notes.append(f"{result.unresolved} attempts still unresolved at the router")
    return result


def _reversed_approvals(
    plan: RunPlan,
    ledger: list[dict[str, Any]] | None,
    run_id: str,
    *,
    clock_aligned: bool,
    notes: list[str],
) -> int | None:
    """The run's approvals a void reversed, from the acquirers' ledgers; None if unknown.

    Like every figure it counts only payments after the warm-up, told apart by the
    acquirers' scenario clock; that clock starts with the run only when the run started
    the acquirers itself.
    """
    if ledger is None:
        notes.append("reversed approvals not counted: the acquirers' ledgers were not read")
        return None
    if clock_aligned:
        counted_from = plan.warmup_s * plan.timeline.compression
    elif plan.warmup_s == 0.0:
        counted_from = -math.inf  # every payment counts: no need to tell when
    else:
        notes.append(
            "reversed approvals not counted: the acquirers' clock is not aligned with "
            "this run, so their ledgers cannot tell the warm-up's payments apart"
        )
        return None
    return ledger_reversed_approvals(ledger, run_id, counted_from)
