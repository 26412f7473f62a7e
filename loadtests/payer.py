"""What the load generator sends and how it reads the answer: pure, so tests need no Locust.

Payments come from the ONE payment sampler (:class:`scenarios.sampler.PaymentSampler`),
the same code the simulator draws from; the harness adds only what the router API
needs on top: the card's last four digits, a merchant reference and an idempotency key
that are unique to this run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from scenarios.sampler import Payment, PaymentSampler
from scenarios.schema import Traffic
from scenarios.streams import UniformStream

PAYMENTS_PATH = "/v1/payments"
APPROVED = "approved"
STATUSES = frozenset({"approved", "declined", "failed"})


class AnswerError(ValueError):
    """A 200 answer that is not a payment result (the router or the target is wrong)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One authorisation attempt as the router reports it."""

    acquirer: str
    outcome: str  # approved / soft_decline / hard_decline / technical_error / timeout
    void: str | None


@dataclass(frozen=True, slots=True)
class PaymentAnswer:
    """The router's answer to one payment, reduced to what the statistics need."""

    status: str  # approved / declined / failed
    code: str
    decline_class: str | None
    attempts: tuple[Attempt, ...]
    # what the card schemes' rules did: fees (minor units), attempts charged, a stop
    scheme_fees: float = 0.0
    excess_attempts: int = 0
    scheme_stopped: bool = False

    @property
    def approved(self) -> bool:
        return self.status == APPROVED


def parse_answer(body: bytes | None) -> PaymentAnswer:
    """Read the router's ``POST /v1/payments`` answer; raises :class:`AnswerError`."""
    try:
        data = orjson.loads(body or b"")
        status = data["status"]
        attempts = tuple(
            Attempt(str(a["acquirer"]), str(a["class"]), a.get("void")) for a in data["attempts"]
        )
        code = str(data["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise AnswerError(f"not a payment answer ({type(exc).__name__}: {exc})") from None
    if status not in STATUSES:
        raise AnswerError(f"unknown payment status {status!r}")
    if status == APPROVED and not attempts:
        raise AnswerError("approved without any attempt")
    schemes = data.get("schemes")
    if isinstance(schemes, dict):
        try:
            return PaymentAnswer(
                status,
                code,
                data.get("decline_class"),
                attempts,
                float(schemes["fees"]),
                int(schemes["excess_attempts"]),
                bool(schemes["stopped"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnswerError(f"not a payment answer's schemes ({type(exc).__name__})") from None
    return PaymentAnswer(status, code, data.get("decline_class"), attempts)


def card_fingerprint(card: int) -> str:
    """The token a card of the traffic's population travels as (never a card number):
    what a PSP's card fingerprint is to a merchant, stable from payment to payment."""
    return f"card-{card:07d}"


def card_last4(card: int) -> str:
    """A population card's last four digits: the same every time the card comes back."""
    return f"{(card * 7_919 + 1_237) % 10_000:04d}"


def payment_body(payment: Payment, last4: str, reference: str) -> bytes:
    """The request body the router's API takes for ``payment``; a card of the traffic's
    population also sends its fingerprint, so the router knows it when it comes back."""
    card: dict[str, str] = {
        "bin": payment.bin,
        "last4": last4,
        "network": payment.network,
        "type": payment.card_type,
        "issuer_country": payment.issuer_country,
    }
    if payment.card >= 0:
        card["fingerprint"] = card_fingerprint(payment.card)
    return orjson.dumps(
        {
            "amount": payment.amount,
            "currency": payment.currency,
            "card": card,
            "merchant_reference": reference,
        }
    )


class CardPayments:
    """One stream's payments: sampler draws plus last four digits and run-unique keys.

    The key ``{run_id}-{worker}-{user}-{n}`` serves as both Idempotency-Key and merchant
    reference; its digit runs stay far shorter than a card number, which the router
    refuses to see in a reference.
    """

    def __init__(
        self,
        traffic: Traffic,
        merchant_country: str,
        seed: np.random.SeedSequence,
        run_id: str,
        worker_index: int,
        local_index: int,
    ) -> None:
        payments_seed, cards_seed = seed.spawn(2)
        self._sampler = PaymentSampler(
            traffic, merchant_country, np.random.Generator(np.random.PCG64(payments_seed))
        )
        self._last4 = UniformStream(np.random.Generator(np.random.PCG64(cards_seed)))
        self._prefix = f"{run_id}-{worker_index}-{local_index}-"
        self.count = 0

    def next(self) -> tuple[Payment, str, bytes]:
        """The next payment, its idempotency key and its request body."""
        self.count += 1
        payment = self._sampler.next()
        key = self._prefix + str(self.count)
        u = self._last4.next()  # drawn for every payment: the stream never shifts
        last4 = card_last4(payment.card) if payment.card >= 0 else f"{int(u * 10_000):04d}"
        return payment, key, payment_body(payment, last4, key)


def failure_kind(status_code: int, error: BaseException | None) -> str:
    """How a request failed at the HTTP level: the category Locust's failure shows."""
    if status_code == 0:
        text = f"{type(error).__name__} {error}".lower() if error is not None else ""
        return "timeout" if "timeout" in text or "timed out" in text else "connection_error"
    if status_code >= 500:
        return "http_5xx"
    if status_code >= 400:
        return "http_4xx"
    return f"http_{status_code}"
