"""Card numbers in free text: found whatever the separators, scrubbed from messages.

Card numbers are generated (any prefix, 13 to 19 digits, Luhn check digit computed),
written the ways people and systems write them, and must always be found; references
built like the load tests' keys, dates and order numbers must not be.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.card_data import (
    CARD_NUMBER_PROBLEM,
    REDACTED,
    card_number_paths,
    contains_card_number,
    luhn_valid,
    redact,
)


def with_check_digit(body: str) -> str:
    """``body`` plus the Luhn check digit that makes it a valid card number."""
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable: one check digit always fits")


def grouped(pan: str, sizes: list[int], separator: str) -> str:
    out, i = [], 0
    for size in sizes:
        if i >= len(pan):
            break
        out.append(pan[i : i + size])
        i += size
    if i < len(pan):
        out.append(pan[i:])
    return separator.join(out)


def test_luhn_check_on_known_numbers() -> None:
    assert luhn_valid("4242424242424242") and luhn_valid("378282246310005")
    assert not luhn_valid("4242424242424241")
    assert with_check_digit("424242424242424") == "4242424242424242"


SEPARATORS = [" ", "-", ".", "\u00a0", "\u2013", "\u2014", "\u2212", "\u2010", "/", "_", " - "]
SEPARATORS += ["\u00ad", "\u200b", "\uff0d", "\u30fb", "  "]


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize(
    ("pan", "sizes"),
    [
        ("4242424242424242", [4, 4, 4, 4]),
        ("378282246310005", [4, 6, 5]),
        ("30569309025904", [4, 6, 4]),
        ("6011000990139424", [4, 4, 4, 4]),
        ("4222222222222", [4, 4, 4, 1]),  # a 13-digit Visa: the last group is short
    ],
)
def test_card_numbers_are_found_with_any_separator(
    pan: str, sizes: list[int], separator: str
) -> None:
    text = grouped(pan, sizes, separator)
    for value in (text, f"order-1 {text}", f"ref:{text}!", f"x{text}y"):
        assert contains_card_number(value), value
        assert pan not in redact(value).replace(separator, "")
        assert REDACTED in redact(value)


def test_full_width_and_other_unicode_digits() -> None:
    assert contains_card_number("４２４２ ４２４２ ４２４２ ４２４２")
    arabic = "".join(chr(0x0660 + int(d)) for d in "4242424242424242")
    assert contains_card_number(arabic)
    assert redact(f"card {arabic} here") == f"card {REDACTED} here"


@given(
    body=st.text(alphabet="0123456789", min_size=12, max_size=18),
    sizes=st.lists(st.integers(3, 6), min_size=1, max_size=6),
    separator=st.sampled_from(SEPARATORS),
    before=st.text(alphabet="abc XYZ:#", max_size=8),
    after=st.text(alphabet="abc XYZ:#", max_size=8),
)
def test_any_grouping_of_any_card_number_is_found(
    body: str, sizes: list[int], separator: str, before: str, after: str
) -> None:
    pan = with_check_digit(body)
    text = before + grouped(pan, sizes, separator) + after
    assert contains_card_number(text)
    assert not any(ch.isdigit() for ch in redact(text).replace(before, "").replace(after, ""))


@pytest.mark.parametrize(
    "text",
    [
        "order-1",
        "lt1f2e3d4c-1-0-1234",  # the load tests' keys: {run_id}-{worker}-{user}-{n}
        "lt12345678-1-0-9999999",
        "2026-01-15-000123",
        "inv 12 345 678 9",
        "4242424242424241",  # fails Luhn
        "42424242424242424242",  # 20 digits: longer than any card number
        "424242******4242",  # masked, as receipts print it
        "",
    ],
)
def test_references_that_are_not_card_numbers_pass(text: str) -> None:
    assert not contains_card_number(text)
    assert redact(text) == text


def test_paths_to_card_numbers_in_parsed_bodies() -> None:
    data = {
        "name": "ok",
        "rules": [{"name": "card 4242 4242 4242 4242", "when": {"amount": {"max": 5000}}}],
        "weights": {"4242424242424242": 1.0},
        "seed": 4242424242424242,
        "flag": True,
    }
    paths = list(card_number_paths(data))
    assert paths == ["rules[0].name", f"weights.{REDACTED}", "seed"]
    assert all("4242" not in p for p in paths)
    assert list(card_number_paths("4242-4242-4242-4242")) == ["body"]
    assert CARD_NUMBER_PROBLEM.startswith("looks like a card number")
