"""The guard against stale compiled code (runtime/compiled.py), on small trees of its own.

A tree here is a folder with a package of two "compiled" modules: real sources, fake
extension files beside them (empty files with this interpreter's extension suffix: an
import that reached one would fail, which is the point) and a manifest as setup.py
writes it. The manifest comparison and the finder are checked in this process; what a
process does at start-up (the one line, the exit code) in subprocesses. The real build,
with a real edit of a compiled module, is checked in tests/e2e/test_stale_compiled.py.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from runtime import compiled
from runtime.compiled import (
    MANIFEST_NAME,
    SourceFinder,
    build_outputs,
    build_record,
    extension_files,
    find_stale,
    read_manifest,
    write_manifest,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HOT = ("hotpkg/fees.py", "hotpkg/route.py")
EXT = EXTENSION_SUFFIXES[0]


def make_tree(root: Path, *, extensions: bool = True, manifest: bool = True) -> Path:
    (root / "hotpkg").mkdir(parents=True)
    (root / "hotpkg" / "__init__.py").write_text("")
    (root / "hotpkg" / "fees.py").write_text("FEE = 10\n")
    (root / "hotpkg" / "route.py").write_text("from hotpkg.fees import FEE\nFIRST = 'acq_a'\n")
    if extensions:
        for source in HOT:
            (root / source.replace(".py", EXT)).write_bytes(b"")
    if manifest:
        write_manifest(root / "runtime" / MANIFEST_NAME, build_record(root, HOT, {"mypy": "test"}))
    return root


def edit(root: Path, source: str) -> None:
    path = root / source
    path.write_text(path.read_text() + "# edited\n")


def test_a_fresh_build_is_not_stale(tmp_path: Path) -> None:
    assert find_stale(make_tree(tmp_path), HOT) is None


def test_the_manifest_records_each_source_digest_as_compiled(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    record = json.loads((root / "runtime" / MANIFEST_NAME).read_text())
    assert record["mypy"] == "test"
    recorded = read_manifest(root / "runtime" / MANIFEST_NAME)
    assert recorded is not None and sorted(recorded) == sorted(HOT)
    assert all(len(digest) == 64 for digest in recorded.values())  # sha256, hex
    edit(root, "hotpkg/fees.py")
    assert read_manifest(root / "runtime" / MANIFEST_NAME) == recorded  # read, never rewritten


def test_one_changed_source_is_named(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    edit(root, "hotpkg/route.py")
    stale = find_stale(root, HOT)
    assert stale is not None
    assert stale.reason == "hotpkg/route.py changed since it was compiled"
    # the whole group runs from source, not just the changed module: its compiled
    # callers would call the old native code
    assert stale.sources == HOT


def test_several_changed_sources_are_counted(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    edit(root, "hotpkg/fees.py")
    edit(root, "hotpkg/route.py")
    stale = find_stale(root, HOT)
    assert stale is not None
    assert stale.reason == (
        "hotpkg/fees.py and 1 other compiled source changed since they were compiled"
    )


def test_a_deleted_source_counts_as_changed(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "hotpkg" / "fees.py").unlink()
    stale = find_stale(root, HOT)
    assert stale is not None and stale.reason.startswith("hotpkg/fees.py changed")


def test_a_touched_but_unchanged_source_is_not_stale(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    path = root / "hotpkg" / "fees.py"
    path.write_text(path.read_text())
    os.utime(path, (path.stat().st_atime + 100, path.stat().st_mtime + 100))
    assert find_stale(root, HOT) is None  # digests, not timestamps (git checkout, touch)


def test_without_any_extension_nothing_is_stale(tmp_path: Path) -> None:
    # a pure-Python install: the sources are what runs, whatever the manifest says
    root = make_tree(tmp_path, extensions=False)
    edit(root, "hotpkg/fees.py")
    assert find_stale(root, HOT) is None
    assert find_stale(make_tree(tmp_path / "none", extensions=False, manifest=False), HOT) is None


def test_extensions_without_a_manifest_are_stale(tmp_path: Path) -> None:
    root = make_tree(tmp_path, manifest=False)
    stale = find_stale(root, HOT)
    assert stale is not None
    assert stale.reason == f"compiled modules have no build manifest (runtime/{MANIFEST_NAME})"
    assert stale.sources == HOT


@pytest.mark.parametrize("text", ["{not json", '{"format": 99, "sources": {}}', "[]"])
def test_an_unreadable_manifest_is_no_manifest(tmp_path: Path, text: str) -> None:
    root = make_tree(tmp_path)
    (root / "runtime" / MANIFEST_NAME).write_text(text)
    stale = find_stale(root, HOT)
    assert stale is not None and "no build manifest" in stale.reason


def test_a_module_listed_since_the_build_is_stale_only_with_an_extension(
    tmp_path: Path,
) -> None:
    root = make_tree(tmp_path)
    (root / "hotpkg" / "new.py").write_text("X = 1\n")
    listed = (*HOT, "hotpkg/new.py")
    assert find_stale(root, listed) is None  # not compiled yet: it runs as Python
    (root / "hotpkg" / f"new{EXT}").write_bytes(b"")  # an extension from some other build
    stale = find_stale(root, listed)
    assert stale is not None and stale.reason == "hotpkg/new.py changed since it was compiled"


def test_extension_files_and_build_outputs(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    group = root / f"0123abcd__mypyc{EXT}"
    group.write_bytes(b"")
    found = extension_files(root, HOT)
    assert found == {s: [root / s.replace(".py", EXT)] for s in HOT}
    outputs = build_outputs(root, HOT)
    assert sorted(outputs) == sorted(
        [*(root / s.replace(".py", EXT) for s in HOT), group, root / "runtime" / MANIFEST_NAME]
    )
    assert extension_files(root, ["nowhere/gone.py"]) == {}


@pytest.fixture
def hot_tree(tmp_path: Path) -> Iterator[Path]:
    """A tree on sys.path whose modules the normal finders would load from ``shadow/``."""
    shadow = tmp_path / "shadow" / "hotpkg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    (shadow / "fees.py").write_text("FEE = 'the old code'\n")
    make_tree(tmp_path / "src")
    sys.path.insert(0, str(tmp_path / "shadow"))
    yield tmp_path
    sys.path.remove(str(tmp_path / "shadow"))
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SourceFinder)]
    for name in [n for n in sys.modules if n == "hotpkg" or n.startswith("hotpkg.")]:
        del sys.modules[name]


def test_the_finder_loads_the_source_ahead_of_the_normal_finders(hot_tree: Path) -> None:
    finder = compiled.run_from_source(hot_tree / "src", ["hotpkg/fees.py"])
    assert sys.meta_path[0] is finder
    fees = importlib.import_module("hotpkg.fees")
    assert fees.FEE == 10
    assert fees.__file__ == str(hot_tree / "src" / "hotpkg" / "fees.py")
    assert finder.find_spec("hotpkg.other") is None  # names it was not given: not its business


def test_the_finder_never_falls_back_to_an_extension_whose_source_is_gone(
    hot_tree: Path,
) -> None:
    (hot_tree / "src" / "hotpkg" / "fees.py").unlink()
    compiled.run_from_source(hot_tree / "src", ["hotpkg/fees.py"])
    with pytest.raises(ModuleNotFoundError, match="is gone"):
        importlib.import_module("hotpkg.fees")


# What a process does at start-up: a copy of runtime/ in the tree, so that ROOT is the tree
# (the repository's COMPILED sources are not in it; the manifest names the tree's own).

PROBE = """
import sys
from runtime import compiled
compiled.ensure_fresh()
compiled.ensure_fresh()  # a second call decides nothing again, prints nothing
import hotpkg.route
print(hotpkg.route.__file__, hotpkg.route.FEE)
"""


def start(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    runtime = root / "runtime"
    runtime.mkdir(exist_ok=True)
    (runtime / "__init__.py").write_text("")
    (runtime / "compiled.py").write_text((REPO_ROOT / "runtime" / "compiled.py").read_text())
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTELAB_STALE")}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=root,
        env={**clean, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_stale_start_runs_every_compiled_module_from_source_with_one_line(
    tmp_path: Path,
) -> None:
    root = make_tree(tmp_path)
    edit(root, "hotpkg/fees.py")
    result = start(root)
    assert result.returncode == 0, result.stderr
    # the empty extension files would fail to import: both modules came from source
    assert result.stdout.split() == [str(root / "hotpkg" / "route.py"), "10"]
    assert result.stderr.splitlines() == [
        "routelab: hotpkg/fees.py changed since it was compiled; running the compiled "
        "modules as plain Python (slower). Run 'make install' to recompile."
    ]


def test_a_process_started_after_the_line_was_shown_stays_quiet(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    edit(root, "hotpkg/fees.py")
    result = start(root, ROUTELAB_STALE_SHOWN="1")  # as the services of a run inherit it
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "10" and result.stderr == ""


def test_refuse_exits_2_with_one_line(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    edit(root, "hotpkg/route.py")
    result = start(root, ROUTELAB_STALE="refuse")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "routelab: hotpkg/route.py changed since it was compiled; refusing to run stale "
        "compiled code. Run 'make install' to recompile."
    ]


def test_a_bad_policy_exits_2_with_one_line(tmp_path: Path) -> None:
    result = start(make_tree(tmp_path), ROUTELAB_STALE="ignore")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "routelab: ROUTELAB_STALE must be 'run' or 'refuse', not 'ignore'"
    ]


def test_a_fresh_start_installs_nothing_and_says_nothing(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    result = start(root)
    # fresh, so the (empty, broken) extension is what Python imports: the guard stepped aside
    assert result.returncode == 1
    assert "ImportError" in result.stderr and "routelab:" not in result.stderr
