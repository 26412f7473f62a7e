"""Scenario overrides: ``PATH=VALUE[,VALUE...]`` set on a scenario's plain data.

A path addresses any field of the scenario format: keys joined by dots, list items by
index or by name (``policies[sr_window].strategy.window``,
``acquirers[acq_a].incidents[0].approval_delta``, ``traffic.arrival.rate_per_s``,
``seed``). Values are YAML, as in a scenario file, so numbers, booleans, flow lists and
flow mappings work (``acquirers[acq_b].latency={dist: lognormal, median_ms: 300,
sigma: 0.4}``); a comma at the top level (not inside brackets, braces or quotes)
separates the values of a grid.

An override changes the data the loader validates, and the result goes through the one
validation path (:func:`scenarios.loader.validate_scenario`), so every problem reads
``file: field.path: problem`` with the path as the user wrote it: a list item the user
named keeps its name (``policies[sr_window].strategy.window``, not ``policies[2]...``).

Sweeps and tuners use the same pieces: :func:`parse_override` per ``--set``,
:func:`expand` into grid points, :func:`build_grid` to build and validate every point
before anything runs, :func:`apply` for one point and :func:`value_at` to read a field.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from scenarios.field_paths import (
    Index,
    Key,
    Named,
    OverrideError,
    Segment,
    Walk,
    parse_path,
    path_text,
)
from scenarios.loader import ScenarioError, validate_scenario
from scenarios.schema import Scenario

__all__ = [
    "GridMode",
    "Index",
    "Key",
    "Named",
    "Override",
    "OverrideError",
    "Point",
    "Segment",
    "apply",
    "build_grid",
    "describe",
    "expand",
    "parse_override",
    "parse_path",
    "scenario_data",
    "single_point",
    "value_at",
]

# One point of a grid: path (as written) -> value, in the order the overrides were given.
Point = dict[str, Any]
GridMode = Literal["product", "zip"]


@dataclass(frozen=True)
class Override:
    """One ``PATH=VALUE[,VALUE...]``: the field it sets and the values it takes."""

    path: str  # canonical text of the path, e.g. "policies[sr_window].strategy.window"
    values: tuple[Any, ...]
    text: str = field(default="", compare=False)  # as the user typed it

    @property
    def segments(self) -> tuple[Segment, ...]:
        return parse_path(self.path)


# --- reading overrides -------------------------------------------------------------------


def parse_override(text: str) -> Override:
    """Read ``PATH=VALUE[,VALUE...]``; values are YAML, a top-level comma separates them."""
    path, equals, values = _split_assignment(text)
    if not equals:
        raise OverrideError(text, "expected PATH=VALUE[,VALUE...], e.g. seed=7")
    if not path.strip():
        raise OverrideError(text, "the path before '=' is empty")
    segments = parse_path(path)
    items = _split_values(text, values)
    return Override(path_text(segments), tuple(_yaml_value(text, item) for item in items), text)


def _split_assignment(text: str) -> tuple[str, str, str]:
    depth = 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "=" and depth <= 0:
            return text[:i], "=", text[i + 1 :]
    return text.partition("=")  # an unclosed '[' before it: the path's parser says so


_OPENS = {"[": "]", "{": "}"}
_QUOTE_AFTER = (None, "[", "{", ",", ":")


def _split_values(text: str, values: str) -> list[str]:
    """Split at commas outside brackets, braces and quoted strings."""
    items: list[str] = []
    closing: list[str] = []
    quote = ""
    last: str | None = None  # the last character outside quotes that is not a space
    start = i = 0
    while i < len(values):
        char = values[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 1
            elif char == quote and quote == "'" and values[i + 1 : i + 2] == "'":
                i += 1  # '' inside single quotes is one quote
            elif char == quote:
                quote = ""
        elif char in "'\"" and last in _QUOTE_AFTER:
            quote = char
        elif char in _OPENS:
            closing.append(_OPENS[char])
        elif char in "]}":
            if not closing or closing.pop() != char:
                raise OverrideError(text, f"unbalanced {char!r} in the value")
        elif char == "," and not closing:
            items.append(values[start:i])
            start, last = i + 1, None
            i += 1
            continue
        if not char.isspace():
            last = char
        i += 1
    if quote:
        raise OverrideError(text, f"a {quote} quote in the value is never closed")
    if closing:
        raise OverrideError(text, f"{closing[-1]!r} missing at the end of the value")
    items.append(values[start:])
    if any(not item.strip() for item in items):
        what = "no value after '='" if len(items) == 1 else "an empty value between commas"
        raise OverrideError(text, f"{what} (write null to unset an optional field)")
    return [item.strip() for item in items]


def _yaml_value(text: str, item: str) -> Any:
    try:
        return yaml.safe_load(item)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise OverrideError(text, f"value {item!r} is not valid YAML: {problem}") from None


# --- grids -------------------------------------------------------------------------------


def expand(overrides: Sequence[Override], mode: GridMode = "product") -> list[Point]:
    """The grid points the overrides describe, in order (the last override varies fastest).

    ``product`` takes every combination; ``zip`` pairs the i-th values of every
    override, which must then have equally many (an override with a single value is the
    same at every point). No overrides give one point that changes nothing.
    """
    seen: set[str] = set()
    for override in overrides:
        if override.path in seen:
            raise OverrideError(override.text or override.path, f"{override.path} is set twice")
        seen.add(override.path)
    paths = [o.path for o in overrides]
    if mode == "product" or not overrides:
        combos = itertools.product(*(o.values for o in overrides))
        return [dict(zip(paths, combo, strict=True)) for combo in combos]
    lengths = {len(o.values) for o in overrides if len(o.values) > 1}
    if len(lengths) > 1:
        counts = ", ".join(f"{o.path} has {len(o.values)}" for o in overrides)
        raise OverrideError("zip", f"paired values need lists of equal length: {counts}")
    size = lengths.pop() if lengths else 1
    columns = [o.values if len(o.values) > 1 else o.values * size for o in overrides]
    return [dict(zip(paths, row, strict=True)) for row in zip(*columns, strict=True)]


def single_point(overrides: Sequence[Override]) -> Point:
    """The one point of overrides that must each have one value (a single run)."""
    for override in overrides:
        if len(override.values) > 1:
            raise OverrideError(
                override.text or override.path,
                f"{len(override.values)} values, but this command runs one scenario: "
                "give one value, or run the grid with `routelab sweep` "
                "(a comma separates values; quote a value that contains one)",
            )
    return expand(overrides)[0]


def describe(point: Mapping[str, Any]) -> str:
    """A point as one line, e.g. ``policies[sr_window].strategy.window=50, seed=7``."""
    return ", ".join(f"{path}={_flow(value)}" for path, value in point.items())


def _flow(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value) if not isinstance(value, bool) else str(value).lower()
    return str(yaml.safe_dump(value, default_flow_style=True, width=10_000)).strip()


# --- applying ----------------------------------------------------------------------------


def scenario_data(base: Scenario | Mapping[str, Any]) -> dict[str, Any]:
    """A fresh copy of a scenario's plain data: the mapping the loader validates."""
    if isinstance(base, Scenario):
        return base.model_dump(mode="python", exclude_none=True)
    return copy.deepcopy(dict(base))


