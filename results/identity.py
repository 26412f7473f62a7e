"""A run's identity: which experiment it ran, so comparisons pair runs by what they did.

Two runs are the same experiment when they ran the same scenario content over the same
stretch of its timeline at the same speed and load: the scenario content hash, the
timeline covered (scenario seconds), the time scale (scenario seconds per wall second)
and the rate scale all match. The scenario's name, description, policies, replication
count, SLO and default seed are left out of the hash: they do not change what happens to
a payment, so two policies of one scenario (or a copy of the file under another name)
share it, and a tuned policy still pairs with its baseline. The seed and replications
used, the engine and the policy (by name and content hash) are recorded beside it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from scenarios.schema import RoutingPolicy, Scenario

# the parts of a scenario that do not define its experiment
NOT_THE_EXPERIMENT = frozenset({"name", "description", "policies", "replications", "slo", "seed"})
# nor do a policy's name and description define what it does
NOT_THE_POLICY = frozenset({"name", "description"})


def content_hash(data: Any) -> str:
    """sha256 of the canonical JSON of ``data`` (sorted keys, no spaces): hex digits."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def scenario_hash(scenario: Scenario) -> str:
    """The content hash of the experiment ``scenario`` defines (see the module docstring)."""
    return content_hash(scenario.model_dump(mode="json", exclude=set(NOT_THE_EXPERIMENT)))


def policy_hash(policy: RoutingPolicy) -> str:
    """The content hash of what ``policy`` does (its name and description left out)."""
    return content_hash(policy.model_dump(mode="json", exclude=set(NOT_THE_POLICY)))


class RunIdentity(BaseModel):
    """``summary.json``'s ``identity``: what a run ran (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario_hash: str
    policy: str
    policy_hash: str | None  # None: the policy's content is not known (a router run elsewhere)
    seed: int
    replications: int
    engine: Literal["simulator", "live"]
    timeline_s: float  # how much of the scenario's timeline the run covers, scenario seconds
    time_scale: float  # scenario seconds per wall second (1 for the simulator)
    rate_scale: float  # the offered rate against the scenario's (1 for the simulator)


def simulated_identity(
    scenario: Scenario, policy: RoutingPolicy, seed: int, replications: int
) -> RunIdentity:
    """The identity of a simulated run: the whole timeline, at scenario speed and rate."""
    return RunIdentity(
        scenario_hash=scenario_hash(scenario),
        policy=policy.name,
        policy_hash=policy_hash(policy),
        seed=seed,
        replications=replications,
        engine="simulator",
        timeline_s=scenario.traffic.duration_s,
        time_scale=1.0,
        rate_scale=1.0,
    )
