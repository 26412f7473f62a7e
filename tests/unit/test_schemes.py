"""The card schemes' rules, against hand-made card histories: counters, and the flow's
decisions (Visa category 1 and retry limit, Mastercard advice codes and excess declines),
in bounded memory."""

from __future__ import annotations

from typing import Any

import pytest

from router.engine.cards import CardSlots, card_key
from router.engine.flow import FINISH, SEND, PaymentFlow
from router.engine.retry import RetryRules
from router.engine.schemes import (
    DAY_S,
    STOP_ADVICE,
    VISA_CATEGORY_1,
    CardEvents,
    SchemeRules,
    scheme_rules,
)
from router.engine.strategies import Ordering
from scenarios.loader import load_scenario
from scenarios.schema import RetryPolicy, Schemes
from scenarios.taxonomy import classify

CARD = 7


def schemes(**changes: Any) -> Schemes:
    return Schemes.model_validate(changes)


def rules_for(capacity: int = 64, **changes: Any) -> SchemeRules:
    return SchemeRules(schemes(**changes), capacity)


# --- the slot table ----------------------------------------------------------------------


def test_dense_card_numbers_up_to_the_capacity_each_keep_their_own_slot() -> None:
    slots = CardSlots(1000)
    seen = {slots.slot(card, float(card)) for card in range(1000)}
    assert len(seen) == 1000 and slots.evictions == 0
    assert all(slots.find(card) >= 0 for card in range(1000))
    # the same card finds the same slot again, not fresh
    first = slots.find(17)
    assert slots.slot(17, 5_000.0) == first and not slots.fresh


def test_a_full_set_forgets_its_least_recently_used_card() -> None:
    slots = CardSlots(8, ways=4)  # two sets: even cards in one, odd in the other
    for t, card in enumerate([0, 2, 4, 6]):
        slots.slot(card, float(t))
    slots.slot(0, 10.0)  # 0 used again: 2 is now the oldest
    slot = slots.slot(8, 11.0)
    assert slots.fresh and slots.evictions == 1
    assert slots.find(2) == -1 and slots.find(8) == slot
    assert [slots.find(c) >= 0 for c in (0, 4, 6)] == [True, True, True]
    assert slots.find(1) == -1 and slots.find(-1) == -1  # find never inserts


def test_card_keys_are_stable_63_bit_hashes_of_the_token() -> None:
    assert card_key("card-0000017") == card_key("card-0000017")
    assert card_key("card-0000017") != card_key("card-0000018")
    assert 0 <= card_key("x" * 64) < 2**63


def test_the_memory_of_the_rules_is_fixed_whatever_the_number_of_cards() -> None:
    rules = rules_for(capacity=256)
    before = rules.nbytes()
    # 15 is the deepest history needed with the defaults (35 Mastercard declines)
    assert before == CardSlots(256).nbytes() + 256 * (4 + 8 * 35)
    for card in range(100_000):
        rules.declined(card, "mastercard", float(card))
    assert rules.nbytes() == before
    assert rules.evictions == 100_000 - 256
    assert rules_for(capacity=0).nbytes() == 0


def test_a_ring_counts_events_since_a_time_up_to_a_limit() -> None:
    events = CardEvents(capacity=2, depth=5)
    for t in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0):  # 7 events: the ring keeps the last 5
        events.add(1, t)
    assert events.count_since(1, 0.0, 5) == 5
    assert events.count_since(1, 4.0, 5) == 4  # 4, 5, 6, 7: the boundary counts
    assert events.count_since(1, 4.0, 2) == 2  # never more than asked
    assert events.count_since(0, 0.0, 5) == 0  # another slot's events are its own
    events.reset(1)
    assert events.count_since(1, 0.0, 5) == 0


# --- the rules, card by card --------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(VISA_CATEGORY_1))
def test_visa_category_1_codes_are_never_retried(code: str) -> None:
    rules = rules_for()
    assert not rules.may_retry(CARD, "visa", code, "", 0.0)
    assert not rules.may_retry(-1, "visa", code, "", 0.0)  # with or without a card key
    assert rules.may_retry(CARD, "mastercard", code, "", 0.0)  # a Visa rule only


