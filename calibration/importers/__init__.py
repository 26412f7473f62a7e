"""Importers: exports payments teams already have, read as :class:`Attempts`.

``load_exports`` reads one or more files of one format and returns the attempts with
one :class:`ImportReport` per file; an unusable export raises :class:`ExportError`
whose lines name the file, the row or column and the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from calibration.attempts import Attempts, ExportError, ImportReport, concat
from calibration.importers.adyen import import_adyen
from calibration.importers.assemble import Options
from calibration.importers.hyperswitch import import_hyperswitch
from calibration.importers.mapped import check_mapping, import_mapped
from calibration.importers.own_log import import_attempt_log
from calibration.importers.stripe import import_stripe

FORMATS = ("routelab", "hyperswitch", "stripe", "adyen", "csv")

__all__ = ["FORMATS", "Options", "load_exports"]


def load_exports(
    paths: Sequence[str | Path],
    export_format: str,
    *,
    merchant_country: str | None = None,
    acquirers: Sequence[str] = (),
    mapping: dict[str, str] | None = None,
    connector_events: Sequence[str | Path] = (),
) -> tuple[Attempts, list[ImportReport]]:
    """Read every export (all of ``export_format``) into one set of attempts.

    ``acquirers`` names the acquirer of each file of a single-PSP format (Stripe,
    Adyen): one name for all files, or one per file. ``connector_events`` are the
    Hyperswitch latency files, one per ``payment_attempt`` file.
    """
    if export_format not in FORMATS:
        raise ExportError(
            [f"--format {export_format!r}: unknown format (known: {', '.join(FORMATS)})"]
        )
    problems: list[str] = []
    if not paths:
        problems.append("give at least one export file")
    if acquirers and len(acquirers) not in (1, len(paths)):
        problems.append(f"--acquirer: give one name, or one per export ({len(paths)})")
    if connector_events and export_format != "hyperswitch":
        problems.append("--connector-events is for --format hyperswitch only")
    if connector_events and len(connector_events) != len(paths):
        problems.append("--connector-events: give one file per payment_attempt export")
    if export_format == "csv":
        problems += check_mapping(mapping or {})
    elif mapping:
        problems.append("--map is for --format csv only")
    if problems:
        raise ExportError(problems)
    parts: list[Attempts] = []
    reports: list[ImportReport] = []
    for k, name in enumerate(paths):
        path = Path(name)
        report = ImportReport(str(name))
        acquirer = acquirers[k if len(acquirers) > 1 else 0] if acquirers else None
        options = Options(merchant_country=merchant_country, acquirer=acquirer)
        part: Attempts | None
        if export_format == "routelab":
            part = import_attempt_log(path, report, options)
        elif export_format == "stripe":
            part = import_stripe(path, report, options)
        elif export_format == "adyen":
            part = import_adyen(path, report, options)
        elif export_format == "hyperswitch":
            events = Path(connector_events[k]) if connector_events else None
            part = import_hyperswitch(path, report, options, events)
        else:
            part = import_mapped(path, report, options, mapping or {})
        reports.append(report)
        problems += report.problems
        if part is not None and not report.problems:
            if not len(part):
                problems.append(f"{name}: no usable attempts (see the rows left out)")
                problems += [f"  {line}" for line in report.summary_lines()[1:]]
            parts.append(part)
    if problems:
        raise ExportError(problems)
    # the exports' Arrow buffers are gone: hand their memory back before the fitting
    pa.default_memory_pool().release_unused()
    return concat(parts), reports
