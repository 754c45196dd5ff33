"""Every criterion operator on atomic, event and entity properties."""

from __future__ import annotations

import pytest
from snowplow_signals import AtomicProperty, Criteria, Criterion, EntityProperty, EventProperty

from media_demo.signals.engine.properties import compile_criteria, compile_property, parse_path
from tests.factories import page_view, self_describing

SCHEMA = "iglu:com.acme/checkout/jsonschema/1-2-0"
ENTITY = "iglu:com.acme/product/jsonschema/2-0-0"


def checkout(total: object = 42.5, **atomic: object):
    event = self_describing(SCHEMA, {"total": total, "basket": {"items": [{"sku": "A1"}, {"sku": "B2"}]}}, **atomic)
    event.entities = [
        {"schema": ENTITY, "data": {"sku": "first", "price": 5}},
        {"schema": ENTITY, "data": {"sku": "second", "price": 7}},
    ]
    return event


TOTAL = EventProperty(vendor="com.acme", name="checkout", major_version=1, path="total")
TITLE = AtomicProperty(name="page_title")


def matches(criterion: Criterion, event) -> bool:
    predicate = compile_criteria(Criteria(all=[criterion]))
    assert predicate is not None
    return predicate(event)


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        (Criterion.eq(TOTAL, 42.5), True),
        (Criterion.eq(TOTAL, 40), False),
        (Criterion.neq(TOTAL, 40), True),
        (Criterion.gt(TOTAL, 42), True),
        (Criterion.gt(TOTAL, 42.5), False),
        (Criterion.gte(TOTAL, 42.5), True),
        (Criterion.lt(TOTAL, 43), True),
        (Criterion.lt(TOTAL, 42.5), False),
        (Criterion.lte(TOTAL, 42.5), True),
        (Criterion.in_list(TOTAL, [1, 42.5]), True),
        (Criterion.in_list(TOTAL, [1, 2]), False),
        (Criterion.is_null(TOTAL), False),
        (Criterion.is_not_null(TOTAL), True),
    ],
)
def test_numeric_operators_on_an_event_property(criterion: Criterion, expected: bool) -> None:
    assert matches(criterion, checkout()) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("Breaking%", True), ("%news%", True), ("Breaking new_", True), ("breaking%", False), ("%sport", False)],
)
def test_like_uses_sql_wildcards_on_an_atomic_property(pattern: str, expected: bool) -> None:
    assert matches(Criterion.like(TITLE, pattern), page_view(page_title="Breaking news")) is expected


def test_string_equality_and_in_on_atomic_properties() -> None:
    event = page_view(page_title="Home")
    assert matches(Criterion.eq(TITLE, "Home"), event)
    assert not matches(Criterion.eq(TITLE, "home"), event)
    assert matches(Criterion.in_list(TITLE, ["About", "Home"]), event)
    assert matches(Criterion.neq(TITLE, "About"), event)


def test_null_checks_on_a_missing_property() -> None:
    event = page_view()
    assert matches(Criterion.is_null(TITLE), event)
    assert not matches(Criterion.is_not_null(TITLE), event)


def test_comparisons_with_null_never_match() -> None:
    event = page_view()
    assert not matches(Criterion.eq(TITLE, "x"), event)
    assert not matches(Criterion.neq(TITLE, "x"), event)
    assert not matches(Criterion.gt(TOTAL, 1), event)


def test_event_property_only_reads_its_own_schema_and_major_version() -> None:
    other_major = EventProperty(vendor="com.acme", name="checkout", major_version=2, path="total")
    assert compile_property(TOTAL)(checkout()) == 42.5
    assert compile_property(other_major)(checkout()) is None
    assert compile_property(TOTAL)(page_view()) is None


def test_nested_paths_and_indexes() -> None:
    sku = EventProperty(vendor="com.acme", name="checkout", major_version=1, path="$.basket.items[1].sku")
    assert compile_property(sku)(checkout()) == "B2"
    missing = EventProperty(vendor="com.acme", name="checkout", major_version=1, path="basket.items[5].sku")
    assert compile_property(missing)(checkout()) is None


def test_entity_property_picks_the_nth_entity_of_its_schema() -> None:
    first = EntityProperty(vendor="com.acme", name="product", major_version=2, path="sku")
    second = EntityProperty(vendor="com.acme", name="product", major_version=2, path="sku", index=1)
    assert compile_property(first)(checkout()) == "first"
    assert compile_property(second)(checkout()) == "second"
    assert matches(
        Criterion.gt(EntityProperty(vendor="com.acme", name="product", major_version=2, path="price"), 4), checkout()
    )


def test_all_requires_every_criterion_and_any_requires_one() -> None:
    event = checkout(page_title="Basket")
    both = Criteria(all=[Criterion.gt(TOTAL, 10), Criterion.eq(TITLE, "Basket")])
    one_fails = Criteria(all=[Criterion.gt(TOTAL, 10), Criterion.eq(TITLE, "Home")])
    either = Criteria(any=[Criterion.gt(TOTAL, 100), Criterion.eq(TITLE, "Basket")])
    neither = Criteria(any=[Criterion.gt(TOTAL, 100), Criterion.eq(TITLE, "Home")])
    mixed = Criteria(all=[Criterion.gt(TOTAL, 10)], any=[Criterion.eq(TITLE, "Home"), Criterion.eq(TITLE, "Basket")])
    assert compile_criteria(both)(event)
    assert not compile_criteria(one_fails)(event)
    assert compile_criteria(either)(event)
    assert not compile_criteria(neither)(event)
    assert compile_criteria(mixed)(event)
    assert compile_criteria(Criteria()) is None


def test_numeric_strings_compare_as_numbers() -> None:
    assert matches(Criterion.gt(TOTAL, 9), checkout(total="10"))
    assert not matches(Criterion.gt(TOTAL, 9), checkout(total="ten"))


@pytest.mark.parametrize(("path", "steps"), [("$.a.b[0].c", ("a", "b", 0, "c")), ("a", ("a",)), ("x[2]", ("x", 2))])
def test_parse_path(path: str, steps: tuple) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["$", "a..b!", ""])
def test_parse_path_rejects_garbage(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        parse_path(path)
