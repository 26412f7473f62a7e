"""``routelab loadtest``: a live load test of the routing service with Locust.

Thin by design: the run itself is :func:`loadtests.orchestrator.run_loadtest`. Exit
codes: 0 all good; 1 the run could not complete (a service or Locust failed, or it
was cut short); 2 bad input; 3 an SLO breached; 4 the router's book and the
acquirers' ledgers disagree (a reconciliation mismatch outranks an SLO breach).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from loadtests.options import (
    DEFAULT_LATE_MS,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_THINK_TIME_S,
    HarnessOptions,
    Model,
    OptionError,
)
from routelab.set_option import SetOption, load_with_overrides
from scenarios.loader import ScenarioError
from scenarios.schema import Scenario
from scenarios.transform import scenario_yaml

console = Console()
errors = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def loadtest_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name (baseline).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")] = Path("runs/live"),
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            help="Seconds of traffic; the scenario's timeline is compressed into "
            "them (default: the whole timeline in real time).",
        ),
    ] = None,
    rate_scale: Annotated[
        float, typer.Option("--rate-scale", help="Multiply the scenario's arrival rate.")
    ] = 1.0,
    processes: Annotated[
        int,
        typer.Option("--processes", help="Locust worker processes (each sends 1/N of the rate)."),
    ] = 1,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="URL of a router already running (default: start mocks and a "
            "router for this run).",
        ),
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="Routing policy (default: the scenario's first).")
    ] = None,
    slo: Annotated[
        list[str] | None,
        typer.Option("--slo", help="Override an SLO, e.g. --slo auth_rate_min=0.9 (repeatable)."),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            "--admin-token",
            help="With --target: the services' admin token, for "
            "reconciliation (default: $ROUTELAB_ADMIN_TOKEN).",
        ),
    ] = None,
    acquirers_url: Annotated[
        str | None,
        typer.Option(
            "--acquirers-url", help="With --target: the mock acquirers' URL, for reconciliation."
        ),
    ] = None,
    truncate: Annotated[
        bool,
        typer.Option(
            "--truncate",
            help="Play the first --duration seconds in real time instead of "
            "compressing the whole timeline.",
        ),
    ] = False,
    warmup: Annotated[
        float | None,
        typer.Option(
            "--warmup",
            help="Wall seconds left out of the figures (default: the scenario's "
            "warm-up on the run's timeline).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of arrivals and payments (default: the scenario's)."),
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", help="open (Poisson arrivals) or closed (users with think time)."),
    ] = "open",
    users: Annotated[
        int | None,
        typer.Option("--users", help="Closed model: number of users (default: --processes)."),
    ] = None,
    think_time: Annotated[
        float, typer.Option("--think-time", help="Closed model: mean think time, seconds.")
    ] = DEFAULT_THINK_TIME_S,
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight",
            help="Open model: payments in flight per stream; arrivals beyond "
            "are dropped and counted.",
        ),
    ] = DEFAULT_MAX_IN_FLIGHT,
    late_ms: Annotated[
        float,
        typer.Option(
            "--late-ms", help="A send this many ms behind its intended time counts as late."
        ),
    ] = DEFAULT_LATE_MS,
    overrides: SetOption = None,
    attempt_log: Annotated[
        bool,
        typer.Option(
            "--attempt-log",
            help="The router writes one row per attempt to attempts.parquet in the run "
            "directory (only for the stack this run starts).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Load-test the routing service with Locust: open-model arrivals from the scenario,
    SLO gates, reconciliation with the acquirers' ledgers; writes summary.json."""
    from loadtests.orchestrator import (
        EXIT_BAD_INPUT,
        EXIT_RUN_FAILED,
        BadInputError,
        LoadTest,
        RunFailedError,
        outcome_lines,
        run_loadtest,
    )
    from routelab.tables import comparison_table

    try:
        overridden = load_with_overrides(scenario, overrides) if overrides else None
    except ScenarioError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    try:
        harness = HarnessOptions(
            scenario=scenario,
            duration_s=duration,
            rate_scale=rate_scale,
            truncate=truncate,
            warmup_s=warmup,
            seed=seed,
            model=_model(model),
            max_in_flight=max_in_flight,
            late_ms=late_ms,
            think_time_s=think_time,
            slo=tuple(slo or ()),
        )
        if overridden is not None:
            harness = replace(harness, scenario=_write_scenario(overridden, out))
            if target is not None:
                errors.print(
                    "note: with --target the running router and acquirers keep their own "
                    "scenario; --set changes the traffic sent (and a policy sent with --policy)",
                    highlight=False,
                    soft_wrap=True,
                )
        test = LoadTest(
            out=out,
            harness=harness,
            processes=processes,
            users=users,
            target=target,
            policy=policy,
            admin_token=admin_token,
            acquirers_url=acquirers_url,
            show_progress=not quiet,
            attempt_log=attempt_log,
        )
        outcome = run_loadtest(test, errors)
    except (BadInputError, OptionError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    except RunFailedError as exc:
        raise _fail(str(exc), EXIT_RUN_FAILED) from None
    console.print(comparison_table([outcome.summary]))
    for line in outcome_lines(outcome):
        style = "bold red" if line.startswith(("SLO breached", "reconciliation FAILED")) else ""
        console.print(escape(line), style=style, highlight=False, soft_wrap=True)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def _write_scenario(scenario: Scenario, out: Path) -> str:
    """Write the overridden scenario into the run directory, for the stack and the workers.

    The mock acquirers, the router and every Locust worker load the scenario from a
    path; this file is that path, and the record of what the run played.
    """
    path = out.resolve() / "scenario.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scenario_yaml(scenario), encoding="utf-8")
    return str(path)


def _model(name: str) -> Model:
    if name == "open":
        return "open"
    if name == "closed":
        return "closed"
    raise OptionError(f"--model must be open or closed, got {name!r}")


if __name__ == "__main__":  # `python -m routelab.loadtest`, before and beside the main CLI
    typer.run(loadtest_command)
