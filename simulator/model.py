"""One replication of a scenario under one routing policy, in SimPy virtual time.

arrivals → route (router.engine) → attempt (capacity queue, latency, the router's
attempt timeout) → answer fed back to the engine → cascade or finish.

Lean by design (see docs/performance.md): a single source process; each attempt's
answer is one SimPy ``Timeout`` with a callback, not a process; random draws come
from numpy batches; nothing is kept per payment once it finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from heapq import heappop, heappush

import numpy as np
import simpy
from simpy.events import Timeout

from mock_acquirers.behaviour import AcquirerBehaviour, IssuerModel, latency_quantile
from router.engine import Decision, RoutingEngine, classify
from router.engine.taxonomy import APPROVED, CODES, TIMEOUT_CODE, CodeInfo
from scenarios.sampler import Payment, PaymentSampler, arrival_times
from scenarios.schema import RoutingPolicy, Scenario
from scenarios.streams import BATCH, RunStreams
from simulator.capacity import CapacityQueue
from simulator.tally import Tally

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
    ) -> None:
        self.scenario = scenario
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
        return self.tally

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
        """A payment arrives; then the next arrival is scheduled.

        Arrivals chain through event callbacks rather than a generator process: one
        event per payment either way, without resuming a process for each.
        """
        i = self._i
        t = self._times[i]
        payment = self._payments[i]
        feedback = self._feedback
        if feedback and feedback[0][0] <= t:
            self._apply_feedback(t)
        decision = self.engine.decide(payment, t)
        issuer_code = self.issuer.decline_code(payment, self._issuer_u[i])
        flight = Flight(payment, decision, issuer_code, i, self._draws, t, t >= self._warmup)
        self._send(flight, decision.acquirers[0])
        i += 1
        if i < len(self._times):
            self._i = i
            Timeout(self.env, self._times[i] - t).callbacks.append(self._on_arrival)
        elif self._next_batch():
            Timeout(self.env, self._times[0] - t).callbacks.append(self._on_arrival)

    def _send(self, flight: Flight, acquirer: str) -> None:
        """Send one attempt and resolve what follows from its answer.

        The answer is fully determined when the attempt is sent (the behaviour model
        draws its outcome, the capacity queue its start), so only what changes the
        system at answer time needs a SimPy event: a cascade (or the void before it).
        The engine's feedback is queued by answer time and applied before the next
        decision that could see it (``_apply_feedback``): the same order as an event
        per answer, without the event.
        """
        now = self.env.now
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
                if outcome.code == APPROVED:
                    # the acquirer approved after the router gave up: the router voids it,
                    # so the card is never charged for an answer the payer never saw
                    tally.voided_late_approvals += 1
        elapsed_ms = (answer_at - flight.t0) * 1000.0
        nxt = engine.next_acquirer(flight.decision, flight.attempts, info, elapsed_ms)
        code = TIMEOUT_CODE if timed_out else outcome.code
        if nxt is None:
            self._finish(flight, approved, code, info, answer_at)
        elif timed_out:
            # unknown outcome: void (and confirm) before trying elsewhere
            wait = answer_in + behaviour.median_ms / 1000.0
            Timeout(self.env, wait).callbacks.append(
                lambda _: self._cascade_after_void(flight, nxt, code, info)
            )
        else:
            Timeout(self.env, answer_in).callbacks.append(lambda _: self._send(flight, nxt))

    def _apply_feedback(self, now: float) -> None:
        """Give the engine every answer that has arrived by ``now``, in arrival order."""
        feedback = self._feedback
        record = self.engine.record
        while feedback and feedback[0][0] <= now:
            answer_at, _, decision, acquirer, info, latency_ms = heappop(feedback)
            record(decision, acquirer, info, latency_ms, answer_at)

    def _cascade_after_void(self, flight: Flight, acquirer: str, code: str, info: CodeInfo) -> None:
        elapsed_ms = (self.env.now - flight.t0) * 1000.0
        if self.engine.attempt_timeout_ms(elapsed_ms) <= 0.0:
            self._finish(flight, False, code, info, self.env.now)  # the void used the budget
        else:
            self._send(flight, acquirer)

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
