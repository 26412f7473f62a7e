"""Strategies by their scenario ``type``, and strategies written by users in their own files.

A built-in strategy is one class and one line in :data:`STRATEGIES`; a strategy that
wraps another (its scenario section has an ``inner`` strategy) is one line in
:data:`WRAPPERS` and is given the inner strategy, built first. The engine looks a
policy's strategy up here and has no per-strategy branches. ``type: custom`` names a
class in a user's Python file (``path``, ``class``, ``params``): it is imported once per
file and checked against the strategy API, and a bad path, a missing class or a class
that does not implement the API is a :class:`StrategyError` whose message names the
scenario field, as every other scenario error does.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from hashlib import sha256
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from router.engine.errors import StrategyError
from router.engine.oracle import Oracle
from router.engine.sticky import Sticky
from router.engine.strategies import (
    CostAware,
    Elimination,
    Hierarchical,
    Priority,
    SrWindow,
    Strategy,
    StrategyContext,
    Thompson,
    Ucb,
    Weighted,
)
from scenarios.loader import ScenarioError
from scenarios.schema import CustomStrategy, Scenario
from scenarios.streams import UniformStream

StrategyFactory = Callable[[Any, StrategyContext], Strategy]
WrapperFactory = Callable[[Any, StrategyContext, Strategy], Strategy]

#: scenario ``type`` -> factory(config, context); one line per built-in strategy
STRATEGIES: dict[str, StrategyFactory] = {
    "priority": Priority,
    "weighted": Weighted,
    "sr_window": SrWindow,
    "thompson": Thompson,
    "ucb": Ucb,
    "cost_aware": CostAware,
    "hierarchical": Hierarchical,
    "oracle": Oracle,
}

#: scenario ``type`` -> factory(config, context, inner) for strategies that wrap another
WRAPPERS: dict[str, WrapperFactory] = {
    "elimination": Elimination,
    "sticky": Sticky,
}


def make_strategy(config: Any, context: StrategyContext, field: str = "strategy") -> Strategy:
    """The strategy a policy's ``strategy`` section describes."""
    if isinstance(config, CustomStrategy):
        return custom_strategy(config, context, field)
    wrapper = WRAPPERS.get(config.type)
    if wrapper is not None:
        return wrapper(config, context, make_strategy(config.inner, context, f"{field}.inner"))
    factory = STRATEGIES.get(config.type)
    if factory is None:
        raise StrategyError(f"{field}.type", f"unknown strategy type {config.type!r}")
    return factory(config, context)


def custom_strategy(config: CustomStrategy, context: StrategyContext, field: str) -> Strategy:
    cls = strategy_class(config, field)
    try:
        strategy = cls(dict(config.params), context)
    except Exception as exc:  # the user's constructor: report, never a traceback
        raise StrategyError(
            f"{field}.params", f"{config.class_name}({config.params!r}) failed: {_say(exc)}"
        ) from exc
    return strategy


def strategy_class(config: CustomStrategy, field: str = "strategy") -> type[Strategy]:
    """The user's class, imported from its file and checked against the strategy API."""
    module = _import_file(Path(config.path), f"{field}.path")
    found = getattr(module, config.class_name, None)
    if found is None:
        classes = sorted(
            name
            for name, value in vars(module).items()
            if inspect.isclass(value) and value.__module__ == module.__name__
        )
        hint = f" (classes in it: {', '.join(classes)})" if classes else ""
        raise StrategyError(
            f"{field}.class", f"{Path(config.path).name} has no class {config.class_name!r}{hint}"
        )
    if not inspect.isclass(found) or not issubclass(found, Strategy):
        raise StrategyError(
            f"{field}.class",
            f"{config.class_name} does not implement the strategy API: subclass "
            "routelab.api.Strategy and override order(payment, candidates, now)",
        )
    if found.order is Strategy.order:
        raise StrategyError(
            f"{field}.class",
            f"{config.class_name} does not implement order(payment, candidates, now)",
        )
    return found


_MODULES: dict[str, ModuleType] = {}


def _import_file(path: Path, field: str) -> ModuleType:
    """Import a user's strategy file once per content (an edited file is imported anew)."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise StrategyError(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
    digest = sha256(source).hexdigest()[:16]
    cached = _MODULES.get(digest)
    if cached is not None:
        return cached
    name = f"routelab_user_strategy_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StrategyError(field, f"{str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise StrategyError(field, f"importing {path.name} failed: {_say(exc)}") from exc
    _MODULES[digest] = module
    return module


def _say(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


#: strategy types only the simulator can run (they need its knowledge of the acquirers)
SIMULATOR_ONLY = frozenset({"oracle"})


def strategy_problems(scenario: Scenario, *, live: bool = False) -> Iterator[tuple[str, str]]:
    """Every custom strategy of a scenario that cannot be loaded and built, as (field,
    problem): its file, its class and its constructor with the scenario's params; with
    ``live``, every strategy only the simulator can run (the oracle) too. Strategies
    wrapped by another (``inner``) are checked as well."""
    acquirers = tuple(scenario.acquirer_names)
    for p, policy in enumerate(scenario.policies):
        config: Any = policy.strategy
        field = f"policies[{p}].strategy"
        while config is not None:
            if live and config.type in SIMULATOR_ONLY:
                yield f"{field}.type", f"{config.type!r} runs in 'routelab simulate' only"
            if isinstance(config, CustomStrategy):
                context = StrategyContext(UniformStream(np.random.default_rng(0)), acquirers)
                try:
                    custom_strategy(config, context, field)
                except StrategyError as exc:
                    yield exc.field, exc.problem
            config, field = getattr(config, "inner", None), f"{field}.inner"


def check_strategies(scenario: Scenario, source: str, *, live: bool = False) -> None:
    """Raise :class:`ScenarioError` (one line per problem) if a custom strategy of
    ``scenario`` cannot be loaded (or, ``live``, a policy needs the simulator);
    ``source`` names the scenario file."""
    problems = list(strategy_problems(scenario, live=live))
    if problems:
        raise ScenarioError(source, problems)
