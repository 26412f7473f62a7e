"""The card schemes' retry rules, per card, in bounded memory: pure, for the lifecycle.

:class:`PaymentFlow` asks :class:`SchemeRules` before every cascade and tells it about
every retry and every decline, so both engines obey the same rules (the scenario's
``schemes`` section, ``scenarios/schemes.py``, says what they are and what they cost):

- Visa category-1 codes (the issuer will never approve) are never retried;
- Mastercard declines carrying Merchant Advice Code 03 or 21 are never retried;
- Visa: a card's retries (attempts after the first of a payment) in the last
  ``window_days``: past ``retry_limit`` the router stops (``over_limit: stop``) or pays
  ``excess_retry_fee`` per retry (``pay``);
- Mastercard: a card's declines beyond ``declines_per_day`` in 24 h or beyond
  ``declines_per_30_days`` in 30 days cost ``excess_decline_fee`` each.

Per card the rules need the times of its last few counted events (retries of a Visa
card, declines of a Mastercard card): a ring of ``depth`` times per card slot, ``depth``
the largest limit, in :class:`~router.engine.cards.CardSlots`. Memory is fixed when the
rules are built: ``capacity * (16 + 4 + 8 * depth)`` bytes (300 bytes a card with the
default limits), whatever the traffic. A payment without a card key (-1) is subject to
the per-code rules only. Times are the engine's seconds.
"""

from __future__ import annotations

from array import array
from typing import Final

from router.engine.cards import CardSlots
from scenarios.schema import Scenario
from scenarios.schemes import Schemes

DAY_S: Final = 86_400.0
VISA: Final = "visa"
MASTERCARD: Final = "mastercard"

# Visa's category 1, "issuer will never approve" (docs/domain.md; 14 and 46 from Visa's
# own list): never retried.
VISA_CATEGORY_1: Final = frozenset(
    {"04", "07", "12", "14", "15", "41", "43", "46", "57", "62", "R0", "R1", "R3"}
)
# Mastercard Merchant Advice Codes that mean stop: 03 do not try again, 21 cancelled.
STOP_ADVICE: Final = frozenset({"03", "21"})

_NEVER: Final = -1.0e300  # an empty place in a card's ring of event times


class CardEvents:
    """Per card slot, the times of its last ``depth`` events, as a ring."""

    __slots__ = ("_head", "_times", "depth")

    def __init__(self, capacity: int, depth: int) -> None:
        self.depth = depth
        self._times = array("d", [_NEVER]) * (capacity * depth)
        self._head = array("i", [0]) * capacity  # where the next event of each slot goes

    def reset(self, slot: int) -> None:
        """Forget a slot's events (its card was replaced)."""
        base = slot * self.depth
        times = self._times
        for i in range(base, base + self.depth):
            times[i] = _NEVER
        self._head[slot] = 0

    def add(self, slot: int, t: float) -> None:
        head = self._head[slot]
        self._times[slot * self.depth + head] = t
        self._head[slot] = head + 1 if head + 1 < self.depth else 0

    def count_since(self, slot: int, since: float, limit: int) -> int:
        """How many of the slot's events are at or after ``since``, counting at most
        ``limit`` (<= depth) of the newest: enough to tell whether a limit is reached."""
        depth = self.depth
        base = slot * depth
        pos = self._head[slot]
        times = self._times
        count = 0
        while count < limit:
            pos = pos - 1 if pos > 0 else depth - 1
            if times[base + pos] < since:
                break
            count += 1
        return count

    def nbytes(self) -> int:
        return self._times.itemsize * len(self._times) + self._head.itemsize * len(self._head)


