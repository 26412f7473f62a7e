"""The attempts every importer produces: one typed column per field, one row per attempt.

Importers turn an export into :class:`Attempts` (numpy columns, strings as
:class:`Categorical` codes) plus an :class:`ImportReport` that says what was read, what
was wrong and which rows could not be used and why. The fitting code only ever sees
:class:`Attempts`, so every source is calibrated the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scenarios.taxonomy import OutcomeClass, classify

#: outcome classes as small ints (the order of :class:`OutcomeClass`)
OUTCOMES: tuple[OutcomeClass, ...] = tuple(OutcomeClass)
OUTCOME_INDEX = {o.value: i for i, o in enumerate(OUTCOMES)}
APPROVED_I, SOFT_I, HARD_I, TECHNICAL_I, TIMEOUT_I = range(5)


class Categorical:
    """A string column as integer codes into ``names`` (code -1: missing).

    Built from Arrow, the names stay an Arrow array until asked for: a column of a
    million payment ids is grouped by its codes and never needs them as Python strings.
    """

    __slots__ = ("_dictionary", "_names", "codes")

    def __init__(
        self, codes: np.ndarray, names: list[str] | None = None, dictionary: pa.Array | None = None
    ) -> None:
        self.codes = codes
        self._names = names
        self._dictionary = dictionary

    @property
    def names(self) -> list[str]:
        if self._names is None:
            values = self._dictionary.to_pylist() if self._dictionary is not None else []
            self._names = [str(v) for v in values]
        return self._names

    @property
    def size(self) -> int:
        """How many names there are (without materialising them)."""
        if self._names is None and self._dictionary is not None:
            return len(self._dictionary)
        return len(self.names)

    @classmethod
    def from_arrow(cls, column: pa.Array | pa.ChunkedArray) -> Categorical:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
        encoded = pc.dictionary_encode(column)
        indices = encoded.indices
        if indices.null_count:
            indices = pc.fill_null(indices, -1)
        codes = indices.to_numpy(zero_copy_only=False).astype(np.int32)
        return cls(codes, dictionary=encoded.dictionary)

    @classmethod
    def constant(cls, name: str, n: int) -> Categorical:
        return cls(np.zeros(n, dtype=np.int32), [name])

    def values(self) -> np.ndarray:
        """The strings themselves (object array; "" for missing)."""
        names = np.array([*self.names, ""], dtype=object)
        return names[np.where(self.codes < 0, len(self.names), self.codes)]

    def take(self, index: np.ndarray) -> Categorical:
        return Categorical(self.codes[index], self._names, self._dictionary)

    def counts(self) -> dict[str, int]:
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.names))
        return {name: int(c) for name, c in zip(self.names, counts, strict=True) if c}

    def recode(self, names: list[str]) -> Categorical:
        """The same values as codes into ``names`` (which must hold every value used)."""
        index = {name: i for i, name in enumerate(names)}
        mapping = np.array([index[n] for n in self.names] + [-1], dtype=np.int32)
        return Categorical(mapping[np.where(self.codes < 0, len(self.names), self.codes)], names)


@dataclass
class Attempts:
    """One row per authorisation attempt; columns are numpy arrays of equal length.

    ``t_s`` is seconds since the export's first record's epoch (importers give epoch
    seconds; :func:`calibration.timeline` moves it to the scenario timeline), ``amount``
    and ``fee`` are minor units (``fee`` NaN where the export has none), ``latency_ms``
    NaN where unknown, ``outcome`` an index into :data:`OUTCOMES`, ``attempt`` 1-based
    (0 where the export does not say: the calibration numbers attempts by time).
    """

    t_s: np.ndarray
    payment: Categorical
    attempt: np.ndarray
    acquirer: Categorical
    network: Categorical
    card_type: Categorical
    issuer_country: Categorical
    currency: Categorical
    amount: np.ndarray
    cross_border: np.ndarray  # int8: 1, 0, or -1 where the export does not say
    outcome: np.ndarray  # int8 index into OUTCOMES
    code: Categorical  # ISO 8583 field-39 codes
    latency_ms: np.ndarray
    fee: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.size)

    def take(self, index: np.ndarray) -> Attempts:
        return Attempts(
            t_s=self.t_s[index],
            payment=self.payment.take(index),
            attempt=self.attempt[index],
            acquirer=self.acquirer.take(index),
            network=self.network.take(index),
            card_type=self.card_type.take(index),
            issuer_country=self.issuer_country.take(index),
            currency=self.currency.take(index),
            amount=self.amount[index],
            cross_border=self.cross_border[index],
            outcome=self.outcome[index],
            code=self.code.take(index),
            latency_ms=self.latency_ms[index],
            fee=self.fee[index],
        )

    @property
    def has_latency(self) -> bool:
        return bool(np.isfinite(self.latency_ms).any())

    @property
    def has_fees(self) -> bool:
        return bool(np.isfinite(self.fee).any())


def concat(parts: list[Attempts]) -> Attempts:
    """Several imports as one (categories merged; payment ids shared across files)."""
    if len(parts) == 1:
        return parts[0]

    def merged(name: str) -> Categorical:
        cats: list[Categorical] = [getattr(p, name) for p in parts]
        names = sorted({n for c in cats for n in c.names})
        recoded = [c.recode(names) for c in cats]
        return Categorical(np.concatenate([c.codes for c in recoded]), names)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return Attempts(
        t_s=joined("t_s"),
        payment=merged("payment"),
        attempt=joined("attempt"),
        acquirer=merged("acquirer"),
        network=merged("network"),
        card_type=merged("card_type"),
        issuer_country=merged("issuer_country"),
        currency=merged("currency"),
        amount=joined("amount"),
        cross_border=joined("cross_border"),
        outcome=joined("outcome"),
        code=merged("code"),
        latency_ms=joined("latency_ms"),
        fee=joined("fee"),
    )


def outcome_of_codes(codes: Categorical) -> np.ndarray:
    """Each ISO code's outcome class index, by the shared taxonomy."""
    table = np.array([OUTCOME_INDEX[classify(n).outcome.value] for n in codes.names] + [0])
    return table[np.where(codes.codes < 0, len(codes.names), codes.codes)].astype(np.int8)


def code_table(codes: Categorical, attribute: str) -> np.ndarray:
    """A boolean per code name, from the taxonomy's ``acquirer_side`` or ``cascadable``."""
    return np.array([bool(getattr(classify(n), attribute)) for n in codes.names] + [False])


# --- problems and what was left out ---------------------------------------------------


@dataclass
class ImportReport:
    """What an import found: fatal problems, rows left out (with reasons), notes.

    ``problems`` are lines naming the file, the row or column and what is wrong: any
    problem makes the export unusable (exit 2). ``skipped`` counts rows that are valid
    but cannot calibrate anything (a refund, a pending payment), by reason.
    """

    source: str
    rows: int = 0
    used: int = 0
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def problem(self, where: str, what: str) -> None:
        self.problems.append(
            f"{self.source}: {where}: {what}" if where else f"{self.source}: {what}"
        )

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)

    def note(self, text: str) -> None:
        self.notes.append(f"{self.source}: {text}")

    def summary_lines(self) -> list[str]:
        lines = [f"{self.source}: {self.rows} rows read, {self.used} attempts used"]
        lines += [f"{self.source}: {n} rows left out: {why}" for why, n in self.skipped.items()]
        return lines + self.notes


class ExportError(Exception):
    """An export cannot be used; ``problems`` are the lines to show, one per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
