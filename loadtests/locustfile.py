"""Locust load test of the routelab routing service: card payments drawn from a scenario.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080          # web UI
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080 --headless \\
        --scenario baseline --duration 60 --rate-scale 2 --processes 2 -u 2 -r 2

``OpenModelPayer`` (the default) sends payments at the scenario's Poisson arrival
times, whatever the router's response times: each payment goes out in a greenlet of
its own, at most ``--max-in-flight`` per stream (arrivals beyond are dropped and
counted). Every user is one arrival stream carrying ``1 / users`` of the rate, so run
one user per worker process (``-u`` = ``--processes``). ``ClosedModelPayer``
(``--model closed``) is the classic closed loop: pay, think, pay again.

Declines are successes for Locust: only requests without a payment answer (5xx,
timeouts, connection errors, malformed answers) are failures. The payment figures
(auth rate, acquirer shares, attempts, decline codes, latency from the intended send
time) are counted per worker and merged on the master through Locust's worker
reports. When a test ends the master logs them and judges the scenario's SLOs (exit
code 3 on a breach); with ``--results-file`` it writes them for ``routelab loadtest``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import gevent  # type: ignore[import-untyped]  # no stubs installed
from gevent.pool import Pool  # type: ignore[import-untyped]
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, Runner, WorkerRunner

from loadtests import web_ui
from loadtests.admin_client import ServiceError
from loadtests.harness import HARNESS
from loadtests.options import HarnessOptions, OptionError, add_arguments
from loadtests.payer import PAYMENTS_PATH, AnswerError, CardPayments, failure_kind, parse_answer
from loadtests.plan import RunPlan
from loadtests.slo import SloError, effective_slo
from scenarios.loader import ScenarioError, load_scenario

log = logging.getLogger("routelab.loadtest")


def send_payment(user: FastHttpUser, cards: CardPayments, stream_start: float, t: float) -> None:
    """Send one payment intended for ``stream_start + t`` and count what came back."""
    tally = HARNESS.tally
    plan = HARNESS.plan
    assert plan is not None
    payment, key, body = cards.next()
    sent = time.perf_counter()
    lateness_ms = (sent - stream_start - t) * 1000.0
    tally.sent(t, sent - stream_start, lateness_ms, lateness_ms > plan.options.late_ms)
    # bytes go through as they are (the annotation says str | dict)
    with user.client.post(
        PAYMENTS_PATH,
        data=cast(Any, body),
        name=PAYMENTS_PATH,
        catch_response=True,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    ) as response:
        done = time.perf_counter()
        if response.status_code == 200:
            try:
                answer = parse_answer(response.content)
            except AnswerError as exc:
                response.failure(str(exc))
                tally.http_error(t, "bad_answer")
                return
            response.success()  # approved or declined: the router did its job
            tally.answered(
                t, payment, answer, (done - stream_start - t) * 1000.0, (done - sent) * 1000.0
            )
        else:
            kind = failure_kind(response.status_code, getattr(response, "error", None))
            response.failure(f"{kind} (HTTP {response.status_code})")
            tally.http_error(t, kind)


class OpenModelPayer(FastHttpUser):
    """Open model: payments at the scenario's Poisson arrival times, never waiting for answers."""

    host = "http://127.0.0.1:8080"  # `routelab serve`'s default router address

    def __init__(self, environment: Environment) -> None:
        plan = HARNESS.plan
        if plan is not None:  # read by FastHttpUser.__init__ when it builds the client
            self.concurrency = plan.options.max_in_flight
            self.network_timeout = self.connection_timeout = plan.request_timeout_s
        super().__init__(environment)

    @task
    def pay_on_schedule(self) -> None:
        plan, worker, local = HARNESS.new_stream(self.environment.runner)
        schedule = plan.schedule(HARNESS.streams, worker, local)
        cards = plan.payments(HARNESS.run_id, worker, local)
        pool = Pool(plan.options.max_in_flight)
        tally = HARNESS.tally
        start = time.perf_counter()
        try:
            for t in schedule:
                delay = start + t - time.perf_counter()
                # behind schedule: still yield, so the sends already spawned go out
                gevent.sleep(delay if delay > 0.0 else 0.0)
                tally.scheduled(t)
                if pool.full():
                    tally.dropped(t)
                else:
                    pool.spawn(send_payment, self, cards, start, t)
            pool.join(timeout=plan.request_timeout_s + 1.0)
        finally:
            HARNESS.stream_finished()
        raise StopUser


