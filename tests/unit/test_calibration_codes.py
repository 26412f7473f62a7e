"""Each source's decline vocabulary maps to the shared taxonomy as the source means it."""

from __future__ import annotations

import pytest

from calibration.codes import (
    ADYEN_REFUSAL_CODES,
    ADYEN_REFUSAL_REASONS,
    HYPERSWITCH_UNIFIED_CODES,
    STRIPE_DECLINE_CODES,
    raw_response_code,
)
from scenarios.taxonomy import CODES, OutcomeClass, classify

S, H, T = OutcomeClass.SOFT_DECLINE, OutcomeClass.HARD_DECLINE, OutcomeClass.TECHNICAL_ERROR


@pytest.mark.parametrize(
    "table", [STRIPE_DECLINE_CODES, ADYEN_REFUSAL_REASONS, HYPERSWITCH_UNIFIED_CODES]
)
def test_every_mapping_lands_on_a_code_the_taxonomy_knows(table: dict[str, str]) -> None:
    assert all(code in CODES and code != "00" for code in table.values())


# (source value, outcome class, acquirer-side, cascadable): what routing must make of it
STRIPE = [
    ("insufficient_funds", S, False, False),
    ("do_not_honor", S, True, True),
    ("generic_decline", S, True, True),
    ("expired_card", H, False, False),
    ("stolen_card", H, False, False),
    ("lost_card", H, False, False),
    ("incorrect_number", H, False, False),
    ("fraudulent", S, False, False),
    ("authentication_required", S, False, False),
    ("processing_error", T, True, True),
    ("issuer_not_available", T, True, True),
    ("try_again_later", S, True, True),
    ("transaction_not_allowed", H, False, False),
]
ADYEN = [
    ("Not enough balance", S, False, False),
    ("Refused", S, True, True),
    ("Acquirer Error", T, True, True),
    ("Issuer Unavailable", T, True, True),
    ("Expired Card", H, False, False),
    ("Blocked Card", H, False, False),
    ("Invalid Card Number", H, False, False),
    ("CVC Declined", H, False, False),
    ("Issuer Suspected Fraud", S, False, False),
    ("3D Not Authenticated", S, False, False),
    ("Transaction Not Permitted", H, False, False),
]


@pytest.mark.parametrize(("value", "outcome", "acquirer_side", "cascadable"), STRIPE)
def test_stripe_decline_codes(
    value: str, outcome: OutcomeClass, acquirer_side: bool, cascadable: bool
) -> None:
    info = classify(STRIPE_DECLINE_CODES[value])
    assert (info.outcome, info.acquirer_side, info.cascadable) == (
        outcome,
        acquirer_side,
        cascadable,
    )


@pytest.mark.parametrize(("value", "outcome", "acquirer_side", "cascadable"), ADYEN)
def test_adyen_refusal_reasons(
    value: str, outcome: OutcomeClass, acquirer_side: bool, cascadable: bool
) -> None:
    info = classify(ADYEN_REFUSAL_REASONS[value])
    assert (info.outcome, info.acquirer_side, info.cascadable) == (
        outcome,
        acquirer_side,
        cascadable,
    )


def test_adyen_numeric_refusal_codes_name_known_reasons() -> None:
    assert set(ADYEN_REFUSAL_CODES.values()) <= set(ADYEN_REFUSAL_REASONS)
    assert ADYEN_REFUSAL_CODES["12"] == "Not enough balance"
    assert ADYEN_REFUSAL_CODES["4"] == "Acquirer Error"


def test_hyperswitch_unified_codes() -> None:
    assert classify(HYPERSWITCH_UNIFIED_CODES["UE_9000"]).outcome is S
    assert classify(HYPERSWITCH_UNIFIED_CODES["UE_3000"]).outcome is T
    assert classify(HYPERSWITCH_UNIFIED_CODES["UE_1000"]).outcome is H


@pytest.mark.parametrize(
    ("raw", "code"),
    [("05 : Do not honour", "05"), ("51: Insufficient funds", "51"), ("5 - Do not honor", "05"),
     ("1A : Additional customer authentication required", "1A"), ("APPROVED", None), ("", None)],
)  # fmt: skip
def test_raw_acquirer_responses(raw: str, code: str | None) -> None:
    assert raw_response_code(raw) == code
