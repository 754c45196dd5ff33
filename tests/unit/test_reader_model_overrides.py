"""The replay's `--model NAME=VALUE` overrides of the reader model: applied as asked, or refused naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from media_demo.evaluation.replay import main, model_line
from media_demo.evaluation.simulation import PARAMETER_RANGES, ReaderModel, parse_model_overrides


def test_no_overrides_is_the_default_model() -> None:
    model = parse_model_overrides([])
    assert model == ReaderModel()
    assert model.changed() == {}
    assert model_line(model) == "reader model: the defaults (fixed before the comparison)"


def test_overrides_replace_only_the_named_fields_with_the_fields_types() -> None:
    model = parse_model_overrides(["quality_sigma=0.25", "topic_concentration= 0.2 ", "max_reads=3", "fatigue=1"])
    assert model.quality_sigma == 0.25 and model.topic_concentration == 0.2
    assert model.max_reads == 3 and type(model.max_reads) is int
    assert model.fatigue == 1.0 and type(model.fatigue) is float
    assert model.changed() == {"topic_concentration": 0.2, "quality_sigma": 0.25, "fatigue": 1.0, "max_reads": 3}
    assert model.subject_boost == ReaderModel().subject_boost  # the rest untouched


def test_a_value_equal_to_its_default_is_not_reported_as_changed() -> None:
    assert parse_model_overrides(["quality_sigma=0.50"]).changed() == {}


def test_the_report_header_names_each_changed_parameter_beside_its_default() -> None:
    line = model_line(parse_model_overrides(["quality_sigma=0", "topic_concentration=1.0"]))
    assert line.startswith("reader model: NOT the defaults")
    assert "topic_concentration=1 (default 0.5)" in line and "quality_sigma=0 (default 0.5)" in line


def test_every_parameter_has_a_range_and_the_defaults_are_inside() -> None:
    names = [f.name for f in dataclasses.fields(ReaderModel)]
    assert list(PARAMETER_RANGES) == names
    default = ReaderModel()
    assert ReaderModel().with_overrides({name: str(getattr(default, name)) for name in names}) == default


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("quality=0.2", "quality"),  # unknown name
        ("Quality_Sigma=0.2", "Quality_Sigma"),
        ("quality_sigma=abc", "quality_sigma"),  # not a number
        ("quality_sigma=", "quality_sigma"),
        ("quality_sigma=nan", "quality_sigma"),
        ("click_scale=inf", "click_scale"),
        ("max_reads=2.5", "max_reads"),  # an int field needs an int
        ("subjects_per_reader=1e2", "subjects_per_reader"),
        ("quality_sigma=-0.1", "quality_sigma"),  # negative
        ("subject_boost=-1", "subject_boost"),
        ("click_scale=-0.3", "click_scale"),
        ("subjects_per_reader=-1", "subjects_per_reader"),
        ("topic_concentration=0", "topic_concentration"),  # a Dirichlet needs > 0
        ("recency_half_life_days=0", "recency_half_life_days"),
        ("max_click=1.01", "max_click"),  # probabilities in [0, 1]
        ("leave_without_click=-0.01", "leave_without_click"),
        ("fatigue=2", "fatigue"),
        ("max_reads=0", "max_reads"),
    ],
)
def test_a_bad_override_is_refused_naming_the_field(item: str, field: str) -> None:
    with pytest.raises(ValueError, match=f"^'?{field}'?: "):
        parse_model_overrides([item])


def test_the_ranges_edges_are_allowed() -> None:
    model = parse_model_overrides(["max_click=0", "fatigue=1", "quality_sigma=0", "max_reads=1", "subject_boost=0"])
    assert (model.max_click, model.fatigue, model.quality_sigma, model.max_reads) == (0.0, 1.0, 0.0, 1)


@pytest.mark.parametrize("item", ["quality_sigma", "=0.2", ""])
def test_an_item_without_a_name_and_a_value_is_refused(item: str) -> None:
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_model_overrides([item])


def test_a_field_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^quality_sigma: given twice"):
        parse_model_overrides(["quality_sigma=0.1", "quality_sigma=0.2"])


@pytest.mark.parametrize("item", ["max_click=1.5", "bogus=1", "max_reads=two"])
def test_the_command_line_exits_with_one_error_line_and_runs_nothing(
    item: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--short", "--model", item])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no report: the replay never started
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and item.split("=")[0] in errors[0]
    assert "Traceback" not in captured.err