@pytest.mark.parametrize("code", ["05", "51", "91", "96", "68"])
def test_other_visa_codes_may_be_retried(code: str) -> None:
    assert rules_for().may_retry(CARD, "visa", code, "", 0.0)


def test_mastercard_advice_03_and_21_stop_and_other_advice_does_not() -> None:
    rules = rules_for()
    assert {"03", "21"} == STOP_ADVICE
    for advice in ("03", "21"):
        assert not rules.may_retry(CARD, "mastercard", "05", advice, 0.0)
        assert not rules.may_retry(-1, "mastercard", "05", advice, 0.0)
    for advice in ("", "01", "02", "24"):
        assert rules.may_retry(CARD, "mastercard", "05", advice, 0.0)
    assert rules.may_retry(CARD, "visa", "05", "03", 0.0)  # a Mastercard rule only


def test_visa_allows_15_retries_in_30_days_then_stops_until_the_oldest_ages_out() -> None:
    rules = rules_for()
    days = [float(d) * DAY_S for d in range(15)]  # a retry a day for 15 days
    assert [rules.retried(CARD, "visa", t) for t in days] == [False] * 15
    assert not rules.may_retry(CARD, "visa", "05", "", 20 * DAY_S)
    assert rules.may_retry(CARD + 1, "visa", "05", "", 20 * DAY_S)  # another card
    # 30 days (of 86,400 s) after the first retry it no longer counts: one more is allowed
    assert not rules.may_retry(CARD, "visa", "05", "", 30 * 86_400.0 - 1.0)
    assert rules.may_retry(CARD, "visa", "05", "", 30 * 86_400.0 + 1.0)


def test_visa_retries_past_the_limit_cost_the_fee_when_the_scenario_pays() -> None:
    rules = rules_for(visa={"over_limit": "pay", "excess_retry_fee": 12.5})
    history = [rules.retried(CARD, "visa", float(i)) for i in range(18)]
    assert history == [False] * 15 + [True] * 3
    assert rules.visa_fee == 12.5
    assert rules.may_retry(CARD, "visa", "05", "", 20.0)  # paying, not stopping
    assert not rules.retried(CARD, "mastercard", 1.0)  # only Visa retries count
    assert not rules.retried(-1, "visa", 1.0)


def test_the_visa_limit_and_window_are_parameters() -> None:
    rules = rules_for(visa={"retry_limit": 2, "window_days": 1.0})
    assert [rules.retried(CARD, "visa", t) for t in (0.0, 10.0, 20.0)] == [False, False, True]
    assert not rules.may_retry(CARD, "visa", "05", "", 30.0)
    assert rules.may_retry(CARD, "visa", "05", "", DAY_S + 15.0)  # the first aged out


def test_mastercard_charges_each_decline_beyond_the_10th_in_24_hours() -> None:
    rules = rules_for()
    times = [i * 3_600.0 for i in range(12)]  # a decline an hour
    assert [rules.declined(CARD, "mastercard", t) for t in times] == [False] * 10 + [True] * 2
    # a day after the first ones, the day's count is below 10 again
    assert not rules.declined(CARD, "mastercard", DAY_S + 2 * 3_600.0 + 1.0)
    assert rules.mastercard_fee == 50.0
    assert not rules.declined(CARD, "visa", 0.0)  # Visa declines are not counted


def test_mastercard_charges_each_decline_beyond_the_35th_in_30_days() -> None:
    rules = rules_for(mastercard={"excess_decline_fee": 45.0})
    # five declines a day, never ten in a day: the 36th within 30 days is excess
    times = [day * DAY_S + k * 60.0 for day in range(8) for k in range(5)]
    excess = [rules.declined(CARD, "mastercard", t) for t in times]
    assert excess == [False] * 35 + [True] * 5
    assert rules.mastercard_fee == 45.0
    # 30 days after the second day (days 2 to 7 left: 30 declines), no longer excess
    assert rules.declined(CARD, "mastercard", 30 * DAY_S + 3_600.0)  # days 1-7: 35
    assert not rules.declined(CARD, "mastercard", 31 * DAY_S + 3_600.0)


