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

from collections.abc import Sequence

from results.contract import Yardsticks
from results.identity import content_hash, policy_hash, scenario_hash
from results.tally import Tally
from results.yardsticks import measure
from scenarios.schema import OracleStrategy, RoutingPolicy, Scenario
from simulator.executors import ReplicationTask, run_replication
from simulator.model import watched_segments

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
    """Oracle replications, each run once and reused by every policy that needs it.

    A run on an executor asks :meth:`wanted` for the oracle set-ups it still lacks, runs
    their replications in the same batch as the policies' (so the oracle is spread over
    the workers too, and a Ctrl-C stops it alike) and hands their tallies to :meth:`keep`.
    """

    def __init__(self) -> None:
        self._tallies: dict[str, list[Tally]] = {}
        self.runs = 0  # how many oracle runs were simulated (not served from memory)

    @staticmethod
    def _key(scenario: Scenario, oracle: RoutingPolicy, seed: int, replications: int) -> str:
        return content_hash([scenario_hash(scenario), policy_hash(oracle), seed, replications])

    def wanted(
        self,
        scenario: Scenario,
        policies: Sequence[RoutingPolicy],
        seed: int,
        replications: int,
    ) -> Scenario | None:
        """``scenario`` with, as its policies, the oracles that ``policies`` need and that
        have not run yet, each named by its key (pass that name to :meth:`keep`); None
        when every one has run."""
        missing: dict[str, RoutingPolicy] = {}
        for policy in policies:
            oracle = oracle_policy(scenario, policy)
            key = self._key(scenario, oracle, seed, replications)
            if key not in self._tallies and key not in missing:
                missing[key] = oracle.model_copy(update={"name": key})
        if not missing:
            return None
        return scenario.model_copy(update={"policies": list(missing.values())})

    def keep(self, key: str, tallies: list[Tally]) -> None:
        """The tallies of the oracle :meth:`wanted` named ``key``, replication by replication."""
        self._tallies[key] = tallies
        self.runs += 1

    def tallies(
        self, scenario: Scenario, policy: RoutingPolicy, seed: int, replications: int
    ) -> list[Tally]:
        """The oracle's tallies for ``policy``'s set-up, replication by replication (run
        here, one after another, when no executor ran them)."""
        oracle = oracle_policy(scenario, policy)
        key = self._key(scenario, oracle, seed, replications)
        if key not in self._tallies:
            alone = self.wanted(scenario, [policy], seed, replications)
            assert alone is not None
            tasks = [ReplicationTask("", key, seed, r) for r in range(replications)]
            self.keep(key, [run_replication(alone, task).tally for task in tasks])
        return self._tallies[key]

    def yardsticks_for(
        self, scenario: Scenario, policy: RoutingPolicy, seed: int, tallies: list[Tally]
    ) -> tuple[Yardsticks, list[Tally]]:
        """The yardsticks of ``policy``'s replication ``tallies`` and the oracle's tallies."""
        oracle = self.tallies(scenario, policy, seed, len(tallies))
        return measure(scenario, watched_segments(scenario), tallies, oracle), oracle
