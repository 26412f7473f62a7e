"""One replication of a scenario under one routing policy, in SimPy virtual time.

arrivals → route (router.engine) → the payment's lifecycle (``PaymentFlow``): attempt
(capacity queue, latency, the router's attempt timeout) → answer fed back to the
engine → cascade, or void and settle an unknown outcome, or finish.

The simulator is a driver of the shared engine, as the routing service is: the flow
decides every cascade, void, status inquiry and the budget; this module only turns its
actions into (virtual) time. Lean by design (see docs/performance.md): no process per
payment; random draws come from numpy batches; nothing is kept per payment once it
finishes. SimPy's event queue holds only what changes the system later: the next
attempt of a cascade. An attempt's answer is known when it is sent, and so is what
the flow makes of it (and of the void and status inquiry that may follow, which take
no capacity), so the flow is stepped at once with the times those answers arrive; the
engine's feedback waits in a heap by answer time and is applied before the next
decision that could see it. Arrival times are drawn ahead, so the arrival stream is
merged with the event queue rather than pushed through it. These shortcuts give the
same run as the plain model with an event for every arrival, every answer, void and
status (``event_per_step``): tests/validation checks that, figure for figure.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from heapq import heappop, heappush

import numpy as np
import simpy
from simpy.events import Timeout

from mock_acquirers.behaviour import AcquirerBehaviour, IssuerModel, latency_quantile
from results.tally import Tally
from router.engine import RoutingEngine, classify
from router.engine.flow import (
    FINISH,
    INQUIRE,
    NOTHING_APPROVED,
    SEND,
    STATUS_UNKNOWN,
    TIMEOUT_INFO,
    VOID,
    VOID_FAILED,
    VOIDED,
    PaymentFlow,
)
from router.engine.schemes import scheme_rules
from router.engine.strategies import AttemptResult
from scenarios.conditions import Condition
from scenarios.sampler import Payment, PaymentSampler, arrival_times
from scenarios.schema import FeeSchedule, RoutingPolicy, Scenario
from scenarios.streams import BATCH, RunStreams, UniformStream
from scenarios.taxonomy import APPROVED, TIMEOUT_CODE, CodeInfo
from simulator.capacity import CapacityQueue
from simulator.observer import Observer
from simulator.truth import BehaviourTruth

# Per acquirer, for a batch of payments: fault uniforms, approval uniforms, base latency (ms).
AcquirerDraws = tuple[list[float], list[float], list[float]]


def watched_segments(scenario: Scenario) -> list[Condition]:
    """The conditions of the scenario's incidents that hit only some payments, in the
    order of its acquirers and their incidents, each once: the tally's watched segments
    (``results.yardsticks`` measures detection and recovery within them)."""
    found: list[Condition] = []
    for acquirer in scenario.acquirers:
        for incident in acquirer.incidents:
            if incident.when != Condition() and incident.when not in found:
                found.append(incident.when)
    return found


class Flight:
    """A payment in flight: its lifecycle, and what the driver knows about its attempts."""

    __slots__ = (
        "acquirer_done",
        "counted",
        "draws",
        "first",
        "flow",
        "i",
        "issuer_code",
        "number",
        "payment",
    )

    def __init__(
        self,
        payment: Payment,
        flow: PaymentFlow,
        issuer_code: str | None,
        i: int,
        draws: list[AcquirerDraws],
        counted: bool,
        number: int,
    ) -> None:
        self.payment = payment
        self.number = number  # the payment's place in the arrival order, from 0
        self.flow = flow
        self.issuer_code = issuer_code
        self.i = i
        self.draws = draws
        self.counted = counted
        self.first = -1
        # when the acquirer finishes its work on the current attempt (it goes on after
        # the router gave up): a status inquiry before then finds it still processing
        self.acquirer_done = 0.0


class Replication:
    """Builds and runs one replication; ``run()`` returns its :class:`Tally`."""

    def __init__(
        self,
        scenario: Scenario,
        policy: RoutingPolicy,
        seed: np.random.SeedSequence,
        progress: Callable[[float], None] | None = None,
        progress_steps: int = 50,
        event_per_step: bool = False,
        propensities: bool = False,
        observer: Observer | None = None,
    ) -> None:
        self.scenario = scenario
        self._observer = observer
        # the plain model the shortcuts must match: every arrival and every answer
        # is a SimPy event of its own (slower; for tests)
        self.event_per_step = event_per_step
        self.env = simpy.Environment()
        names = scenario.acquirer_names
        self.streams = RunStreams.spawn(seed, len(names))
        self.index = {name: i for i, name in enumerate(names)}
        self.behaviours = [AcquirerBehaviour(a) for a in scenario.acquirers]
        self.queues = [CapacityQueue(a.capacity, scenario.warmup_s) for a in scenario.acquirers]
        self.issuer = IssuerModel(scenario.traffic.issuer_declines)
        self.sampler = PaymentSampler(
            scenario.traffic, scenario.merchant.country, self.streams.payments
        )
        self.engine = RoutingEngine(
            policy,
            self.streams.routing,
            acquirers=tuple(names),
            fees=FeeSchedule(scenario.acquirers),
            propensities=propensities,
            schemes=scheme_rules(scenario),
            truth=BehaviourTruth(self.behaviours, policy.retry),
        )
        # incidents restricted to some payments: their segments are watched (yardsticks)
        self._watches = watched_segments(scenario)
        self.tally = Tally(
            names, scenario.traffic.duration_s, scenario.bucket_s, watches=len(self._watches)
        )
        self._progress = progress
        self._progress_steps = progress_steps
        self.arrived = 0
        # answers not yet seen by the engine: (answer time, seq, result)
        self._feedback: list[tuple[float, int, AttemptResult]] = []
        self._seq = 0
        self._number = 0
        self._learns = self.engine.learns
        # voids and status inquiries draw their latency only where the scenario makes it
        # random, each acquirer from a stream of its own (attempt draws never shift)
        self._reversal_uniforms = [UniformStream(g) for g in self.streams.reversals]
        self._warmup = scenario.warmup_s
        self._latency_models = [a.latency for a in scenario.acquirers]
        self._arrival_batches: Iterator[np.ndarray] = arrival_times(
            scenario.traffic.arrival, scenario.traffic.duration_s, self.streams.arrivals, BATCH
        )
        self._times: list[float] = []
        self._payments: list[Payment] = []
        self._issuer_u: list[float] = []
        self._draws: list[AcquirerDraws] = []
        self._i = 0

    # -- the run ------------------------------------------------------------------------

    def run(self) -> Tally:
        # Nothing allocated per payment forms a reference cycle (a test checks), so the
        # cyclic garbage collector would only rescan live objects: it pauses for the run.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._run()
        finally:
            if collecting:
                gc.enable()
        return self.tally

    def _run(self) -> None:
        env = self.env
        duration = self.scenario.traffic.duration_s
        if self._next_batch():
            Timeout(env, self._times[0]).callbacks.append(self._on_arrival)
        steps = self._progress_steps if self._progress else 1
        for k in range(1, steps + 1):
            env.run(until=duration * k / steps)
            if self._progress:
                self._progress(k / steps)
        env.run()  # let payments still in flight finish

    def _next_batch(self) -> bool:
        """Draw the next batch of arrivals and everything random about them."""
        times = next(self._arrival_batches, None)
        if times is None:
            return False
        n = len(times)
        self._times = times.tolist()
        self._payments = self.sampler.draw(n)
        self._issuer_u = self.streams.issuer.random(n).tolist()
        # every acquirer draws for every payment, routed there or not: common random
        # numbers, so each policy meets the same answers for the same payment
        draws: list[AcquirerDraws] = []
        for rng, model in zip(self.streams.acquirers, self._latency_models, strict=True):
            u = rng.random((3, n))
            draws.append((u[0].tolist(), u[1].tolist(), latency_quantile(model, u[2]).tolist()))
        self._draws = draws
        self._i = 0
        self.arrived += n
        return True

    def _on_arrival(self, _: object) -> None:
        """Payments arrive: each one is routed and sent, in arrival order.

        The arrival times are drawn ahead, so the arrival stream is merged with SimPy's
        event queue instead of being pushed through it: arrivals earlier than every
        scheduled event (a cascade, a void, a probe, the end of a progress step) are
        handled here, one after the other, since nothing else can happen in between.
        The first arrival that is not earlier waits for its turn as a SimPy event.
        """
        env = self.env
        merge = not self.event_per_step
        i = self._i
        times = self._times
        while True:
            t = times[i]
            self._arrive(self._payments[i], t, i)
            i += 1
            if i == len(times):
                if not self._next_batch():
                    return
                i = 0
                times = self._times
            self._i = i
            t_next = times[i]
            if not merge or t_next >= env.peek():
                Timeout(env, t_next - env.now).callbacks.append(self._on_arrival)
                return

    def _arrive(self, payment: Payment, t: float, i: int) -> None:
        """One payment arrives at ``t``: route it and send its first attempt."""
        feedback = self._feedback
        if feedback and feedback[0][0] <= t:
            self._apply_feedback(t)
        engine = self.engine
        flow = engine.flow(engine.decide(payment, t), t, payment)
        issuer_code = self.issuer.decline_code(payment, self._issuer_u[i])
        self._number = number = self._number + 1
        flight = Flight(payment, flow, issuer_code, i, self._draws, t >= self._warmup, number - 1)
        if flow.start(t) == SEND:
            self._send(flight, t)
        else:
            self._finish(flight)

    def _send(self, flight: Flight, now: float) -> None:
        """Send the flow's attempt and step the flow through what follows from it.

        The answer is fully determined when the attempt is sent (the behaviour model
        draws its outcome, the capacity queue its start), and so is the fate of the
        void and status inquiry that may follow it (they take no capacity), so the flow
        is told at once, each event with the time it happens at; only the next attempt
        of a cascade needs a SimPy event (it competes for capacity at its own time).
        The engine's feedback is queued by answer time and applied before the next
        decision that could see it (``_apply_feedback``): the same order as an event
        per answer, without the event.
        """
        flow = flight.flow
        acquirer = flow.acquirer
        a = self.index[acquirer]
        faults, approvals, latencies = flight.draws[a]
        i = flight.i
        behaviour = self.behaviours[a]
        payment = flight.payment
        outcome = behaviour.attempt(
            payment, now, flight.issuer_code, faults[i], approvals[i], latencies[i]
        )
        service_s = outcome.service_ms / 1000.0
        acquirer_in = self.queues[a].admit(now, service_s) - now + service_s
        limit_s = flow.timeout_ms / 1000.0
        timed_out = acquirer_in > limit_s
        answer_in = limit_s if timed_out else acquirer_in
        if flow.attempts == 1:
            flight.first = a
        answer_at = now + answer_in
        code = outcome.code
        approved = not timed_out and code == APPROVED
        counted = flight.counted
        # the fee is needed for the tally and by strategies that learn (cost-aware ones)
        fee = (
            behaviour.fee(payment, approved)
            if counted or self._learns or self._observer is not None
            else 0.0
        )
        flight.acquirer_done = now + acquirer_in
        if counted:
            tally = self.tally
            tally.attempt(a, now, approved, fee)
            if timed_out and code == APPROVED:
                # the acquirer approved after the router gave up: the router's void (now
                # or, if the payment stops here, in the background) reverses it, so the
                # card is never charged for an answer the payer never saw
                tally.reversed_approvals += 1
        info = TIMEOUT_INFO if timed_out else classify(code)
        if self._observer is not None:
            self._observer.attempt(flight, acquirer, code, timed_out, answer_in * 1000.0, fee, now)
        if self._learns:
            result = AttemptResult(
                flow.decision,
                acquirer,
                TIMEOUT_CODE if timed_out else code,
                info.outcome,
                info.acquirer_side,
                answer_in * 1000.0,
                fee,
                answer_at,
                payment.card,
            )
            if self.event_per_step:
                self._record_at(answer_at, result)
            else:
                self._seq += 1
                heappush(self._feedback, (answer_at, self._seq, result))
        advice = outcome.advice
        if self.event_per_step:
            self._at(answer_at).callbacks.append(
                lambda _: self._answered(flight, timed_out, code, info, advice, answer_at)
            )
        else:
            self._answered(flight, timed_out, code, info, advice, answer_at)

    def _answered(
        self, flight: Flight, timed_out: bool, code: str, info: CodeInfo, advice: str, t: float
    ) -> None:
        """The attempt's answer (or its timeout) reaches the router at ``t``."""
        flow = flight.flow
        if timed_out:
            action = flow.on_timed_out(t)
        else:
            action = flow.on_answered(code, info, True, t, advice)
        if action == FINISH:  # the common cases first, without a call to _step
            self._finish(flight)
        elif action == SEND:
            self._cascade_at(flight, t)
        else:
            self._step(flight, action, t)

    def _step(self, flight: Flight, action: int, t: float) -> None:
        """Carry out the flow's action, decided at ``t``.

        A void reaches the acquirer while the timed-out attempt is still in its hands
        (that is why it timed out), and an acquirer accepts the cancel of an attempt in
        flight: the void is confirmed unless its answer takes longer than the router
        waits. A status inquiry after an unanswered void finds the attempt reversed or
        declined if the acquirer has finished it, else still processing. Both take the
        acquirer's void/status latency from the scenario.
        """
        flow = flight.flow
        while action in (VOID, INQUIRE):
            behaviour = self.behaviours[self.index[flow.acquirer]]
            limit_s = flow.timeout_ms / 1000.0
            if action == VOID:
                answer_s = self._reversal_ms(flight, behaviour.void_fixed_ms, True) / 1000.0
                if answer_s <= limit_s:
                    t, result = t + answer_s, VOIDED
                else:
                    t, result = t + limit_s, VOID_FAILED
                if self._observer is not None:
                    self._observer.settle(flight, VOID, result, t)
                if self.event_per_step:
                    self._later(flight, t, VOID, result)
                    return
                action = flow.on_void_result(result, t)
            else:
                answer_s = self._reversal_ms(flight, behaviour.status_fixed_ms, False) / 1000.0
                if answer_s <= limit_s:
                    finished = flight.acquirer_done <= t
                    t, result = t + answer_s, NOTHING_APPROVED if finished else STATUS_UNKNOWN
                else:
                    t, result = t + limit_s, STATUS_UNKNOWN
                if self._observer is not None:
                    self._observer.settle(flight, INQUIRE, result, t)
                if self.event_per_step:
                    self._later(flight, t, INQUIRE, result)
                    return
                action = flow.on_status(result, t)
        if action == SEND:
            self._cascade_at(flight, t)
        elif action == FINISH:
            self._finish(flight)

    def _reversal_ms(self, flight: Flight, fixed_ms: float | None, void: bool) -> float:
        if fixed_ms is not None:
            return fixed_ms
        behaviour = self.behaviours[self.index[flight.flow.acquirer]]
        u = self._reversal_uniforms[self.index[flight.flow.acquirer]].next()
        return behaviour.void_ms(u) if void else behaviour.status_ms(u)

    # The callbacks are made in methods of their own: a function that makes a closure
    # allocates its environment on every call, and ``_send`` runs for every attempt.

    def _cascade_at(self, flight: Flight, t: float) -> None:
        self._at(t).callbacks.append(lambda _: self._send(flight, t))

    def _later(self, flight: Flight, t: float, action: int, result: int) -> None:
        """The plain model: a void or status answer is an event of its own."""
        flow = flight.flow
        if action == VOID:
            self._at(t).callbacks.append(
                lambda _: self._step(flight, flow.on_void_result(result, t), t)
            )
        else:
            self._at(t).callbacks.append(lambda _: self._step(flight, flow.on_status(result, t), t))

    def _record_at(self, t: float, result: AttemptResult) -> None:
        engine = self.engine
        self._at(t).callbacks.append(lambda _: engine.record(result))

    def _at(self, t: float) -> Timeout:
        """A SimPy event at scenario time ``t``.

        Times are carried exactly rather than read back from the SimPy clock, which can
        be behind the time being simulated (see ``_on_arrival``).
        """
        return Timeout(self.env, t - self.env.now)

    def _apply_feedback(self, now: float) -> None:
        """Give the engine every answer that has arrived by ``now``, in arrival order."""
        feedback = self._feedback
        engine = self.engine
        while feedback and feedback[0][0] <= now:
            engine.record(heappop(feedback)[2])

    def _finish(self, flight: Flight) -> None:
        if self._observer is not None:
            self._observer.finish(flight)
        if flight.counted:
            flow = flight.flow
            tally = self.tally
            tally.timeouts += flow.timeouts
            tally.settled += flow.settled
            if flow.unsettled:
                tally.unsettled += 1
            if flow.excess_attempts or flow.scheme_stopped:
                tally.scheme(flow.scheme_fees, flow.excess_attempts, flow.scheme_stopped)
            tally.payment(
                flow.started_at,
                flight.first,
                flow.attempts,
                flow.status == "approved",
                flow.code,
                flow.info.outcome,
                flow.elapsed_ms,
                flight.payment.amount,
            )
            if self._watches and flight.first >= 0:
                for w, condition in enumerate(self._watches):
                    if condition.matches(flight.payment):
                        tally.watched(w, flight.first, flow.started_at)