def test_without_card_slots_only_the_per_code_rules_apply() -> None:
    rules = rules_for(capacity=0)
    assert not any(rules.declined(CARD, "mastercard", float(i)) for i in range(50))
    assert not any(rules.retried(CARD, "visa", float(i)) for i in range(50))
    assert not rules.may_retry(CARD, "visa", "41", "", 0.0)
    assert not rules.may_retry(CARD, "mastercard", "05", "03", 0.0)


def test_a_scenario_gets_one_slot_per_card_in_the_simulator_and_room_in_a_router() -> None:
    outage = load_scenario("acquirer_outage")
    assert outage.traffic.cards is None
    sim = scheme_rules(outage)
    assert sim is not None and sim.capacity == 0
    live = scheme_rules(outage, live=True)
    assert live is not None and live.capacity == 16_384
    data = outage.model_dump(mode="python", by_alias=True)
    data["traffic"]["cards"] = {"count": 5_000}
    data["schemes"] = {"enabled": True}
    with_cards = outage.model_validate(data)
    assert scheme_rules(with_cards).capacity == 5_000  # type: ignore[union-attr]
    assert scheme_rules(with_cards, live=True).capacity == 20_000  # type: ignore[union-attr]
    data["schemes"] = {"enabled": False}
    assert scheme_rules(outage.model_validate(data)) is None


# --- the flow's decisions ----------------------------------------------------------------

ACQUIRERS = ("acqA", "acqB", "acqC")


def flow(
    scheme: SchemeRules | None, network: str, card: int = CARD, at: float = 0.0
) -> PaymentFlow:
    policy = RetryPolicy.model_validate({"max_attempts": 3})
    decision = Ordering("default", ACQUIRERS, (), ACQUIRERS[0], False, 1.0)
    return PaymentFlow(decision, RetryRules(policy), at, scheme, card, network)


def decline(f: PaymentFlow, code: str, now: float, advice: str = "") -> int:
    return f.on_answered(code, classify(code), True, now, advice)


def test_a_visa_card_at_its_retry_limit_is_not_cascaded() -> None:
    scheme = rules_for()
    for i in range(15):
        scheme.retried(CARD, "visa", float(i))
    f = flow(scheme, "visa", at=100.0)
    assert f.start(100.0) == SEND
    assert decline(f, "05", 100.2) == FINISH
    assert (f.status, f.attempts, f.scheme_stopped) == ("declined", 1, True)
    assert (f.scheme_fees, f.excess_attempts) == (0.0, 0)
    # another card, same history elsewhere: cascades as the retry policy says
    g = flow(scheme, "visa", card=CARD + 1, at=100.0)
    g.start(100.0)
    assert (decline(g, "05", 100.2), g.acquirer, g.scheme_stopped) == (SEND, "acqB", False)


def test_a_visa_card_past_its_limit_pays_for_each_retry_when_the_scenario_pays() -> None:
    scheme = rules_for(visa={"over_limit": "pay"})
    for i in range(15):
        scheme.retried(CARD, "visa", float(i))
    f = flow(scheme, "visa", at=100.0)
    f.start(100.0)
    assert decline(f, "05", 100.2) == SEND
    assert decline(f, "96", 100.4) == SEND
    assert (f.attempts, f.excess_attempts, f.scheme_fees) == (3, 2, 20.0)
    assert not f.scheme_stopped


def test_the_first_attempt_of_a_payment_is_not_a_retry() -> None:
    scheme = rules_for(visa={"retry_limit": 1, "over_limit": "pay"})
    for _ in range(3):
        f = flow(scheme, "visa")
        f.start(0.0)
        assert decline(f, "51", 0.1) == FINISH  # 51 does not cascade
        assert f.excess_attempts == 0
    f = flow(scheme, "visa", at=1.0)
    f.start(1.0)
    decline(f, "05", 1.1)  # the card's first retry: within the limit of one
    assert decline(f, "05", 1.2) == SEND and f.excess_attempts == 1  # its second: excess


