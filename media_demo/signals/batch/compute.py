"""A `BatchAttributeGroup` computed over the exported events, with polars.

The aggregations mean what they mean in the streaming engine
(`media_demo.signals.engine.aggregations`), so a group gives the same values
computed either way (`tests/unit/test_batch_equivalence.py` holds them to it):
events in seq order are the order they arrived; `first`/`last` go by event time,
ties to the earlier/later arrival; lists keep values by when they were last seen;
category maps count in first-seen order; windows keep the events whose
`period / 60` bucket is newer than that of `now - period`; a `ttl` starts an
entity afresh after a gap longer than it, and expires it at read.

Two deliberate differences, both past caps the streaming engine needs to bound
its memory: beyond 100 distinct values a category map keeps the 100 most frequent
(streaming evicts as values arrive), and `approx_count_distinct` is exact here
(streaming switches to a HyperLogLog, about 3 % error, above 128 values).

The work: one lazy pass over the events (streaming collection, so memory follows
the rows a group reads, not the log) picks the rows any attribute accepts and
extracts each property once; the aggregations then run per attribute over that
narrow table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from snowplow_signals import AtomicProperty, BatchAttributeGroup, EntityProperty, EventProperty, StreamAttributeGroup

from media_demo.signals.batch.expressions import as_number, criteria_expr, events_expr, property_text
from media_demo.signals.engine.aggregations import MAX_VALUES, SECONDS_PER_UNIT, WINDOW_BUCKETS, make_aggregation
from media_demo.signals.engine.coerce import coercer
from media_demo.signals.engine.plans import default_value, group_id
from media_demo.signals.engine.properties import Property, property_key

ComputableGroup = BatchAttributeGroup | StreamAttributeGroup
NEEDS_NO_VALUE = ("counter", "time_since_first", "time_since_last")
NUMERIC = ("sum", "min", "max", "mean")
NOW = "_now"  # the column of each row's own "now" when `compute_group` is given a `now_column`


@dataclass(frozen=True, slots=True)
class BatchValues:
    """A group's attributes per entity as of `computed_at`, and what computing them took."""

    group_id: str
    computed_at: float
    rows: dict[str, dict[str, Any]]
    events_read: int
    seconds: float


class _Columns:
    """The properties a group reads, each given one text column (`p<i>`) and one number column (`n<i>`)."""

    def __init__(self, group: ComputableGroup) -> None:
        self.index: dict[str, int] = {}
        self.properties: list[Property] = []
        for attribute in group.attributes:
            prop = attribute.property
            if prop is not None:
                if not isinstance(prop, AtomicProperty | EventProperty | EntityProperty):
                    raise ValueError(f"attribute {attribute.name!r}: {type(prop).__name__} is not supported")
                self._add(prop)

    def _add(self, prop: Property) -> None:
        key = property_key(prop)
        if key not in self.index:
            self.index[key] = len(self.properties)
            self.properties.append(prop)

    def text(self, prop: Any) -> str:
        return f"p{self.index[property_key(prop)]}"

    def number(self, prop: Any) -> str:
        return f"n{self.index[property_key(prop)]}"


def check_computable(group: ComputableGroup) -> None:
    """Raise ValueError naming what the batch engine cannot compute (as the streaming compile does)."""
    if not group.attribute_key.name:
        raise ValueError(f"group {group.name!r}: attribute key has no name")
    for attribute in group.attributes:
        period = attribute.period.total_seconds() if attribute.period else None
        aggregation = make_aggregation(attribute.aggregation, attribute.time_unit, period)
        if aggregation.needs_value and attribute.property is None:
            raise ValueError(f"attribute {attribute.name!r}: aggregation {attribute.aggregation!r} needs a property")
        # Raises on an operator it cannot evaluate (the ignore: the SDK has two Criteria classes of one shape).
        criteria_expr(attribute.criteria)  # type: ignore[arg-type]


def _accepts(attribute: Any, columns: _Columns) -> pl.Expr:
    """The rows an attribute aggregates: its events, its criteria, and a value where it needs one."""
    accepted = events_expr(attribute.events) & criteria_expr(attribute.criteria)
    if attribute.property is not None and attribute.aggregation not in NEEDS_NO_VALUE:
        accepted = accepted & pl.col(columns.text(attribute.property)).is_not_null()
    return accepted


