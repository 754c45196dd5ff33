"""Attribute `type` coercion: values come out as the type the definition declares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _to_int(value: Any) -> Any:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return value


def _to_float(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _to_bool(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _to_str(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)


SCALAR: dict[str, Callable[[Any], Any]] = {
    "int32": _to_int,
    "int64": _to_int,
    "unix_timestamp": _to_int,
    "double": _to_float,
    "float": _to_float,
    "bool": _to_bool,
    "string": _to_str,
    "bytes": _to_str,
    "timestamp": _to_str,
}


def coercer(attribute_type: str) -> Callable[[Any], Any] | None:
    """A function that converts a result to `attribute_type`; None when nothing to do."""
    if attribute_type.endswith("_list"):
        item = SCALAR.get(attribute_type.removesuffix("_list"))
        if item is None:
            return None
        return lambda values: [item(v) for v in values] if isinstance(values, list) else values
    scalar = SCALAR.get(attribute_type)
    if scalar is None:
        return None
    return lambda value: value if isinstance(value, (dict, list)) else scalar(value)
