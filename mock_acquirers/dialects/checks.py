"""Field checks the dialects' request parsers share: each problem names its field.

Validation is hand-written rather than pydantic because it sits on the hot path of
every request. A parser first tries a fast path of cheap type checks plus one regular
expression over the card fields; any doubt falls back on these checks, which are slower
but say exactly which field is wrong, so a 400 answer is readable.
"""

from __future__ import annotations

import re
from typing import Any

from mock_acquirers.asgi import RequestError

MAX_KEY_LENGTH = 64
# currency | BIN | last four | issuer country | merchant country, checked in one match
CARD_SHAPE = re.compile(r"[A-Z]{3}\|[0-9]{6,8}\|[0-9]{4}\|[A-Z]{2}\|[A-Z]{2}")


def required_text(data: dict[str, Any], name: str, path: str, max_length: int = 128) -> str:
    """A required non-empty string of at most ``max_length`` characters."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{path} is required and must be a non-empty string", path)
    if len(value) > max_length:
        raise RequestError(f"{path} is longer than {max_length} characters", path)
    return value


def digit_string(data: dict[str, Any], name: str, path: str, low: int, high: int) -> str:
    """A string of ``low`` to ``high`` ASCII digits (a BIN, the last four)."""
    value = data.get(name)
    if not (
        isinstance(value, str) and low <= len(value) <= high and value.isascii() and value.isdigit()
    ):
        size = f"{low}" if low == high else f"{low}-{high}"
        raise RequestError(f"{path} must be a string of {size} digits", path)
    return value


def upper_letters(data: dict[str, Any], name: str, path: str, length: int) -> str:
    """``length`` upper-case ASCII letters (a currency, a country)."""
    value = data.get(name)
    if not (
        isinstance(value, str)
        and len(value) == length
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    ):
        raise RequestError(f"{path} must be {length} upper-case letters", path)
    return value


def minor_units(data: dict[str, Any], name: str, path: str) -> int:
    """A positive amount in minor units."""
    value = data.get(name)
    # bool is an int subclass: reject it explicitly, True is not an amount
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RequestError(f"{path} must be a positive integer in minor units", path)
    return value


def json_object(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested JSON object."""
    value = data.get(name)
    if not isinstance(value, dict):
        raise RequestError(f"{name} must be a JSON object", name)
    return value
