"""``routelab calibrate``: fit a scenario from transaction exports or an attempt log.

Thin by design: reading and fitting are :mod:`calibration`'s; this module parses the
arguments, prints what was read and left out, and says where the files are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

EXIT_BAD_INPUT = 2
REPORT_FILE = "calibration.html"

console = Console()
errors = Console(stderr=True)


def _fail(lines: list[str]) -> typer.Exit:
    for line in lines:
        # the user's own text (paths, column names, values): never read it as markup
        errors.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def parse_mapping(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """``field=Column`` pairs as a dict, and a problem line per malformed item."""
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            problems.append(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map amount=Amount")
        elif field.strip() in mapping:
            problems.append(f"--map {field.strip()}: given twice")
        else:
            mapping[field.strip()] = column.strip()
    return mapping, problems


def calibrate_command(
    exports: Annotated[list[Path], typer.Argument(help="Export files (all of one --format).")],
    export_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="routelab (attempt log), hyperswitch, stripe, adyen, or csv (with --map).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Scenario file to write.")] = Path(
        "scenario.yaml"
    ),
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map", metavar="FIELD=COLUMN", help="For --format csv: which column holds a field."
        ),
    ] = None,
    acquirer: Annotated[
        list[str] | None,
        typer.Option(
            "--acquirer", help="Acquirer name of a Stripe or Adyen export (one, or one per file)."
        ),
    ] = None,
    connector_events: Annotated[
        list[Path] | None,
        typer.Option(
            "--connector-events", help="Hyperswitch connector_events (latency), one per export."
        ),
    ] = None,
    merchant_country: Annotated[
        str | None,
        typer.Option(help="The merchant's country (ISO 3166 alpha-2), for cross-border."),
    ] = None,
    bucket_s: Annotated[
        float, typer.Option(min=1.0, help="Bucket length for incidents (s).")
    ] = 60.0,
    name: Annotated[str, typer.Option(help="The fitted scenario's name.")] = "calibrated",
    report: Annotated[
        Path | None, typer.Option(help="Where to write calibration.html (default: next to --out).")
    ] = None,
) -> None:
    """Fit a scenario from transaction exports; write it and calibration.html."""
    from calibration.attempts import ExportError
    from calibration.calibrate import calibrate
    from calibration.importers import load_exports
    from calibration.report import write_report
    from scenarios.loader import ScenarioError

    pairs, problems = parse_mapping(mapping or [])
    if merchant_country is not None and not (
        len(merchant_country) == 2 and merchant_country.isalpha()
    ):
        problems.append(f"--merchant-country {merchant_country!r}: expected two letters, e.g. DE")
    if (
        not name
        or not name[0].isalpha()
        or not all(c.isalnum() or c in "_-" for c in name)
        or name.lower() != name
    ):
        problems.append(
            f"--name {name!r}: lower-case letters, digits, '_' and '-', starting with a letter"
        )
    if problems:
        raise _fail(problems)
    try:
        attempts, reports = load_exports(
            exports,
            export_format,
            merchant_country=merchant_country,
            acquirers=acquirer or (),
            mapping=pairs,
            connector_events=connector_events or (),
        )
        result = calibrate(
            attempts,
            reports=reports,
            name=name,
            merchant_country=merchant_country,
            bucket_s=bucket_s,
        )
    except ExportError as exc:
        raise _fail(exc.problems) from None
    except ScenarioError as exc:
        raise _fail(
            [f"the fitted scenario does not validate: {line}" for line in str(exc).splitlines()]
        ) from None
    for r in reports:
        for line in r.summary_lines():
            console.print(escape(line), highlight=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    scenario_path = result.write(out)
    report_path = write_report(result, report or out.parent / REPORT_FILE)
    console.print(f"wrote {scenario_path}", highlight=False, soft_wrap=True)
    console.print(f"wrote {report_path}", highlight=False, soft_wrap=True)
