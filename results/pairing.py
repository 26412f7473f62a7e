"""The one rule for whether two runs can be compared, and how: by their identities.

- **paired** (common random numbers): the same experiment (scenario content, timeline,
  time scale and rate scale), the same seed and replication count, both simulator runs
  with at least two replications: replication ``r`` of one saw the same payments and
  issuer answers as replication ``r`` of the other;
- **unpaired**: the same experiment, but the seeds, engines or replication counts
  differ (or there is a single replication): independent samples of it;
- **different**: the scenario content, the timeline, the time scale or the rate scale
  differ: not the same experiment, and nothing is paired or checked against the other;
- **unknown**: a run without an identity (written before identities were recorded).

Reports (``reports.differences``, ``reports.compare``, ``reports.fidelity``) and the
terminal table (``routelab.tables``) all ask :func:`pairing`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from results.contract import RunSummary
from results.identity import RunIdentity

Kind = Literal["paired", "unpaired", "different", "unknown"]
IDENTITY_UNKNOWN = "identity unknown: not paired"


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _seconds(x: float) -> str:
    return f"{x:,.6g} s"


def _scale(x: float) -> str:
    return f"×{x:.6g}"


def experiment_differences(a: RunIdentity, b: RunIdentity) -> list[str]:
    """What makes ``a`` and ``b`` different experiments, in words (empty: the same one)."""
    differs = []
    if a.scenario_hash != b.scenario_hash:
        differs.append("the scenario content")
    if not _same(a.timeline_s, b.timeline_s):
        differs.append(
            f"the timeline ({_seconds(a.timeline_s)} vs {_seconds(b.timeline_s)} of the scenario)"
        )
    if not _same(a.time_scale, b.time_scale):
        differs.append(f"the time scale ({_scale(a.time_scale)} vs {_scale(b.time_scale)})")
    if not _same(a.rate_scale, b.rate_scale):
        differs.append(f"the rate scale ({_scale(a.rate_scale)} vs {_scale(b.rate_scale)})")
    return differs


def _unpaired_because(a: RunIdentity, b: RunIdentity) -> list[str]:
    why = []
    if a.engine != b.engine:
        why.append(f"engines differ ({a.engine} vs {b.engine})")
    elif a.engine != "simulator":
        why.append("live runs share no random numbers")
    if a.seed != b.seed:
        why.append(f"seeds differ ({a.seed} vs {b.seed})")
    if a.replications != b.replications:
        why.append(f"replications differ ({a.replications} vs {b.replications})")
    elif a.replications < 2:
        why.append("a single replication each")
    return why


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class Pairing:
    """How two runs relate; :attr:`reason` says it in words."""

    kind: Kind
    reason: str

    @property
    def paired(self) -> bool:
        return self.kind == "paired"

    @property
    def same_experiment(self) -> bool:
        return self.kind in ("paired", "unpaired")


def pairing(base: RunSummary, other: RunSummary) -> Pairing:
    """How ``other`` may be compared with ``base`` (see the module docstring)."""
    a, b = base.identity, other.identity
    if a is None or b is None:
        return Pairing("unknown", IDENTITY_UNKNOWN)
    differs = experiment_differences(a, b)
    if differs:
        verb = "differs" if len(differs) == 1 else "differ"
        return Pairing("different", f"not the same experiment: {_and(differs)} {verb}")
    why = _unpaired_because(a, b)
    if not why and [r.seed_index for r in base.per_replication] != [
        r.seed_index for r in other.per_replication
    ]:
        why.append("their replications are not the same seeds")
    if why:
        return Pairing("unpaired", f"the same experiment, not paired: {_and(why)}")
    return Pairing("paired", f"paired over {a.replications} replications with the same payments")
