"""In CI every test runs: a skip or an xfail of any form fails the session (conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORMS = {
    "test_skip_in_test.py": "import pytest\n\ndef test_it():\n    pytest.skip('no')\n",
    "test_skipif.py": (
        "import pytest\n\n@pytest.mark.skipif(True, reason='no')\ndef test_it():\n    pass\n"
    ),
    "test_skip_in_fixture.py": (
        "import pytest\n\n@pytest.fixture\ndef thing():\n    pytest.skip('no')\n\n"
        "def test_it(thing):\n    pass\n"
    ),
    "test_module_skip.py": "import pytest\n\npytest.skip('no', allow_module_level=True)\n",
    "test_module_importorskip.py": (
        "import pytest\n\npytest.importorskip('no_such_module_here')\n\ndef test_it():\n    pass\n"
    ),
    "test_xfail_marker.py": (
        "import pytest\n\n@pytest.mark.xfail(reason='no')\ndef test_it():\n    assert False\n"
    ),
    "test_xfail_call.py": "import pytest\n\ndef test_it():\n    pytest.xfail('no')\n",
}


def _run(tmp_path: Path, name: str, ci: bool) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / name
    test_file.write_text(FORMS[name], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=ROOT,  # the repository's conftest.py, loaded as a plugin
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_test_that_does_not_run_fails_in_ci(tmp_path: Path, name: str) -> None:
    result = _run(tmp_path, name, ci=True)
    # 1: tests failed; 2: a module that skips itself is a collection error
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert "in CI (tests that do not run fail there)" in result.stdout


def test_outside_ci_a_skip_is_only_reported(tmp_path: Path) -> None:
    result = _run(tmp_path, "test_module_skip.py", ci=False)
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: nothing collected
    assert "1 skipped" in result.stdout
