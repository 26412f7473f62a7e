"""Independent random streams per source, spawned from one seed.

A run's randomness comes from one :class:`numpy.random.SeedSequence`, spawned into a
stream per source (arrivals, payment mix, issuer decisions, each acquirer, routing).
Because the streams are separate and every payment consumes the same draws from the
payment, issuer and acquirer streams whatever the policy, two policies run with the
same seed see the same payments and the same issuer and acquirer outcomes: common
random numbers, so their difference is a paired comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BATCH = 4096


def replication_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """One seed sequence per replication, independent of each other."""
    return list(np.random.SeedSequence(seed).spawn(replications))


@dataclass(frozen=True)
class RunStreams:
    """The named generators of one replication."""

    arrivals: np.random.Generator
    payments: np.random.Generator
    issuer: np.random.Generator
    routing: np.random.Generator
    acquirers: tuple[np.random.Generator, ...]
    # void and status-inquiry latencies per acquirer (spawned after the others, so adding
    # them left every earlier stream as it was)
    reversals: tuple[np.random.Generator, ...]

    @classmethod
    def spawn(cls, seed: np.random.SeedSequence | int, n_acquirers: int) -> RunStreams:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        children = root.spawn(4 + n_acquirers)
        gens = [np.random.Generator(np.random.PCG64(c)) for c in children]
        reversals = tuple(np.random.Generator(np.random.PCG64(c)) for c in root.spawn(n_acquirers))
        return cls(gens[0], gens[1], gens[2], gens[3], tuple(gens[4:]), reversals)


class UniformStream:
    """Scalar uniforms in [0, 1) served from numpy batches (far cheaper than per-call draws)."""

    __slots__ = ("_batch", "_buffer", "_i", "_rng")

    def __init__(self, rng: np.random.Generator, batch: int = BATCH) -> None:
        self._rng = rng
        self._batch = batch
        self._buffer: list[float] = []
        self._i = 0

    def next(self) -> float:
        i = self._i
        if i >= len(self._buffer):
            self._buffer = self._rng.random(self._batch).tolist()
            i = 0
        self._i = i + 1
        return self._buffer[i]

    @property
    def generator(self) -> np.random.Generator:
        return self._rng
