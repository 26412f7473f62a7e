"""Tuning: a search of a policy's (or a scenario's) parameters with Optuna's TPE sampler,
then the top candidates re-measured on fresh seeds.

Each trial is one point (the base scenario with the trial's values, validated through
the one loader) run for ``replications`` replications of the tuning seed: every trial
sees the same payments (common random numbers), so trials differ by their values, not
by their luck. Picking the best of many noisy trials still flatters it (the winner's
curse), so the ``confirm`` best distinct trials are run again on a seed the search never
used, with ``confirm_replications`` replications, next to the scenario's own values
(the baseline) on the same fresh seeds; the recommendation is the candidate with the
best confirmed objective, reported with paired (Bonferroni-adjusted) CIs against the
baseline. Every replication goes through the task store, so a tuning interrupted with
Ctrl-C resumes: TPE seeded alike proposes the same trials, whose results are read back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from results.contract import RunSummary
from scenarios.field_paths import path_text
from scenarios.loader import ScenarioError
from scenarios.overrides import (
    OverrideError,
    apply,
    build_grid,
    describe,
    parse_path,
    value_at,
)
from scenarios.schema import Scenario
from simulator.executors import Executor, SerialExecutor
from sweeps.analysis import OBJECTIVE, Direction, PointFigures, SweepAnalysis, analyse, better
from sweeps.batch import Batch, TaskProgress
from sweeps.objective import Objective
from sweeps.plan import SweepPoint, make_point
from sweeps.store import TASKS_DIR, TaskStore

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*(?::\s*(log))?\s*$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")


@dataclass(frozen=True)
class Param:
    """A parameter to tune: ``PATH=LOW..HIGH`` (integers when both bounds are), ``:log``
    for a log-uniform search."""

    path: str
    low: float
    high: float
    integer: bool
    log: bool
    text: str = ""

    def suggest(self, trial: optuna.Trial) -> int | float:
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, log=self.log)

    def bound(self, value: float) -> int | float:
        return int(value) if self.integer else float(value)


def parse_param(text: str) -> Param:
    """Read ``PATH=LOW..HIGH[:log]``; raises :class:`OverrideError` saying what is wrong."""
    path, equals, bounds = text.rpartition("=")
    if not equals or not path.strip():
        raise OverrideError(
            text, "expected PATH=LOW..HIGH, e.g. policies[0].strategy.window=20..500"
        )
    segments = parse_path(path)
    found = _RANGE.match(bounds)
    if found is None:
        raise OverrideError(text, f"{bounds!r} is not a range LOW..HIGH (optionally :log)")
    low_text, high_text, log = found.groups()
    integer = bool(_INTEGER.match(low_text) and _INTEGER.match(high_text))
    low, high = float(low_text), float(high_text)
    if not low < high:
        raise OverrideError(text, f"the low bound {low_text} must be below the high {high_text}")
    if log and low <= 0:
        raise OverrideError(text, "a log range needs a positive low bound")
    return Param(path_text(segments), low, high, integer, bool(log), text)


@dataclass(frozen=True)
class Trial:
    """One trial: its values, the objective on the tuning seeds, and what it ran."""

    number: int
    values: dict[str, Any]
    objective: float  # NaN for a failed trial
    summary: RunSummary | None
    failed: str = ""  # why the trial has no objective


@dataclass(frozen=True)
class TuneResult:
    """A finished tuning: every trial, the confirmation and the recommended scenario."""

    source: str
    base: Scenario
    policy: str
    params: list[Param]
    objective: Objective
    direction: Direction
    seed: int
    replications: int
    trials: list[Trial]
    confirm_seed: int
    confirm_replications: int
    confirmation: SweepAnalysis
    recommended: PointFigures
    tuned: Scenario

    @property
    def significant(self) -> bool:
        """Whether the recommendation beats the baseline on the fresh seeds, adjusted."""
        diff = self.recommended.differences.get(OBJECTIVE)
        if diff is None or not diff.significant or self.recommended.point.baseline:
            return False
        return (diff.estimate > 0) == (self.direction == "maximize")

    @property
    def best_trial(self) -> Trial:
        done = [t for t in self.trials if not t.failed]
        best = done[0]
        for trial in done[1:]:
            if better(trial.objective, best.objective, self.direction):
                best = trial
        return best


CONFIRM_LABEL = "c{}"


class Tuning:
    """A tuning to run: the search space, the objective, seeds and replication counts."""

    def __init__(
        self,
        base: Scenario,
        source: str,
        params: Sequence[Param],
        objective: Objective,
        *,
        trials: int,
        replications: int,
        policy: str | None = None,
        seed: int | None = None,
        confirm: int = 3,
        confirm_replications: int | None = None,
        confirm_seed: int | None = None,
        direction: Direction = "maximize",
        out: Path | None = None,
    ) -> None:
        if not params:
            raise ValueError("nothing to tune: no parameter")
        self.base = base
        self.source = source
        self.params = list(params)
        self.objective = objective
        self.trials = trials
        self.replications = replications
        self.policy = base.policy(policy).name
        self.seed = base.seed if seed is None else seed
        self.confirm = confirm
        self.confirm_replications = confirm_replications or 2 * replications
        # a seed the search never used: its replications are independent of the search's
        self.confirm_seed = self.seed + 1 if confirm_seed is None else confirm_seed
        if self.confirm_seed == self.seed:
            raise ValueError("the confirmation needs a seed the search did not use")
        self.direction = direction
        self.store = TaskStore(out / TASKS_DIR) if out is not None else None
        self._check_bounds()

    def _check_bounds(self) -> None:
        """Both bounds of every parameter make a valid scenario, or ScenarioError."""
        points = [{p.path: p.bound(p.low)} for p in self.params]
        points += [{p.path: p.bound(p.high)} for p in self.params]
        build_grid(self.base, points, self.source)

    @property
    def total(self) -> int:
        """Tasks at most: every trial's replications, then the confirmation's."""
        return self.trials * self.replications + (self.confirm + 1) * self.confirm_replications

    def run(
        self, executor: Executor | None = None, progress: TaskProgress | None = None
    ) -> TuneResult:
        """Search, then confirm; raises :class:`~sweeps.batch.BatchInterrupted` on Ctrl-C."""
        runner = executor or SerialExecutor()
        report = progress or _ignore
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction=self.direction, sampler=optuna.samplers.TPESampler(seed=self.seed)
        )
        trials: list[Trial] = []
        for n in range(self.trials):
            trials.append(self._trial(study, n, runner, _shifted(report, n * self.replications)))
        offset = self.trials * self.replications
        confirmation, points = self._confirm(trials, runner, _shifted(report, offset))
        for j in range(offset + len(points) * self.confirm_replications, self.total):
            report(j, 1.0)  # fewer distinct candidates than asked for: nothing left to run
        best = confirmation.best
        values = dict(best.point.values)
        tuned = apply(
            self.base,
            {
                **values,
                "description": (
                    f"{self.base.description} (tuned by routelab tune for "
                    f"{self.objective.text}: {describe(values)})"
                ).strip(),
            },
            self.source,
        )
        return TuneResult(
            source=self.source,
            base=self.base,
            policy=self.policy,
            params=self.params,
            objective=self.objective,
            direction=self.direction,
            seed=self.seed,
            replications=self.replications,
            trials=trials,
            confirm_seed=self.confirm_seed,
            confirm_replications=self.confirm_replications,
            confirmation=confirmation,
            recommended=best,
            tuned=tuned,
        )

    def _trial(
        self, study: optuna.Study, n: int, executor: Executor, progress: TaskProgress
    ) -> Trial:
        asked = study.ask()
        values = {p.path: p.suggest(asked) for p in self.params}
        try:
            scenario = apply(self.base, values, self.source)
        except ScenarioError as exc:  # a value inside the range the format still refuses
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
            for r in range(self.replications):
                progress(r, 1.0)
            return Trial(n, values, math.nan, None, failed=str(exc))
        point = make_point(f"t{n:03d}", values, scenario, self.policy)
        batch = Batch([point], self.seed, self.replications, self.store)
        for j in batch.stored:
            progress(j, 1.0)
        batch.run(executor, progress)
        summary = batch.results()[point.label].summary
        value = self.objective.of_summary(summary)
        if not math.isfinite(value):
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
            return Trial(n, values, value, summary, failed="the objective is undefined")
        study.tell(asked, value)
        return Trial(n, values, value, summary)

    def candidates(self, trials: Sequence[Trial]) -> list[Trial]:
        """The ``confirm`` best trials with distinct values (failed ones left out)."""
        ranked = sorted(
            (t for t in trials if not t.failed),
            key=lambda t: t.objective,
            reverse=self.direction == "maximize",
        )
        chosen: list[Trial] = []
        seen: set[str] = set()
        for trial in ranked:
            key = describe(trial.values)
            if key not in seen:
                seen.add(key)
                chosen.append(trial)
            if len(chosen) == self.confirm:
                break
        return chosen

    def _confirm(
        self, trials: Sequence[Trial], executor: Executor, progress: TaskProgress
    ) -> tuple[SweepAnalysis, list[SweepPoint]]:
        chosen = self.candidates(trials)
        if not chosen:
            raise ScenarioError(self.source, [("", "no trial gave a defined objective")])
        own = {p.path: _own_value(self.base, p.path, self.source) for p in self.params}
        baseline = make_point("baseline", own, self.base, self.policy, baseline=True)
        points = [baseline]
        for k, trial in enumerate(chosen, start=1):
            scenario = apply(self.base, trial.values, self.source)
            points.append(make_point(CONFIRM_LABEL.format(k), trial.values, scenario, self.policy))
        batch = Batch(points, self.confirm_seed, self.confirm_replications, self.store)
        for j in batch.stored:
            progress(j, 1.0)
        batch.run(executor, progress)
        analysis = analyse(
            points, batch.results(), self.objective, self.direction, candidates=points[1:]
        )
        return analysis, points


def _own_value(scenario: Scenario, path: str, source: str) -> Any:
    try:
        return value_at(scenario, path, source)
    except ScenarioError:
        return None  # unset in the scenario


def _ignore(index: int, fraction: float) -> None:
    pass


def _shifted(progress: TaskProgress, offset: int) -> Callable[[int, float], None]:
    def report(index: int, fraction: float) -> None:
        progress(offset + index, fraction)

    return report
