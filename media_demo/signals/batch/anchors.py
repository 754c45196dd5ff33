"""The anchors of a training dataset: which entity, at which moment, with which label.

A dataset has one row per anchor; its features are the entity's attributes as they
stood just before the anchor's time (`datasets.point_in_time`). Anchors come from
sessions (`session_anchors`: goal events are positives, eligible events of sessions
without the goal negatives) or from a table the caller supplies (`custom_anchors`).

Every anchor table here has the same columns: `anchor_id` (0, 1, ... in time order),
the key columns it knows (`domain_userid`, `domain_sessionid`, ...), `anchor_ts`
(epoch seconds) and `label` (1, 0, or null when the caller supplied none).

A caller's table is a `WarehouseTable`; with no warehouse here, `source_path`
maps it to a file: database `files`, `<sources_dir>/<schema>/<table>.parquet` or
`.csv` (the mapping external batch groups use, so the two can share one resolver).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from media_demo.signals.batch.events import KEY_FIELDS
from media_demo.signals.batch.expressions import criteria_expr
from media_demo.signals.batch.external import ExternalSourceError, table_file

ANCHOR_ID, ANCHOR_TS, LABEL = "anchor_id", "anchor_ts", "label"
# A supplied table's time column: the first of these names it has (epoch seconds, or a date-time, UTC if naive).
TIME_COLUMNS = ("anchor_time", "anchor_tstamp", "timestamp")
# Sampling (anchors per session, negatives per positive) ranks by a hash of the event's seq under this seed:
# the same events give the same sample (with the installed polars, whose hash may change between versions).
SEED = 20_250_611


class AnchorError(ValueError):
    """Anchors that cannot be built as asked (a missing table or column, no anchor at all)."""


def source_path(sources_dir: Path, database: str | None, schema: str | None, table: str) -> Path:
    """The file standing for warehouse table `database.schema.table`, as external batch sources find theirs."""
    try:
        return table_file(sources_dir, database, schema, table, f"anchors table {schema}.{table}")
    except ExternalSourceError as exc:
        raise AnchorError(str(exc)) from exc


def read_source(path: Path) -> pl.DataFrame:
    """A Parquet or CSV file as a frame (CSV dates parsed, keys kept as text)."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000)


def _parse_time(text: str | None) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _epoch_seconds(column: pl.Series) -> pl.Series:
    """Times as epoch seconds: numbers as they are, date-times (naive ones as UTC) and ISO text converted."""
    if column.dtype.is_numeric():
        return column.cast(pl.Float64)
    if column.dtype == pl.String:  # ISO 8601, formats free to differ from row to row (Python parses each)
        column = pl.Series(column.name, [_parse_time(v) for v in column], dtype=pl.Datetime("us", "UTC"))
    if isinstance(column.dtype, pl.Datetime):
        if column.dtype.time_zone is None:
            column = column.dt.replace_time_zone("UTC")
        return column.dt.epoch("us").cast(pl.Float64) / 1e6
    if column.dtype == pl.Date:
        return column.cast(pl.Datetime("us", "UTC")).dt.epoch("us").cast(pl.Float64) / 1e6
    raise AnchorError(f"anchor time column {column.name!r}: {column.dtype} is not a time")


def custom_anchors(table: pl.DataFrame, keys: Sequence[str], has_label: bool) -> pl.DataFrame:
    """A supplied table as anchors: each of `keys` (the groups' attribute keys), a time column, a `label` if any."""
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise AnchorError(f"the anchors table has no column {missing} (the attribute keys of the groups asked for)")
    time_column = next((c for c in TIME_COLUMNS if c in table.columns), None)
    if time_column is None:
        raise AnchorError(f"the anchors table needs a time column: one of {list(TIME_COLUMNS)}")
    if has_label and LABEL not in table.columns:
        raise AnchorError(f"the anchors table has no {LABEL!r} column (submit with has_label=false if it has none)")
    times = _epoch_seconds(table.get_column(time_column))
    if times.null_count():
        raise AnchorError(f"the anchors table has {times.null_count()} row(s) without a readable {time_column!r}")
    labels = table.get_column(LABEL).cast(pl.Int64) if has_label else pl.Series(LABEL, [None] * table.height)
    frame = pl.DataFrame(
        {**{k: table.get_column(k).cast(pl.String) for k in keys}, ANCHOR_TS: times, LABEL: labels},
        schema_overrides={LABEL: pl.Int64},
    )
    return _numbered(frame.with_row_index("_row"), ["_row"]).drop("_row")


def _numbered(anchors: pl.DataFrame, tie_breakers: list[str]) -> pl.DataFrame:
    """Anchors in time order, numbered from 0 in that order (`anchor_id` first)."""
    ordered = anchors.sort([ANCHOR_TS, *tie_breakers])
    return ordered.select(pl.int_range(pl.len(), dtype=pl.Int64).alias(ANCHOR_ID), pl.all())


def _epoch(moment: dt.datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def session_anchors(events: pl.LazyFrame, spec: Any) -> pl.DataFrame:
    """Anchors from the sessions of the training span (`spec`: the SDK's `SessionAnchors`).

    Within the span, per session (`domain_sessionid`), events of the `excluded_events` kinds are
    ignored altogether (neither anchors nor counted). An event is eligible once at least
    `min_events` such events of its session came before it. A session with a goal event
    (`goal_criteria`) gives its eligible goal events as positives (label 1); a session without
    one gives its eligible events as negatives (label 0). At most `max_anchors_per_session` are
    sampled per session, then the negatives are sampled down to `max_negative_ratio` times the
    positives. Samples are seeded (`SEED`), so a request gives the same anchors each time.
    """
    start, end = _epoch(spec.training_span.start_time), _epoch(spec.training_span.end_time)
    if end <= start:
        raise AnchorError("training_span: end_time must be after start_time")
    excluded = [e.name for e in spec.excluded_events or []]
    in_span = events.filter(
        (pl.col("ts") >= start) & (pl.col("ts") <= end) & pl.col("domain_sessionid").is_not_null()
    ).filter(~pl.col("event_name").is_in(excluded).fill_null(False))
    rows = (
        in_span.select("seq", "ts", *KEY_FIELDS, criteria_expr(spec.goal_criteria).alias("_goal"))
        .collect(engine="streaming")
        .sort("ts", "seq")
    )
    session = "domain_sessionid"
    rows = rows.with_columns(
        pl.int_range(pl.len()).over(session).alias("_prior"),
        pl.col("_goal").any().over(session).alias("_positive_session"),
    )
    eligible = rows.filter(pl.col("_prior") >= (spec.min_events or 0))
    anchors = eligible.filter(pl.col("_goal") | ~pl.col("_positive_session")).with_columns(
        pl.col("_positive_session").cast(pl.Int64).alias(LABEL),
        pl.col("seq").hash(seed=SEED).alias("_draw"),
    )
    if spec.max_anchors_per_session is not None:
        rank = pl.col("_draw").rank("ordinal").over(session)
        anchors = anchors.filter(rank <= spec.max_anchors_per_session)
    positives = anchors.filter(pl.col(LABEL) == 1)
    negatives = anchors.filter(pl.col(LABEL) == 0)
    if spec.max_negative_ratio is not None:
        negatives = negatives.sort("_draw").head(int(spec.max_negative_ratio * positives.height))
    if positives.is_empty():
        raise AnchorError("no anchors: no session in the training span has an eligible goal event")
    chosen = pl.concat([positives, negatives]).rename({"ts": ANCHOR_TS})
    return _numbered(chosen.select(*KEY_FIELDS, ANCHOR_TS, LABEL, "seq"), ["seq"]).drop("seq")
