"""Loading scenario files, with errors that name the file, the field path and the problem."""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scenarios.schema import RoutingPolicy, Scenario, cross_check

BUNDLED_DIR = Path(__file__).resolve().parent
MAX_LISTED_PROBLEMS = 10


class ScenarioError(Exception):
    """A scenario could not be loaded; ``str()`` is the message to show the user."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [
            f"{source}: {path}: {problem}" if path else f"{source}: {problem}"
            for path, problem in problems[:MAX_LISTED_PROBLEMS]
        ]
        if len(problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"{source}: ... and {len(problems) - MAX_LISTED_PROBLEMS} more problems")
        super().__init__("\n".join(lines))


def resolve_path(name: str | Path) -> Path:
    """A scenario path as given, or the name of a bundled scenario (``baseline``)."""
    path = Path(name)
    if path.exists() or path.suffix or path.parent != Path("."):
        return path
    bundled = BUNDLED_DIR / f"{name}.yaml"
    return bundled if bundled.exists() else path


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file."""
    resolved = resolve_path(path)
    source = str(path)
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(source, [("", "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError(source, [("", "is a directory, not a scenario file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [("", f"cannot read file: {exc}")]) from None
    return parse_scenario(text, source, base_dir=resolved.resolve().parent)


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Parse and validate scenario YAML text; ``source`` names it in error messages.

    ``base_dir`` is where relative paths in it (a custom strategy's file) are read from.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [(where, f"YAML syntax error: {problem}")]) from None
    return validate_scenario(data, source, base_dir)


def validate_scenario(
    data: Any, source: str = "<scenario>", base_dir: Path | None = None
) -> Scenario:
    """Validate already-parsed data (a dict) as a scenario."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(source, [("", f"a scenario must be a mapping of keys, got {kind}")])
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(source, validation_problems(exc, data)) from None
    problems = list(cross_check(scenario))
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def validate_policy(data: Any, scenario: Scenario, source: str = "<policy>") -> RoutingPolicy:
    """Validate a routing policy against a scenario's acquirers (used for hot swaps)."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [("", "a policy must be a mapping of keys")])
    try:
        policy = RoutingPolicy.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, validation_problems(exc, data)) from None
    candidate = scenario.with_policy(policy)
    prefix = "policies[0]"
    problems = [
        (path.removeprefix(prefix).lstrip("."), problem)
        for path, problem in cross_check(candidate)
        if path.startswith(prefix)
    ]
    if problems:
        raise ScenarioError(source, problems)
    return policy


def validation_problems(exc: ValidationError, data: Any) -> list[tuple[str, str]]:
    """Turn pydantic errors into (field path, problem) pairs a person can act on.

    A misspelt key shows up twice in pydantic's report (the unknown key, and the field
    it meant as missing); the two are folded into one "did you mean" problem.
    """
    errors = exc.errors(include_url=False)
    missing: dict[str, list[str]] = {}
    for error in errors:
        if error["type"] == "missing":
            parent, _, name = format_path(error["loc"], data).rpartition(".")
            missing.setdefault(parent, []).append(name)
    problems: list[tuple[str, str]] = []
    suggested: set[str] = set()
    for error in errors:
        path = format_path(error["loc"], data)
        problem = _describe(error)
        if error["type"] == "extra_forbidden":
            parent, _, name = path.rpartition(".")
            match = get_close_matches(name, missing.get(parent, []), n=1, cutoff=0.6)
            if match:
                problem = f"unknown key; did you mean {match[0]!r}?"
                suggested.add(f"{parent}.{match[0]}" if parent else match[0])
        elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            tag = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
            path = f"{path}.{tag}" if tag else path
        problems.append((path, problem))
    unique: list[tuple[str, str]] = []
    for path, problem in problems:
        if path in suggested and problem.startswith("required field"):
            continue
        if (path, problem) not in unique:
            unique.append((path, problem))
    return unique


def format_path(loc: tuple[int | str, ...], data: Any) -> str:
    """A pydantic location as the path the user wrote, e.g. ``acquirers[1].latency.median_ms``.

    Pydantic inserts union tags and type names into the location; they are dropped by
    walking the user's own data alongside, keeping only keys that are really there.
    """
    parts: list[str] = []
    node: Any = data
    for i, item in enumerate(loc):
        is_last = i == len(loc) - 1
        if isinstance(node, list) and isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if 0 <= item < len(node) else None
        elif isinstance(node, dict) and (item in node or is_last):
            parts.append(f".{item}" if parts else str(item))
            node = node.get(item)
        elif isinstance(node, dict) and isinstance(item, str) and "[" not in item:
            # a union tag or a type name pydantic put in the path: not the user's key
            continue
        elif is_last or node is not None:
            continue
    return "".join(parts)


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see `routelab schema`)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "required field is missing (it says which kind of entry this is)"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return f"{message} (got {error['input']!r})" if _short_input(error) else message


def _short_input(error: Any) -> bool:
    value = error.get("input")
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 40
