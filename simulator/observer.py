"""Watching a simulated run payment by payment: the hook behind attempt logs and traces.

The simulator keeps nothing per payment; an :class:`Observer` given to a replication is
told about every attempt, every void and status answer, and every finished payment as
they are decided, so it can write an attempt log or check a trace. With no observer the
per-payment path does no work for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.model import Flight


class Observer:
    """Override what you need; every method does nothing by default."""

    def attempt(
        self,
        flight: Flight,
        acquirer: str,
        code: str,
        timed_out: bool,
        latency_ms: float,
        fee: float,
        sent_at: float,
    ) -> None:
        """An attempt was sent at ``sent_at``; ``code`` is the acquirer's answer (given
        even if the router timed out first), ``latency_ms`` what the router waited."""

    def settle(self, flight: Flight, action: int, result: int, at: float) -> None:
        """The answer to a void (``action`` VOID) or status inquiry (INQUIRE) arrived."""

    def finish(self, flight: Flight) -> None:
        """The payment is over: ``flight.flow`` holds its status, code and counters."""
