"""The harness's own Locust command-line options, shared by the locustfile and the orchestrator.

The locustfile registers them on Locust's parser (so they work on the command line, in
a ``locust.conf``, as environment variables and in the web UI's "custom parameters");
``routelab loadtest`` builds the same flags with :meth:`HarnessOptions.locust_args`.
One definition, so the two can never disagree on a name or a default.

Locust forwards custom options from the master to its workers with every spawn
message, so workers on other machines need only ``--worker --master-host``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any, Literal

DEFAULT_SCENARIO = "baseline"
DEFAULT_MAX_IN_FLIGHT = 1000
DEFAULT_LATE_MS = 10.0
DEFAULT_THINK_TIME_S = 1.0
Model = Literal["open", "closed"]
MODELS: tuple[Model, ...] = ("open", "closed")


class OptionError(ValueError):
    """An option value the harness cannot run with (the message says which and why)."""


@dataclass(frozen=True)
class HarnessOptions:
    """What one load test runs: scenario, timeline, rate, model, bounds and outputs.

    ``duration_s`` None plays the scenario's whole timeline in real time; ``warmup_s``
    None takes the scenario's warm-up mapped onto the run's timeline; ``seed`` None
    takes the scenario's seed. ``run_id`` prefixes every idempotency key and merchant
    reference so reconciliation can tell this run's payments from any other's;
    ``streams`` is set by the master when the test starts (how many arrival streams
    share the rate). ``results_path`` / ``progress_path`` are where the master writes
    its aggregated statistics (used by ``routelab loadtest``).
    """

    scenario: str = DEFAULT_SCENARIO
    duration_s: float | None = None
    rate_scale: float = 1.0
    truncate: bool = False
    warmup_s: float | None = None
    seed: int | None = None
    model: Model = "open"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    late_ms: float = DEFAULT_LATE_MS
    think_time_s: float = DEFAULT_THINK_TIME_S
    request_timeout_s: float | None = None
    slo: tuple[str, ...] = ()
    run_id: str = ""
    streams: int = 0
    results_path: str = ""
    progress_path: str = ""
    align_clock_url: str = ""

    def __post_init__(self) -> None:
        if self.duration_s is not None and not self.duration_s > 0.0:
            raise OptionError(f"--duration must be positive, got {self.duration_s:g}")
        if not self.rate_scale > 0.0:
            raise OptionError(f"--rate-scale must be positive, got {self.rate_scale:g}")
        if self.warmup_s is not None and self.warmup_s < 0.0:
            raise OptionError(f"--warmup must not be negative, got {self.warmup_s:g}")
        if self.model not in MODELS:
            raise OptionError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.max_in_flight < 1:
            raise OptionError(f"--max-in-flight must be at least 1, got {self.max_in_flight}")
        if self.late_ms < 0.0:
            raise OptionError(f"--late-ms must not be negative, got {self.late_ms:g}")
        if self.think_time_s < 0.0:
            raise OptionError(f"--think-time must not be negative, got {self.think_time_s:g}")
        if self.request_timeout_s is not None and not self.request_timeout_s > 0.0:
            raise OptionError(f"--request-timeout must be positive, got {self.request_timeout_s:g}")

    @classmethod
    def from_namespace(cls, parsed: Any) -> HarnessOptions:
        """Read Locust's parsed options (the web UI may hand numbers over as strings)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(parsed, _DEST_PREFIX + f.name, None)
            if value is None or value == "":
                continue
            values[f.name] = _coerce(f.name, value)
        return cls(**values)

    def locust_args(self) -> list[str]:
        """The command-line flags that reproduce these options in a Locust process."""
        args = [
            "--scenario",
            self.scenario,
            "--rate-scale",
            repr(self.rate_scale),
            "--model",
            self.model,
            "--max-in-flight",
            str(self.max_in_flight),
            "--late-ms",
            repr(self.late_ms),
            "--think-time",
            repr(self.think_time_s),
        ]
        optional = {
            "--duration": self.duration_s,
            "--warmup": self.warmup_s,
            "--seed": self.seed,
            "--request-timeout": self.request_timeout_s,
        }
        for flag, value in optional.items():
            if value is not None:
                args += [flag, repr(value)]
        if self.truncate:
            args.append("--truncate")
        for item in self.slo:
            args += ["--slo", item]
        for flag, text in (
            ("--run-id", self.run_id),
            ("--results-file", self.results_path),
            ("--progress-file", self.progress_path),
            ("--align-acquirer-clock", self.align_clock_url),
        ):
            if text:
                args += [flag, text]
        return args


