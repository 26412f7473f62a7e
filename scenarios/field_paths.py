"""Field paths into a scenario's plain data: ``acquirers[acq_a].incidents[0].approval_delta``.

Keys are joined by dots; list items are addressed by index (``[0]``) or by name
(``[acq_a]``, for lists whose items have a ``name``: acquirers, policies, rules,
incidents). :class:`Walk` follows a path through the data alongside the scenario
format's types, so a typo gets the loader's "did you mean", an index its range and a
name the known names, each as one ``file: path: problem`` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel

from scenarios.loader import ScenarioError
from scenarios.schema import Scenario


class OverrideError(ScenarioError):
    """An override that cannot be read, before any scenario is involved.

    ``str()`` is ``<override text>: <problem>``; a command line prefixes its flag.
    """

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(text, [("", problem)])


@dataclass(frozen=True)
class Key:
    """A field of a section, or a key of a mapping such as ``weights``."""

    name: str


@dataclass(frozen=True)
class Index:
    """A list item by position, counting from 0."""

    position: int


@dataclass(frozen=True)
class Named:
    """A list item by its ``name`` (acquirers, policies, rules, incidents)."""

    name: str


Segment = Key | Index | Named


def path_text(segments: Sequence[Segment]) -> str:
    """Segments as a path, written the way the loader writes field paths."""
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, Key):
            parts.append(f".{segment.name}" if parts else segment.name)
        elif isinstance(segment, Index):
            parts.append(f"[{segment.position}]")
        else:
            parts.append(f"[{segment.name}]")
    return "".join(parts)


_INDEX = re.compile(r"-?[0-9]+")
_KEY_END = re.compile(r"[.\[\]\s=]")


def parse_path(text: str) -> tuple[Segment, ...]:
    """``a.b[0].c[name]`` as segments; raises :class:`OverrideError` when malformed."""
    text = text.strip()
    segments: list[Segment] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "[":
            end = text.find("]", pos)
            if end < 0:
                raise OverrideError(text, f"'[' at character {pos + 1} is never closed")
            segments.append(_bracket(text, text[pos + 1 : end].strip()))
            pos = end + 1
            continue
        if segments:
            if text[pos] != ".":
                raise OverrideError(text, f"expected '.' or '[' at character {pos + 1}")
            pos += 1
        match = _KEY_END.search(text, pos)
        end = match.start() if match else len(text)
        if end == pos:
            raise OverrideError(text, f"a field name is missing at character {pos + 1}")
        segments.append(Key(text[pos:end]))
        pos = end
    if not segments:
        raise OverrideError(text, "the path is empty")
    if not isinstance(segments[0], Key):
        raise OverrideError(text, "a path starts with a field name, e.g. acquirers[0]")
    return tuple(segments)


def _bracket(text: str, inside: str) -> Segment:
    if not inside:
        raise OverrideError(text, "empty brackets: give an index or a name, e.g. [0] or [acq_a]")
    if _INDEX.fullmatch(inside):
        position = int(inside)
        if position < 0:
            raise OverrideError(text, f"index {position} is negative; count from 0")
        return Index(position)
    if len(inside) >= 2 and inside[0] == inside[-1] and inside[0] in "'\"":
        inside = inside[1:-1]
    return Named(inside)


# --- walking the data --------------------------------------------------------------------


class Walk:
    """Follows paths through a scenario's plain data, alongside the scenario format's types.

    The types say which keys a section has (for "did you mean" on a typo) and which
    list items and mappings lie below; the data says which union member a section is
    (its ``dist``, ``type`` or ``profile``). Named list items are remembered, so
    problem paths the loader reports by index can be given back as the user wrote them.
    """

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self._written: dict[str, str] = {}  # "policies[2]" -> "policies[sr_window]"

    def read(self, segments: Sequence[Segment]) -> Any:
        container, slot = self._locate(segments, create=False)
        if isinstance(container, dict):
            return container.get(slot)
        return container[slot]

    def write(self, segments: Sequence[Segment], value: Any) -> None:
        container, slot = self._locate(segments, create=True)
        container[slot] = value

    def as_written(self, path: str) -> str:
        """A loader path with named items put back, e.g. ``policies[sr_window].strategy``."""
        best = ""
        for resolved in self._written:
            if len(resolved) > len(best) and (
                path == resolved or path.startswith((resolved + ".", resolved + "["))
            ):
                best = resolved
        return self._written[best] + path[len(best) :] if best else path

    def _locate(self, segments: Sequence[Segment], *, create: bool) -> tuple[Any, Any]:
        """The container holding the last segment's value, and its key or index there."""
        node: Any = self.data
        shape: Any = Scenario
        resolved = ""
        for i, segment in enumerate(segments):
            written = path_text(segments[: i + 1])
            before = path_text(segments[:i])
            if isinstance(segment, Key):
                slot, shape = self._key(node, shape, segment.name, before, written)
                step = f".{slot}" if resolved else str(slot)
            else:
                slot = self._item(node, segment, before, written)
                shape = _item_type(shape)
                step = f"[{slot}]"
                if isinstance(segment, Named):
                    self._written[resolved + step] = written
            resolved += step
            if i == len(segments) - 1:
                return node, slot
            child = node.get(slot) if isinstance(node, dict) else node[slot]
            if child is None:
                if not create:
                    self._fail(written, "not set, so nothing lies below it")
                child = {} if isinstance(segments[i + 1], Key) else []
                node[slot] = child
            node = child
            shape = _concrete(shape, node)
        raise AssertionError("unreachable: a path has at least one segment")

    def _key(self, node: Any, shape: Any, name: str, before: str, written: str) -> tuple[Any, Any]:
        if isinstance(node, list):
            example = f"{before}[0]" + "".join(
                f" or {before}[{item['name']}]"
                for item in node[:1]
                if isinstance(item, dict) and "name" in item
            )
            self._fail(
                written, f"{before} is a list: pick an item by index or name, e.g. {example}"
            )
        if not isinstance(node, dict):
            self._fail(written, f"{before} is a value ({_kind(node)}), not a section with fields")
        fields = _fields(shape)
        if fields is not None and name not in fields:
            match = get_close_matches(name, list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]!r}?" if match else f" (known: {', '.join(fields)})"
            self._fail(written, "unknown key" + hint)
        slot = _existing_key(node, name)
        child_shape = fields[name] if fields is not None else _value_type(shape)
        return slot, _concrete(child_shape, node.get(slot))

    def _item(self, node: Any, segment: Index | Named, before: str, written: str) -> int:
        if not isinstance(node, list):
            what = "a section" if isinstance(node, dict) else f"a value ({_kind(node)})"
            self._fail(written, f"{before} is {what}, not a list")
        if isinstance(segment, Index):
            if segment.position < len(node):
                return segment.position
            size = f"has {len(node)} items (0 to {len(node) - 1})" if node else "is empty"
            self._fail(written, f"index {segment.position} out of range: {before} {size}")
        names = [item.get("name") if isinstance(item, dict) else None for item in node]
        found = [i for i, name in enumerate(names) if name == segment.name]
        if len(found) == 1:
            return found[0]
        if found:
            choices = " or ".join(f"{before}[{i}]" for i in found)
            self._fail(
                written,
                f"{len(found)} items of {before} are named {segment.name!r}: "
                f"address one by index ({choices})",
            )
        known = [str(name) for name in names if name is not None]
        word = _singular(before.rpartition(".")[2].rpartition("]")[2] or before)
        if not node:
            self._fail(written, f"no {word} named {segment.name!r}: {before} is empty")
        if not known:
            self._fail(written, f"the items of {before} have no names: address them by index")
        self._fail(written, f"no {word} named {segment.name!r} (known: {', '.join(known)})")

    def _fail(self, path: str, problem: str) -> NoReturn:
        raise ScenarioError(self.source, [(path, problem)])


