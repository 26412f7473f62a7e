"""The harness inside each Locust process: plan, streams, tally; on the master, the run.

Every Locust process (master, workers, or a single local process) holds one
:data:`HARNESS`. When a test starts it builds the run's plan from the scenario and
the options (workers have the master's options by then: Locust forwards them). Users
take their arrival streams from it and count into its tally; workers hand the tally
over with every Locust worker report, and the master merges the reports, ends the test
once every stream has finished, writes progress snapshots and, at the end, judges the
SLOs and writes the merged results.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from typing import Any

import gevent  # type: ignore[import-untyped]  # no stubs installed
import orjson
from locust.env import Environment
from locust.runners import MasterRunner, Runner, WorkerRunner

from loadtests.admin_client import AcquirerAdmin
from loadtests.live_summary import rate_figures
from loadtests.live_tally import GENERATOR_COUNTS, LiveTally, fee_schedule
from loadtests.options import HarnessOptions
from loadtests.plan import RunPlan
from loadtests.slo import EXIT_SLO_BREACHED, Observed, SloError, effective_slo, evaluate
from runtime.serving import TOKEN_ENV
from scenarios.loader import load_scenario

log = logging.getLogger("routelab.loadtest")
REPORT_KEY = "routelab"
PROGRESS_EVERY_S = 1.0


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write atomically: a reader polling the file never sees half of it."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))
    os.replace(tmp, path)


class Harness:
    """This process's share of the run: the plan, its streams, its tally.

    On the master (or a single local process) it also holds the run-wide merged tally,
    notices when every stream has finished, and writes progress and results.
    """

    def __init__(self) -> None:
        self.plan: RunPlan | None = None
        self.tally = LiveTally()
        self.merged = LiveTally()
        self.environment: Environment | None = None
        self.streams = 1
        self.run_id = ""
        self.local_streams = 0
        self.started_at = 0.0
        self._ending = False
        self._judged = False
        self._progress: gevent.Greenlet | None = None
        self._tests = 0  # tests started in this process (the web UI can run several)
        self._given_run_id: str | None = None

    # -- set-up ---------------------------------------------------------------------------

    def configure(self, environment: Environment) -> None:
        """Build the plan when a test starts (workers have the master's options by then)."""
        parsed: Any = environment.parsed_options
        runner = environment.runner
        coordinator = not isinstance(runner, WorkerRunner)
        if coordinator:
            # chosen on the master; Locust forwards custom options to every worker. Each
            # test gets its own run id: reused idempotency keys would be answered from
            # the router's idempotency store instead of being routed
            if self._given_run_id is None:
                self._given_run_id = str(getattr(parsed, "routelab_run_id", "") or "")
            self._tests += 1
            given = self._given_run_id
            parsed.routelab_run_id = (
                (given if self._tests == 1 else f"{given}r{self._tests}")
                if given
                else "lt" + secrets.token_hex(4)
            )
            parsed.routelab_streams = max(1, int(getattr(parsed, "num_users", 1) or 1))
            if self._progress is not None:
                self._progress.kill(block=False)
        options = HarnessOptions.from_namespace(parsed)
        plan = RunPlan.build(load_scenario(options.scenario), options)
        self.environment = environment
        self.plan = plan
        self.run_id = options.run_id
        self.streams = max(1, options.streams)
        self.local_streams = 0
        self._ending = False
        self._judged = False
        self.tally = LiveTally(plan.warmup_s, plan.bucket_s, fee_schedule(plan.scenario))
        if not coordinator:
            return
        self.merged = (
            LiveTally(plan.warmup_s, plan.bucket_s)
            if isinstance(runner, MasterRunner)
            else self.tally
        )
        self.started_at = time.time()
        if options.align_clock_url:
            self._align_acquirer_clock(options.align_clock_url)
        log.info(
            "routelab: scenario %s, %s model, %g s of traffic (timeline x%.4g), "
            "%d stream(s), expected %.0f payments, run id %s",
            plan.scenario.name,
            options.model,
            plan.duration_s,
            plan.timeline.compression,
            self.streams,
            plan.expected_payments(),
            self.run_id,
        )
        if options.progress_path:
            self._progress = gevent.spawn(self._write_progress_forever, options.progress_path)

    @staticmethod
    def _align_acquirer_clock(url: str) -> None:
        # before any payment is sent: a reset clears the mocks' ledgers and restarts
        # their scenario clock, so incidents line up with the traffic
        AcquirerAdmin(url, os.environ.get(TOKEN_ENV, "")).reset()

    def new_stream(self, runner: Runner | None) -> tuple[RunPlan, int, int]:
        """A user's stream: the plan, the worker's index and the user's index in it."""
        if self.plan is None:
            raise RuntimeError("the test has not started: no plan yet")
        worker_index = max(0, getattr(runner, "worker_index", 0))
        local_index = self.local_streams
        self.local_streams += 1
        self.tally.stream_started()
        return self.plan, worker_index, local_index

    # -- reporting ------------------------------------------------------------------------

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[REPORT_KEY] = self.tally.drain()

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        report = data.get(REPORT_KEY)
        if report:
            self.merged.merge(report)
            self.check_finished()

    def stream_finished(self) -> None:
        self.tally.stream_finished()
        runner = self.environment.runner if self.environment is not None else None
        if isinstance(runner, WorkerRunner):
            # report now rather than at the next 3 s tick: the master ends the test on it
            send_now = getattr(runner, "_send_stats", None)
            if send_now is not None:
                send_now()
        else:
            self.check_finished()

    def check_finished(self) -> None:
        """End the test once every stream has sent its last payment and heard back."""
        counts = self.merged.counts
        if self._ending or counts["streams_finished"] < self.streams:
            return
        self._ending = True
        env = self.environment
        if env is None or env.runner is None:
            return
        runner = env.runner
        headless = bool(getattr(env.parsed_options, "headless", False))
        log.info("routelab: all %d stream(s) finished", self.streams)
        # in a greenlet of its own: quitting kills the greenlet that delivered the report
        gevent.spawn(runner.quit if headless else runner.stop)

    def progress(self) -> dict[str, Any]:
        plan = self.plan
        c = self.merged.counts
        return {
            "elapsed_s": time.time() - self.started_at,
            "duration_s": plan.duration_s if plan else math.nan,
            "expected_payments": plan.expected_payments() if plan else math.nan,
            "streams": self.streams,
            **{
                k: c[k]
                for k in (
                    *GENERATOR_COUNTS,
                    "approved",
                    "payments",
                    "streams_started",
                    "streams_finished",
                )
            },
        }

    def _write_progress_forever(self, path: str) -> None:
        while True:
            _write_json(path, self.progress())
            gevent.sleep(PROGRESS_EVERY_S)

    def judge(self, environment: Environment) -> None:
        """On the master: log the payment figures and judge the SLOs (exit code 3)."""
        if self.plan is None or isinstance(environment.runner, WorkerRunner) or self._judged:
            return
        self._judged = True
        if self._progress is not None:
            self._progress.kill(block=False)
        plan, tally = self.plan, self.merged
        rates = rate_figures(tally, plan)
        c = tally.counts
        auth = c["approved"] / c["payments"] if c["payments"] else None
        p99 = tally.histogram("latency").quantile(0.99) if c["payments"] else None
        log.info(
            "routelab: %d payments answered, auth rate %s, p99 %s ms (from intended "
            "send), %d late and %d dropped sends, %d requests failed",
            c["payments"],
            f"{auth:.4f}" if auth is not None else "n/a",
            f"{p99:.1f}" if p99 is not None else "n/a",
            c["late_all"],
            c["dropped_all"],
            c["errors_all"],
        )
        try:
            slo = effective_slo(plan.scenario.slo, plan.options.slo)
        except SloError as exc:
            log.error("routelab: %s", exc)
            environment.process_exit_code = 2
            return
        verdict = evaluate(slo, Observed(p99, auth, rates.http_error_rate, rates.achieved_ratio))
        for breach in verdict.breaches:
            log.error("routelab: %s", breach.line())
        if verdict.breaches:
            environment.process_exit_code = EXIT_SLO_BREACHED

    def write_results(self, environment: Environment) -> None:
        """On the master, with ``--results-file``: the merged statistics as JSON."""
        plan = self.plan
        if plan is None or isinstance(environment.runner, WorkerRunner):
            return
        if not plan.options.results_path:
            return
        stats = environment.stats.total
        _write_json(
            plan.options.results_path,
            {
                "run_id": self.run_id,
                "streams": self.streams,
                "started_at": self.started_at,
                "ended_at": time.time(),
                "model": plan.options.model,
                "expected_payments": plan.expected_payments(),
                "tally": self.merged.report(),
                "locust": {
                    "requests": stats.num_requests,
                    "failures": stats.num_failures,
                    "median_ms": stats.median_response_time,
                    "p99_ms": stats.get_response_time_percentile(0.99),
                },
            },
        )


HARNESS = Harness()
