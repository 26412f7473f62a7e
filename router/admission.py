"""Admission control: a cap on payments being routed, so overload is shed instead of queued.

An asyncio service without a cap queues without bound: under a burst at three times
capacity the router once held ~4,000 payments in flight with a p99 of 11.8 s
(docs/performance.md, "Overload lessons"). Above the cap a new payment is answered at
once with 503 and ``Retry-After``, before its body is read: no acquirer call, no key
claimed, nothing stored. A request under a key the router already holds is still let
through, since it only replays (or waits for) an answer and starts no new work.

The default cap is the acquirer connection pool's size (itself Little's law on the
scenario's peak rate and attempt timeout): a payment holds at most one connection at a
time, so an admitted payment finds a free connection for its attempts, voids and status
inquiries; only background reversals can make it wait for the pool.
"""

from __future__ import annotations

from router.payment_request import RequestError


class OverloadedError(RequestError):
    """The router is at its cap of payments in flight."""

    def __init__(self, cap: int, retry_after_s: int) -> None:
        super().__init__(
            503,
            "overloaded",
            [
                (
                    "",
                    f"the router is routing its maximum of {cap} payments; nothing was "
                    "attempted or stored: retry after the Retry-After delay with the same "
                    "Idempotency-Key",
                )
            ],
            headers=((b"retry-after", str(retry_after_s).encode()),),
        )


class Admission:
    """Counts payments being routed and says whether one more may start."""

    __slots__ = ("_refusal", "cap", "in_flight", "retry_after_s", "shed")

    def __init__(self, cap: int, retry_after_s: int = 1) -> None:
        if cap < 1:
            raise ValueError("the cap on payments in flight must be at least 1")
        if retry_after_s < 1:
            raise ValueError("Retry-After must be at least 1 second")
        self.cap = cap
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.shed = 0
        self._refusal = OverloadedError(cap, retry_after_s)

    @property
    def full(self) -> bool:
        return self.in_flight >= self.cap

    def refuse(self) -> OverloadedError:
        """The answer to a payment shed at the cap (counted)."""
        self.shed += 1
        return self._refusal

    def enter(self) -> None:
        """A payment starts routing (the caller checked :attr:`full` first)."""
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