def _narrow(
    group: ComputableGroup, events: pl.LazyFrame, columns: _Columns, key: str, now_column: str | None
) -> pl.DataFrame:
    """One row per event some attribute accepts: entity, seq, ts, each property, each attribute's flag
    (and the row's own `_now` when `now_column` names one)."""
    kinds = [events_expr(a.events) for a in group.attributes]
    any_kind = pl.any_horizontal(kinds) if kinds else pl.lit(False)
    keyed = events.filter(pl.col(key).is_not_null() if key in events.collect_schema() else pl.lit(False))
    if key not in events.collect_schema():  # a key the export does not pull out: read it from the JSON
        keyed = events.with_columns(pl.col("body").str.json_path_match(f"$.atomic.{key}").alias(key)).filter(
            pl.col(key).is_not_null()
        )
    candidates = keyed.filter(any_kind)
    texts = [property_text(p).alias(f"p{i}") for i, p in enumerate(columns.properties)]
    extracted = candidates.with_columns(texts)
    flags = [_accepts(a, columns).alias(f"a{i}") for i, a in enumerate(group.attributes)]
    # Numbers only for the properties a numeric aggregation reads: a float column per row is not free at 10M rows.
    numeric = {columns.number(a.property) for a in group.attributes if a.aggregation in NUMERIC and a.property}
    numbers = [as_number(pl.col(f"p{i}")).alias(f"n{i}") for i in range(len(columns.properties)) if f"n{i}" in numeric]
    selected = extracted.select(
        pl.col(key).alias("entity"),
        "seq",
        "ts",
        *([pl.col(now_column).alias(NOW)] if now_column is not None else []),
        *[pl.col(f"p{i}") for i in range(len(columns.properties))],
        *numbers,
        *flags,
    )
    accepted = [pl.col(f"a{i}") for i in range(len(group.attributes))]
    return selected.filter(pl.any_horizontal(accepted)).collect(engine="streaming")


def _live_rows(group: ComputableGroup, rows: pl.DataFrame, now: float | pl.Expr) -> pl.DataFrame:
    """With a `ttl`: each entity's last run of events (a gap over ttl starts afresh), and none expired at `now`."""
    if group.ttl is None or rows.is_empty():
        return rows
    ttl = group.ttl.total_seconds()
    ordered = rows.sort("seq").with_columns(
        (pl.col("ts") - pl.col("ts").cum_max().shift(1).over("entity") > ttl).fill_null(False).alias("_gap")
    )
    runs = ordered.with_columns(pl.col("_gap").cum_sum().over("entity").alias("_run"))
    runs = runs.filter(pl.col("_run") == pl.col("_run").max().over("entity"))
    runs = runs.filter(now - pl.col("ts").max().over("entity") <= ttl)
    return runs.drop("_gap", "_run")


def _aggregate(attribute: Any, rows: pl.DataFrame, columns: _Columns, now: float | pl.Expr) -> pl.DataFrame:
    """(entity, value) for one attribute; `value` still raw (before defaults and coercion)."""
    kind = attribute.aggregation
    if kind == "counter":
        return rows.group_by("entity").agg(pl.len().alias("value"))
    if kind in ("time_since_first", "time_since_last"):
        unit = SECONDS_PER_UNIT[attribute.time_unit or "s"]
        edge = pl.col("ts").min() if kind == "time_since_first" else pl.col("ts").max()
        return rows.group_by("entity").agg(((now - edge) / unit).alias("value"))
    text, number = pl.col(columns.text(attribute.property)), pl.col(columns.number(attribute.property))
    if kind in NUMERIC:
        method = {"sum": number.sum(), "min": number.min(), "max": number.max(), "mean": number.mean()}[kind]
        return rows.filter(number.is_not_null()).group_by("entity").agg(method.alias("value"))
    order = ["ts", "seq"]
    if kind in ("first", "last"):
        pick = text.sort_by(order).first() if kind == "first" else text.sort_by(order).last()
        return rows.group_by("entity").agg(pick.alias("value"))
    if kind == "unique_list":
        last_seen = rows.group_by("entity", text.alias("v")).agg(
            pl.col("ts").sort_by(order).last(), pl.col("seq").sort_by(order).last()
        )
        return (
            last_seen.sort(order)
            .group_by("entity", maintain_order=True)
            .agg(pl.col("v").tail(MAX_VALUES).alias("value"))
        )
    counts = (
        rows.group_by("entity", text.alias("v"))
        .agg(pl.len().alias("n"), pl.col("seq").min().alias("first_seen"))
        .sort("first_seen")
    )
    if kind == "category_count":
        top = counts.with_columns(pl.col("n").rank("ordinal", descending=True).over("entity").alias("_rank"))
        kept = top.filter(pl.col("_rank") <= MAX_VALUES).sort("first_seen")
        return kept.group_by("entity", maintain_order=True).agg(pl.struct("v", "n").alias("value"))
    if kind in ("most_frequent", "least_frequent"):
        # Ties go to the value seen first: sort by count (desc or asc), then first seen, and take the head.
        descending = kind == "most_frequent"
        ranked = counts.sort(["n", "first_seen"], descending=[descending, False])
        return ranked.group_by("entity", maintain_order=True).agg(pl.col("v").first().alias("value"))
    if kind == "approx_count_distinct":
        return counts.group_by("entity").agg(pl.len().alias("value"))
    raise ValueError(f"aggregation: unknown aggregation {kind!r}")


