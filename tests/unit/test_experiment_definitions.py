"""Experiments as data: validation naming the field, overlaps refused, and assignment that never moves a reader."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import chisquare

from media_demo.experiments.assignment import assign, pick_variant, unit_point
from media_demo.experiments.definitions import (
    Experiment,
    ExperimentError,
    load_experiments,
    parse_experiment,
    refuse_overlaps,
)


def strategy_with(allowed: set[str]) -> Any:
    def factory(params: Mapping[str, Any]) -> object:
        unknown = set(params) - allowed
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
        return object()

    return factory


STRATEGIES = {"current": strategy_with(set()), "coread": strategy_with({"exploration", "blend"})}
SEGMENTS = ["new_visitor", "deep_reader"]


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "recs-coread",
        "hypothesis": "Co-read picks get more clicks than today's picks.",
        "start": datetime(2026, 12, 1, tzinfo=UTC),
        "variants": [
            {"name": "control", "strategy": "current", "weight": 0.5},
            {"name": "coread", "strategy": "coread", "weight": 0.5, "params": {"exploration": 0.1}},
        ],
    }
    doc.update(changes)
    return doc


def parse(doc: dict[str, Any]) -> Experiment:
    return parse_experiment(doc, "recs.toml", STRATEGIES, SEGMENTS)


def test_a_valid_definition_loads_with_its_defaults() -> None:
    experiment = parse(document())
    assert experiment.control.name == "control"
    assert experiment.hash_salt == "recs-coread"
    assert experiment.traffic == 1.0 and experiment.audience.consent == "behavioural"
    assert experiment.running(datetime(2027, 1, 1, tzinfo=UTC))
    assert not experiment.running(datetime(2026, 11, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variants": [{"name": "control", "strategy": "current", "weight": 1.0}]}, "variants: "),
        (
            {
                "variants": [
                    {"name": "a", "strategy": "current", "weight": 0.5},
                    {"name": "b", "strategy": "current", "weight": 0.6},
                ]
            },
            "weights must add up to 1",
        ),
        (
            {
                "variants": [
                    {"name": "a", "strategy": "current", "weight": 0.5},
                    {"name": "a", "strategy": "coread", "weight": 0.5},
                ]
            },
            "names must be unique",
        ),
        (
            {
                "variants": [
                    {"name": "a", "strategy": "current", "weight": 0.5},
                    {"name": "b", "strategy": "current", "weight": -0.5},
                ]
            },
            "variants[1].weight: ",
        ),
        (
            {
                "variants": [
                    {"name": "a", "strategy": "current", "weight": 0.5},
                    {"name": "b", "strategy": "bandit", "weight": 0.5},
                ]
            },
            "variants[1].strategy: unknown strategy 'bandit'",
        ),
        (
            {
                "variants": [
                    {"name": "a", "strategy": "current", "weight": 0.5},
                    {"name": "b", "strategy": "coread", "weight": 0.5, "params": {"temperature": 2}},
                ]
            },
            "variants[1].params: unknown parameter(s) ['temperature']",
        ),
        ({"traffic": 0}, "traffic: "),
        ({"traffic": 1.5}, "traffic: "),
        ({"name": "Has Spaces"}, "name: "),
        ({"hypothesis": ""}, "hypothesis: "),
        ({"start": datetime(2026, 12, 1)}, "start: Value error, give a time zone"),
        ({"stop": datetime(2026, 11, 1, tzinfo=UTC)}, "stop: must be after start"),
        ({"audience": {"segment": "royalty"}}, "audience.segment: unknown segment 'royalty'"),
        ({"audience": {"device": "Watch"}}, "audience.device: "),
        ({"audience": {"consent": "none"}}, "audience.consent: "),
        ({"slot": "masthead"}, "slot: "),
        ({"colour": "red"}, "colour: "),
        ({"minimum_sample": 1}, "minimum_sample: "),
    ],
)
def test_every_error_names_the_file_and_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ExperimentError) as raised:
        parse(document(**changes))
    assert str(raised.value).startswith("recs.toml: ")
    assert message in str(raised.value)


def test_two_experiments_deciding_one_slot_at_once_are_refused() -> None:
    first = parse(document(stop=datetime(2027, 1, 1, tzinfo=UTC)))
    overlapping = parse(document(name="recs-later", start=datetime(2026, 12, 20, tzinfo=UTC)))
    after = parse(document(name="recs-after", start=datetime(2027, 1, 1, tzinfo=UTC)))
    with pytest.raises(ExperimentError, match="'recs-coread' and 'recs-later' both decide"):
        refuse_overlaps([first, overlapping])
    refuse_overlaps([first, after])  # one stops where the other starts
    with pytest.raises(ExperimentError, match="defined twice"):
        refuse_overlaps([first, first])


def test_the_folder_loads_toml_and_names_the_file_of_a_bad_one(tmp_path: Path) -> None:
    assert load_experiments(tmp_path / "missing", STRATEGIES, SEGMENTS) == []
    (tmp_path / "a.toml").write_text(
        'name = "a"\nhypothesis = "A hypothesis long enough."\nstart = 2026-12-01T00:00:00Z\n'
        '[[variants]]\nname = "control"\nstrategy = "current"\nweight = 0.5\n'
        '[[variants]]\nname = "b"\nstrategy = "coread"\nweight = 0.5\n',
        encoding="utf-8",
    )
    assert [e.name for e in load_experiments(tmp_path, STRATEGIES, SEGMENTS)] == ["a"]
    (tmp_path / "b.toml").write_text("name = [", encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"b\.toml: not valid TOML"):
        load_experiments(tmp_path, STRATEGIES, SEGMENTS)


# --- assignment --------------------------------------------------------------------------------------------------


def test_assignment_is_a_pure_function_of_salt_and_reader() -> None:
    experiment = parse(document())
    readers = [f"reader-{i}" for i in range(200)]
    first = [assign(experiment, r) for r in readers]
    again = [assign(parse(document()), r) for r in readers]  # another load: another process, the same answer
    assert first == again
    resalted = [assign(parse(document(salt="round-2")), r) for r in readers]
    assert first != resalted


def test_variants_get_their_weights_and_the_split_passes_a_chi_squared_test() -> None:
    experiment = parse(
        document(
            variants=[
                {"name": "control", "strategy": "current", "weight": 0.2},
                {"name": "coread", "strategy": "coread", "weight": 0.8},
            ]
        )
    )
    counts = collections.Counter(a.variant for i in range(20_000) if (a := assign(experiment, f"u{i}")))
    observed = [counts["control"], counts["coread"]]
    assert chisquare(observed, [4_000, 16_000]).pvalue > 0.001, observed


def test_lowering_traffic_only_removes_readers_and_never_moves_one() -> None:
    full = parse(document())
    half = parse(document(traffic=0.5))
    readers = [f"u{i}" for i in range(5_000)]
    kept = [(assign(full, r), assign(half, r)) for r in readers]
    inside = [(a, b) for a, b in kept if b is not None]
    assert 2_300 < len(inside) < 2_700
    assert all(a is not None and a.variant == b.variant for a, b in inside)


def test_points_are_uniform_and_pick_variant_covers_the_unit_interval() -> None:
    points = [unit_point("salt", f"u{i}") for i in range(10_000)]
    assert all(0.0 <= p < 1.0 for p in points)
    deciles = collections.Counter(int(p * 10) for p in points)
    assert chisquare([deciles[d] for d in range(10)]).pvalue > 0.001
    experiment = parse(document())
    assert pick_variant(experiment, 0.0).name == "control"
    assert pick_variant(experiment, 0.4999).name == "control"
    assert pick_variant(experiment, 0.5).name == "coread"
    assert pick_variant(experiment, 0.999999).name == "coread"


def test_a_reader_id_is_required() -> None:
    with pytest.raises(ValueError, match="unit: "):
        assign(parse(document()), "")


def test_the_shipped_experiments_and_the_browser_tests_one_are_valid() -> None:
    from media_demo.experiments.catalogue import EXPERIMENTS_DIR, load_catalogue

    shipped = load_catalogue(EXPERIMENTS_DIR)
    assert [e.name for e in shipped] == ["recommendations-coread"]
    assert [v.strategy for v in shipped[0].variants] == ["current", "coread"]
    e2e = load_catalogue(Path(__file__).resolve().parents[1] / "e2e" / "experiments")
    assert [e.audience.device for e in e2e] == ["Mobile"]


def test_exploration_is_checked_beside_the_strategys_own_parameters(tmp_path: Path) -> None:
    from media_demo.experiments.catalogue import load_catalogue

    toml = (
        'name = "x"\nhypothesis = "A hypothesis long enough."\nstart = 2026-12-01T00:00:00Z\n'
        '[[variants]]\nname = "control"\nstrategy = "current"\nweight = 0.5\n'
        '[[variants]]\nname = "b"\nstrategy = "coread"\nweight = 0.5\nparams = {{ {params} }}\n'
    )
    (tmp_path / "x.toml").write_text(toml.format(params="exploration = 0.9"), encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"variants\[1\]\.params: exploration: must be a number from 0 to 0.5"):
        load_catalogue(tmp_path)
    (tmp_path / "x.toml").write_text(toml.format(params="exploration = 0.1, warmth = 3"), encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"variants\[1\]\.params: .*warmth"):
        load_catalogue(tmp_path)
    (tmp_path / "x.toml").write_text(toml.format(params="exploration = 0.1, recency = 0.2"), encoding="utf-8")
    assert load_catalogue(tmp_path)[0].variants[1].params == {"exploration": 0.1, "recency": 0.2}
