"""The seam between the mock acquirer service and one acquirer API dialect.

A :class:`Dialect` knows its endpoints, parses the three requests an acquirer serves
(authorisation, void, status inquiry) into plain values and encodes the answers. It
never touches the behaviour model, the ledger or the clock: the service
(``mock_acquirers/app.py``) does the work and the timing, the dialect only speaks.

The router's side of the same seam is ``router/connectors.py`` (:class:`Connector`),
one subclass per dialect (``router/iso8583.py``, ``router/psp.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, NamedTuple, Protocol

from mock_acquirers.asgi import Scope
from scenarios.sampler import Payment


class Operation(Enum):
    """What a request to an acquirer endpoint asks for."""

    AUTHORISE = "authorise"
    VOID = "void"  # an ISO reversal, a PSP cancel
    STATUS = "status"  # a status inquiry by the attempt's key


# per endpoint: HTTP method -> operation (the keys are the endpoint's Allow header)
Methods = dict[str, Operation]


@dataclass(slots=True)
class AuthorisationRequest:
    """One authorisation as either dialect sends it, reduced to what the acquirer needs.

    (Not frozen: a frozen dataclass costs about a microsecond more to build, per request.)
    """

    key: str
    reference: str
    payment: Payment
    last4: str


class VoidRequest(NamedTuple):
    """Which attempt a void names: its idempotency key, or the acquirer's own reference
    of it when ``by_acquirer_reference``."""

    attempt_id: str
    by_acquirer_reference: bool = False


class HttpRequest(NamedTuple):
    """A request to one of a dialect's endpoints: the path below ``/{acquirer}/{path}/``
    split on ``/``, the body (empty for a GET) and the ASGI scope (headers, query)."""

    rest: list[str]
    body: bytes
    scope: Scope


class AttemptView(Protocol):
    """What an answer to a void or a status inquiry may tell about an attempt."""

    @property
    def reference(self) -> str:
        """The merchant's reference of the payment."""

    @property
    def acquirer_reference(self) -> str:
        """The acquirer's own reference of the attempt."""

    @property
    def visible_code(self) -> str | None:
        """The response code, None while the attempt is still being processed."""

    @property
    def reversed(self) -> bool:
        """True once an approval was voided."""


class Dialect(ABC):
    """One acquirer API as the mock serves it; one instance per scenario acquirer.

    ``name`` is the scenario's ``dialect`` value (``scenarios/acquirers.py``); the
    dialect's endpoints live under ``/{acquirer}/{path}/``. Parsers raise
    :class:`mock_acquirers.asgi.RequestError` naming the offending field.
    """

    name: ClassVar[str]
    path: ClassVar[str]

    def __init__(self, acquirer: str) -> None:
        self.acquirer = acquirer

    @abstractmethod
    def endpoint(self, rest: list[str]) -> Methods | None:
        """The methods served at ``rest`` (the path below the dialect's prefix), or None
        when there is no such endpoint."""

    @abstractmethod
    def parse_authorisation(self, request: HttpRequest) -> AuthorisationRequest:
        """The authorisation a request asks for."""

    @abstractmethod
    def parse_void(self, request: HttpRequest) -> VoidRequest:
        """The attempt a void (reversal, cancel) names."""

    @abstractmethod
    def parse_status(self, request: HttpRequest) -> str:
        """The idempotency key a status inquiry asks about."""

    @abstractmethod
    def authorisation_answer(
        self,
        request: AuthorisationRequest,
        code: str,
        acquirer_reference: str,
        stan: str,
        auth_code: str,
        advice: str = "",
    ) -> bytes:
        """The answer to an authorisation decided with ISO 8583 ``code``; ``auth_code`` is
        empty unless approved; ``advice`` is the Merchant Advice Code a Mastercard
        decline carries ("" for none)."""

    @abstractmethod
    def void_answer(self, void: VoidRequest, attempt: AttemptView | None, voided: bool) -> bytes:
        """The answer to a void; ``voided``: the attempt is, or will be, reversed."""

    @abstractmethod
    def status_answer(self, key: str, attempt: AttemptView | None) -> bytes:
        """The answer to a status inquiry (``attempt`` None: no attempt under ``key``)."""
