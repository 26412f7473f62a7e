"""``routelab sweep``: a grid of scenario variants, every point on the same seeds.

Thin: it reads the options, asks :mod:`sweeps` to plan, run and write the sweep, and
prints the table. Every point is built and validated before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from routelab.set_option import SET_HELP
from scenarios.loader import ScenarioError, load_scenario
from scenarios.overrides import Override, OverrideError, parse_override, single_point
from scenarios.schema import Scenario

if TYPE_CHECKING:
    from sweeps.analysis import Direction
    from sweeps.sweep import SweepResult

console = Console()


def parse_overrides(texts: Sequence[str], option: str = "--set") -> list[Override]:
    """Each ``PATH=VALUE[,VALUE...]``; a malformed one exits 2 naming it."""
    try:
        return [parse_override(text) for text in texts]
    except OverrideError as exc:
        raise fail(str(ScenarioError(f"{option} {exc.source}", exc.problems))) from None


def load_base(path: str) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise fail(str(exc)) from None


def check_custom_strategies(scenarios: Sequence[Scenario], source: str) -> None:
    """A user's strategy file and class load at every point, or exit 2."""
    from router.engine.registry import check_strategies

    checked: set[str] = set()
    for scenario in scenarios:
        strategies = [p.strategy.model_dump_json() for p in scenario.policies]
        key = "|".join(strategies)
        if key in checked:
            continue
        checked.add(key)
        try:
            check_strategies(scenario, source)
        except ScenarioError as exc:
            raise fail(str(exc)) from None


def _short(path: str) -> str:
    """The last key of a path, for a narrow column header: ``window``."""
    return path.rsplit(".", 1)[-1]


def _pp(x: float) -> str:
    return f"{100 * x:+.2f}"


