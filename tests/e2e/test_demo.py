"""The main job, small: three simulated policies, a live check, one comparison report."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from results.contract import read_summary
from results.pairing import pairing
from routelab.demo import FIDELITY_REPLICATIONS, POLICIES, run_demo


@pytest.mark.e2e
def test_demo_writes_the_comparison_with_a_fidelity_section(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "console.txt", "w"), width=120)  # noqa: SIM115
    result = run_demo(tmp_path / "demo", replications=2, live_seconds=12.0, console=console)
    assert result.live_exit_code == 0
    html = result.report.read_text(encoding="utf-8")
    assert "Fidelity" in html and "Highest authorisation rate" in html
    engines = [read_summary(d).engine for d in result.run_dirs]
    assert engines == ["simulator"] * (len(POLICIES) + 1) + ["live"]
    live = read_summary(result.run_dirs[-1])
    assert live.reconciliation is not None
    assert live.reconciliation["missing"] == 0 and live.reconciliation["duplicated"] == 0
    simulated = read_summary(result.run_dirs[-2])
    assert simulated.scenario == live.scenario == "acquirer_outage_12s"
    # the live run is judged by one more run's spread: the short scenario gets many runs
    assert simulated.replications == FIDELITY_REPLICATIONS
    assert all(r.acquirer_share for r in simulated.per_replication)
    # the short scenario, simulated in memory and load-tested from its file, is one
    # experiment (the same content, timeline and speeds): its fidelity is checked
    relation = pairing(simulated, live)
    assert relation.kind == "unpaired" and relation.same_experiment, relation.reason
    assert "Simulator vs live on acquirer_outage_12s (sr_window): " in html
    assert "not checked" not in html
    # the full-length runs are another experiment than the short ones, and say so
    full = read_summary(result.run_dirs[0])
    assert pairing(full, live).kind == "different"
    assert "are not the same experiment: the scenario content and the timeline" in html
