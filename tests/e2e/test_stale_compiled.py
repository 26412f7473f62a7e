"""Editing a compiled module's source never gives stale results (issue 9, item 6).

The packages, with the extensions and manifest this checkout was built with, are copied
to a temporary folder; there the fee formula (``scenarios/fees.py``, compiled, and
called natively by two other compiled modules: the simulator's model through the
acquirer behaviour model) is edited to charge ten times the fee, and ``routelab
simulate`` runs from the copy. The results must show the edit, with one warning line;
with ``ROUTELAB_STALE=refuse`` the run must stop with exit code 2 and one line. Without
the guard in runtime/compiled.py the compiled formula runs and the cost does not move.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.compiled import COMPILED, MANIFEST_NAME, extension_files

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]

# Appended to scenarios/fees.py: every attempt fee ten times higher. A wrapper rather
# than a change to the formula's text, so the test does not depend on how it is written.
TEN_TIMES_THE_FEE = """

_attempt_fee = attempt_fee


def attempt_fee(*args, **kwargs):  # the edit under test
    return 10.0 * _attempt_fee(*args, **kwargs)
"""

WARNING = (
    "routelab: scenarios/fees.py changed since it was compiled; running the compiled "
    "modules as plain Python (slower). Run 'make install' to recompile."
)
REFUSAL = (
    "routelab: scenarios/fees.py changed since it was compiled; refusing to run stale "
    "compiled code. Run 'make install' to recompile."
)


@pytest.fixture
def built_copy(tmp_path: Path) -> Path:
    """The packages as built here (sources, extensions, manifest), in a folder of their own."""
    if not extension_files(REPO_ROOT, COMPILED):
        pytest.skip("a pure-Python install: there is no compiled code to go stale")
    copy = tmp_path / "tree"
    for init in REPO_ROOT.glob("*/__init__.py"):
        shutil.copytree(
            init.parent, copy / init.parent.name, ignore=shutil.ignore_patterns("__pycache__")
        )
    for group in REPO_ROOT.glob("*__mypyc.*"):  # mypyc's shared library of the group
        shutil.copy2(group, copy / group.name)
    assert (copy / "runtime" / MANIFEST_NAME).exists()
    return copy


def routelab(copy: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTELAB_STALE")}
    return subprocess.run(
        [sys.executable, "-m", "routelab.cli", *args],
        cwd=copy,  # and on PYTHONPATH: the copy wins over the editable install
        env={**clean, "PYTHONPATH": str(copy), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def simulate(copy: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return routelab(
        copy, "simulate", "baseline", "--out", str(out), "--replications", "1", "--quiet", **env
    )


def summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return data


def routelab_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("routelab:")]


def test_an_edited_compiled_module_runs_as_edited_with_one_warning(
    built_copy: Path, tmp_path: Path
) -> None:
    probe = "import scenarios.fees as f, simulator.model as m; print(f.__file__, m.__file__)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=built_copy,
        env={**os.environ, "PYTHONPATH": str(built_copy)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert all(f.startswith(str(built_copy)) and f.endswith(".so") for f in loaded), loaded

    before = simulate(built_copy, tmp_path / "before")
    assert before.returncode == 0, before.stderr
    assert routelab_lines(before.stderr) == []  # fresh: compiled, and nothing to say

    fees = built_copy / "scenarios" / "fees.py"
    fees.write_text(fees.read_text() + TEN_TIMES_THE_FEE)
    after = simulate(built_copy, tmp_path / "after")
    assert after.returncode == 0, after.stderr
    assert routelab_lines(after.stderr) == [WARNING]

    old, new = summary(tmp_path / "before"), summary(tmp_path / "after")
    # the edit shows in the results...
    assert new["cost"]["per_approved"] == pytest.approx(10 * old["cost"]["per_approved"], rel=1e-4)
    assert new["cost"]["bps"] == pytest.approx(10 * old["cost"]["bps"], rel=1e-4)
    # ...and nothing else moved: the same payments, routed and answered the same way
    assert (new["payments"], new["approved"]) == (old["payments"], old["approved"])
    assert new["acquirer_share"] == old["acquirer_share"]


def test_refuse_stops_a_stale_run_with_exit_2_and_one_line(
    built_copy: Path, tmp_path: Path
) -> None:
    fees = built_copy / "scenarios" / "fees.py"
    fees.write_text(fees.read_text() + TEN_TIMES_THE_FEE)
    result = simulate(built_copy, tmp_path / "refused", ROUTELAB_STALE="refuse")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [REFUSAL]  # one line, no traceback
    assert result.stdout == ""
    assert not (tmp_path / "refused").exists()
