"""Per-card state in bounded memory: a fixed number of card slots, set-associative.

What the engine remembers about a card (its scheme history, the acquirer that last
approved it) lives in arrays indexed by a slot number; :class:`CardSlots` says which
slot holds a card. It never grows: ``capacity`` slots in sets of ``ways``; a card's set
is ``card % sets``, and a card new to a full set takes the slot of the set's least
recently used card, whose state is forgotten (the caller sees ``fresh`` and resets the
slot).

Card keys are non-negative integers: in the simulator the card's number in the traffic's
card population (0 to count - 1: with ``capacity`` >= count each set receives at most
``ways`` of them, so nothing is ever evicted and the state is exact), in the router a
64-bit hash of the card's token (``card_key``), where a set that overflows forgets its
least recently used card.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b
from typing import Final

WAYS: Final = 4
NO_CARD: Final = -1


def card_key(token: str) -> int:
    """The engine's key for a card token (a fingerprint, never a card number): 63 bits."""
    return int.from_bytes(blake2b(token.encode(), digest_size=8).digest(), "big") >> 1


class CardSlots:
    """Which of ``capacity`` slots holds a card's state (see the module docstring)."""

    __slots__ = ("_owner", "_used", "capacity", "evictions", "fresh", "sets", "ways")

    def __init__(self, capacity: int, ways: int = WAYS) -> None:
        if capacity < 1 or ways < 1:
            raise ValueError(f"need at least one slot and one way, got {capacity}, {ways}")
        self.ways = min(ways, capacity)
        self.sets = -(-capacity // self.ways)  # ceil: at least ``capacity`` slots
        self.capacity = self.sets * self.ways
        self._owner = array("q", [NO_CARD]) * self.capacity
        self._used = array("d", [0.0]) * self.capacity
        self.fresh = False  # whether the last slot() handed out a slot for a new card
        self.evictions = 0  # cards forgotten to make room

    def find(self, card: int) -> int:
        """The slot holding ``card``, or -1 when it holds none (nothing changes)."""
        if card < 0:
            return -1
        base = (card % self.sets) * self.ways
        owner = self._owner
        for slot in range(base, base + self.ways):
            if owner[slot] == card:
                return slot
        return -1

    def slot(self, card: int, now: float) -> int:
        """The slot for ``card`` (a new one if it has none), marked used at ``now``.

        ``fresh`` tells whether the slot was just given to the card (empty, or taken
        from the set's least recently used card): its state must be reset.
        """
        base = (card % self.sets) * self.ways
        owner = self._owner
        used = self._used
        oldest = base
        for slot in range(base, base + self.ways):
            held = owner[slot]
            if held == card:
                used[slot] = now
                self.fresh = False
                return slot
            if held == NO_CARD:
                owner[slot] = card
                used[slot] = now
                self.fresh = True
                return slot
            if used[slot] < used[oldest]:
                oldest = slot
        self.evictions += 1
        owner[oldest] = card
        used[oldest] = now
        self.fresh = True
        return oldest

    def nbytes(self) -> int:
        """Memory held by the slot table itself (owners and use times)."""
        return self._owner.itemsize * len(self._owner) + self._used.itemsize * len(self._used)
