"""The oracle run beside a simulated policy, and the yardsticks measured against it.

The oracle of a policy is the policy itself (its rules, candidates and retry policy)
with its strategy replaced by the oracle (``router.engine.oracle``), routing by the
scenario's objective when it has one. It runs on the same replication seeds as the
policy, so replication ``r`` of both meets the same payments and the same issuer and
acquirer draws (common random numbers): the difference is the routing alone. Policies
that share rules, candidates and retry policy share one oracle run: :class:`OracleRuns`
runs each once per seed and replication count and keeps its tallies.
"""

from __future__ import annotations

from results.contract import Yardsticks
from results.identity import content_hash, policy_hash, scenario_hash
from results.tally import Tally
from results.yardsticks import measure
from scenarios.schema import OracleStrategy, RoutingPolicy, Scenario
from scenarios.streams import replication_seeds
from simulator.model import Replication, watched_segments

ORACLE_POLICY = "oracle"


def oracle_policy(scenario: Scenario, policy: RoutingPolicy) -> RoutingPolicy:
    """``policy`` with the oracle as its strategy (the scenario's objective, if any)."""
    lam = scenario.objective.lambda_pp_per_bps if scenario.objective is not None else 0.0
    return policy.model_copy(
        update={
            "name": ORACLE_POLICY,
            "description": f"the oracle, under the rules and retry policy of {policy.name}",
            "strategy": OracleStrategy(type="oracle", lambda_pp_per_bps=lam),
        }
    )


class OracleRuns:
    """Oracle replications, each run once and reused by every policy that needs it."""

    def __init__(self) -> None:
        self._tallies: dict[str, list[Tally]] = {}
        self.runs = 0  # how many oracle runs were simulated (not served from memory)

    def tallies(
        self, scenario: Scenario, policy: RoutingPolicy, seed: int, replications: int
    ) -> list[Tally]:
        """The oracle's tallies for ``policy``'s set-up, replication by replication."""
        oracle = oracle_policy(scenario, policy)
        key = content_hash([scenario_hash(scenario), policy_hash(oracle), seed, replications])
        found = self._tallies.get(key)
        if found is None:
            found = [
                Replication(scenario, oracle, seq).run()
                for seq in replication_seeds(seed, replications)
            ]
            self._tallies[key] = found
            self.runs += 1
        return found

    def yardsticks_for(
        self, scenario: Scenario, policy: RoutingPolicy, seed: int, tallies: list[Tally]
    ) -> tuple[Yardsticks, list[Tally]]:
        """The yardsticks of ``policy``'s replication ``tallies`` and the oracle's tallies."""
        oracle = self.tallies(scenario, policy, seed, len(tallies))
        return measure(scenario, watched_segments(scenario), tallies, oracle), oracle