def _concrete(annotation: Any, node: Any) -> Any:
    """The type behind ``Annotated``, optionals and unions, picked by the data when it can be.

    None when nothing definite is known (a free-form value): then any key goes, and the
    validation after the override has the last word.
    """
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [m for m in get_args(annotation) if m is not NoneType]
            annotation = _member(members, node)
        else:
            return annotation


def _member(members: list[Any], node: Any) -> Any:
    if isinstance(node, list):
        return next((m for m in members if get_origin(m) is list), None)
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if isinstance(node, dict):
        tagged = [m for m in models if _tags_match(m, node)]
        if tagged:
            return tagged[0]
        return next((m for m in members if get_origin(m) is dict), None)
    if node is None and len(members) == 1:
        return members[0]
    return None


def _tags_match(model: type[BaseModel], node: dict[str, Any]) -> bool:
    """Every ``Literal`` field of the model (``dist``, ``type``...) is in the data and fits."""
    tags = {
        name: get_args(info.annotation)
        for name, info in model.model_fields.items()
        if get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1
    }
    return all(node.get(name) in values for name, values in tags.items())


def _fields(shape: Any) -> dict[str, Any] | None:
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return {name: info.annotation for name, info in shape.model_fields.items()}
    return None


def _item_type(shape: Any) -> Any:
    return get_args(shape)[0] if get_origin(shape) is list else None


def _value_type(shape: Any) -> Any:
    return get_args(shape)[1] if get_origin(shape) is dict else None


def _existing_key(node: dict[Any, Any], name: str) -> Any:
    """The mapping's own key for ``name``: ``"05"`` stays a string, ``50`` may be a number."""
    if name in node:
        return name
    return next((key for key in node if str(key) == name or _number(name) == key), name)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else "item"
