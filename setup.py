"""Build hook: compile the simulator's hot path with mypyc (pure-Python fallback).

Everything else about the package lives in pyproject.toml. The modules compiled are
listed in runtime/compiled.py (``COMPILED``), which also reads the record this build
writes: ``runtime/compiled_manifest.json``, the sha256 of each source as compiled, so
that routelab never runs a compiled module whose source changed since (see there).
Set ROUTELAB_PURE_PYTHON=1 to skip compilation (for debugging with a pure-Python
traceback): the build then removes the extensions and manifest of an earlier build, so
none is left to win at import.
"""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from runtime import compiled  # noqa: E402 (standard library only, so importable before a build)


def remove_earlier_build() -> None:
    """An earlier in-place build's extensions and manifest, out of the source tree."""
    for output in compiled.build_outputs(HERE, compiled.COMPILED):
        output.unlink()


ext_modules = []
cmdclass = {}
if os.environ.get("ROUTELAB_PURE_PYTHON", "") in ("1", "true", "yes"):
    remove_earlier_build()  # else they would still win at import
else:
    import sysconfig

    from mypy.version import __version__ as mypy_version
    from mypyc.build import mypycify

    # digests of the sources exactly as mypycify reads them, just below
    record = compiled.build_record(
        HERE,
        compiled.COMPILED,
        {
            "python": sys.implementation.cache_tag,
            "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
            "mypy": mypy_version,
        },
    )
    ext_modules = mypycify(
        ["--config-file=", "--ignore-missing-imports", "--python-version=3.11", *compiled.COMPILED],
        opt_level="3",
    )

    class BuildExtWithManifest(build_ext):
        """build_ext, then the manifest beside the packages: in the source tree for an
        editable (in-place) build, in the build tree (and so the wheel) otherwise. An
        in-place build first clears the earlier one, so a build that fails half-way
        leaves extensions without a manifest (which the guard treats as stale), never
        new extensions beside an old manifest."""

        def run(self) -> None:
            if self.inplace:
                remove_earlier_build()
            super().run()
            packages = HERE if self.inplace else Path(self.build_lib)
            compiled.write_manifest(packages / "runtime" / compiled.MANIFEST_NAME, record)

    cmdclass["build_ext"] = BuildExtWithManifest

setup(ext_modules=ext_modules, cmdclass=cmdclass)
