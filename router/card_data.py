"""Card numbers never enter the router: finding them in free text, whatever their separators.

A full card number (PAN) is 13 to 19 digits passing the Luhn check. People and systems
write one grouped: "4242 4242 4242 4242", "4242-4242-4242-4242", "4242.4242.4242.4242",
with non-breaking spaces, en dashes, soft hyphens or full-width digits. The router keeps
only a card's BIN and last four digits, so every free-text value it reads (merchant
reference, Idempotency-Key, card network and type, admin bodies) is checked with
:func:`contains_card_number` before it is accepted, and every message that might echo
input goes through :func:`redact` before it is sent or logged.

How a number is found: the text is NFKC-normalised (full-width digits and dashes become
ASCII), then split into runs of digit groups joined by at most five separator
characters; a stretch of whole consecutive groups holding 13 to 19 digits that passes
Luhn is a card number, provided every group in it but the last has at least three
digits. Whole groups, because a grouped PAN is written as whole groups ("order-1 4242
4242 4242 4242" holds one: the four groups after the "1"); groups of three or more,
because that is how card numbers are grouped (4-4-4-4, 4-6-5, 4-4-4-4-3, the last group
may be short), while references such as "lt1f2e3d4c-1-0-1234" or "2026-01-15-000123"
join short numbers with dashes and are not card numbers (counting those would refuse
about one in ten of them, Luhn passing by chance).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19
MIN_GROUP_DIGITS = 3  # every group of a grouped card number but the last
CARD_NUMBER_PROBLEM = "looks like a card number; card numbers are never accepted"
REDACTED = "[card number removed]"

# whitespace, every dash (Unicode Pd plus the minus sign), dots and middle dots, slash,
# underscore, and the invisible characters a copy-paste can carry (soft hyphen, zero
# width space/joiners, word joiner, byte-order mark)
_SEPARATOR = (
    r"[\s\-\u2010-\u2015\u2212\u2043\u2E3A\u2E3B\u301C\u3030\uFE31\uFE32\uFE58\uFE63\uFF0D"
    r".\u00B7\u2024\u2027\u2219\u22C5\u30FB\uFF0E\uFF65/_\u00AD\u200B-\u200D\u2060\uFEFF]"
)
_RUN = re.compile(rf"\d(?:{_SEPARATOR}{{0,5}}\d)*")
_GROUP = re.compile(r"\d+")
_ASCII_DIGITS = "0123456789"


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (ASCII) passes the Luhn check every card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _ascii_digits(group: str) -> str:
    if group.isascii():
        return group
    return "".join(str(unicodedata.decimal(ch)) for ch in group)


def _card_number_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every card number in ``text`` (already NFKC-normalised)."""
    for run in _RUN.finditer(text):
        groups = list(_GROUP.finditer(run.group()))
        digits = [_ascii_digits(g.group()) for g in groups]
        base = run.start()
        for first in range(len(groups)):
            count = 0
            for last in range(first, len(groups)):
                count += len(digits[last])
                if count > MAX_PAN_DIGITS:
                    break
                if count >= MIN_PAN_DIGITS and luhn_valid("".join(digits[first : last + 1])):
                    yield base + groups[first].start(), base + groups[last].end()
                if len(digits[last]) < MIN_GROUP_DIGITS:
                    break  # a short group can only end a card number


def _may_hold_digits(text: str) -> bool:
    """Cheap pre-check: can ``text`` hold 13 digits at all? (the hot path's common case)"""
    if len(text) < MIN_PAN_DIGITS:
        return False
    if text.isascii():
        return sum(text.count(d) for d in _ASCII_DIGITS) >= MIN_PAN_DIGITS
    return True


def contains_card_number(text: str) -> bool:
    """True when ``text`` carries a full card number, with or without separators."""
    if not _may_hold_digits(text):
        return False
    normal = text if text.isascii() else unicodedata.normalize("NFKC", text)
    return next(_card_number_spans(normal), None) is not None


def redact(text: str) -> str:
    """``text`` with every card number replaced by :data:`REDACTED` (for messages and logs)."""
    if not _may_hold_digits(text):
        return text
    normal = text if text.isascii() else unicodedata.normalize("NFKC", text)
    spans = list(_card_number_spans(normal))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:  # overlapping stretches of one run
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    cursor = 0
    for start, end in merged:
        out.append(normal[cursor:start])
        out.append(REDACTED)
        cursor = end
    out.append(normal[cursor:])
    return "".join(out)


def card_number_paths(data: Any, path: str = "") -> Iterator[str]:
    """Where parsed JSON/YAML data carries a card number: keys, strings and integers.

    Yields field paths in the style of the scenario loader (``rules[0].name``); a key
    that is itself a card number appears redacted in the path.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            name = str(key)
            step = f"{path}.{redact(name)}" if path else redact(name)
            if contains_card_number(name):
                yield step
            yield from card_number_paths(value, step)
    elif isinstance(data, list | tuple):
        for i, item in enumerate(data):
            yield from card_number_paths(item, f"{path}[{i}]")
    elif (
        isinstance(data, str | int)
        and not isinstance(data, bool)
        and contains_card_number(str(data))
    ):
        yield path or "body"
