"""Build hook: compile the simulator's hot path with mypyc (pure-Python fallback).

Everything else about the package lives in pyproject.toml. Set ROUTELAB_PURE_PYTHON=1
to skip compilation (for debugging with a pure-Python traceback).
"""

import os

from setuptools import setup

# The per-payment path of the simulator and the shared pure cores it calls. These
# modules are plain typed Python; mypyc turns them into C extensions ~1.6x faster.
COMPILED = [
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
    "mock_acquirers/behaviour.py",
    "simulator/capacity.py",
    "results/tally.py",
    "simulator/model.py",
    "scenarios/streams.py",
    "scenarios/fees.py",
    "results/histogram.py",
]

ext_modules = []
if os.environ.get("ROUTELAB_PURE_PYTHON", "") not in ("1", "true", "yes"):
    from mypyc.build import mypycify

    ext_modules = mypycify(
        ["--config-file=", "--ignore-missing-imports", "--python-version=3.11", *COMPILED],
        opt_level="3",
    )

setup(ext_modules=ext_modules)
