"""One taxonomy for every acquirer answer: approved, soft/hard decline, technical error, timeout.

Raw codes are ISO 8583 field-39 values; connectors translate other dialects into them
first. Each code says whether cascading to another acquirer can help (``cascadable``)
and whether it is the acquirer's fault (``acquirer_side``): only acquirer-side failures
count against an acquirer's success-rate score, never a card's own problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OutcomeClass(StrEnum):
    APPROVED = "approved"
    SOFT_DECLINE = "soft_decline"
    HARD_DECLINE = "hard_decline"
    TECHNICAL_ERROR = "technical_error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    outcome: OutcomeClass
    cascadable: bool
    acquirer_side: bool
    meaning: str


def _info(
    code: str, outcome: OutcomeClass, cascadable: bool, acquirer_side: bool, meaning: str
) -> CodeInfo:
    return CodeInfo(code, outcome, cascadable, acquirer_side, meaning)


_A, _S, _H, _T, _O = (
    OutcomeClass.APPROVED,
    OutcomeClass.SOFT_DECLINE,
    OutcomeClass.HARD_DECLINE,
    OutcomeClass.TECHNICAL_ERROR,
    OutcomeClass.TIMEOUT,
)

CODES: dict[str, CodeInfo] = {
    info.code: info
    for info in [
        _info("00", _A, False, False, "approved"),
        # soft, generic: often the acquirer's set-up for the segment; another acquirer may win
        _info("05", _S, True, True, "do not honour"),
        _info("19", _S, True, True, "re-enter transaction"),
        # soft but card-side: retry later, not elsewhere now
        _info("51", _S, False, False, "insufficient funds"),
        _info("59", _S, False, False, "suspected fraud (step-up candidate)"),
        _info("61", _S, False, False, "exceeds amount limit"),
        _info("65", _S, False, False, "exceeds frequency limit / SCA required"),
        _info("1A", _S, False, False, "strong customer authentication required"),
        # data errors and hard declines: never cascade, never retry
        _info("04", _H, False, False, "pick up card"),
        _info("07", _H, False, False, "pick up card, special condition"),
        _info("12", _H, False, False, "invalid transaction"),
        _info("14", _H, False, False, "invalid card number"),
        _info("15", _H, False, False, "no such issuer"),
        _info("41", _H, False, False, "lost card"),
        _info("43", _H, False, False, "stolen card"),
        _info("54", _H, False, False, "expired card"),
        _info("57", _H, False, False, "transaction not permitted to cardholder"),
        _info("62", _H, False, False, "restricted card"),
        # technical: the path through this acquirer failed; another path may work
        _info("91", _T, True, True, "issuer or switch inoperative"),
        _info("96", _T, True, True, "system malfunction"),
        _info("94", _T, False, True, "duplicate transmission"),
        _info("68", _O, True, True, "response received too late"),
    ]
}

APPROVED = "00"
TIMEOUT_CODE = "68"
TECHNICAL_ERROR_CODE = "96"
UNKNOWN_CODE = _info("??", _S, False, False, "unrecognised response code")


def classify(code: str) -> CodeInfo:
    """What a raw response code means for routing; unknown codes are soft, not cascaded."""
    info = CODES.get(code)
    if info is not None:
        return info
    return CodeInfo(code, UNKNOWN_CODE.outcome, False, False, UNKNOWN_CODE.meaning)