_DEST_PREFIX = "routelab_"
_INTS = {"seed", "max_in_flight", "streams"}
_FLOATS = {"duration_s", "rate_scale", "warmup_s", "late_ms", "think_time_s", "request_timeout_s"}


def _coerce(name: str, value: Any) -> Any:
    try:
        if name in _INTS:
            return int(value)
        if name in _FLOATS:
            return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"option {name}: not a number: {value!r}") from None
    if name == "truncate":
        return value is True or str(value).lower() in ("1", "true", "yes", "on")
    if name == "slo":
        items = [value] if isinstance(value, str) else list(value)
        return tuple(
            part.strip() for item in items for part in str(item).split(",") if part.strip()
        )
    return str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the harness's options on Locust's parser (``init_command_line_parser``)."""
    # Locust's own parser (not an argument group) knows include_in_web_ui and env_var
    add: Any = parser.add_argument
    p = _DEST_PREFIX
    add(
        "--scenario",
        dest=p + "scenario",
        env_var="ROUTELAB_SCENARIO",
        default=DEFAULT_SCENARIO,
        help="scenario file, or a bundled scenario's name (default: baseline)",
    )
    add(
        "--duration",
        dest=p + "duration_s",
        env_var="ROUTELAB_DURATION",
        default=None,
        type=float,
        help="seconds of traffic; the scenario's timeline is compressed into them "
        "(default: the scenario's traffic.duration_s, in real time)",
    )
    add(
        "--truncate",
        dest=p + "truncate",
        env_var="ROUTELAB_TRUNCATE",
        action="store_true",
        default=False,
        help="play the first --duration seconds of the timeline in real time "
        "instead of compressing all of it",
    )
    add(
        "--rate-scale",
        dest=p + "rate_scale",
        env_var="ROUTELAB_RATE_SCALE",
        default=1.0,
        type=float,
        help="multiply the scenario's arrival rate (default 1)",
    )
    add(
        "--warmup",
        dest=p + "warmup_s",
        default=None,
        type=float,
        help="wall seconds at the start left out of the figures (default: the scenario's "
        "warm-up on the run's timeline)",
    )
    add(
        "--seed",
        dest=p + "seed",
        default=None,
        type=int,
        help="seed of the arrival and payment streams (default: the scenario's)",
    )
    add(
        "--model",
        dest=p + "model",
        env_var="ROUTELAB_MODEL",
        default="open",
        choices=MODELS,
        help="open: Poisson arrivals at the scenario's rate, whatever the response times "
        "(default); closed: users pay, wait a think time, pay again",
    )
    add(
        "--max-in-flight",
        dest=p + "max_in_flight",
        default=DEFAULT_MAX_IN_FLIGHT,
        type=int,
        help="open model: payments in flight per arrival stream; arrivals beyond are dropped "
        "and counted",
    )
    add(
        "--late-ms",
        dest=p + "late_ms",
        default=DEFAULT_LATE_MS,
        type=float,
        help="open model: a send this much behind its intended time counts as late",
    )
    add(
        "--think-time",
        dest=p + "think_time_s",
        default=DEFAULT_THINK_TIME_S,
        type=float,
        help="closed model: mean think time between a user's payments, seconds (exponential)",
    )
    add(
        "--request-timeout",
        dest=p + "request_timeout_s",
        default=None,
        type=float,
        help="seconds before a payment request counts as timed out (default: the policies' "
        "longest retry budget + 5 s)",
    )
    add(
        "--slo",
        dest=p + "slo",
        action="append",
        default=None,
        include_in_web_ui=False,
        help="override a scenario SLO, e.g. --slo auth_rate_min=0.9 (repeatable)",
    )
    add(
        "--run-id",
        dest=p + "run_id",
        default="",
        include_in_web_ui=False,
        help="prefix of idempotency keys and merchant references (default: random per test)",
    )
    add(
        "--results-file",
        dest=p + "results_path",
        default="",
        include_in_web_ui=False,
        help="where the master writes the aggregated payment statistics (JSON) at the end",
    )
    add(
        "--progress-file",
        dest=p + "progress_path",
        default="",
        include_in_web_ui=False,
        help="where the master writes a progress snapshot every second (JSON)",
    )
    add(
        "--align-acquirer-clock",
        dest=p + "align_clock_url",
        default="",
        include_in_web_ui=False,
        help="mock acquirers' base URL: reset them when the test starts so their scenario "
        "clock (incidents) lines up with the traffic; needs ROUTELAB_ADMIN_TOKEN. Clears "
        "their ledgers: only for a stack started for this run",
    )