def test_mastercard_advice_to_stop_ends_the_payment_where_it_would_cascade() -> None:
    for advice, stopped in (("03", True), ("21", True), ("02", False), ("", False)):
        f = flow(rules_for(), "mastercard")
        f.start(0.0)
        action = decline(f, "05", 0.2, advice)
        assert (action == FINISH, f.scheme_stopped) == (stopped, stopped), advice


def test_mastercard_excess_declines_in_a_payment_add_up_their_fees() -> None:
    scheme = rules_for()
    for i in range(10):
        scheme.declined(CARD, "mastercard", float(i))
    f = flow(scheme, "mastercard", at=60.0)
    f.start(60.0)
    assert decline(f, "05", 60.2) == SEND
    assert decline(f, "51", 60.4) == FINISH
    assert (f.excess_attempts, f.scheme_fees, f.status) == (2, 100.0, "declined")


def test_timeouts_and_technical_errors_are_not_mastercard_declines() -> None:
    scheme = rules_for()
    for i in range(10):
        scheme.declined(CARD, "mastercard", float(i))
    f = flow(scheme, "mastercard", at=60.0)
    f.start(60.0)
    assert decline(f, "96", 60.2) == SEND  # a technical error: not counted
    assert f.on_timed_out(64.0) != SEND  # a timeout: an unknown outcome, not a decline
    assert f.excess_attempts == 0 and f.scheme_fees == 0.0


def test_without_scheme_rules_the_flow_is_the_retry_policy_alone() -> None:
    f = flow(None, "mastercard")
    f.start(0.0)
    assert decline(f, "05", 0.2, "03") == SEND
    assert (f.scheme_stopped, f.excess_attempts) == (False, 0)


def test_a_card_taking_a_forgotten_cards_slot_starts_with_no_history() -> None:
    rules = SchemeRules(schemes(), capacity=4)  # one set of four slots
    for i in range(10):
        rules.declined(100, "mastercard", float(i))  # card 100 at the day's limit
    assert rules.declined(100, "mastercard", 20.0)  # its 11th: excess
    for card in (101, 102, 103, 104):  # four newer cards push card 100 out
        rules.declined(card, "mastercard", 30.0)
    assert rules.evictions == 1
    # card 105 takes a least recently used slot, whose earlier cards' declines must not
    # carry into its own count
    assert not any(rules.declined(105, "mastercard", 40.0 + i) for i in range(10))
    assert rules.declined(105, "mastercard", 60.0)


@pytest.mark.parametrize("card", [0, 1])
def test_card_zero_and_a_one_card_table_are_counted_like_any_other(card: int) -> None:
    # card numbers start at 0, and a router may keep room for one card only
    scheme = rules_for(capacity=1, visa={"retry_limit": 1, "over_limit": "pay"})
    f = flow(scheme, "visa", card=card)
    f.start(0.0)
    assert decline(f, "05", 0.1) == SEND  # the card's first retry: within the limit
    assert decline(f, "96", 0.2) == SEND  # its second: past it, and paid for
    assert (f.attempts, f.excess_attempts, f.scheme_fees) == (3, 1, 10.0)
    unknown = flow(scheme, "visa", card=-1)  # no card key: the per-card limit cannot apply
    unknown.start(0.0)
    decline(unknown, "05", 0.1)
    decline(unknown, "96", 0.2)
    assert (unknown.attempts, unknown.excess_attempts) == (3, 0)


@pytest.mark.parametrize(("card", "capacity"), [(0, 1), (0, 64), (5, 1)])
def test_the_limits_hold_for_card_zero_and_for_a_one_card_table(card: int, capacity: int) -> None:
    # slot 0, and a table with room for one card, are slots like any other
    rules = rules_for(capacity=capacity, visa={"retry_limit": 2})
    assert rules.may_retry(card, "visa", "05", "", 0.0)
    assert [rules.retried(card, "visa", t) for t in (1.0, 2.0)] == [False, False]
    assert not rules.may_retry(card, "visa", "05", "", 3.0)  # the limit is reached
    assert rules.retried(card, "visa", 3.0)  # a third one is beyond it
    mastercard = rules_for(capacity=capacity)  # a card is on one network
    times = [i * 60.0 for i in range(11)]
    assert [mastercard.declined(card, "mastercard", t) for t in times] == [False] * 10 + [True]