class ClosedModelPayer(FastHttpUser):
    """Closed model: each user pays, waits an exponential think time, pays again."""

    host = OpenModelPayer.host

    def __init__(self, environment: Environment) -> None:
        plan = HARNESS.plan
        if plan is not None:
            self.network_timeout = self.connection_timeout = plan.request_timeout_s
        super().__init__(environment)
        self._plan, worker, local = HARNESS.new_stream(environment.runner)
        self._cards = self._plan.payments(HARNESS.run_id, worker, local)
        self._think = self._plan.think_times(worker, local)
        self._start = time.perf_counter()

    def wait_time(self) -> float:
        return -self._plan.options.think_time_s * math.log1p(-self._think.next())

    @task
    def pay(self) -> None:
        t = time.perf_counter() - self._start
        if t >= self._plan.duration_s:
            HARNESS.stream_finished()
            raise StopUser
        HARNESS.tally.scheduled(t)
        send_payment(self, self._cards, self._start, t)


def _listen(hook: Any, listener: Callable[..., Any]) -> None:
    """Register an event listener (Locust's ``add_listener`` is untyped)."""
    hook.add_listener(listener)


def _add_options(parser: Any, **_: Any) -> None:
    add_arguments(parser)


def _on_init(environment: Environment, runner: Runner, **_: Any) -> None:
    parsed = environment.parsed_options
    if isinstance(runner, WorkerRunner):
        _listen(environment.events.report_to_master, HARNESS.on_report_to_master)
        return
    if isinstance(runner, MasterRunner):
        _listen(environment.events.worker_report, HARNESS.on_worker_report)
    try:  # fail before anything starts, with the reason, not in the middle of a test
        options = HarnessOptions.from_namespace(parsed)
        plan = RunPlan.build(load_scenario(options.scenario), options)
        effective_slo(plan.scenario.slo, options.slo)
    except (OptionError, ScenarioError, SloError) as exc:
        log.error("routelab: %s", exc)
        sys.exit(2)
    if parsed is not None and not getattr(parsed, "user_classes", None):
        wanted = OpenModelPayer if options.model == "open" else ClosedModelPayer
        environment.user_classes = [wanted]
    if environment.web_ui is not None:  # the master's (or a local process's) web UI
        web_ui.register(environment)


def _on_test_start(environment: Environment, **_: Any) -> None:
    try:
        HARNESS.configure(environment)
    except (OptionError, ScenarioError, SloError, ServiceError) as exc:
        # options changed in the web UI, or an unreachable acquirer admin API
        log.error("routelab: cannot start the test: %s", exc)
        HARNESS.plan = None
        if environment.runner is not None and not isinstance(environment.runner, WorkerRunner):
            gevent.spawn(environment.runner.stop)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    # with the web UI a test ends without quitting: say how it went now. Headless runs
    # wait for quitting, by which time the workers' last reports are in
    if not getattr(environment.parsed_options, "headless", False):
        HARNESS.judge(environment)


def _on_quitting(environment: Environment, **_: Any) -> None:
    HARNESS.write_results(environment)
    HARNESS.judge(environment)


_listen(events.init_command_line_parser, _add_options)
_listen(events.init, _on_init)
_listen(events.test_start, _on_test_start)
_listen(events.test_stop, _on_test_stop)
_listen(events.quitting, _on_quitting)
