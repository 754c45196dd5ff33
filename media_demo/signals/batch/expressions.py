"""SDK properties and criteria as polars expressions over the exported events (`events.SCHEMA`).

The streaming engine's `properties` module, column-wise. A property becomes its
value as text (what `json_path_match` gives: strings unquoted, numbers and
booleans as written, lists and objects as compact JSON) and, for the numeric
aggregations and comparisons, that text as a finite float. Criteria follow the
streaming engine's SQL-style coercion: a number criterion compares numbers, a
text criterion compares text, a boolean criterion reads "true"/"1" or a non-zero
number as true.

Where the two engines can differ (documented, and kept out of the equivalence
test): a property whose JSON is a string that looks like a number compared with
a boolean, an object's key order, and entities beyond the first `MAX_ENTITIES`
of an event.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl
from snowplow_signals import AtomicProperty, Criteria, EntityProperty, EventProperty

from media_demo.signals.batch.events import KEY_FIELDS, KIND_FIELDS
from media_demo.signals.engine.properties import Property, parse_path

MAX_ENTITIES = 12  # context entities of an event that entity properties look through
SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BODY = pl.col("body")


def json_path(steps: tuple[str | int, ...]) -> str:
    """Parsed steps as the JSONPath polars reads, after `$`."""
    parts = []
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif SIMPLE_NAME.match(step):
            parts.append(f".{step}")
        else:
            parts.append(f"['{step}']")
    return "".join(parts)


def _prefix(prop: EventProperty | EntityProperty) -> str:
    return f"iglu:{prop.vendor}/{prop.name}/jsonschema/{prop.major_version}-"


def property_text(prop: Property) -> pl.Expr:
    """The property's value in each event as text (null when absent), as the streaming getter finds it."""
    if isinstance(prop, AtomicProperty):
        if prop.name in KEY_FIELDS or prop.name in KIND_FIELDS:
            return pl.col(prop.name)
        return BODY.str.json_path_match(f"$.atomic{json_path((prop.name,))}")
    steps = parse_path(prop.path)
    if isinstance(prop, EventProperty):
        return (
            pl.when(pl.col("event_schema").str.starts_with(_prefix(prop)))
            .then(BODY.str.json_path_match(f"$.event_data{json_path(steps)}"))
            .otherwise(None)
        )
    if isinstance(prop, EntityProperty):
        wanted = prop.index or 0
        prefix = _prefix(prop)
        seen: pl.Expr = pl.lit(0)
        picks = []
        for i in range(MAX_ENTITIES):
            matches = BODY.str.json_path_match(f"$.entities[{i}].schema").str.starts_with(prefix).fill_null(False)
            value = BODY.str.json_path_match(f"$.entities[{i}].data{json_path(steps)}")
            picks.append(pl.when(matches & (seen == wanted)).then(value))
            seen = seen + matches.cast(pl.Int32)
        return pl.coalesce(picks)
    raise TypeError(f"property: unsupported property type {type(prop).__name__}")


def as_number(text: pl.Expr) -> pl.Expr:
    """Text as a finite float, else null (what the streaming engine's `finite_number` accepts)."""
    number = text.cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number).otherwise(None)


def _as_bool(text: pl.Expr) -> pl.Expr:
    number = text.cast(pl.Float64, strict=False)
    lowered = text.str.to_lowercase()
    return (
        pl.when(lowered.is_in(["true", "1"])).then(True).when(number.is_not_null()).then(number != 0).otherwise(False)
    )


def _like(pattern: str) -> str:
    """SQL LIKE as an anchored regex (`%` any run, `_` one character)."""
    return "^(?s:" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern) + ")$"


def _compared(text: pl.Expr, expected: Any) -> tuple[pl.Expr, Any]:
    if isinstance(expected, bool):
        return _as_bool(text), expected
    if isinstance(expected, int | float):
        return text.cast(pl.Float64, strict=False), float(expected)
    return text, str(expected)


def criterion_expr(criterion: Any) -> pl.Expr:
    """One criterion as a boolean expression (false, never null, when the property is absent)."""
    text = property_text(criterion.property)
    op, expected = criterion.operator, criterion.value
    if op == "is null":
        return text.is_null()
    if op == "is not null":
        return text.is_not_null()
    if op == "like":
        return text.str.contains(_like(str(expected))).fill_null(False)
    if op == "in":
        options = expected if isinstance(expected, list) else [expected]
        result: pl.Expr = pl.lit(False)
        for option in options:
            column, value = _compared(text, option)
            result = result | (column == value).fill_null(False)
        return result
    column, value = _compared(text, expected)
    comparisons = {
        "=": column == value,
        "!=": column != value,
        "<": column < value,
        ">": column > value,
        "<=": column <= value,
        ">=": column >= value,
    }
    if op not in comparisons:
        raise ValueError(f"operator: unsupported criterion operator {op!r}")
    return (text.is_not_null() & comparisons[op]).fill_null(False)


def criteria_expr(criteria: Criteria | None) -> pl.Expr:
    """`all` and `any` lists as one boolean expression (true when there is nothing to check)."""
    result: pl.Expr = pl.lit(True)
    if criteria is None:
        return result
    for criterion in criteria.all or []:
        result = result & criterion_expr(criterion)
    if criteria.any:
        any_of: pl.Expr = pl.lit(False)
        for criterion in criteria.any:
            any_of = any_of | criterion_expr(criterion)
        result = result & any_of
    return result


def events_expr(events: list[Any]) -> pl.Expr:
    """Whether an event is of one of these kinds (every event when the list is empty)."""
    if not events:
        return pl.lit(True)
    result: pl.Expr = pl.lit(False)
    for event in events:
        one = (pl.col("event_vendor") == event.vendor) & (pl.col("event_name") == event.name)
        if event.version is not None:
            one = one & (pl.col("event_version") == event.version)
        result = result | one.fill_null(False)
    return result
