"""The scenario format: bundled scenarios load and are realistic; broken ones say what is wrong.

Every error must name the file, the field path (as a person would write it) and the
problem, in one line per problem, so a scenario author can fix it without a traceback.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_acquirers.behaviour import latency_quantile
from scenarios.loader import (
    BUNDLED_DIR,
    MAX_LISTED_PROBLEMS,
    ScenarioError,
    load_scenario,
    parse_scenario,
    validate_scenario,
)
from scenarios.schema import LognormalLatency, Scenario

BUNDLED = sorted(BUNDLED_DIR.glob("*.yaml"))
SOURCE = "bad.yaml"

Mutation = Callable[[dict[str, Any]], None]


def set_in(*path: str | int, value: Any) -> Mutation:
    """A mutation that sets ``value`` at ``path`` in the scenario data."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def rename_key(*path: str | int, new: str) -> Mutation:
    """A mutation that renames the key at ``path`` (a typo an author could make)."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[new] = node.pop(path[-1])

    return mutate


def drop(*path: str | int) -> Mutation:
    """A mutation that removes the key at ``path``."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def problems_for(data: Any) -> list[tuple[str, str]]:
    """The (field path, problem) pairs the loader reports for ``data``."""
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, SOURCE)
    error = caught.value
    assert error.source == SOURCE
    for line, (path, problem) in zip(str(error).splitlines(), error.problems, strict=False):
        # one line per problem: file, then field path, then the problem
        assert line == (f"{SOURCE}: {path}: {problem}" if path else f"{SOURCE}: {problem}")
    return error.problems


# --- bundled scenarios -----------------------------------------------------------------