def apply(
    base: Scenario | Mapping[str, Any],
    assignments: Mapping[str, Any],
    source: str = "<scenario>",
) -> Scenario:
    """The scenario with each ``path: value`` set, validated like a scenario file.

    Raises :class:`ScenarioError` naming ``source`` and the path of every problem: an
    unknown field, an index out of range, no item of that name, or a value the scenario
    format rejects.
    """
    return _build(scenario_data(base), assignments, source)


def build_grid(
    base: Scenario | Mapping[str, Any],
    points: Sequence[Mapping[str, Any]],
    source: str = "<scenario>",
) -> list[Scenario]:
    """Every point's scenario, all built and validated before any is returned.

    One :class:`ScenarioError` lists the problems of all points (each once, with the
    first point it occurs at when the grid has several), so a sweep never starts with a
    point it cannot run.
    """
    data = scenario_data(base)
    scenarios: list[Scenario] = []
    problems: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for point in points:
        try:
            scenarios.append(_build(copy.deepcopy(data), point, source))
        except ScenarioError as exc:
            for path, problem in exc.problems:
                if (path, problem) not in seen:
                    seen.add((path, problem))
                    where = f" (at {describe(point)})" if len(points) > 1 and point else ""
                    problems.append((path, problem + where))
    if problems:
        raise ScenarioError(source, problems)
    return scenarios


def value_at(base: Scenario | Mapping[str, Any], path: str, source: str = "<scenario>") -> Any:
    """The value a path addresses (raises :class:`ScenarioError` when there is none)."""
    walk = Walk(scenario_data(base), source)
    return copy.deepcopy(walk.read(parse_path(path)))


def _build(data: dict[str, Any], assignments: Mapping[str, Any], source: str) -> Scenario:
    walk = Walk(data, source)
    problems: list[tuple[str, str]] = []
    for path, value in assignments.items():
        try:
            walk.write(parse_path(path), copy.deepcopy(value))
        except ScenarioError as exc:  # a malformed path has no field path of its own
            problems.extend((where or path, problem) for where, problem in exc.problems)
    if problems:
        raise ScenarioError(source, problems)
    try:
        return validate_scenario(data, source)
    except ScenarioError as exc:
        raise ScenarioError(
            source, [(walk.as_written(path), problem) for path, problem in exc.problems]
        ) from None
