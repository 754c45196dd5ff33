"""Compile SDK properties and criteria into plain functions of a canonical event.

Definitions are written with the official `snowplow-signals` classes; this
module turns each `AtomicProperty`/`EventProperty`/`EntityProperty` and each
`Criteria` into a closure once, so evaluating an event is a few dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from snowplow_signals import AtomicProperty, Criteria, EntityProperty, EventProperty

from media_demo.signals.events import CanonicalEvent

Getter = Callable[[CanonicalEvent], Any]
Predicate = Callable[[CanonicalEvent], bool]
PATH_TOKEN = re.compile(r"\.?([A-Za-z0-9_\-]+)|\[(\d+)\]")


def parse_path(path: str) -> tuple[str | int, ...]:
    """`$.a.b[0].c` or `a.b[0].c` -> ('a', 'b', 0, 'c')."""
    text = path[1:] if path.startswith("$") else path
    steps: list[str | int] = []
    position = 0
    while position < len(text):
        match = PATH_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"path: cannot parse {path!r} at position {position}")
        steps.append(match[1] if match[1] is not None else int(match[2]))
        position = match.end()
    if not steps:
        raise ValueError(f"path: {path!r} names no property")
    return tuple(steps)


def _walk(value: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
        if value is None:
            return None
    return value


def compile_property(prop: AtomicProperty | EventProperty | EntityProperty) -> Getter:
    """A function returning the property's value in an event, or None when absent."""
    if isinstance(prop, AtomicProperty):
        name = prop.name
        return lambda event: event.atomic.get(name)
    steps = parse_path(prop.path)
    prefix = f"iglu:{prop.vendor}/{prop.name}/jsonschema/{prop.major_version}-"
    if isinstance(prop, EventProperty):
        if len(steps) == 1:
            (step,) = steps

            def event_value(event: CanonicalEvent) -> Any:
                schema = event.event_schema
                if schema is None or not schema.startswith(prefix):
                    return None
                return event.event_data.get(step)  # type: ignore[union-attr]

            return event_value

        def nested_event_value(event: CanonicalEvent) -> Any:
            schema = event.event_schema
            if schema is None or not schema.startswith(prefix):
                return None
            return _walk(event.event_data, steps)

        return nested_event_value
    if isinstance(prop, EntityProperty):
        wanted = prop.index or 0

        def entity_value(event: CanonicalEvent) -> Any:
            seen = 0
            for entity in event.entities:
                if entity["schema"].startswith(prefix):
                    if seen == wanted:
                        return _walk(entity["data"], steps)
                    seen += 1
            return None

        return entity_value
    raise TypeError(f"property: unsupported property type {type(prop).__name__}")


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (`%` any run, `_` one character) as an anchored regex."""
    translated = {"%": ".*", "_": "."}
    return re.compile("".join(translated.get(ch) or re.escape(ch) for ch in pattern), re.DOTALL)


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Coerce a property value to the criterion value's type, SQL style; None if impossible."""
    if left is None or right is None:
        return None
    if isinstance(right, bool):
        if isinstance(left, str):
            left = left.lower() in ("true", "1")
        return bool(left), right
    if isinstance(right, (int, float)):
        try:
            return float(left), float(right)
        except (TypeError, ValueError):
            return None
    return str(left), str(right)


def compile_criterion(criterion: Any) -> Predicate:
    """One criterion (`property operator value`) as a predicate."""
    get = compile_property(criterion.property)
    op, expected = criterion.operator, criterion.value
    if op == "is null":
        return lambda event: get(event) is None
    if op == "is not null":
        return lambda event: get(event) is not None
    if op == "like":
        regex = _like(str(expected))
        return lambda event: (v := get(event)) is not None and regex.fullmatch(str(v)) is not None
    if op == "in":
        options = expected if isinstance(expected, list) else [expected]
        return lambda event: any(
            (pair := _comparable(get(event), option)) is not None and pair[0] == pair[1] for option in options
        )
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    if op not in compare:
        raise ValueError(f"operator: unsupported criterion operator {op!r}")
    test = compare[op]
    if op == "=" and isinstance(expected, str):
        # The common case (category = 'technology') without coercion overhead.
        return lambda event: (v := get(event)) is not None and str(v) == expected

    def predicate(event: CanonicalEvent) -> bool:
        pair = _comparable(get(event), expected)
        return pair is not None and test(*pair)

    return predicate


def compile_criteria(criteria: Criteria | None) -> Predicate | None:
    """`all` and `any` lists as one predicate; None when there is nothing to check."""
    if criteria is None:
        return None
    all_of = [compile_criterion(c) for c in criteria.all or []]
    any_of = [compile_criterion(c) for c in criteria.any or []]
    if not all_of and not any_of:
        return None
    if len(all_of) == 1 and not any_of:
        return all_of[0]

    def predicate(event: CanonicalEvent) -> bool:
        return all(p(event) for p in all_of) and (not any_of or any(p(event) for p in any_of))

    return predicate
