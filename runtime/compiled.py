"""Compiled code never runs stale: the mypyc build's record, and the guard that reads it.

``setup.py`` compiles the modules in ``COMPILED`` with mypyc, as ONE group: the C
extensions land next to the sources, Python imports them in preference to the ``.py``,
and compiled modules call each other natively. So after any of their sources changes,
loading only that module from source is not enough (its compiled callers would keep
calling the old native code): either every compiled module runs from source, or none.

At build time ``setup.py`` writes ``compiled_manifest.json`` beside this file: the sha256
of every compiled source (and, for whoever reads it, the interpreter and mypy versions).
``ensure_fresh()``, which every package holding a compiled module calls first thing in
its ``__init__``, compares the sources on disk with it once per process. When a compiled
extension is present and a source differs (or there is no manifest to compare with), it

- by default prints one line to stderr and runs ALL compiled modules from source (a
  ``sys.meta_path`` finder ahead of the normal ones): slower, never stale;
- with ``ROUTELAB_STALE=refuse`` prints one line and exits with code 2.

The rebuild is ``make install``. Imports only the standard library: ``setup.py`` loads
this module before anything is built, and ``scenarios`` (which imports nothing else of
ours) calls it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import NamedTuple, NoReturn

# The per-payment path of the simulator and the shared pure cores it calls: plain typed
# Python that mypyc turns into C extensions ~1.6x faster. The Makefile reads this list
# (one quoted path per line) to know when to recompile.
COMPILED: tuple[str, ...] = (
    "scenarios/taxonomy.py",
    "router/engine/rules.py",
    "router/engine/retry.py",
    "router/engine/strategies/api.py",
    "router/engine/strategies/static.py",
    "router/engine/strategies/evidence.py",
    "router/engine/strategies/sr_window.py",
    "router/engine/strategies/learner.py",
    "router/engine/strategies/thompson.py",
    "router/engine/strategies/ucb.py",
    "router/engine/strategies/cost_aware.py",
    "router/engine/strategies/hierarchical.py",
    "router/engine/strategies/elimination.py",
    "router/engine/engine.py",
    "router/engine/flow.py",
    "router/engine/cards.py",
    "router/engine/schemes.py",
    "mock_acquirers/behaviour.py",
    "simulator/capacity.py",
    "results/tally.py",
    "simulator/model.py",
    "scenarios/streams.py",
    "scenarios/fees.py",
    "results/histogram.py",
)

ROOT = Path(__file__).resolve().parent.parent  # the folder holding the packages
MANIFEST_NAME = "compiled_manifest.json"
MANIFEST_FORMAT = 1
STALE_ENV = "ROUTELAB_STALE"  # "run" (default): run from source; "refuse": exit 2
POLICIES = ("run", "refuse")
REBUILD = "make install"
EXIT_STALE = 2
# Set once the line was printed: the services a run starts inherit it and stay quiet.
_SHOWN_ENV = "ROUTELAB_STALE_SHOWN"


def source_digest(path: Path) -> str:
    """The sha256 of one source file, hex."""
    with open(path, "rb") as source:
        return hashlib.sha256(source.read()).hexdigest()


def module_name(source: str) -> str:
    """``router/engine/strategies/ucb.py`` -> ``router.engine.strategies.ucb``."""
    return source.removesuffix(".py").replace("/", ".")


def build_record(
    root: Path, sources: Sequence[str], versions: Mapping[str, str]
) -> dict[str, object]:
    """What setup.py writes: each source's digest as it is compiled, plus versions."""
    return {
        "format": MANIFEST_FORMAT,
        **versions,
        "sources": {source: source_digest(root / source) for source in sources},
    }


def write_manifest(path: Path, record: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)  # never a half-written manifest


