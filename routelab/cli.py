"""The ``routelab`` command line: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from routelab.calibrate import calibrate_command
from routelab.loadtest import loadtest_command
from routelab.progress import simulation_progress
from routelab.report import compare_command, report_command
from routelab.run_options import SchedulerOption, WorkersOption, executor_for, interrupted
from routelab.serve import serve_command
from routelab.set_option import SetOption, load_with_overrides
from routelab.sweep import sweep_command
from routelab.tables import comparison_table
from routelab.tournament import tournament_command
from routelab.tune import tune_command
from scenarios.loader import ScenarioError
from scenarios.schema import Scenario

app = typer.Typer(
    name="routelab",
    help="Payment routing simulator and load-testing harness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    # the message is the user's own text (paths, keys, values): never read it as markup
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _load(path: str, overrides: list[str] | None = None) -> Scenario:
    try:
        return load_with_overrides(path, overrides or ())
    except ScenarioError as exc:
        raise _fail(str(exc)) from None


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name (baseline).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")] = Path("runs/sim"),
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Override replications.")] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="Policy to run (repeat for several); default: the first."),
    ] = None,
    overrides: SetOption = None,
    attempt_log: Annotated[
        bool,
        typer.Option(
            "--attempt-log",
            help="Also write one row per attempt to attempts.parquet in the run directory.",
        ),
    ] = False,
    attempt_log_csv: Annotated[
        bool, typer.Option("--attempt-log-csv", help="Write the attempt log as CSV instead.")
    ] = False,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    oracle: Annotated[
        bool,
        typer.Option(
            "--oracle/--no-oracle",
            help="Also run the oracle on the same seeds: regret, detection and recovery.",
        ),
    ] = True,
) -> None:
    """Simulate a scenario in virtual time and write summary.json per policy."""
    from simulator import Interrupted, simulate_policies
    from simulator.run import ORACLE_TASKS
    from simulator.yardsticks import OracleRuns

    oracle_runs = OracleRuns() if oracle else None

    loaded = _load(scenario, overrides)
    names = policy or [loaded.policies[0].name]
    for name in names:
        try:
            loaded.policy(name)
        except KeyError as exc:
            raise _fail(f"{scenario}: {exc.args[0]}") from None
    reps = replications or loaded.replications
    logs = {}
    if attempt_log or attempt_log_csv:
        name_of_log = "attempts.csv" if attempt_log_csv else "attempts.parquet"
        for name in names:
            run_dir = out / name if len(names) > 1 else out
            run_dir.mkdir(parents=True, exist_ok=True)
            logs[name] = run_dir / name_of_log
    bars: dict[str, int] = dict.fromkeys(names, reps)
    oracles_too = ""
    if oracle_runs is not None:
        chosen = [loaded.policy(name) for name in names]
        wanted = oracle_runs.wanted(loaded, chosen, loaded.seed if seed is None else seed, reps)
        if wanted is not None:
            bars[ORACLE_TASKS] = len(wanted.policies) * reps
            oracles_too = " (the oracle's included)"
    with executor_for(workers, scheduler, sum(bars.values())) as executor:
        try:
            with simulation_progress(console, list(bars), bars, disable=quiet) as progress:
                done = simulate_policies(
                    loaded,
                    names,
                    seed=seed,
                    replications=replications,
                    progress=progress.report,
                    executor=executor,
                    attempt_logs=logs,
                    oracle=oracle_runs,
                )
        except Interrupted as exc:
            raise interrupted(
                f"{len(exc.finished)} of {exc.total} replications had finished"
                f"{oracles_too}; nothing was written"
            ) from None
    results = []
    for name in names:
        run_dir = out / name if len(names) > 1 else out
        done[name].write(run_dir)
        results.append((run_dir, done[name].summary))
    console.print(comparison_table([s for _, s in results]))
    for run_dir, _ in results:
        console.print(f"wrote {run_dir / 'summary.json'}", highlight=False, soft_wrap=True)


app.command("sweep")(sweep_command)
app.command("tune")(tune_command)
app.command("serve")(serve_command)
app.command("loadtest")(loadtest_command)
app.command("report")(report_command)
app.command("compare")(compare_command)
app.command("calibrate")(calibrate_command)
app.command("tournament")(tournament_command)


@app.command()
def schema() -> None:
    """Print the scenario format's JSON Schema (for editor validation and completion)."""
    sys.stdout.write(json.dumps(Scenario.model_json_schema(), indent=2) + "\n")


@app.command()
def validate(
    scenario: Annotated[str, typer.Argument(help="Scenario file to check.")],
    overrides: SetOption = None,
) -> None:
    """Check a scenario file and say what is wrong with it, if anything."""
    loaded = _load(scenario, overrides)
    label = " ".join([scenario, *(f"--set {text}" for text in overrides or ())])
    console.print(
        f"{escape(label)}: ok: {len(loaded.acquirers)} acquirers, {len(loaded.policies)} policies "
        f"({', '.join(p.name for p in loaded.policies)})",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where to write the runs.")] = Path(
        "runs/demo"
    ),
    replications: Annotated[int, typer.Option(min=2, help="Simulation replications.")] = 5,
    live_seconds: Annotated[
        float, typer.Option(min=10, max=120, help="Length of the live load test.")
    ] = 45.0,
) -> None:
    """The main job: acquirer_outage under three policies, a live check, one report."""
    from routelab.demo import run_demo

    result = run_demo(out, replications, live_seconds, console)
    console.print(f"\n[bold]report:[/] {escape(str(result.report.resolve()))}", soft_wrap=True)
    if result.live_exit_code:
        raise typer.Exit(result.live_exit_code)


if __name__ == "__main__":
    app()
