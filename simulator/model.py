"""One replication of a scenario under one routing policy, in SimPy virtual time.

arrivals → route (router.engine) → attempt (capacity queue, latency, the router's
attempt timeout) → answer fed back to the engine → cascade or finish.

Lean by design (see docs/performance.md): no process per payment; random draws come
from numpy batches; nothing is kept per payment once it finishes. SimPy's event queue
holds only what changes the system later: a cascade, or the void before one. An
attempt's answer is known when it is sent, so the engine's feedback waits in a heap by
answer time and is applied before the next decision that could see it. Arrival times
are drawn ahead, so the arrival stream is merged with the event queue rather than
pushed through it. Both shortcuts give the same run as the plain model with an event
for every arrival and every answer (``event_per_step``): tests/validation checks that,
figure for figure.
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
from router.engine import Decision, RoutingEngine, classify
from scenarios.sampler import Payment, PaymentSampler, arrival_times
from scenarios.schema import RoutingPolicy, Scenario
from scenarios.streams import BATCH, RunStreams
from scenarios.taxonomy import APPROVED, CODES, TIMEOUT_CODE, CodeInfo
from simulator.capacity import CapacityQueue

TIMEOUT_INFO: CodeInfo = CODES[TIMEOUT_CODE]
# Per acquirer, for a batch of payments: fault uniforms, approval uniforms, base latency (ms).
AcquirerDraws = tuple[list[float], list[float], list[float]]


class Flight:
    """A payment in flight: what the router knows and which draws are its own."""

    __slots__ = (
        "attempts",
        "counted",
        "decision",
        "draws",
        "first",
        "i",
        "issuer_code",
        "payment",
        "t0",
    )

    def __init__(
        self,
        payment: Payment,
        decision: Decision,
        issuer_code: str | None,
        i: int,
        draws: list[AcquirerDraws],
        t0: float,
        counted: bool,
    ) -> None:
        self.payment = payment
        self.decision = decision
        self.issuer_code = issuer_code
        self.i = i
        self.draws = draws
        self.t0 = t0
        self.counted = counted
        self.attempts = 0
        self.first = -1


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
    ) -> None:
        self.scenario = scenario
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
        self.engine = RoutingEngine(policy, self.streams.routing)
        self.tally = Tally(names, scenario.traffic.duration_s, scenario.bucket_s)
        self._progress = progress
        self._progress_steps = progress_steps
        self.arrived = 0
        # answers not yet seen by the engine: (answer time, seq, decision, acquirer, info, ms)
        self._feedback: list[tuple[float, int, Decision, str, CodeInfo, float]] = []
        self._seq = 0
        self._learns = self.engine.learns
        self._first_limit_s = self.engine.attempt_timeout_ms(0.0) / 1000.0
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
        decision = self.engine.decide(payment, t)
        issuer_code = self.issuer.decline_code(payment, self._issuer_u[i])
        flight = Flight(payment, decision, issuer_code, i, self._draws, t, t >= self._warmup)
        self._send(flight, decision.acquirers[0], t)

    def _send(self, flight: Flight, acquirer: str, now: float) -> None:
        """Send one attempt and resolve what follows from its answer.

        The answer is fully determined when the attempt is sent (the behaviour model
        draws its outcome, the capacity queue its start), so only what changes the
        system at answer time needs a SimPy event: a cascade (or the void before it).
        The engine's feedback is queued by answer time and applied before the next
        decision that could see it (``_apply_feedback``): the same order as an event
        per answer, without the event.
        """
        a = self.index[acquirer]
        faults, approvals, latencies = flight.draws[a]
        i = flight.i
        behaviour = self.behaviours[a]
        outcome = behaviour.attempt(
            flight.payment, now, flight.issuer_code, faults[i], approvals[i], latencies[i]
        )
        service_s = outcome.service_ms / 1000.0
        answer_in = self.queues[a].admit(now, service_s) - now + service_s
        engine = self.engine
        if flight.attempts == 0:
            limit_s = self._first_limit_s
        else:
            limit_s = engine.attempt_timeout_ms((now - flight.t0) * 1000.0) / 1000.0
        timed_out = answer_in > limit_s
        if timed_out:
            answer_in = limit_s
        if flight.attempts == 0:
            flight.first = a
        flight.attempts += 1
        answer_at = now + answer_in
        info = TIMEOUT_INFO if timed_out else classify(outcome.code)
        approved = not timed_out and outcome.code == APPROVED
        if self._learns:
            if self.event_per_step:
                self._record_at(answer_at, flight.decision, acquirer, info, answer_in * 1000.0)
            else:
                self._seq += 1
                heappush(
                    self._feedback,
                    (answer_at, self._seq, flight.decision, acquirer, info, answer_in * 1000.0),
                )
        if flight.counted:
            tally = self.tally
            tally.attempt(a, now, approved, behaviour.fee(flight.payment, approved))
            if timed_out:
                tally.timeouts += 1
                tally.settled += 1  # the simulator assumes the void succeeds
                if outcome.code == APPROVED:
                    # the acquirer approved after the router gave up: the router voids it,
                    # so the card is never charged for an answer the payer never saw
                    tally.reversed_approvals += 1
        elapsed_ms = (answer_at - flight.t0) * 1000.0
        nxt = engine.next_acquirer(flight.decision, flight.attempts, info, elapsed_ms)
        code = TIMEOUT_CODE if timed_out else outcome.code
        if nxt is None:
            self._finish(flight, approved, code, info, answer_at)
        elif timed_out:
            # unknown outcome: void (and confirm) before trying elsewhere
            self._void_then_cascade(
                flight, nxt, code, info, answer_at + behaviour.median_ms / 1000.0
            )
        else:
            self._cascade_at(flight, nxt, answer_at)

    # The callbacks are made in methods of their own: a function that makes a closure
    # allocates its environment on every call, and ``_send`` runs for every attempt.

    def _cascade_at(self, flight: Flight, acquirer: str, t: float) -> None:
        self._at(t).callbacks.append(lambda _: self._send(flight, acquirer, t))

    def _void_then_cascade(
        self, flight: Flight, acquirer: str, code: str, info: CodeInfo, voided_at: float
    ) -> None:
        self._at(voided_at).callbacks.append(
            lambda _: self._cascade_after_void(flight, acquirer, code, info, voided_at)
        )

    def _record_at(
        self, t: float, decision: Decision, acquirer: str, info: CodeInfo, latency_ms: float
    ) -> None:
        engine = self.engine
        self._at(t).callbacks.append(
            lambda _: engine.record(decision, acquirer, info, latency_ms, t)
        )

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
            answer_at, _, decision, acquirer, info, latency_ms = heappop(feedback)
            engine.record(decision, acquirer, info, latency_ms, answer_at)

    def _cascade_after_void(
        self, flight: Flight, acquirer: str, code: str, info: CodeInfo, now: float
    ) -> None:
        elapsed_ms = (now - flight.t0) * 1000.0
        if self.engine.attempt_timeout_ms(elapsed_ms) <= 0.0:
            self._finish(flight, False, code, info, now)  # the void used the budget
        else:
            self._send(flight, acquirer, now)

    def _finish(
        self, flight: Flight, approved: bool, code: str, info: CodeInfo, answer_at: float
    ) -> None:
        if flight.counted:
            self.tally.payment(
                flight.t0,
                flight.first,
                flight.attempts,
                approved,
                code,
                info.outcome,
                (answer_at - flight.t0) * 1000.0,
                flight.payment.amount,
            )
