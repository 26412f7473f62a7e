"""``routelab tune``: search a policy's parameters, then re-measure the best on fresh seeds.

Thin: it reads the options, asks :mod:`sweeps.tune` to search and confirm, writes the
files and prints the confirmation. Bad parameters, bounds, objectives or policies exit 2
with one line before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from routelab.progress import task_progress
from routelab.run_options import (
    SchedulerOption,
    WorkersOption,
    executor_for,
    fail,
    interrupted,
)
from routelab.sweep import check_custom_strategies, load_base
from scenarios.loader import ScenarioError
from scenarios.overrides import OverrideError

if TYPE_CHECKING:
    from sweeps.tune import TuneResult

console = Console()


def tune_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name (baseline).")],
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            metavar="PATH=LOW..HIGH[:log]",
            help="A parameter to tune (repeatable); integers when both bounds are.",
        ),
    ],
    objective: Annotated[
        str,
        typer.Option(
            help="Expression of run figures to maximise, e.g. 'auth_rate - 0.0005 * cost_bps'."
        ),
    ],
    trials: Annotated[int, typer.Option(min=1, help="Trials of the search.")] = 30,
    replications: Annotated[int, typer.Option(min=2, help="Replications per trial.")] = 3,
    confirm: Annotated[
        int, typer.Option(min=1, help="Best distinct trials re-run on fresh seeds.")
    ] = 3,
    confirm_replications: Annotated[
        int | None, typer.Option(min=2, help="Replications of the confirmation (default 2x).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the search (default: the scenario's).")
    ] = None,
    confirm_seed: Annotated[
        int | None, typer.Option(help="Seed of the confirmation (default: the search's + 1).")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="Policy to run (default: the one the paths name).")
    ] = None,
    minimize: Annotated[bool, typer.Option("--minimize", help="Minimise the objective.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory to write (resumes).")] = Path(
        "runs/tune"
    ),
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Tune parameters with Optuna (TPE) on common random numbers; confirm on fresh seeds."""
    from sweeps.batch import BatchInterrupted
    from sweeps.objective import ObjectiveError, parse_objective
    from sweeps.tune import Tuning, parse_param
    from sweeps.tune_report import recommendation_sentences, write_tune

    base = load_base(scenario)
    try:
        params = [parse_param(text) for text in param]
    except OverrideError as exc:
        raise fail(str(ScenarioError(f"--param {exc.source}", exc.problems))) from None
    if len({p.path for p in params}) < len(params):
        raise fail("--param: a path is given twice")
    try:
        goal = parse_objective(objective)
    except ObjectiveError as exc:
        raise fail(f"--objective: {exc}") from None
    from sweeps.plan import policy_of

    chosen = policy_of(base, [p.path for p in params], policy)
    try:
        base.policy(chosen)
    except KeyError as exc:
        raise fail(f"{scenario}: {exc.args[0]}") from None
    check_custom_strategies([base], scenario)
    try:
        tuning = Tuning(
            base,
            scenario,
            params,
            goal,
            trials=trials,
            replications=replications,
            policy=chosen,
            seed=seed,
            confirm=confirm,
            confirm_replications=confirm_replications,
            confirm_seed=confirm_seed,
            direction="minimize" if minimize else "maximize",
            out=out,
        )
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"tune: {trials} trials × {replications} replications (seed {tuning.seed}), then the "
        f"{confirm} best × {tuning.confirm_replications} replications on fresh seed "
        f"{tuning.confirm_seed}, policy {tuning.policy}",
        highlight=False,
        soft_wrap=True,
    )
    with executor_for(workers, scheduler, tuning.total) as executor:
        try:
            with task_progress(console, "tune", tuning.total, disable=quiet) as bar:
                result = tuning.run(executor, bar.advance)
        except BatchInterrupted:
            raise interrupted(
                f"finished replications are kept in {out / 'tasks'}; run the same command "
                "again to resume (the search proposes the same trials and reads them back)"
            ) from None
        except ScenarioError as exc:
            raise fail(str(exc), 1) from None
    paths = write_tune(result, out)
    console.print(confirmation_table(result))
    for sentence in recommendation_sentences(result):
        console.print(escape(sentence), highlight=False, soft_wrap=True)
    for kind in ("scenario", "json", "csv", "html"):
        console.print(f"wrote {paths[kind]}", highlight=False, soft_wrap=True)


def confirmation_table(result: TuneResult) -> Table:
    """The confirmation on fresh seeds: each candidate against the scenario's own values."""
    from sweeps.tune_report import confirmation_rows

    table = Table(
        title=f"routelab tune: {result.base.name} ({result.policy}), confirmed on seed "
        f"{result.confirm_seed}"
    )
    for header in ("candidate", "values", "search", "confirmed", "auth rate", "Δ objective"):
        table.add_column(
            header,
            justify="left" if header in ("candidate", "values") else "right",
            overflow="fold",
        )
    for row in confirmation_rows(result):
        table.add_row(
            escape(row["label"]),
            escape(row["setting"]),
            row["search"],
            row["objective"],
            row["auth"],
            escape(row["diff"]),
        )
    return table
