"""Acquirer connectors: one per acquirer, translating the router's payment into its dialect.

Every answer is normalised into the shared decline taxonomy (``scenarios.taxonomy``)
while the raw code is kept. HTTP-level trouble (5xx, 429, dropped connections, broken
bodies) becomes a technical error the acquirer is blamed for, with a raw code such as
``HTTP_503``, ``CONN_RESET`` or ``BAD_BODY``. An answer is ``certain`` only when the
router knows whether money moved: after a timeout or a broken answer the acquirer may
have approved, and the router must void before it tries elsewhere.

One :class:`Connector` subclass per dialect (``router/iso8583.py``, ``router/psp.py``),
registered under the scenario's dialect name where connectors are built
(``router/app.py``); the mock acquirers speak the other end of each dialect
(``mock_acquirers/dialects/``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar
from urllib.parse import quote

from router.payment_request import CardPayment
from router.transport import AcquirerTransport, Headers, TransportError, TransportResponse
from scenarios.taxonomy import CODES, TIMEOUT_CODE, CodeInfo, OutcomeClass, classify

TIMEOUT_INFO = CODES[TIMEOUT_CODE]
# HTTP statuses that by their definition mean the request was not acted on
_NOT_PROCESSED_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 503})
# a body that is not the dialect's JSON (orjson's error and MalformedAnswerError are ValueErrors)
_UNREADABLE = (KeyError, TypeError, ValueError)


@dataclass(frozen=True, slots=True)
class AttemptAnswer:
    """One authorisation attempt's result, normalised.

    ``code`` is an ISO 8583 field-39 code (``"68"`` for a timeout) or a transport code
    (``HTTP_503``...); ``raw_code`` is what the acquirer actually said; ``certain`` is
    False when the acquirer may have approved without the router knowing; ``advice`` is
    the Mastercard Merchant Advice Code a decline carried ("" for none).
    """

    code: str
    info: CodeInfo
    raw_code: str
    certain: bool
    reference: str | None = None
    advice: str = ""

    @property
    def approved(self) -> bool:
        return self.info.outcome is OutcomeClass.APPROVED


class AttemptStatus(StrEnum):
    """What an acquirer says became of an attempt when asked by its key."""

    APPROVED = "approved"
    DECLINED = "declined"
    REVERSED = "reversed"
    PENDING = "pending"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"  # the status query itself failed

    @property
    def nothing_approved(self) -> bool:
        """True when the attempt certainly holds no approval (safe to try elsewhere)."""
        return self in _NOTHING_APPROVED


_NOTHING_APPROVED = frozenset(
    {AttemptStatus.DECLINED, AttemptStatus.REVERSED, AttemptStatus.NOT_FOUND}
)


class VoidResult(StrEnum):
    """The answer to a void (ISO reversal or PSP cancel) of an attempt."""

    VOIDED = "voided"  # an approval existed and is now reversed
    NOT_VOIDED = "not_voided"  # nothing approved to void (yet: ask the status to be sure)
    UNKNOWN = "unknown"  # the void request itself failed


def technical_failure(raw_code: str, meaning: str) -> CodeInfo:
    """Taxonomy entry for an HTTP-level failure: the acquirer's fault, worth a cascade."""
    return CodeInfo(raw_code, OutcomeClass.TECHNICAL_ERROR, True, True, meaning)


def failure_answer(failure: TransportError) -> AttemptAnswer:
    """An attempt that got no usable answer from the transport."""
    if failure.raw_code == TIMEOUT_CODE:
        return AttemptAnswer(TIMEOUT_CODE, TIMEOUT_INFO, "TIMEOUT", False)
    if not failure.acquirer_side:
        # the router's own overload (no pooled connection came free): the request never
        # left, so the outcome is certain and the acquirer is not to blame; no cascade,
        # since every acquirer shares the pool
        info = CodeInfo(failure.raw_code, OutcomeClass.TECHNICAL_ERROR, False, False, str(failure))
        return AttemptAnswer(failure.raw_code, info, failure.raw_code, True)
    info = technical_failure(failure.raw_code, str(failure))
    return AttemptAnswer(failure.raw_code, info, failure.raw_code, not failure.maybe_processed)


