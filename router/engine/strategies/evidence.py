"""What the learning strategies learn from: verdicts, and counts that forget.

:class:`Attribution` turns an attempt's answer into a verdict about the acquirer (for,
against, or nothing) from its decline class and latency; the card's own declines never
count. :class:`Counts` keeps one segment's successes and failures per acquirer and
forgets old ones, by a discount (:class:`DiscountedCounts`) or a sliding window of the
segment's last verdicts (:class:`WindowedCounts`); :class:`Slots` numbers the acquirers
so the counts are flat lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from router.engine.rules import Candidates
from router.engine.strategies.api import FAILURE, NEUTRAL, SUCCESS, AttemptResult
from scenarios.schema import Memory
from scenarios.taxonomy import OutcomeClass


class Attribution:
    """Which answers count for or against an acquirer (see ``LearningStrategy``).

    An approval is a success unless slower than ``slow_ms`` (then a failure); an
    acquirer-side answer whose class is in ``failure_classes`` is a failure; anything
    else (the card's own declines above all) is neutral.
    """

    __slots__ = ("_failures", "_slow_ms")

    def __init__(self, failure_classes: Iterable[str], slow_ms: float | None) -> None:
        self._failures = frozenset(OutcomeClass(c) for c in failure_classes)
        self._slow_ms = slow_ms

    def verdict(self, result: AttemptResult) -> int:
        """``SUCCESS``, ``FAILURE`` or ``NEUTRAL`` for the acquirer that answered."""
        if result.outcome is OutcomeClass.APPROVED:
            slow = self._slow_ms
            return SUCCESS if slow is None or result.latency_ms <= slow else FAILURE
        if result.acquirer_side and result.outcome in self._failures:
            return FAILURE
        return NEUTRAL


class Slots:
    """Numbers for acquirer names (the scenario's first, any other when first seen), and
    each rule's candidates as numbers, looked up once per rule."""

    __slots__ = ("_by_candidates", "index")

    def __init__(self, acquirers: Iterable[str]) -> None:
        self.index: dict[str, int] = {}
        for name in acquirers:
            self.of(name)
        self._by_candidates: dict[Candidates, tuple[int, ...]] = {}

    def of(self, acquirer: str) -> int:
        found = self.index.get(acquirer)
        if found is None:
            found = self.index[acquirer] = len(self.index)
        return found

    def candidates(self, candidates: Candidates) -> tuple[int, ...]:
        found = self._by_candidates.get(candidates)
        if found is None:
            found = self._by_candidates[candidates] = tuple(
                [self.of(a) for a in candidates.acquirers]
            )
        return found

    def names(self) -> list[str]:
        return list(self.index)


class Counts:
    """One segment's verdicts per acquirer slot: ``values[2 * slot]`` successes,
    ``values[2 * slot + 1]`` failures (floats: discounted counts are fractional)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[float] = []

    def successes(self, slot: int) -> float:
        i = 2 * slot
        return self.values[i] if i < len(self.values) else 0.0

    def failures(self, slot: int) -> float:
        i = 2 * slot + 1
        return self.values[i] if i < len(self.values) else 0.0

    def observations(self, slot: int) -> float:
        return self.successes(slot) + self.failures(slot)

    def add(self, slot: int, success: bool) -> None:
        """Count a verdict for the acquirer in ``slot`` (after forgetting, by subclass)."""
        raise NotImplementedError

    def _grow(self, slot: int) -> None:
        missing = 2 * slot + 2 - len(self.values)
        if missing > 0:
            self.values.extend([0.0] * missing)

    def forget(self, slot: int) -> None:
        """Drop every verdict of the acquirer in ``slot``: it has none again."""
        values = self.values
        if 2 * slot < len(values):
            values[2 * slot] = 0.0
            values[2 * slot + 1] = 0.0


class DiscountedCounts(Counts):
    """Every verdict first multiplies all counts by ``discount``."""

    __slots__ = ("_discount",)

    def __init__(self, discount: float) -> None:
        super().__init__()
        self._discount = discount

    def add(self, slot: int, success: bool) -> None:
        self._grow(slot)
        values = self.values
        d = self._discount
        if d < 1.0:
            for i in range(len(values)):
                values[i] *= d
        values[2 * slot + (0 if success else 1)] += 1.0


class WindowedCounts(Counts):
    """The counts of the segment's last ``size`` verdicts (all acquirers together)."""

    __slots__ = ("_pos", "_ring", "_size")

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._ring: list[int] = []  # 2 * slot + (0 success, 1 failure); grows to size
        self._pos = 0

    def add(self, slot: int, success: bool) -> None:
        self._grow(slot)
        code = 2 * slot + (0 if success else 1)
        ring = self._ring
        if len(ring) < self._size:
            ring.append(code)
        else:
            pos = self._pos
            self.values[ring[pos]] -= 1.0
            ring[pos] = code
            self._pos = pos + 1 if pos + 1 < self._size else 0
        self.values[code] += 1.0

    def forget(self, slot: int) -> None:
        """Drop the slot's verdicts from the counts and from the window: the others
        keep their order, oldest first, and the window refills from the verdicts to come."""
        Counts.forget(self, slot)
        ring = self._ring
        pos = self._pos
        oldest_first = ring[pos:] + ring[:pos]
        self._ring = [code for code in oldest_first if code // 2 != slot]
        self._pos = 0


def counts_for(memory: Memory) -> Callable[[], Counts]:
    """A maker of empty counts that forget as ``memory`` says."""
    window = memory.window
    if window is not None:
        return lambda: WindowedCounts(window)
    discount = 1.0 if memory.discount is None else memory.discount
    return lambda: DiscountedCounts(discount)
