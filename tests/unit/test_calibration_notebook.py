"""notebooks/05_calibrate.ipynb runs top to bottom on the committed sample export.

tests/e2e/test_notebooks.py runs the notebooks it lists by name; this one is run here
(same method: a cell injected after the one tagged ``parameters``, a fresh kernel in
``tmp_path``) until that list names it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "05_calibrate.ipynb"


def test_committed_without_outputs_and_with_one_parameters_cell() -> None:
    book = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1


def test_from_an_export_to_a_fitted_scenario_to_a_comparison(tmp_path: Path) -> None:
    book = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    injected = new_code_cell(
        f"DATA = {str(ROOT / 'tests' / 'data')!r}\nREPLICATIONS = 2\nOUT = 'runs/cal'"
    )
    book.cells.insert(index + 1, injected)
    NotebookClient(
        book, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "".join(
        output.get("text", "") or output.get("data", {}).get("text/plain", "")
        for cell in book.cells
        for output in cell.get("outputs", [])
    )
    assert "acq_a: 100.0% of first attempts; approval base" in text
    assert "compared with observed" in text
    assert (tmp_path / "runs/cal/scenario.yaml").exists()
    assert (tmp_path / "runs/cal/calibration.html").exists()
    assert (tmp_path / "runs/cal/sr_window/summary.json").exists()
    svgs = [
        o for c in book.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})
    ]
    assert len(svgs) == 1  # the approval chart shows inline
