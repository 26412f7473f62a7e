"""The main job (`make demo`): one scenario, three policies, a live check, one report.

1. ``acquirer_outage`` in the simulator under ``priority``, ``sr_window`` and
   ``sr_thompson``: which policy wins, by how much, at what cost, with paired CIs.
2. Fidelity: the same scenario with its timeline compressed to under a minute is
   load-tested for real (mock acquirers, router, Locust) under ``sr_window`` and
   simulated under the same policy (``FIDELITY_REPLICATIONS`` replications), so the two
   engines are checked on the same story.
3. One comparison report (HTML) of all of it, and the same tables in the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from loadtests.options import HarnessOptions
from loadtests.orchestrator import LoadTest, run_loadtest
from reports.compare import compare_runs, write_comparison
from reports.rundata import load_runs
from routelab.progress import simulation_progress
from routelab.report import print_comparison
from scenarios.loader import load_scenario
from scenarios.transform import compress_timeline, scenario_yaml
from simulator import simulate

SCENARIO = "acquirer_outage"
POLICIES = ("priority", "sr_window", "sr_thompson")
LIVE_POLICY = "sr_window"
# The live run is checked against where one more simulated run would land, so the
# simulated side needs many replications of the short scenario; they are cheap (about
# 1,300 payments each), and 30 narrow the allowances compared with a handful.
FIDELITY_REPLICATIONS = 30


@dataclass(frozen=True)
class DemoResult:
    report: Path
    run_dirs: list[Path]
    live_exit_code: int


def run_demo(out: Path, replications: int, live_seconds: float, console: Console) -> DemoResult:
    """Run the whole demo into ``out``; returns where the report and runs are."""
    scenario = load_scenario(SCENARIO)
    short = compress_timeline(scenario, live_seconds)
    out.mkdir(parents=True, exist_ok=True)
    short_path = out / f"{short.name}.yaml"
    short_path.write_text(scenario_yaml(short), encoding="utf-8")

    console.rule(f"1/3 simulating {SCENARIO} under {', '.join(POLICIES)}")
    run_dirs = [out / name for name in POLICIES]
    fidelity_sim = out / f"{LIVE_POLICY}_{short.name}_simulated"
    counts = {**dict.fromkeys(POLICIES, replications), "fidelity": FIDELITY_REPLICATIONS}
    with simulation_progress(console, [*POLICIES, "fidelity"], counts) as progress:
        for name, run_dir in zip(POLICIES, run_dirs, strict=True):
            result = simulate(
                scenario, name, replications=replications, progress=progress.callback(name)
            )
            result.write(run_dir)
        result = simulate(
            short,
            LIVE_POLICY,
            replications=FIDELITY_REPLICATIONS,
            progress=progress.callback("fidelity"),
        )
        result.write(fidelity_sim)

    console.rule(f"2/3 live load test of {short.name} under {LIVE_POLICY} ({live_seconds:g} s)")
    live_dir = out / f"{LIVE_POLICY}_{short.name}_live"
    outcome = run_loadtest(
        LoadTest(
            out=live_dir, harness=HarnessOptions(scenario=str(short_path)), policy=LIVE_POLICY
        ),
        console,
    )
    if outcome.reconciliation is not None:
        r = outcome.reconciliation
        console.print(
            f"reconciliation: {r.matched} matched, {r.missing} missing, {r.duplicated} duplicated",
            highlight=False,
        )

    console.rule("3/3 comparison report")
    all_runs = [*run_dirs, fidelity_sim, live_dir]
    report = write_comparison(all_runs, out / "comparison.html")
    print_comparison(compare_runs(load_runs(all_runs)), console)
    return DemoResult(report, all_runs, outcome.exit_code)
