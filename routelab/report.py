"""``routelab report`` and ``routelab compare``: HTML reports of run directories.

Thin by design: the figures, verdicts and HTML come from :mod:`reports`; this module
parses arguments, prints the same comparison in the terminal and says where the file is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.compare import DIFFERENCE_METRICS, Comparison, compare_runs, render_comparison
from reports.fidelity import Fidelity, Tolerances
from reports.html import write_report
from reports.metrics import HEADLINE, format_range, pct
from reports.rundata import RunDirError, load_run, load_runs

EXIT_BAD_INPUT = 2
COMPARISON_FILE = "comparison.html"

console = Console()


def _fail(message: str) -> typer.Exit:
    # paths are the user's own text: never read them as markup
    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )
    return typer.Exit(EXIT_BAD_INPUT)


def _wrote(path: Path) -> None:
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)


def figures_table(c: Comparison) -> Table:
    """Headline figures per run, as in the HTML report's "All figures" table."""
    table = Table(title="Headline figures", title_justify="left")
    table.add_column("figure", style="bold")
    for label in c.labels:
        table.add_column(label, justify="right")
    summaries = [r.summary for r in c.runs]
    table.add_row("payments", *[f"{s.payments:,}" for s in summaries])
    for m in HEADLINE:
        table.add_row(m.label, *[m.format(m.value(s)) for s in summaries])
        if m.key == "auth_rate":
            table.add_row("  95 % CI", *[m.format_range(*s.auth_rate_ci95) for s in summaries])
    return table


def differences_table(c: Comparison) -> Table:
    """Differences against the first run with their 95 % intervals."""
    table = Table(title=f"Differences against {c.labels[0]} (95 % intervals)", title_justify="left")
    table.add_column("run", style="bold", overflow="fold")
    for m in DIFFERENCE_METRICS:
        table.add_column(m.short or m.label, justify="right")
    for i, label in enumerate(c.labels[1:], start=1):
        relation = c.pairings[i - 1]
        heading = escape(label)
        if relation.kind in ("different", "unknown"):  # say why there is no pairing
            heading += f"\n[dim]{escape(relation.reason)}[/]"
        cells = []
        for m in DIFFERENCE_METRICS:
            d = c.difference(i, m.key)
            style = ("green" if d.improves else "red") if d.significant else "dim"
            interval = (
                m.format_range(d.low, d.high, signed=True, unit=False)
                if d.has_interval
                else "no interval"
            )
            cells.append(
                f"[{style}]{escape(m.format_difference(d.estimate))}[/]\n[dim]{escape(interval)}[/]"
            )
        table.add_row(heading, *cells)
    return table


def fidelity_table(f: Fidelity) -> Table:
    table = Table(title=f"Fidelity: simulator vs live ({f.live.policy})", title_justify="left")
    for name in ("check", "simulated", "live", "difference", "allowed", "verdict"):
        table.add_column(name, justify="left" if name == "check" else "right")
    for check in f.checks:
        ci = (
            f"\n[dim]{format_range(check.kind, *check.simulated_ci)}[/]"
            if check.simulated_ci
            else ""
        )
        verdict = {True: "[green]within[/]", False: "[red]outside[/]", None: "[dim]n/a[/]"}
        table.add_row(
            check.label,
            check.formatted(check.simulated) + ci,
            check.formatted(check.live),
            check.formatted(check.difference, True),
            check.format_allowed(),
            verdict[check.within],
        )
    return table


def print_comparison(c: Comparison, out: Console | None = None) -> None:
    """The comparison in the terminal: verdict sentences, figures, differences, fidelity."""
    out = out or console
    for sentence in c.sentences:
        out.print(f"• {escape(sentence)}", highlight=False)
    out.print(figures_table(c))
    if len(c.runs) > 1:
        out.print(differences_table(c))
    for f in c.fidelities:
        if f.refused is None:  # a refusal is one of the sentences above
            out.print(fidelity_table(f))


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (holds summary.json).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: RUN_DIR/report.html)."),
    ] = None,
) -> None:
    """Write a self-contained HTML report of one run (simulated or live)."""
    try:
        path = write_report(run_dir, out)
        summary = load_run(run_dir).summary
    except RunDirError as exc:
        raise _fail(str(exc)) from None
    lo, hi = summary.auth_rate_ci95
    console.print(
        f"{escape(summary.scenario)} / {escape(summary.policy)} ({summary.engine}): "
        f"authorisation rate {pct(summary.auth_rate)} "
        f"(95 % CI {format_range('rate', lo, hi)})",
        highlight=False,
    )
    _wrote(path)


def compare_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories; the first is the baseline the others are measured against."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help=f"HTML file to write (default: {COMPARISON_FILE} beside the first run)."
        ),
    ] = None,
    tol_auth_pp: Annotated[
        float,
        typer.Option(min=0.0, help="Fidelity: smallest allowed auth-rate gap, percentage points."),
    ] = 1.0,
    tol_share_pp: Annotated[
        float,
        typer.Option(
            min=0.0, help="Fidelity: smallest allowed acquirer-share gap, percentage points."
        ),
    ] = 2.0,
    tol_latency_pct: Annotated[
        float,
        typer.Option(
            min=0.0, help="Fidelity: allowed latency-quantile gap, % of the simulated value."
        ),
    ] = 20.0,
    network_ms: Annotated[
        float,
        typer.Option(
            min=0.0, help="Fidelity: extra latency allowed for the live path's network hops."
        ),
    ] = 15.0,
) -> None:
    """Compare runs side by side (policies, scenarios or engines) in the terminal and HTML."""
    tolerances = Tolerances(
        auth_rate_pp=tol_auth_pp,
        share_pp=tol_share_pp,
        latency_rel=tol_latency_pct / 100.0,
        network_ms=network_ms,
    )
    try:
        comparison = compare_runs(load_runs(run_dirs), tolerances)
    except RunDirError as exc:
        raise _fail(str(exc)) from None
    target = out if out is not None else run_dirs[0].parent / COMPARISON_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_comparison(comparison), encoding="utf-8")
    print_comparison(comparison)
    _wrote(target)