def _windowed(attribute: Any, rows: pl.DataFrame, now: float | pl.Expr) -> pl.DataFrame:
    if attribute.period is None:
        return rows
    period = attribute.period.total_seconds()
    width = period / WINDOW_BUCKETS
    cutoff = math.floor((now - period) / width) if isinstance(now, float | int) else ((now - period) / width).floor()
    return rows.filter((pl.col("ts") / width).floor() > cutoff)


def _finish(attribute: Any, raw: Any) -> Any:
    """A raw aggregate as the attribute's value: category maps as dicts, defaults, the declared type."""
    if raw is None:
        return default_value(attribute)
    if attribute.aggregation == "category_count":
        raw = {pair["v"]: pair["n"] for pair in raw}
    coerce = coercer(attribute.type)
    return raw if coerce is None else coerce(raw)


def compute_group(
    group: ComputableGroup,
    events: pl.LazyFrame,
    now: float | None = None,
    *,
    key: str | None = None,
    now_column: str | None = None,
) -> BatchValues:
    """Every entity's attributes for `group` over `events`, as of `now` (the time of the run by default).

    For point-in-time datasets: `key` names the column holding the entity instead of the group's
    attribute key (a synthetic id per anchor), and `now_column` a column giving each entity its own
    "now" (the anchor's time, the same on all its rows) for windows, `time_since_*` and `ttl` expiry.
    """
    started = time.perf_counter()
    check_computable(group)
    now = time.time() if now is None else now
    columns = _Columns(group)
    # Per-entity "now" in a group_by (`time_since_*`) is its rows' (equal) `_now`; elsewhere the row's own.
    row_now: float | pl.Expr = pl.col(NOW) if now_column is not None else now
    agg_now: float | pl.Expr = pl.col(NOW).first() if now_column is not None else now
    narrow = _narrow(group, events, columns, key or group.attribute_key.name or "", now_column)
    rows = _live_rows(group, narrow, row_now)
    entities = (
        rows.get_column("entity").unique(maintain_order=True) if not rows.is_empty() else pl.Series([], dtype=pl.String)
    )
    table = pl.DataFrame({"entity": entities}, schema={"entity": pl.String})
    for index, attribute in enumerate(group.attributes):
        # Only the columns this attribute reads: a filter copies every column it keeps.
        needed = ["entity", "seq", "ts", *([NOW] if now_column is not None else [])]
        prop = attribute.property
        if prop is not None and attribute.aggregation not in NEEDS_NO_VALUE:
            needed.append(columns.number(prop) if attribute.aggregation in NUMERIC else columns.text(prop))
        accepted = _windowed(attribute, rows.select(*needed).filter(rows.get_column(f"a{index}")), row_now)
        if accepted.is_empty():
            values = pl.DataFrame({"entity": [], "value": []}, schema={"entity": pl.String, "value": pl.Null})
        else:
            values = _aggregate(attribute, accepted, columns, agg_now)
        table = table.join(values.rename({"value": f"v{index}"}), on="entity", how="left")
    result: dict[str, dict[str, Any]] = {}
    for record in table.iter_rows():
        entity, *raw = record
        result[entity] = {a.name: _finish(a, v) for a, v in zip(group.attributes, raw, strict=True)}
    return BatchValues(
        group_id=group_id(group.name, group.version or 1),
        computed_at=now,
        rows=result,
        events_read=rows.height,
        seconds=time.perf_counter() - started,
    )


def attribute_names(group: Any) -> list[str]:
    """A group's attribute names: its `attributes`, or an external group's `fields`."""
    return [a.name for a in (group.attributes or group.fields or [])]


def computable(groups: Sequence[Any]) -> list[ComputableGroup]:
    """The groups computed from events (batch groups; external ones are synced instead)."""
    return [g for g in groups if g.attributes]
