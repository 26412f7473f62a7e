"""The simulator's attempt log: an :class:`Observer` that writes one row per attempt.

The rows are those the live router writes (results/attempt_log.py holds the schema and
the writer): the time the attempt was sent, the payment and its attributes, the rule,
the candidates in order and the chosen acquirer with the probability the strategy chose
it (first attempts), the outcome as the router saw it (a timed-out attempt is a
``timeout`` with code 68 and raw code ``TIMEOUT``, whatever the acquirer later did),
latency, fee and the payment's final status. A payment's rows are written when it
finishes; only payments in flight are held, so memory stays bounded.
"""

from __future__ import annotations

from pathlib import Path

from results.attempt_log import AttemptLogWriter
from scenarios.taxonomy import TIMEOUT_CODE, classify
from simulator.model import Flight
from simulator.observer import Observer

TIMED_OUT_RAW = "TIMEOUT"  # the raw code the router's connectors give an unanswered attempt

# per attempt: (sent at, acquirer, outcome class, raw code, code, latency ms, fee)
_Row = tuple[float, str, str, str, str, float, float]


class AttemptLog(Observer):
    """Writes the attempts of one replication (or, called again, of several) to a file."""

    def __init__(self, writer: AttemptLogWriter, replication: int = 0) -> None:
        self.writer = writer
        self.replication = replication
        self._open: dict[int, list[_Row]] = {}

    @classmethod
    def to_file(cls, path: Path) -> AttemptLog:
        """A log writing to ``path`` (Parquet, or CSV for a ``.csv`` name)."""
        return cls(AttemptLogWriter(path, engine="simulator", auto_flush=True))

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
        if timed_out:
            row = (sent_at, acquirer, "timeout", TIMED_OUT_RAW, TIMEOUT_CODE, latency_ms, fee)
        else:
            outcome = classify(code).outcome.value
            row = (sent_at, acquirer, outcome, code, code, latency_ms, fee)
        self._open.setdefault(flight.number, []).append(row)

    def finish(self, flight: Flight) -> None:
        rows = self._open.pop(flight.number, [])
        flow = flight.flow
        decision = flow.decision
        payment = flight.payment
        payment_id = f"sim-{self.replication}-{flight.number}"
        for n, (sent_at, acquirer, outcome, raw, code, latency_ms, fee) in enumerate(rows, 1):
            self.writer.append(
                sent_at,
                payment_id,
                n,
                payment.network,
                payment.card_type,
                payment.bin,
                payment.issuer_country,
                payment.currency,
                payment.amount,
                payment.cross_border,
                decision.rule,
                decision.acquirers,
                acquirer,
                decision.propensity if n == 1 else None,
                outcome,
                raw,
                code,
                latency_ms,
                fee,
                flow.status,
                self.replication,
            )

    def next_replication(self, replication: int) -> None:
        """Write the next replication's rows under its own index."""
        self._open.clear()
        self.replication = replication

    def close(self) -> None:
        self.writer.close()
