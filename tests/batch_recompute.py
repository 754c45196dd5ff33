"""Recompute a group's attributes from stored events in one batch, with polars.

An independent second implementation of the aggregations: property values are
extracted once per event, then filtering (events, criteria, windows, ttl) and
aggregation are polars expressions over the whole log. Tests hold the
streaming engine to it: for the same events both must give the same values.
(Lists and category maps are compared below their 100-value cap, where the
two agree by construction.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl
from snowplow_signals import StreamAttributeGroup

from media_demo.signals.engine.aggregations import SECONDS_PER_UNIT, WINDOW_BUCKETS, finite_number
from media_demo.signals.engine.coerce import coercer
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.hll import HyperLogLog
from media_demo.signals.engine.plans import default_value, hashable
from media_demo.signals.engine.properties import compile_property


class _Columns:
    """Each property used by the group becomes three columns: json, text and number."""

    def __init__(self, group: StreamAttributeGroup) -> None:
        self.names: dict[str, int] = {}
        self.props: list[Any] = []
        for attribute in group.attributes:
            criteria = attribute.criteria
            used = (
                [attribute.property] + [c.property for c in (criteria.all or []) + (criteria.any or [])]
                if criteria
                else [attribute.property]
            )
            for prop in used:
                if prop is not None and prop.model_dump_json() not in self.names:
                    self.names[prop.model_dump_json()] = len(self.props)
                    self.props.append(prop)

    def of(self, prop: Any) -> int:
        return self.names[prop.model_dump_json()]


def _frame(group: StreamAttributeGroup, columns: _Columns, events: Sequence[CanonicalEvent]) -> pl.DataFrame:
    getters = [compile_property(p) for p in columns.props]
    key = group.attribute_key.name
    data: dict[str, list] = {c: [] for c in ("seq", "entity", "ts", "vendor", "name", "version")}
    for i in range(len(getters)):
        data |= {f"json{i}": [], f"text{i}": [], f"num{i}": []}
    for seq, event in enumerate(events):
        atomic = event.atomic
        for column, value in zip(
            ("seq", "entity", "ts", "vendor", "name", "version"),
            (
                seq,
                atomic.get(key),
                event.timestamp,
                atomic.get("event_vendor"),
                atomic.get("event_name"),
                atomic.get("event_version"),
            ),
            strict=True,
        ):
            data[column].append(value)
        for i, getter in enumerate(getters):
            value = getter(event)
            value = None if value is None else hashable(value)
            data[f"json{i}"].append(None if value is None else orjson.dumps(value).decode())
            data[f"text{i}"].append(None if value is None else value if isinstance(value, str) else str(value))
            data[f"num{i}"].append(None if value is None else finite_number(value))
    schema: dict[str, Any] = {
        "seq": pl.Int64,
        "entity": pl.Utf8,
        "ts": pl.Float64,
        "vendor": pl.Utf8,
        "name": pl.Utf8,
        "version": pl.Utf8,
    }
    for i in range(len(getters)):
        schema |= {f"json{i}": pl.Utf8, f"text{i}": pl.Utf8, f"num{i}": pl.Float64}
    return pl.DataFrame(data, schema=schema)


def _like_regex(pattern: str) -> str:
    return "^(?s:" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern) + ")$"


def _compare(i: int, value: Any) -> tuple[pl.Expr, Any]:
    """The column to compare and the value, with the streaming engine's coercion rules."""
    if isinstance(value, bool):
        text = pl.col(f"text{i}")
        as_bool = (
            pl.when(pl.col(f"json{i}").str.starts_with('"'))
            .then(text.str.to_lowercase().is_in(["true", "1"]))
            .otherwise(~text.is_in(["0", "0.0", "False", "false"]))
        )
        return as_bool, value
    if isinstance(value, (int, float)):
        return pl.col(f"num{i}"), float(value)
    return pl.col(f"text{i}"), str(value)


def _criterion(criterion: Any, columns: _Columns) -> pl.Expr:
    i = columns.of(criterion.property)
    op, value = criterion.operator, criterion.value
    present = pl.col(f"json{i}").is_not_null()
    if op == "is null":
        return ~present
    if op == "is not null":
        return present
    if op == "like":
        return pl.col(f"text{i}").str.contains(_like_regex(str(value))).fill_null(False)
    if op == "in":
        options = value if isinstance(value, list) else [value]
        expr = pl.lit(False)
        for option in options:
            column, expected = _compare(i, option)
            expr = expr | (column == expected).fill_null(False)
        return expr
    column, expected = _compare(i, value)
    comparison = {
        "=": column == expected,
        "!=": column != expected,
        "<": column < expected,
        ">": column > expected,
        "<=": column <= expected,
        ">=": column >= expected,
    }[op]
    return (present & comparison).fill_null(False)


def _accepts(attribute: Any, columns: _Columns) -> pl.Expr:
    """Which rows this attribute aggregates: its events, its criteria, a value when needed."""
    expr = pl.col("entity").is_not_null()
    if attribute.events:
        matches = pl.lit(False)
        for event in attribute.events:
            one = (pl.col("vendor") == event.vendor) & (pl.col("name") == event.name)
            if event.version is not None:
                one = one & (pl.col("version") == event.version)
            matches = matches | one.fill_null(False)
        expr = expr & matches
    criteria = attribute.criteria
    if criteria is not None:
        for c in criteria.all or []:
            expr = expr & _criterion(c, columns)
        if criteria.any:
            anyone = pl.lit(False)
            for c in criteria.any:
                anyone = anyone | _criterion(c, columns)
            expr = expr & anyone
    if attribute.property is not None and attribute.aggregation not in (
        "counter",
        "time_since_first",
        "time_since_last",
    ):
        expr = expr & pl.col(f"json{columns.of(attribute.property)}").is_not_null()
    return expr


