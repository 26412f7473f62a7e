"""Scenario overrides: ``PATH=VALUE[,VALUE...]`` read, expanded into grids and applied.

Every problem must be one line in the loader's ``file: field.path: problem`` format,
with the path as the user wrote it (named list items stay named).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scenarios.loader import ScenarioError, load_scenario
from scenarios.overrides import (
    Index,
    Key,
    Named,
    Override,
    OverrideError,
    apply,
    build_grid,
    describe,
    expand,
    parse_override,
    parse_path,
    scenario_data,
    single_point,
    value_at,
)
from scenarios.schema import (
    ConstantArrivals,
    LognormalLatency,
    Scenario,
    SrWindowStrategy,
    WeightedStrategy,
)

SOURCE = "baseline.yaml"


def problem_of(exc: pytest.ExceptionInfo[ScenarioError]) -> str:
    """The one line of an error, which must be exactly one."""
    text = str(exc.value)
    assert "\n" not in text, text
    return text


def apply_error(base: Scenario | dict[str, Any], assignments: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as exc:
        apply(base, assignments, SOURCE)
    return problem_of(exc)


# --- parsing -----------------------------------------------------------------------------


def test_a_path_and_its_values() -> None:
    override = parse_override("policies[sr_window].strategy.window=50,125,500")
    assert override.path == "policies[sr_window].strategy.window"
    assert override.values == (50, 125, 500)
    assert override.segments == (
        Key("policies"),
        Named("sr_window"),
        Key("strategy"),
        Key("window"),
    )


def test_paths_address_list_items_by_index_and_by_name() -> None:
    assert parse_path("acquirers[acq_a].incidents[0].approval_delta") == (
        Key("acquirers"),
        Named("acq_a"),
        Key("incidents"),
        Index(0),
        Key("approval_delta"),
    )
    assert parse_path("policies['a rule']") == (Key("policies"), Named("a rule"))
    assert parse_path(" seed ") == (Key("seed"),)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("seed=7", (7,)),
        ("acquirers[acq_a].incidents[0].approval_delta=-0.3,-0.5", (-0.3, -0.5)),
        ("traffic.arrival.rate_per_s=40.5", (40.5,)),
        ("policies[0].retry.on_timeout=stop", ("stop",)),
        ("traffic.mix.bins.visa=null", (None,)),
        ("acquirers[0].approval.effects=[]", ([],)),
        ("slo.p99_ms=500, 800", (500, 800)),
        ("x=true,false", (True, False)),
        ("x='05',\"91\"", ("05", "91")),
    ],
)
def test_values_are_yaml_scalars(text: str, values: tuple[Any, ...]) -> None:
    assert parse_override(text).values == values


def test_commas_inside_brackets_braces_and_quotes_do_not_split() -> None:
    latency = parse_override(
        "acquirers[acq_b].latency={dist: lognormal, median_ms: 300, sigma: 0.4},"
        "{dist: fixed, ms: 200}"
    )
    assert latency.values == (
        {"dist": "lognormal", "median_ms": 300, "sigma": 0.4},
        {"dist": "fixed", "ms": 200},
    )
    lists = parse_override("policies[priority].default=[acq_a, acq_b],[acq_b, {x: [1, 2]}]")
    assert lists.values == (["acq_a", "acq_b"], ["acq_b", {"x": [1, 2]}])
    quoted = parse_override('merchant.name=\'shop, eu\',"a, \\"b\\"",o\'brien')
    assert quoted.values == ("shop, eu", 'a, "b"', "o'brien")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed", "seed: expected PATH=VALUE[,VALUE...], e.g. seed=7"),
        ("=7", "=7: the path before '=' is empty"),
        ("seed=", "seed=: no value after '='"),
        ("seed=1,,2", "seed=1,,2: an empty value between commas"),
        ("seed=1,", "seed=1,: an empty value between commas"),
        ("x={a: [1}", "x={a: [1}: unbalanced '}' in the value"),
        ("x=[1, 2", "x=[1, 2: ']' missing at the end of the value"),
        ("x='a, b", "x='a, b: a ' quote in the value is never closed"),
        ("x=@at", "x=@at: value '@at' is not valid YAML"),
        ("a..b=1", "a..b: a field name is missing at character 3"),
        ("acquirers[acq_a=1", "acquirers[acq_a: '[' at character 10 is never closed"),
        ("acquirers[]=1", "acquirers[]: empty brackets"),
        ("acquirers[-1].name=x", "acquirers[-1].name: index -1 is negative; count from 0"),
        ("[0].name=x", "[0].name: a path starts with a field name"),
        ("acquirers [0]=x", "acquirers [0]: expected '.' or '[' at character 10"),
    ],
)
def test_malformed_overrides_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(OverrideError) as exc:
        parse_override(text)
    assert problem_of(exc).startswith(message)


# --- addressing --------------------------------------------------------------------------


def test_an_override_changes_that_field_and_nothing_else(baseline: Scenario) -> None:
    changed = apply(baseline, {"policies[sr_window].strategy.window": 50}, SOURCE)
    strategy = changed.policy("sr_window").strategy
    assert isinstance(strategy, SrWindowStrategy) and strategy.window == 50
    assert changed.model_copy(update={"policies": baseline.policies}) == baseline
    assert changed.policies[:2] == baseline.policies[:2]
    original = baseline.policy("sr_window").strategy
    assert isinstance(original, SrWindowStrategy) and original.window == 125  # untouched


def test_by_index_and_by_name_address_the_same_item(baseline: Scenario) -> None:
    by_name = apply(baseline, {"acquirers[acq_b].approval.base": 0.5}, SOURCE)
    by_index = apply(baseline, {"acquirers[1].approval.base": 0.5}, SOURCE)
    assert by_name == by_index
    assert by_name.acquirer("acq_b").approval.base == 0.5
    assert by_name.acquirer("acq_a") == baseline.acquirer("acq_a")


def test_incidents_by_index_and_by_name() -> None:
    outage = load_scenario("acquirer_outage")
    for path in (
        "acquirers[acq_a].incidents[0].approval_delta",
        "acquirers[acq_a].incidents[acq_a_outage].approval_delta",
        "acquirers[0].incidents[acq_a_outage].approval_delta",
    ):
        changed = apply(outage, {path: -0.3}, "acquirer_outage")
        assert changed.acquirer("acq_a").incidents[0].approval_delta == -0.3
        assert changed.acquirer("acq_a").incidents[0].error_rate == 0.15  # the rest kept


def test_rules_by_index_and_by_name() -> None:
    cross_border = load_scenario("cross_border")
    by_name = apply(
        cross_border,
        {"policies[rules].rules[amex_to_specialist].acquirers": ["acq_global", "acq_xb"]},
        "cross_border",
    )
    by_index = apply(
        cross_border, {"policies[1].rules[1].acquirers": ["acq_global", "acq_xb"]}, "cross_border"
    )
    assert by_name == by_index
    assert by_name.policy("rules").rules[1].acquirers == ["acq_global", "acq_xb"]
    assert by_name.policy("rules").rules[0] == cross_border.policy("rules").rules[0]


def test_a_mapping_value_replaces_the_whole_section(baseline: Scenario) -> None:
    changed = apply(
        baseline,
        {"acquirers[acq_b].latency": {"dist": "lognormal", "median_ms": 300, "sigma": 0.4}},
        SOURCE,
    )
    assert changed.acquirer("acq_b").latency == LognormalLatency(
        dist="lognormal", median_ms=300.0, sigma=0.4
    )
    fixed = apply(baseline, {"acquirers[acq_b].latency": {"dist": "fixed", "ms": 250}}, SOURCE)
    assert fixed.acquirer("acq_b").latency.dist == "fixed"


def test_mapping_keys_can_be_set_and_added(baseline: Scenario) -> None:
    changed = apply(
        baseline,
        {
            "policies[weighted].strategy.weights.acq_c": 0,
            "acquirers[acq_a].decline_codes.05": 0.5,
            "acquirers[acq_a].fees.by_network.visa": {"pct_bps": 90},
            "traffic.mix.networks.discover": 0.01,
        },
        SOURCE,
    )
    strategy = changed.policy("weighted").strategy
    assert isinstance(strategy, WeightedStrategy) and strategy.weights["acq_c"] == 0.0
    assert changed.acquirer("acq_a").decline_codes["05"] == 0.5
    assert changed.acquirer("acq_a").fees.for_network("visa").pct_bps == 90.0
    assert changed.traffic.mix.networks["discover"] == 0.01


def test_top_level_fields_and_sections(baseline: Scenario) -> None:
    changed = apply(
        baseline,
        {"seed": 7, "traffic.arrival.rate_per_s": 25, "slo.p99_ms": 800, "merchant.country": "FR"},
        SOURCE,
    )
    assert changed.seed == 7
    assert changed.traffic.arrival == ConstantArrivals(profile="constant", rate_per_s=25.0)
    assert changed.slo.p99_ms == 800.0 and changed.merchant.country == "FR"


def test_plain_data_without_the_defaults_gets_sections_created(
    baseline_data: dict[str, Any],
) -> None:
    before = copy.deepcopy(baseline_data)
    changed = apply(
        baseline_data,
        {"slo.auth_rate_min": 0.9, "acquirers[acq_c].fees.by_network.amex.fixed": 20},
        SOURCE,
    )
    assert changed.slo.auth_rate_min == 0.9
    assert changed.acquirer("acq_c").fees.for_network("amex").fixed == 20.0
    assert baseline_data == before  # the caller's data is left alone
    assert apply(baseline_data, {}, SOURCE) == load_scenario("baseline")


def test_value_at_reads_what_a_path_addresses(baseline: Scenario) -> None:
    assert value_at(baseline, "policies[sr_window].strategy.window") == 125
    assert value_at(baseline, "acquirers[2].name") == "acq_c"
    assert value_at(baseline, "acquirers[acq_a].void_latency") is None  # unset: the default
    with pytest.raises(ScenarioError) as exc:
        value_at(baseline, "acquirers[acq_a].void_latency.median_ms", SOURCE)
    assert problem_of(exc) == (
        f"{SOURCE}: acquirers[acq_a].void_latency: not set, so nothing lies below it"
    )


def test_scenario_data_round_trips(baseline: Scenario) -> None:
    data = scenario_data(baseline)
    assert data["policies"][2]["strategy"]["window"] == 125
    assert apply(data, {}, SOURCE) == baseline


# --- errors ------------------------------------------------------------------------------


def test_an_unknown_key_gets_the_loaders_did_you_mean(baseline: Scenario) -> None:
    message = apply_error(baseline, {"policies[sr_window].strategy.windw": 50})
    assert message == (
        f"{SOURCE}: policies[sr_window].strategy.windw: unknown key; did you mean 'window'?"
    )
    assert apply_error(baseline, {"replicatons": 3}) == (
        f"{SOURCE}: replicatons: unknown key; did you mean 'replications'?"
    )


def test_an_unknown_key_with_no_near_miss_lists_the_known_ones(baseline: Scenario) -> None:
    message = apply_error(baseline, {"acquirers[acq_b].latency.ms": 200})
    # the keys of the latency model the data says this is (lognormal), not of the others
    assert (
        message
        == f"{SOURCE}: acquirers[acq_b].latency.ms: unknown key (known: dist, median_ms, sigma)"
    )


def test_an_index_out_of_range_gives_the_range(baseline: Scenario) -> None:
    assert apply_error(baseline, {"acquirers[3].approval.base": 0.5}) == (
        f"{SOURCE}: acquirers[3]: index 3 out of range: acquirers has 3 items (0 to 2)"
    )
    assert apply_error(baseline, {"acquirers[acq_a].incidents[0].approval_delta": -0.3}) == (
        f"{SOURCE}: acquirers[acq_a].incidents[0]: index 0 out of range: "
        "acquirers[acq_a].incidents is empty"
    )


def test_no_item_of_that_name_lists_the_known_names(baseline: Scenario) -> None:
    assert apply_error(baseline, {"acquirers[acq_z].approval.base": 0.5}) == (
        f"{SOURCE}: acquirers[acq_z]: no acquirer named 'acq_z' (known: acq_a, acq_b, acq_c)"
    )
    assert apply_error(baseline, {"policies[sr_windw].strategy.window": 50}) == (
        f"{SOURCE}: policies[sr_windw]: no policy named 'sr_windw' "
        "(known: priority, weighted, sr_window)"
    )
    assert apply_error(baseline, {"policies[priority].rules[amex].acquirers": ["acq_a"]}) == (
        f"{SOURCE}: policies[priority].rules[amex]: no rule named 'amex': "
        "policies[priority].rules is empty"
    )


def test_items_without_names_or_with_shared_names_need_an_index(baseline: Scenario) -> None:
    assert apply_error(baseline, {"acquirers[acq_a].approval.effects[amex].delta": 0}) == (
        f"{SOURCE}: acquirers[acq_a].approval.effects[amex]: the items of "
        "acquirers[acq_a].approval.effects have no names: address them by index"
    )
    incident = {"start_s": 10, "end_s": 20}  # both take the default name "incident"
    twice = apply(baseline, {"acquirers[acq_a].incidents": [incident, incident]}, SOURCE)
    assert apply_error(twice, {"acquirers[acq_a].incidents[incident].end_s": 30}) == (
        f"{SOURCE}: acquirers[acq_a].incidents[incident]: 2 items of acquirers[acq_a].incidents "
        "are named 'incident': address one by index (acquirers[acq_a].incidents[0] or "
        "acquirers[acq_a].incidents[1])"
    )


def test_a_path_through_a_list_or_a_value_says_what_is_there(baseline: Scenario) -> None:
    assert apply_error(baseline, {"acquirers.approval.base": 0.5}) == (
        f"{SOURCE}: acquirers.approval: acquirers is a list: pick an item by index or name, "
        "e.g. acquirers[0] or acquirers[acq_a]"
    )
    assert apply_error(baseline, {"seed.value": 3}) == (
        f"{SOURCE}: seed.value: seed is a value (int), not a section with fields"
    )
    assert apply_error(baseline, {"traffic[0]": 3}) == (
        f"{SOURCE}: traffic[0]: traffic is a section, not a list"
    )


def test_a_value_the_format_rejects_is_named_by_the_users_path(baseline: Scenario) -> None:
    assert apply_error(baseline, {"policies[sr_window].strategy.window": 2}) == (
        f"{SOURCE}: policies[sr_window].strategy.window: "
        "Input should be greater than or equal to 5 (got 2)"
    )
    assert apply_error(baseline, {"traffic.arrival.rate_per_s": "fast"}) == (
        f"{SOURCE}: traffic.arrival.rate_per_s: Input should be a valid number (got 'fast')"
    )
    # a check across sections, reported by index by the loader, comes back named
    assert apply_error(baseline, {"policies[priority].retry.attempt_timeout_ms": 20000}) == (
        f"{SOURCE}: policies[priority].retry.attempt_timeout_ms: must not exceed retry.budget_ms"
    )
    # a by-index path stays by index
    assert apply_error(baseline, {"policies[0].retry.budget_ms": 1}) == (
        f"{SOURCE}: policies[0].retry.attempt_timeout_ms: must not exceed retry.budget_ms"
    )


def test_every_bad_override_of_a_point_is_reported(baseline: Scenario) -> None:
    with pytest.raises(ScenarioError) as exc:
        apply(baseline, {"sed": 1, "acquirers[acq_q].approval.base": 0.5}, SOURCE)
    assert str(exc.value).splitlines() == [
        f"{SOURCE}: sed: unknown key; did you mean 'seed'?",
        f"{SOURCE}: acquirers[acq_q]: no acquirer named 'acq_q' (known: acq_a, acq_b, acq_c)",
    ]


def test_a_malformed_path_given_to_apply_is_named(baseline: Scenario) -> None:
    assert apply_error(baseline, {"acquirers[0": 1}) == (
        f"{SOURCE}: acquirers[0: '[' at character 10 is never closed"
    )


# --- grids -------------------------------------------------------------------------------


def overrides(*texts: str) -> list[Override]:
    return [parse_override(text) for text in texts]


def test_the_grid_is_the_full_cartesian_product() -> None:
    points = expand(overrides("policies[sr_window].strategy.window=50,125,500", "seed=1,2"))
    assert points == [
        {"policies[sr_window].strategy.window": w, "seed": s}
        for w in (50, 125, 500)
        for s in (1, 2)
    ]


def test_zip_pairs_values_and_repeats_single_ones() -> None:
    points = expand(
        overrides("policies[sr_window].strategy.window=50,125", "seed=1,2", "warmup_s=0"),
        mode="zip",
    )
    assert points == [
        {"policies[sr_window].strategy.window": 50, "seed": 1, "warmup_s": 0},
        {"policies[sr_window].strategy.window": 125, "seed": 2, "warmup_s": 0},
    ]


def test_zip_with_lists_of_different_lengths_is_an_error() -> None:
    with pytest.raises(OverrideError) as exc:
        expand(overrides("seed=1,2,3", "warmup_s=0,10"), mode="zip")
    assert problem_of(exc) == (
        "zip: paired values need lists of equal length: seed has 3, warmup_s has 2"
    )


def test_a_path_set_twice_is_an_error() -> None:
    with pytest.raises(OverrideError) as exc:
        expand(overrides("seed=1", "seed =2"))
    assert problem_of(exc) == "seed =2: seed is set twice"


def test_no_overrides_make_one_point_that_changes_nothing(baseline: Scenario) -> None:
    assert expand([]) == [{}] == expand([], mode="zip")
    assert build_grid(baseline, expand([]), SOURCE) == [baseline]


def test_single_point_refuses_several_values() -> None:
    assert single_point(overrides("seed=3", "warmup_s=0")) == {"seed": 3, "warmup_s": 0}
    with pytest.raises(OverrideError) as exc:
        single_point(overrides("seed=3", "policies[sr_window].strategy.window=50,125"))
    message = problem_of(exc)
    assert message.startswith("policies[sr_window].strategy.window=50,125: 2 values")
    assert "routelab sweep" in message


def test_every_point_is_built_and_validated(baseline: Scenario) -> None:
    points = expand(overrides("policies[sr_window].strategy.window=50,500", "seed=1,2"))
    scenarios = build_grid(baseline, points, SOURCE)
    assert [(s.seed, value_at(s, "policies[sr_window].strategy.window")) for s in scenarios] == [
        (1, 50),
        (2, 50),
        (1, 500),
        (2, 500),
    ]


def test_one_bad_point_stops_the_whole_grid_naming_the_point(baseline: Scenario) -> None:
    points = expand(overrides("policies[sr_window].strategy.window=50,2,3", "seed=1,2"))
    with pytest.raises(ScenarioError) as exc:
        build_grid(baseline, points, SOURCE)
    assert str(exc.value).splitlines() == [
        f"{SOURCE}: policies[sr_window].strategy.window: Input should be greater than or "
        f"equal to 5 (got {w}) (at policies[sr_window].strategy.window={w}, seed=1)"
        for w in (2, 3)
    ]


def test_a_bad_path_in_a_grid_is_reported_once(baseline: Scenario) -> None:
    points = expand(overrides("policies[sr_window].strategy.windw=50,125", "seed=1,2"))
    with pytest.raises(ScenarioError) as exc:
        build_grid(baseline, points, SOURCE)
    assert str(exc.value).splitlines() == [
        f"{SOURCE}: policies[sr_window].strategy.windw: unknown key; did you mean 'window'? "
        "(at policies[sr_window].strategy.windw=50, seed=1)"
    ]


def test_points_describe_themselves_on_one_line() -> None:
    point = {"acquirers[acq_b].latency": {"dist": "fixed", "ms": 200}, "x": True, "y": [1, 2]}
    assert describe(point) == "acquirers[acq_b].latency={dist: fixed, ms: 200}, x=true, y=[1, 2]"
