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

from results.attempt_log import (
    AttemptLogWriter,
    AttemptRow,
    concat_attempt_logs,
    write_attempt_log,
)
from scenarios.taxonomy import TIMEOUT_CODE, classify
from simulator.model import Flight
from simulator.observer import Observer

TIMED_OUT_RAW = "TIMEOUT"  # the raw code the router's connectors give an unanswered attempt


class AttemptLog(Observer):
    """Writes the attempts of one replication (or, called again, of several) to a file."""

    def __init__(self, writer: AttemptLogWriter, replication: int = 0) -> None:
        self.writer = writer
        self.replication = replication
        self._open: dict[int, list[AttemptRow]] = {}

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
        flow = flight.flow
        self.writer.append_payment(
            f"sim-{self.replication}-{flight.number}",
            flight.payment,
            flow.decision,
            flow.status,
            self._open.pop(flight.number, []),
            self.replication,
        )

    def next_replication(self, replication: int) -> None:
        """Write the next replication's rows under its own index."""
        self._open.clear()
        self.replication = replication

    def close(self) -> None:
        self.writer.close()


def join_parts(path: Path, parts: list[Path]) -> None:
    """Join the replications' attempt logs (workers write them as Parquet parts, in any
    order) into ``path`` in replication order, and remove the parts."""
    write_attempt_log(concat_attempt_logs(parts), path)
    for part in parts:
        part.unlink(missing_ok=True)
