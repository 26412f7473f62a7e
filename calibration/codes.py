"""Decline vocabularies of the exports, mapped to routelab's ISO 8583 taxonomy.

Each table maps a source's own decline value to the field-39 code whose class
(``scenarios.taxonomy``: approved, soft/hard decline, technical, timeout) and sides
(acquirer-side or the card's own, cascadable or not) best match it. Where the source
names no field-39 equivalent the nearest code of the same class and side is used; the
comment says so. Values not in a table are counted and reported, and taken as a generic
soft decline (05) so no row is lost silently.
"""

from __future__ import annotations

import re

GENERIC_DECLINE = "05"

# Stripe decline codes (charge.outcome / "Decline Reason" in the Payments export), from
# Stripe's public reference "Decline codes" (docs.stripe.com/declines/codes).
STRIPE_DECLINE_CODES: dict[str, str] = {
    "authentication_required": "1A",
    "approve_with_id": "05",
    "call_issuer": "05",  # field-39 01 "refer to card issuer": a soft, generic decline
    "card_declined": "05",  # the error code Stripe gives when no decline code applies
    "card_not_supported": "57",
    "card_velocity_exceeded": "61",  # over the balance, credit or amount limit
    "currency_not_supported": "57",
    "do_not_honor": "05",
    "do_not_try_again": "57",  # Visa R0/R1-like stop advice: hard, never retry
    "duplicate_transaction": "94",
    "expired_card": "54",
    "fraudulent": "59",
    "generic_decline": "05",
    "incorrect_number": "14",
    "incorrect_cvc": "14",  # data error (field-39 N7 / 82), same class as invalid number
    "incorrect_pin": "14",  # field-39 55: a data error
    "incorrect_zip": "05",  # AVS mismatch: soft, generic
    "insufficient_funds": "51",
    "invalid_account": "14",
    "invalid_amount": "12",  # field-39 13 "invalid amount": an invalid transaction
    "invalid_cvc": "14",
    "invalid_expiry_month": "54",
    "invalid_expiry_year": "54",
    "invalid_number": "14",
    "invalid_pin": "14",
    "issuer_not_available": "91",
    "lost_card": "41",
    "merchant_blacklist": "57",
    "new_account_information_available": "14",
    "no_action_taken": "05",
    "not_permitted": "57",
    "offline_pin_required": "1A",
    "online_or_offline_pin_required": "1A",
    "pickup_card": "04",
    "pin_try_exceeded": "57",  # field-39 75: hard
    "processing_error": "96",
    "reenter_transaction": "19",
    "restricted_card": "62",
    "revocation_of_all_authorizations": "57",
    "revocation_of_authorization": "57",
    "security_violation": "59",  # field-39 63
    "service_not_allowed": "57",
    "stolen_card": "43",
    "stop_payment_order": "57",
    "testmode_decline": "05",
    "transaction_not_allowed": "57",
    "try_again_later": "19",
    "withdrawal_count_limit_exceeded": "61",
    "timeout": "68",  # not a Stripe decline code: routelab's own test exports use it
}

# Adyen refusal reasons (refusalReason / "Acquirer Response"), from Adyen's public
# "Refusal reasons" page (docs.adyen.com/development-resources/refusal-reasons), by text.
ADYEN_REFUSAL_REASONS: dict[str, str] = {
    "Refused": "05",
    "Referral": "05",
    "Acquirer Error": "96",
    "Blocked Card": "62",
    "Expired Card": "54",
    "Invalid Amount": "12",
    "Invalid Card Number": "14",
    "Issuer Unavailable": "91",
    "Not supported": "57",
    "3D Not Authenticated": "1A",
    "Not enough balance": "51",
    "Acquirer Fraud": "59",
    "Invalid Pin": "14",
    "Pin tries exceeded": "57",
    "Pin validation not possible": "96",
    "FRAUD": "59",
    "Not Submitted": "96",
    "FRAUD-CANCELLED": "59",
    "Transaction Not Permitted": "57",
    "CVC Declined": "14",
    "Restricted Card": "62",
    "Revocation Of Auth": "57",
    "Declined Non Generic": "05",
    "Withdrawal amount exceeded": "61",
    "Withdrawal count exceeded": "65",
    "Issuer Suspected Fraud": "59",
    "AVS Declined": "05",
    "Card requires online pin": "1A",
    "No checking account available on Card": "14",
    "No savings account available on Card": "14",
    "Mobile pin required": "1A",
    "Contactless fallback": "1A",
    "Authentication required": "1A",
    "RReq not received from DS": "1A",
    "Current AID is in Penalty Box": "57",
    "CVM Required Restart Payment": "1A",
    "3DS Authentication Error": "1A",
    "Transaction blocked by Adyen to prevent excessive retry fees": "57",
    "Timeout": "68",  # not an Adyen refusal reason: routelab's own test exports use it
}
ADYEN_REFUSAL_CODES: dict[str, str] = {  # refusalReasonCode -> refusalReason
    "2": "Refused",
    "3": "Referral",
    "4": "Acquirer Error",
    "5": "Blocked Card",
    "6": "Expired Card",
    "7": "Invalid Amount",
    "8": "Invalid Card Number",
    "9": "Issuer Unavailable",
    "10": "Not supported",
    "11": "3D Not Authenticated",
    "12": "Not enough balance",
    "14": "Acquirer Fraud",
    "17": "Invalid Pin",
    "18": "Pin tries exceeded",
    "19": "Pin validation not possible",
    "20": "FRAUD",
    "21": "Not Submitted",
    "22": "FRAUD-CANCELLED",
    "23": "Transaction Not Permitted",
    "24": "CVC Declined",
    "25": "Restricted Card",
    "26": "Revocation Of Auth",
    "27": "Declined Non Generic",
    "28": "Withdrawal amount exceeded",
    "29": "Withdrawal count exceeded",
    "31": "Issuer Suspected Fraud",
    "32": "AVS Declined",
    "33": "Card requires online pin",
    "34": "No checking account available on Card",
    "35": "No savings account available on Card",
    "36": "Mobile pin required",
    "37": "Contactless fallback",
    "38": "Authentication required",
    "39": "RReq not received from DS",
    "40": "Current AID is in Penalty Box",
    "41": "CVM Required Restart Payment",
    "42": "3DS Authentication Error",
    "46": "Transaction blocked by Adyen to prevent excessive retry fees",
}

# Hyperswitch unified error codes (payment_attempt.unified_code): its connector-agnostic
# categories; "UE_9000" / "Something went wrong" is what it gives a plain card decline
# (as in the project's own connector test fixtures). Used only when neither
# issuer_error_code nor error_code is a field-39 code.
HYPERSWITCH_UNIFIED_CODES: dict[str, str] = {
    "UE_1000": "14",  # issue with the payment method details: a data error
    "UE_2000": "12",  # issue with the payment request: an invalid transaction
    "UE_3000": "96",  # technical failure at the connector
    "UE_4000": "57",  # the payment method cannot be used for this payment
    "UE_9000": "05",  # generic decline ("something went wrong")
}

# A raw acquirer response as Adyen shows it: "05 : Do not honour", "51: Insufficient funds"
_RAW_RESPONSE = re.compile(r"^\s*([0-9A-Z]{1,2})\s*[:\-]")


def raw_response_code(raw: str) -> str | None:
    """The field-39 code at the start of a raw acquirer response, zero-padded, or None."""
    match = _RAW_RESPONSE.match(raw)
    if match is None:
        return None
    return match.group(1).rjust(2, "0")