def _aggregate(attribute: Any, rows: pl.DataFrame, columns: _Columns, now: float) -> dict[str, Any]:
    """Per entity, the attribute's raw result (before defaults and coercion)."""
    kind = attribute.aggregation
    if rows.is_empty():
        return {}
    by = rows.sort(["ts", "seq"]).group_by("entity", maintain_order=True)
    if kind == "counter":
        return dict(by.agg(pl.len()).iter_rows())
    if kind in ("time_since_first", "time_since_last"):
        unit = SECONDS_PER_UNIT[attribute.time_unit or "s"]
        edge = pl.col("ts").min() if kind == "time_since_first" else pl.col("ts").max()
        return {e: (now - t) / unit for e, t in by.agg(edge).iter_rows()}
    i = columns.of(attribute.property)
    json, num = pl.col(f"json{i}"), pl.col(f"num{i}")
    if kind in ("sum", "min", "max", "mean"):
        numeric = rows.filter(num.is_not_null()).group_by("entity")
        method = {"sum": num.sum(), "min": num.min(), "max": num.max(), "mean": num.mean()}[kind]
        return dict(numeric.agg(method).iter_rows())
    if kind in ("first", "last"):
        pick = json.first() if kind == "first" else json.last()
        return {e: orjson.loads(v) for e, v in by.agg(pick).iter_rows()}
    if kind == "unique_list":
        last_seen = (
            rows.sort(["ts", "seq"])
            .group_by(["entity", f"json{i}"], maintain_order=True)
            .agg(pl.col("ts").last(), pl.col("seq").last())
        )
        ordered = last_seen.sort(["ts", "seq"])
        grouped = ordered.group_by("entity", maintain_order=True).agg(pl.col(f"json{i}").tail(100))
        return {e: [orjson.loads(v) for v in values] for e, values in grouped.iter_rows()}
    counts = (
        rows.group_by(["entity", f"json{i}"])
        .agg(pl.len().alias("n"), pl.col("seq").min().alias("first_seen"))
        .sort("first_seen")
    )
    per_entity: dict[str, list[tuple[Any, int]]] = {}
    for entity, value, n, _first in counts.iter_rows():
        per_entity.setdefault(entity, []).append((orjson.loads(value), n))
    if kind == "category_count":
        return {e: dict(pairs) for e, pairs in per_entity.items()}
    if kind == "most_frequent":
        return {e: max(pairs, key=lambda p: p[1])[0] for e, pairs in per_entity.items()}
    if kind == "least_frequent":
        return {e: min(pairs, key=lambda p: p[1])[0] for e, pairs in per_entity.items()}
    if kind == "approx_count_distinct":
        result = {}
        for e, pairs in per_entity.items():
            state = None
            for value, _n in pairs:
                state = HyperLogLog.add(state, value)
            result[e] = HyperLogLog.count(state)
        return result
    raise ValueError(f"aggregation: unknown aggregation {kind!r}")


def recompute(group: StreamAttributeGroup, events: Sequence[CanonicalEvent], now: float) -> dict[str, dict[str, Any]]:
    """Every entity's attributes for `group` over `events` (in arrival order), at time `now`."""
    columns = _Columns(group)
    frame = _frame(group, columns, events)
    accepted = {a.name: frame.filter(_accepts(a, columns)) for a in group.attributes}
    touched = pl.concat([rows.select("seq", "entity", "ts") for rows in accepted.values()]).unique().sort("seq")
    if group.ttl is not None:
        # The streaming engine starts an entity afresh when an event comes more than ttl
        # after the latest one it had: keep each entity's last such run of events.
        ttl = group.ttl.total_seconds()
        runs = touched.with_columns(
            (pl.col("ts") - pl.col("ts").cum_max().shift(1).over("entity") > ttl).fill_null(False).alias("gap")
        ).with_columns(pl.col("gap").cum_sum().over("entity").alias("run"))
        runs = runs.filter(pl.col("run") == pl.col("run").max().over("entity"))
        runs = runs.filter(now - pl.col("ts").max().over("entity") <= ttl)
        keep = runs.select("seq")
        touched = runs.select("seq", "entity", "ts")
        accepted = {name: rows.join(keep, on="seq", how="semi") for name, rows in accepted.items()}
    entities = touched.get_column("entity").unique(maintain_order=True).to_list()
    results: dict[str, dict[str, Any]] = {e: {} for e in entities}
    for attribute in group.attributes:
        rows = accepted[attribute.name]
        if attribute.period is not None:
            width = attribute.period.total_seconds() / WINDOW_BUCKETS
            cutoff = math.floor((now - attribute.period.total_seconds()) / width)
            rows = rows.filter((pl.col("ts") / width).floor() > cutoff)
        values = _aggregate(attribute, rows, columns, now)
        default, coerce = default_value(attribute), coercer(attribute.type)
        for entity in entities:
            value = values.get(entity)
            results[entity][attribute.name] = default if value is None else value if coerce is None else coerce(value)
    return results