class SchemeRules:
    """The scheme rules of a scenario, with the per-card counts they need.

    ``capacity`` is how many cards are tracked at once (0: none, only the per-code
    rules apply). Counts are kept from the engine's start: a card's earlier history
    outside the run is not known.
    """

    __slots__ = (
        "_events",
        "_mc_day_limit",
        "_mc_month_limit",
        "_slots",
        "_visa_limit",
        "_visa_window_s",
        "capacity",
        "mastercard_fee",
        "visa_fee",
        "visa_stops",
    )

    def __init__(self, schemes: Schemes, capacity: int) -> None:
        visa, mastercard = schemes.visa, schemes.mastercard
        self._visa_limit: int = visa.retry_limit
        self._visa_window_s: float = visa.window_days * DAY_S
        self.visa_stops: bool = visa.over_limit == "stop"
        self.visa_fee: float = visa.excess_retry_fee
        self._mc_day_limit: int = mastercard.declines_per_day
        self._mc_month_limit: int = mastercard.declines_per_30_days
        self.mastercard_fee: float = mastercard.excess_decline_fee
        self.capacity = capacity
        depth = max(self._visa_limit, self._mc_day_limit, self._mc_month_limit)
        self._slots = CardSlots(max(capacity, 1))
        self._events = CardEvents(self._slots.capacity if capacity > 0 else 0, depth)

    def _slot(self, card: int, now: float) -> int:
        slots = self._slots
        slot = slots.slot(card, now)
        if slots.fresh:
            self._events.reset(slot)
        return slot

    # -- the lifecycle asks ---------------------------------------------------------------

    def may_retry(self, card: int, network: str, code: str, advice: str, now: float) -> bool:
        """Whether the schemes let a payment be tried again after an answer of ``code``
        (with Merchant Advice Code ``advice``, "" for none)."""
        if network == VISA:
            if code in VISA_CATEGORY_1:
                return False
            if self.visa_stops and card >= 0 and self.capacity > 0:
                slot = self._slots.find(card)
                if slot >= 0 and self._visa_retries(slot, now) >= self._visa_limit:
                    return False
        elif network == MASTERCARD and advice in STOP_ADVICE:
            return False
        return True

    def retried(self, card: int, network: str, now: float) -> bool:
        """A retry of ``card`` is sent at ``now``: True when it is beyond the Visa limit
        (it costs ``visa_fee``)."""
        if network != VISA or card < 0 or self.capacity <= 0:
            return False
        slot = self._slot(card, now)
        excess = self._visa_retries(slot, now) >= self._visa_limit
        self._events.add(slot, now)
        return excess

    def declined(self, card: int, network: str, now: float) -> bool:
        """``card`` was declined at ``now``: True when the decline is beyond a Mastercard
        limit (it costs ``mastercard_fee``)."""
        if network != MASTERCARD or card < 0 or self.capacity <= 0:
            return False
        slot = self._slot(card, now)
        events = self._events
        # the declines before this one, in the last day and the last 30 days
        day = events.count_since(slot, now - DAY_S, self._mc_day_limit)
        month = events.count_since(slot, now - 30.0 * DAY_S, self._mc_month_limit)
        events.add(slot, now)
        return day >= self._mc_day_limit or month >= self._mc_month_limit

    def _visa_retries(self, slot: int, now: float) -> int:
        return self._events.count_since(slot, now - self._visa_window_s, self._visa_limit)

    # -- for reports and tests ------------------------------------------------------------

    def nbytes(self) -> int:
        """Memory held for per-card counts (fixed when the rules are built)."""
        return self._slots.nbytes() + self._events.nbytes() if self.capacity > 0 else 0

    @property
    def evictions(self) -> int:
        """Cards forgotten to make room (0 while at most ``capacity`` cards are seen)."""
        return self._slots.evictions


# A live router sees card tokens, not a population's numbers: room for four times the
# scenario's cards (or this many when it has none), so few sets ever overflow.
LIVE_HEADROOM: Final = 4
LIVE_CARDS: Final = 16_384


def scheme_rules(scenario: Scenario, *, live: bool = False) -> SchemeRules | None:
    """The scheme rules a scenario's payments obey, with room for its card population
    (None when the scenario turns them off)."""
    schemes = scenario.schemes
    if not schemes.enabled:
        return None
    cards = scenario.traffic.cards
    if live:
        capacity = LIVE_HEADROOM * cards.count if cards is not None else LIVE_CARDS
    else:
        # the simulator's card numbers are 0..count-1: one slot each, exact
        capacity = cards.count if cards is not None else 0
    return SchemeRules(schemes, capacity)
