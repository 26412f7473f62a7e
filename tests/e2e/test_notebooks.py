"""The notebooks run top to bottom on small sizes, so they cannot rot.

Each notebook has a cell tagged ``parameters``; the test inserts a cell after it with
small values (as papermill does) and executes the notebook in a fresh kernel inside
``tmp_path``. The committed notebooks must carry no outputs.

The load-test notebook reads a real live run: a ~10 s ``routelab loadtest`` of the
outage scenario compressed to 10 s (mock acquirers, router and Locust on loopback),
played in real time so the notebook's simulation of that short scenario is the same
experiment and its fidelity is checked.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from scenarios.loader import load_scenario
from scenarios.transform import compress_timeline, scenario_yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = [
    "01_quickstart.ipynb",
    "02_tuning_routing_rules.ipynb",
    "03_loadtest_analysis.ipynb",
    "04_tuning.ipynb",
    "05_calibrate.ipynb",
]
DATA = Path(__file__).resolve().parents[1] / "data"  # the committed sample exports
LOADTEST_SECONDS = 10


def execute(name: str, overrides: dict[str, Any], cwd: Path) -> nbformat.NotebookNode:
    """Run a notebook with ``overrides`` injected after its parameters cell."""
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    index = next(
        i for i, cell in enumerate(book.cells) if "parameters" in cell.metadata.get("tags", [])
    )
    source = "\n".join(f"{key} = {value!r}" for key, value in overrides.items())
    injected = new_code_cell(source)
    injected.metadata["tags"] = ["injected-parameters"]
    book.cells.insert(index + 1, injected)
    NotebookClient(
        book, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return book


def text_output(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def svg_outputs(book: nbformat.NotebookNode) -> int:
    return sum(
        "image/svg+xml" in output.get("data", {})
        for cell in book.cells
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs(name: str) -> None:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"


def test_quickstart(tmp_path: Path) -> None:
    book = execute(NAMES[0], {"REPLICATIONS": 2, "OUT": "runs/quick"}, tmp_path)
    out = text_output(book)
    assert "Authorisation rate" in out and "report:" in out
    assert (tmp_path / "runs/quick/summary.json").exists()
    assert (tmp_path / "runs/quick/report.html").exists()
    assert svg_outputs(book) == 2  # the charts show inline


def test_tuning_routing_rules(tmp_path: Path) -> None:
    book = execute(NAMES[1], {"REPLICATIONS": 2, "OUT": "runs/tuning"}, tmp_path)
    out = text_output(book)
    assert "method: paired" in out  # same seed for both policies: common random numbers
    assert "sr_tuned" in out and "compared with sr_window" in out
    assert (tmp_path / "runs/tuning/comparison.html").exists()
    assert svg_outputs(book) == 1
    # the strategy written in the notebook ran as a user's own file
    assert (tmp_path / "runs/tuning/cheapest_healthy/summary.json").exists()
    assert "cheapest_healthy: auth rate" in out and "compared with sr_window" in out


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real ~10 s load test of acquirer_outage compressed to 10 s (sr_window): the run
    directory and the short scenario's file."""
    work = tmp_path_factory.mktemp("loadtest")
    short = compress_timeline(load_scenario("acquirer_outage"), float(LOADTEST_SECONDS))
    scenario = work / f"{short.name}.yaml"
    scenario.write_text(scenario_yaml(short), encoding="utf-8")
    out = work / "live"
    command = [
        sys.executable,
        "-m",
        "routelab.loadtest",
        str(scenario),
        "--policy",
        "sr_window",
        "--out",
        str(out),
        "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    # 0: all good; 3: an SLO breached (the run is still complete and written)
    assert done.returncode in (0, 3), f"loadtest failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "summary.json").exists()
    return out, scenario


def test_loadtest_analysis(tmp_path: Path, live_run: tuple[Path, Path]) -> None:
    run, scenario = live_run
    book = execute(
        NAMES[2],
        {
            "LIVE_RUN": str(run),
            "SCENARIO": str(scenario),
            "SIM_REPLICATIONS": 2,
            "OUT": "runs/analysis",
        },
        tmp_path,
    )
    out = text_output(book)
    assert "The load test offered" in out and "Offered rate" in out
    assert "against the live run: the same experiment, not paired" in out
    assert "Simulator vs live on acquirer_outage_10s (sr_window): " in out
    assert "checks within tolerance" in out  # checked, not refused
    assert "outside tolerance:" in out
    assert (tmp_path / "runs/analysis/fidelity.html").exists()
    assert svg_outputs(book) == 2


def test_calibrate(tmp_path: Path) -> None:
    """From an export to a fitted scenario to a policy comparison."""
    book = execute(
        "05_calibrate.ipynb", {"DATA": str(DATA), "REPLICATIONS": 2, "OUT": "runs/cal"}, tmp_path
    )
    out = text_output(book)
    assert "acq_a: 100.0% of first attempts; approval base" in out
    assert "compared with observed" in out
    for name in ("scenario.yaml", "calibration.html", "sr_window/summary.json"):
        assert (tmp_path / "runs/cal" / name).exists(), name
    assert svg_outputs(book) == 1  # the approval chart shows inline


def test_sweeping_and_tuning(tmp_path: Path) -> None:
    started = time.monotonic()
    params = {"DURATION_S": 120, "REPLICATIONS": 2, "TRIALS": 6, "OUT": "runs/t"}
    book = execute(NAMES[3], params, tmp_path)
    took = time.monotonic() - started
    out = text_output(book)
    assert "p004" in out and "(baseline)" not in out  # window 125 × 0.05 is p004, in the grid
    assert "Best point by auth_rate - 0.0005 * cost_bps" in out
    assert "Recommended:" in out and "fresh replications of seed" in out
    assert "the tuned scenario, simulated on yet another seed" in out
    assert (tmp_path / "runs/t/sweep/sweep.html").exists()
    assert (tmp_path / "runs/t/tune/tuned.yaml").exists()
    assert svg_outputs(book) == 1  # the heatmap shows inline
    assert took < 60, f"the tuning notebook took {took:.0f} s"
