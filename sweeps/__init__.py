"""Sweeps and tuning: many scenario variants on common random numbers, on any executor.

``plan_sweep`` builds and validates every point of a grid of ``--set`` overrides;
``Sweep(plan, out).run(executor)`` runs its (point, replication) tasks, resumable from
``out``, and analyses them (paired differences against a baseline point, Bonferroni-
adjusted); ``write_sweep`` and ``write_sweep_report`` write ``sweep.json``, ``sweep.csv``
and ``sweep.html``. ``Tuning(...).run(executor)`` searches parameters with Optuna's TPE
and re-measures its best candidates on fresh seeds; ``write_tune`` writes its files and
the tuned scenario. May import scenarios, results, simulator and reports' chart style.
"""

from sweeps.analysis import SweepAnalysis
from sweeps.batch import BatchInterrupted
from sweeps.objective import FIGURES, Objective, ObjectiveError, parse_objective
from sweeps.output import write_sweep
from sweeps.plan import SweepPlan, SweepPoint, plan_sweep
from sweeps.report import write_sweep_report
from sweeps.sweep import Sweep, SweepResult, run_sweep
from sweeps.tune import Param, TuneResult, Tuning, parse_param
from sweeps.tune_report import write_tune

__all__ = [
    "FIGURES",
    "BatchInterrupted",
    "Objective",
    "ObjectiveError",
    "Param",
    "Sweep",
    "SweepAnalysis",
    "SweepPlan",
    "SweepPoint",
    "SweepResult",
    "TuneResult",
    "Tuning",
    "parse_objective",
    "parse_param",
    "plan_sweep",
    "run_sweep",
    "write_sweep",
    "write_sweep_report",
    "write_tune",
]