def http_failure_answer(status: int) -> AttemptAnswer:
    """An attempt answered with a non-200 HTTP status."""
    raw = f"HTTP_{status}"
    return AttemptAnswer(
        raw,
        technical_failure(raw, f"HTTP {status} from the acquirer"),
        raw,
        status in _NOT_PROCESSED_STATUSES,
    )


def bad_body_answer(detail: str) -> AttemptAnswer:
    return AttemptAnswer("BAD_BODY", technical_failure("BAD_BODY", detail), "BAD_BODY", False)


def iso_answer(code: str, raw_code: str, reference: str | None, advice: str = "") -> AttemptAnswer:
    """A dialect-level answer already translated to an ISO code."""
    return AttemptAnswer(code, classify(code), raw_code, True, reference, advice)


def advice_code(value: object) -> str:
    """A Merchant Advice Code as a dialect sends it ("03", or "03 : Do not try again"):
    its two digits, or "" when it is missing or not one."""
    if not isinstance(value, str):
        return ""
    head = value.split(":", 1)[0].strip()
    return head if len(head) == 2 and head.isdigit() else ""


class MalformedAnswerError(ValueError):
    """A 200 answer whose body does not follow the dialect."""


class Connector(ABC):
    """The router's client for one acquirer's API; subclasses speak one dialect."""

    dialect: ClassVar[str]

    def __init__(self, acquirer: str, transport: AcquirerTransport) -> None:
        self.acquirer = acquirer
        self.transport = transport
        self.prefix = f"/{quote(acquirer, safe='')}"

    async def authorise(self, payment: CardPayment, key: str, timeout_s: float) -> AttemptAnswer:
        """Ask for an authorisation under ``key``; never raises for acquirer trouble."""
        path, body, headers = self.encode_authorisation(payment, key)
        try:
            response = await self.transport.post(self.prefix + path, body, headers, timeout_s)
        except TransportError as failure:
            return failure_answer(failure)
        if response.status != 200:
            return http_failure_answer(response.status)
        try:
            return self.decode_authorisation(response.body, key)
        except _UNREADABLE as exc:
            return bad_body_answer(f"{type(exc).__name__}: {exc}")

    async def void(self, key: str, timeout_s: float) -> VoidResult:
        """Void the attempt made under ``key`` (reverse it if it was approved)."""
        path, body = self.encode_void(key)
        response = await self._call(path, body, timeout_s)
        if response is None:
            return VoidResult.UNKNOWN
        try:
            return VoidResult.VOIDED if self.decode_void(response) else VoidResult.NOT_VOIDED
        except _UNREADABLE:
            return VoidResult.UNKNOWN

    async def status(self, key: str, timeout_s: float) -> AttemptStatus:
        """What became of the attempt made under ``key``."""
        response = await self._call(self.status_path(quote(key, safe="")), None, timeout_s)
        if response is None:
            return AttemptStatus.UNKNOWN
        try:
            return self.decode_status(response)
        except _UNREADABLE:
            return AttemptStatus.UNKNOWN

    async def _call(self, path: str, body: bytes | None, timeout_s: float) -> bytes | None:
        try:
            if body is None:
                response: TransportResponse = await self.transport.get(
                    self.prefix + path, timeout_s
                )
            else:
                response = await self.transport.post(self.prefix + path, body, {}, timeout_s)
        except TransportError:
            return None
        return response.body if response.status == 200 else None

    # -- the dialect ----------------------------------------------------------------------

    @abstractmethod
    def encode_authorisation(self, payment: CardPayment, key: str) -> tuple[str, bytes, Headers]:
        """Path (below the acquirer's prefix), body and headers of an authorisation."""

    @abstractmethod
    def decode_authorisation(self, body: bytes, key: str) -> AttemptAnswer:
        """The normalised answer from a 200 authorisation body."""

    @abstractmethod
    def encode_void(self, key: str) -> tuple[str, bytes]:
        """Path and body of the void of the attempt under ``key``."""

    @abstractmethod
    def decode_void(self, body: bytes) -> bool:
        """True when the void reversed an approval."""

    @abstractmethod
    def status_path(self, quoted_key: str) -> str:
        """Path of the status query for the attempt under a URL-quoted key."""

    @abstractmethod
    def decode_status(self, body: bytes) -> AttemptStatus:
        """The attempt's status from a 200 status body."""