def read_manifest(path: Path) -> dict[str, str] | None:
    """The recorded digest per compiled source, or None when there is no usable record."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT:
        return None
    sources = record.get("sources")
    if not isinstance(sources, dict):
        return None
    return {str(k): str(v) for k, v in sources.items()}


def extension_files(root: Path, sources: Iterable[str]) -> dict[str, list[Path]]:
    """Per source, the compiled extensions this interpreter would import instead of it
    (sources without one are left out)."""
    stems: dict[str, list[str]] = {}
    for source in sources:
        folder, _, name = source.removesuffix(".py").rpartition("/")
        stems.setdefault(folder, []).append(name)
    found: dict[str, list[Path]] = {}
    for folder, names in stems.items():  # one listing per folder: cheaper than a stat each
        where = os.path.join(root, folder)
        try:
            present = set(os.listdir(where))
        except OSError:
            continue
        for name in names:
            if files := [Path(where, f) for s in EXTENSION_SUFFIXES if (f := name + s) in present]:
                found[f"{folder}/{name}.py" if folder else f"{name}.py"] = files
    return found


def build_outputs(root: Path, sources: Iterable[str]) -> list[Path]:
    """Everything a compiled build leaves in the tree: extensions, the group's shared
    library (``<hash>__mypyc``, at the top) and the manifest. setup.py removes them
    before it builds, so a pure-Python install leaves no extension to win at import."""
    extensions = [p for files in extension_files(root, sources).values() for p in files]
    group = [p for p in root.glob("*__mypyc.*") if p.suffix in {".so", ".pyd"}]
    manifest = root / "runtime" / MANIFEST_NAME
    return [*extensions, *group, *([manifest] if manifest.exists() else [])]


class Stale(NamedTuple):
    """Compiled code on disk that is not the code in the sources."""

    reason: str  # e.g. "router/engine/strategies/ucb.py changed since it was compiled"
    sources: tuple[str, ...]  # the whole group, to run from source together


def find_stale(root: Path = ROOT, compiled: Sequence[str] = COMPILED) -> Stale | None:
    """Whether a compiled module would run code that is no longer in its source.

    None when no compiled extension is present (a pure-Python install: the sources run)
    or when every compiled source still has the digest it was compiled from. A source in
    ``compiled`` that the manifest does not know is stale only if it has an extension.
    """
    recorded = read_manifest(root / "runtime" / MANIFEST_NAME)
    sources = tuple(sorted({*compiled, *(recorded or {})}))
    built = extension_files(root, sources)
    if not built:
        return None
    if recorded is None:
        return Stale(f"compiled modules have no build manifest (runtime/{MANIFEST_NAME})", sources)
    changed = []
    for source in sources:
        path = root / source
        if source not in recorded:
            if source in built:
                changed.append(source)
        elif not path.exists() or source_digest(path) != recorded[source]:
            changed.append(source)
    if not changed:
        return None
    if len(changed) == 1:
        return Stale(f"{changed[0]} changed since it was compiled", sources)
    others = len(changed) - 1
    plural = "s" if others > 1 else ""
    reason = (
        f"{changed[0]} and {others} other compiled source{plural} changed since they were compiled"
    )
    return Stale(reason, sources)


class SourceFinder:
    """A ``sys.meta_path`` finder that loads the named modules from their ``.py`` files,
    ahead of the path finder that would pick their compiled extensions."""

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self.sources = dict(sources)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        if not source.exists():  # its extension is all that is left: never load it
            raise ModuleNotFoundError(f"{fullname}: {source} is gone", name=fullname)
        loader = SourceFileLoader(fullname, str(source))
        spec = ModuleSpec(fullname, loader, origin=str(source))
        spec.has_location = True
        return spec


def run_from_source(root: Path, sources: Iterable[str]) -> SourceFinder:
    """Install a SourceFinder for these compiled modules (first in ``sys.meta_path``)."""
    finder = SourceFinder({module_name(s): root / s for s in sources})
    sys.meta_path.insert(0, finder)
    return finder


def stale_policy() -> str:
    """``ROUTELAB_STALE``: what to do with stale compiled code (exit 2 on a bad value)."""
    policy = os.environ.get(STALE_ENV, "").strip().lower() or "run"
    if policy not in POLICIES:
        _exit(f"{STALE_ENV} must be 'run' or 'refuse', not {policy!r}")
    return policy


def _exit(line: str) -> NoReturn:
    sys.stderr.write(f"routelab: {line}\n")
    raise SystemExit(EXIT_STALE)


_decided = False


def ensure_fresh(policy: str | None = None) -> None:
    """Make sure no stale compiled module can load in this process (once; then free).

    ``policy`` overrides ``ROUTELAB_STALE`` ("run" or "refuse"); the first call in a
    process decides. Call it before any compiled module is imported.
    """
    global _decided  # noqa: PLW0603 (one decision per process, whoever asks first)
    if _decided:
        return
    chosen = policy or stale_policy()
    stale = find_stale()
    _decided = True
    if stale is None:
        return
    if chosen == "refuse":
        _exit(f"{stale.reason}; refusing to run stale compiled code. Run '{REBUILD}' to recompile.")
    run_from_source(ROOT, stale.sources)
    if not os.environ.get(_SHOWN_ENV):
        os.environ[_SHOWN_ENV] = "1"
        sys.stderr.write(
            f"routelab: {stale.reason}; running the compiled modules as plain Python (slower). "
            f"Run '{REBUILD}' to recompile.\n"
        )