def sweep_table(result: SweepResult) -> Table:
    """The results of every point, the baseline first in bold, the best starred."""
    from sweeps.analysis import OBJECTIVE
    from sweeps.charts import value_text
    from sweeps.verdict import figure_text

    plan, analysis = result.plan, result.analysis
    headers = [_short(path) for path in plan.parameters]
    if len(set(headers)) < len(headers):
        headers = list(plan.parameters)
    table = Table(
        title=f"routelab sweep: {plan.base.name}",
        caption="Δ: paired difference against the baseline, 95 % CI, then the "
        "Bonferroni-adjusted CI; sig. = the adjusted CI excludes zero. ★ best point.",
    )
    table.add_column("point", style="bold")
    for header in headers:
        table.add_column(header, justify="right", overflow="fold")
    table.add_column("auth rate %\n95% CI", justify="right")
    table.add_column("Δ auth pp\nCI / adjusted", justify="right")
    table.add_column("first\nattempt %", justify="right")
    table.add_column("cost\nbps", justify="right")
    table.add_column("p95\nms", justify="right")
    show_objective = analysis.objective.text != "auth_rate"
    if show_objective:
        table.add_column("objective", justify="right")
    acquirers = list(plan.base.acquirer_names)
    table.add_column("share %\n" + " / ".join(acquirers), justify="right")
    for p in sorted(analysis.points, key=lambda p: not p.point.baseline):
        f = p.figures
        diff = p.differences.get("auth_rate")
        if p.point.baseline:
            delta = "baseline"
        elif diff is None:
            delta = "n/a"
        else:
            verdict = "[green]sig.[/]" if diff.significant else "n.s."
            delta = (
                f"{_pp(diff.estimate)} [{_pp(diff.ci95[0])}, {_pp(diff.ci95[1])}]\n"
                f"[{_pp(diff.adjusted[0])}, {_pp(diff.adjusted[1])}] {verdict}"
            )
        auth, ci = f["auth_rate"].value, f["auth_rate"].ci95
        label = p.point.label + (" ★" if p.point.label == analysis.best.point.label else "")
        row = [
            label,
            *(escape(value_text(p.point.values.get(path))) for path in plan.parameters),
            f"{100 * auth:.2f}" + (f"\n[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci else ""),
            delta,
            f"{100 * f['first_attempt_auth_rate'].value:.2f}",
            f"{f['cost_bps'].value:.1f}",
            f"{f['latency_p95_ms'].value:.0f}",
        ]
        if show_objective:
            row.append(figure_text(OBJECTIVE, f[OBJECTIVE].value))
        shares = [p.summary.acquirer_share.get(a) for a in acquirers]
        row.append(" / ".join(f"{100 * s:.0f}" if s is not None else "n/a" for s in shares))
        table.add_row(*row, style="bold" if p.point.baseline else None)
    return table


def sweep_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name (baseline).")],
    overrides: Annotated[
        list[str],
        typer.Option("--set", metavar="PATH=VALUE[,VALUE...]", help=SET_HELP + " Commas: a grid."),
    ],
    zip_grid: Annotated[
        bool, typer.Option("--zip", help="Pair the i-th values of every --set (no product).")
    ] = False,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="Policy to run (repeat to sweep policies); default: first."),
    ] = None,
    replications: Annotated[
        int | None, typer.Option(min=2, help="Replications per point (default: the scenario's).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline",
            metavar="PATH=VALUE",
            help="The point to compare with (repeat per field); default: the scenario's values.",
        ),
    ] = None,
    objective: Annotated[
        str, typer.Option(help="Expression the best point maximises, e.g. 'auth_rate'.")
    ] = "auth_rate",
    minimize: Annotated[bool, typer.Option("--minimize", help="The best point minimises.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Sweep directory (resumes).")] = Path(
        "runs/sweep"
    ),
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Sweep a grid of scenario values on common random numbers; resumable."""
    from sweeps.batch import BatchInterrupted
    from sweeps.objective import ObjectiveError, parse_objective
    from sweeps.output import write_sweep
    from sweeps.plan import plan_sweep
    from sweeps.report import write_sweep_report
    from sweeps.sweep import Sweep
    from sweeps.verdict import best_sentences

    base = load_base(scenario)
    grid = parse_overrides(overrides)
    try:
        chosen_baseline = single_point(parse_overrides(baseline or [], "--baseline"))
    except OverrideError as exc:
        raise fail(f"--baseline {exc.source}: {exc.problems[0][1]}") from None
    try:
        goal = parse_objective(objective)
    except ObjectiveError as exc:
        raise fail(f"--objective: {exc}") from None
    try:
        plan = plan_sweep(
            base,
            scenario,
            grid,
            mode="zip" if zip_grid else "product",
            policies=policy or (),
            seed=seed,
            replications=replications,
            baseline=chosen_baseline,
        )
    except OverrideError as exc:
        raise fail(str(ScenarioError(f"--set {exc.source}", exc.problems))) from None
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    check_custom_strategies([p.scenario for p in plan.points], scenario)

    sweep = Sweep(plan, out)
    stored = sweep.stored
    console.print(
        f"sweep: {len(plan.grid)} points"
        + ("" if plan.baseline.in_grid else " + the baseline")
        + f" × {plan.replications} replications = {sweep.total} tasks"
        + (f" ({len(stored)} already done in {out})" if stored else ""),
        highlight=False,
        soft_wrap=True,
    )
    direction: Direction = "minimize" if minimize else "maximize"
    with executor_for(workers, scheduler, sweep.total - len(stored)) as executor:
        try:
            with task_progress(console, "sweep", sweep.total, disable=quiet) as bar:
                for j in stored:
                    bar.advance(j, 1.0)
                result = sweep.run(executor, bar.advance, goal, direction)
        except BatchInterrupted as exc:
            raise interrupted(
                f"{exc.finished} of {exc.total} tasks are done and kept in {out / 'tasks'}; "
                "run the same command again to resume"
            ) from None
    paths = write_sweep(result, out)
    report = write_sweep_report(result, out)
    console.print(sweep_table(result))
    for sentence in best_sentences(plan, result.analysis):
        console.print(escape(sentence), highlight=False, soft_wrap=True)
    console.print(
        f"multiple comparisons: {escape(result.analysis.method)}", highlight=False, soft_wrap=True
    )
    for path in (paths["json"], paths["csv"], report):
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
