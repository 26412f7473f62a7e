"""A run directory loaded for reporting: summary, time series and latency histogram together.

Reports read only the run result contract (``results.contract``); this module gathers the
three files of one run into a :class:`Run` and gives each run a short, unique label for
tables and chart legends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from results.contract import HISTOGRAM, SUMMARY, LatencyHistogram, RunSummary, read_timeseries

TIME_COLUMN = "t_start_s"
WALL_COLUMN = "t_wall_s"
ATTEMPTS_PREFIX = "attempts_"


class RunDirError(Exception):
    """A directory that is not a readable run: the message says which file and why."""


@dataclass(frozen=True)
class Run:
    """One run as reports see it: the contract's three files, read once."""

    path: Path
    summary: RunSummary
    series: dict[str, np.ndarray]  # time-series column -> values per bucket (NaN: undefined)
    histogram: LatencyHistogram | None

    @property
    def acquirers(self) -> list[str]:
        """Acquirer names, in the order the scenario lists them."""
        names = list(self.summary.acquirer_share)
        for column in self.series:
            name = column.removeprefix(ATTEMPTS_PREFIX)
            if column.startswith(ATTEMPTS_PREFIX) and name not in names:
                names.append(name)
        return names

    @property
    def is_live(self) -> bool:
        return self.summary.engine == "live"

    @property
    def time_scale(self) -> float:
        """Scenario seconds per wall second: 1 unless a live run compressed the timeline.

        Both engines put ``t_start_s`` on the scenario's timeline (so incident windows
        line up); a live run also writes ``t_wall_s``, and its ``duration_s`` and
        ``warmup_s`` are wall-clock seconds. The run's identity says; a file written
        before identities were recorded tells it by its time series.
        """
        if self.summary.identity is not None:
            return self.summary.identity.time_scale
        t, wall = self.series.get(TIME_COLUMN), self.series.get(WALL_COLUMN)
        if t is None or wall is None or len(t) < 2 or not wall[-1] > 0:
            return 1.0
        return float(t[-1] / wall[-1])

    @property
    def scenario_span_s(self) -> float:
        """How much of the scenario's timeline the run covers."""
        return self.summary.duration_s * self.time_scale

    @property
    def warmup_scenario_s(self) -> float:
        """The warm-up (not counted) on the scenario's timeline."""
        return self.summary.warmup_s * self.time_scale

    def column(self, name: str) -> np.ndarray | None:
        return self.series.get(name)

    def counted_buckets(self) -> np.ndarray:
        """Mask of buckets that hold counted payments (warm-up buckets are empty)."""
        payments = self.series.get("payments")
        if payments is None:
            return np.zeros(0, dtype=bool)
        return np.asarray(np.nan_to_num(payments) > 0)


def read_series(run_dir: Path) -> dict[str, np.ndarray]:
    """``timeseries.csv`` as columns of floats (empty cells are NaN)."""
    rows = read_timeseries(run_dir)
    if not rows:
        return {}
    return {name: np.asarray([row[name] for row in rows], dtype=float) for name in rows[0]}


def load_run(path: str | Path) -> Run:
    """Read a run directory (or its ``summary.json``) written by either engine."""
    run_dir = Path(path)
    if run_dir.name == SUMMARY:
        run_dir = run_dir.parent
    summary_path = run_dir / SUMMARY
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not summary_path.exists():
        raise RunDirError(f"{run_dir}: not a run directory (no {SUMMARY})")
    try:
        summary = RunSummary.model_validate_json(summary_path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RunDirError(f"{summary_path}: {where}: {first['msg']}") from None
    except OSError as exc:
        raise RunDirError(f"{summary_path}: cannot read: {exc}") from None
    hist_path = run_dir / HISTOGRAM
    histogram = LatencyHistogram.read_csv(hist_path) if hist_path.exists() else None
    return Run(path=run_dir, summary=summary, series=read_series(run_dir), histogram=histogram)


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    return [load_run(p) for p in paths]


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Short labels that tell runs apart: the policy, plus engine, scenario or folder if needed.

    Only runs whose label collides get the longer form, so "priority" stays "priority"
    beside "sr_window (simulator)" and "sr_window (live)".
    """
    labels = [r.summary.policy for r in runs]
    refinements: list[Callable[[Run, str], str]] = [
        lambda r, label: f"{label} ({r.summary.engine})",
        lambda r, label: f"{r.summary.scenario} / {label}",
        lambda r, label: f"{label} [{r.path.name}]",
    ]
    for refine in refinements:
        counts = Counter(labels)
        labels = [
            refine(r, label) if counts[label] > 1 else label
            for r, label in zip(runs, labels, strict=True)
        ]
    counts = Counter(labels)
    seen: Counter[str] = Counter()
    unique = []
    for label in labels:
        seen[label] += 1
        unique.append(f"{label} #{seen[label]}" if counts[label] > 1 else label)
    return unique


def experiment_text(summary: RunSummary) -> str:
    """A run's experiment in a few words: scenario hash, timeline, time and rate scale."""
    identity = summary.identity
    if identity is None:
        return "identity unknown"
    text = f"scenario {identity.scenario_hash[:10]} · {identity.timeline_s:,.6g} s of its timeline"
    if identity.time_scale != 1.0:
        text += f" · {identity.time_scale:.4g}× faster"
    if identity.rate_scale != 1.0:
        text += f" · rate ×{identity.rate_scale:.4g}"
    return text