def test_the_bundled_scenarios_are_all_there() -> None:
    names = {path.stem for path in BUNDLED}
    assert {"baseline", "acquirer_outage", "latency_spike", "cross_border"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_loads_and_states_its_question(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert load_scenario(path.stem) == scenario  # bundled names resolve too
    assert path.read_text("utf-8").startswith("# Question:")
    names = [p.name for p in scenario.policies]
    assert {"priority", "sr_window"} <= set(names)
    assert len(names) >= 3
    assert 0 < scenario.warmup_s < scenario.traffic.duration_s


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_figures_are_realistic(path: Path) -> None:
    """Figures within the ranges of docs/domain.md, so results mean something."""
    scenario = load_scenario(path)
    for acquirer in scenario.acquirers:
        assert 0.90 <= acquirer.approval.base <= 0.97, acquirer.name
        assert 150 <= latency_quantile(acquirer.latency, 0.5) <= 600, acquirer.name
        fee = acquirer.fees.default
        assert 80 <= fee.pct_bps <= 250 and fee.fixed > 0, acquirer.name
        for incident in acquirer.incidents:
            assert incident.end_s < scenario.traffic.duration_s, "incidents must recover"
    declines = scenario.traffic.issuer_declines.base
    assert max(declines, key=declines.__getitem__) == "51"  # insufficient funds dominates


def test_acquirer_outage_collapses_the_primary_then_recovers() -> None:
    scenario = load_scenario("acquirer_outage")
    primary = scenario.policy("priority").default[0]
    (incident,) = scenario.acquirer(primary).incidents
    assert -0.6 <= incident.approval_delta <= -0.4
    assert incident.error_rate > 0
    assert scenario.warmup_s < incident.start_s < incident.end_s < scenario.traffic.duration_s
    assert scenario.bucket_s <= 60  # fine enough to see the incident in the time series
    assert scenario.policy("priority").retry.on_timeout == "void_then_cascade"


def test_latency_spike_has_tight_and_loose_timeouts() -> None:
    scenario = load_scenario("latency_spike")
    spikes = [i for a in scenario.acquirers for i in a.incidents]
    assert spikes and all(5 <= i.latency_factor <= 10 and i.timeout_rate > 0 for i in spikes)
    timeouts = {p.name: p.retry.attempt_timeout_ms for p in scenario.policies}
    spiked_median = max(
        a.latency.median_ms * i.latency_factor
        for a in scenario.acquirers
        for i in a.incidents
        if isinstance(a.latency, LognormalLatency)
    )
    # tight: gives up before a typical spiked answer; loose: waits for it
    assert min(timeouts.values()) < spiked_median < max(timeouts.values())
    assert any(
        getattr(p.strategy, "latency_threshold_ms", None) is not None for p in scenario.policies
    )


def test_cross_border_rules_send_foreign_cards_to_the_specialist() -> None:
    scenario = load_scenario("cross_border")
    names = [p.name for p in scenario.policies]
    assert names[:3] == ["priority", "rules", "sr_window"]  # later policies add strategies
    assert len(scenario.policy("priority").default) == 1  # a single-acquirer set-up
    rule = next(r for r in scenario.policy("rules").rules if r.when.cross_border is True)
    specialist = scenario.acquirer(rule.acquirers[0])
    domestic = scenario.acquirer(scenario.policy("rules").default[0])
    boost = {
        a.name: sum(e.delta for e in a.approval.effects if e.when.cross_border is True)
        for a in (specialist, domestic)
    }
    assert specialist.approval.base + boost[specialist.name] > (
        domestic.approval.base + boost[domestic.name]
    )


# --- broken scenarios: one clear message each --------------------------------------------

BROKEN: list[tuple[str, Mutation, str, list[str]]] = [
    # (id, mutation of the baseline, the field path reported, fragments of the problem)
    (
        "wrong-type-top",
        set_in("replications", value="five"),
        "replications",
        ["valid integer", "'five'"],
    ),
    (
        "wrong-type-nested",
        set_in("traffic", "arrival", "rate_per_s", value="fast"),
        "traffic.arrival.rate_per_s",
        ["valid number", "'fast'"],
    ),
    (
        "unknown-key-top",
        rename_key("replications", new="replicatons"),
        "replicatons",
        ["unknown key"],
    ),
    (
        "unknown-key-in-condition",
        set_in("acquirers", 0, "approval", "effects", 0, "when", value={"crossborder": True}),
        "acquirers[0].approval.effects[0].when.crossborder",
        ["unknown key"],
    ),
    (
        "unknown-key-in-strategy",
        set_in("policies", 2, "strategy", "windw", value=100),
        "policies[2].strategy.windw",
        ["unknown key"],
    ),
    (
        "unknown-acquirer-in-rule",
        set_in(
            "policies",
            0,
            "rules",
            value=[{"name": "xb", "when": {"cross_border": True}, "acquirers": ["acq_z"]}],
        ),
        "policies[0].rules[0].acquirers[0]",
        ["unknown acquirer 'acq_z'", "acq_a, acq_b, acq_c"],
    ),
    (
        "unknown-acquirer-in-default",
        set_in("policies", 0, "default", value=["acq_a", "acq_q"]),
        "policies[0].default[1]",
        ["unknown acquirer 'acq_q'"],
    ),
    (
        "negative-latency",
        set_in("acquirers", 1, "latency", "median_ms", value=-5),
        "acquirers[1].latency.median_ms",
        ["greater than 0", "-5"],
    ),
    (
        "weights-all-zero",
        set_in("policies", 1, "strategy", "weights", value={"acq_a": 0, "acq_b": 0, "acq_c": 0}),
        "policies[1].strategy.weights",
        ["zero volume"],
    ),
    (
        "weights-unknown-acquirer",
        set_in("policies", 1, "strategy", "weights", value={"acq_a": 1, "acq_z": 1}),
        "policies[1].strategy.weights.acq_z",
        ["unknown acquirer 'acq_z'"],
    ),
    (
        "weights-negative",
        set_in("policies", 1, "strategy", "weights", value={"acq_a": 1, "acq_b": -1, "acq_c": 1}),
        "policies[1].strategy.weights.acq_b",
        ["greater than or equal to 0", "-1"],
    ),
    (
        "weights-without-weighted-strategy",
        set_in(
            "policies",
            0,
            "rules",
            value=[{"name": "r", "acquirers": ["acq_a", "acq_b"], "weights": {"acq_a": 1}}],
        ),
        "policies[0].rules",
        ["only used with strategy type 'weighted'"],
    ),
    (
        "warmup-not-shorter-than-run",
        set_in("warmup_s", value=1800),
        "warmup_s",
        ["warm-up (1800 s)", "shorter than traffic.duration_s (1800 s)"],
    ),
    (
        "incident-after-run-ends",
        set_in("acquirers", 0, "incidents", value=[{"start_s": 5000, "end_s": 6000}]),
        "acquirers[0].incidents[0].start_s",
        ["after the run ends"],
    ),
    (
        "missing-required-field",
        drop("traffic", "mix", "networks"),
        "traffic.mix.networks",
        ["required field is missing"],
    ),
    (
        "null-where-a-mapping-belongs",
        set_in("acquirers", 0, "latency", value=None),
        "acquirers[0].latency",
        ["valid dictionary"],
    ),
    (
        "attempt-timeout-over-budget",
        set_in("policies", 0, "retry", value={"attempt_timeout_ms": 12000, "budget_ms": 10000}),
        "policies[0].retry.attempt_timeout_ms",
        ["must not exceed retry.budget_ms"],
    ),
    (
        "duplicate-policy-name",
        set_in("policies", 1, "name", value="priority"),
        "policies[1].name",
        ["duplicate policy name 'priority'"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "fragments"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_broken_scenario_gives_one_clear_message(
    baseline_data: dict[str, Any], mutate: Mutation, path: str, fragments: list[str]
) -> None:
    mutate(baseline_data)
    problems = problems_for(baseline_data)
    assert [p for p, _ in problems] == [path]
    for fragment in fragments:
        assert fragment in problems[0][1]


def test_typo_in_a_nested_key_names_the_typo(baseline_data: dict[str, Any]) -> None:
    rename_key("acquirers", 0, "latency", "median_ms", new="medain_ms")(baseline_data)
    # one problem, not two: the typo and the key it was meant to be
    assert problems_for(baseline_data) == [
        ("acquirers[0].latency.medain_ms", "unknown key; did you mean 'median_ms'?")
    ]


def test_incident_ending_before_it_starts(baseline_data: dict[str, Any]) -> None:
    incident = {"start_s": 500, "end_s": 400, "approval_delta": -0.5}
    set_in("acquirers", 0, "incidents", value=[incident])(baseline_data)
    ((path, problem),) = problems_for(baseline_data)
    assert path == "acquirers[0].incidents[0].end_s"
    assert "after start_s (500)" in problem and "got 400" in problem


def test_duplicate_acquirer_name_is_reported_first(baseline_data: dict[str, Any]) -> None:
    set_in("acquirers", 2, "name", value="acq_a")(baseline_data)
    problems = problems_for(baseline_data)
    assert problems[0] == ("acquirers[2].name", "duplicate acquirer name 'acq_a'")


@pytest.mark.parametrize(
    ("section", "key", "kind", "expected"),
    [
        ("acquirers", "latency", "gamma", "'lognormal'"),
        ("policies", "strategy", "roundrobin", "'sr_window'"),
    ],
)
def test_unknown_kind_lists_the_known_kinds(
    baseline_data: dict[str, Any], section: str, key: str, kind: str, expected: str
) -> None:
    entry = baseline_data[section][0][key]
    tag = "dist" if key == "latency" else "type"
    entry[tag] = kind
    ((path, problem),) = problems_for(baseline_data)
    assert path == f"{section}[0].{key}.{tag}"
    assert repr(kind) in problem and expected in problem


def test_missing_kind_names_the_discriminator(baseline_data: dict[str, Any]) -> None:
    del baseline_data["acquirers"][0]["latency"]["dist"]
    ((path, problem),) = problems_for(baseline_data)
    assert path == "acquirers[0].latency.dist"
    assert "required field is missing" in problem


def test_many_problems_are_capped_with_a_count(baseline_data: dict[str, Any]) -> None:
    extra = MAX_LISTED_PROBLEMS + 3
    for k in range(extra):
        baseline_data[f"typo_{k}"] = k
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(baseline_data, SOURCE)
    lines = str(caught.value).splitlines()
    assert len(caught.value.problems) == extra
    assert len(lines) == MAX_LISTED_PROBLEMS + 1
    assert lines[-1] == f"{SOURCE}: ... and 3 more problems"


def test_validation_does_not_change_the_input(baseline_data: dict[str, Any]) -> None:
    before = copy.deepcopy(baseline_data)
    validate_scenario(baseline_data, SOURCE)
    assert baseline_data == before


# --- broken files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "line 2, column 1: YAML syntax error: expected ',' or ']'"),
        ("name: x\n  seed: 2\n", "line 2, column 7: YAML syntax error: mapping values"),
        ("\tname: x\n", "line 1, column 1: YAML syntax error: found character '\\t'"),
        ("", "a scenario must be a mapping of keys, got empty"),
        ("# nothing but a comment\n", "a scenario must be a mapping of keys, got empty"),
        ("- acq_a\n- acq_b\n", "a scenario must be a mapping of keys, got a list"),
        ("just words\n", "a scenario must be a mapping of keys, got a str"),
    ],
    ids=["unclosed-list", "bad-indent", "tab", "empty", "only-comment", "list", "scalar"],
)
def test_unreadable_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (line,) = str(caught.value).splitlines()
    assert line.startswith(f"{path}: {expected}")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: file not found"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a directory, not a scenario file"


def test_parse_names_the_given_source() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("name: x\nseed: -1\n", "inline-text")
    assert (
        "inline-text: seed: Input should be greater than or equal to 0 (got -1)"
        in str(caught.value).splitlines()
    )


# --- JSON Schema -------------------------------------------------------------------------


def test_json_schema_forbids_unknown_keys_everywhere() -> None:
    schema = Scenario.model_json_schema()
    assert schema["additionalProperties"] is False
    objects = {name: d for name, d in schema["$defs"].items() if d.get("type") == "object"}
    assert {"Acquirer", "Incident", "RoutingPolicy", "Rule", "Condition"} <= set(objects)
    assert {
        name for name, d in objects.items() if d.get("additionalProperties") is not False
    } == set()


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_json_schema_covers_the_bundled_scenarios(path: Path) -> None:
    schema = Scenario.model_json_schema()
    data = yaml.safe_load(path.read_text("utf-8"))
    assert set(schema["properties"]) == {
        "name",
        "description",
        "seed",
        "replications",
        "warmup_s",
        "bucket_s",
        "merchant",
        "acquirers",
        "traffic",
        "policies",
        "slo",
        "schemes",
        "objective",
    }
    assert set(data) <= set(schema["properties"])
    assert set(schema["required"]) <= set(data)
    acquirer = schema["$defs"]["Acquirer"]
    for entry in data["acquirers"]:
        assert set(entry) <= set(acquirer["properties"])
        assert set(acquirer["required"]) <= set(entry)
