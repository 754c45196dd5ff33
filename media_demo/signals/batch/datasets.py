"""Training datasets and group previews, computed over the exported events with `compute_group`.

`point_in_time` gives each anchor the attributes its entity had just before the
anchor's time, with no event at or after it (no leakage) and none of another
entity. It is vectorised: the events are joined to the anchors on the group's
key, kept when `anchor_ts - lookback <= ts < anchor_ts`, and each anchor becomes
its own entity (`compute_group(key=..., now_column=...)`), so one call per group
computes every anchor, each as of its own time.

`DatasetRuns` runs dataset requests in a small thread pool, keeps the last few
results as Parquet, and can cancel a run (checked between steps: a polars step
under way finishes first). `preview_group` is `signals.test`: a group's values
over the last window of events, published or not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from media_demo.signals.batch.anchors import (
    ANCHOR_ID,
    ANCHOR_TS,
    LABEL,
    AnchorError,
    custom_anchors,
    read_source,
    session_anchors,
    source_path,
)
from media_demo.signals.batch.compute import ComputableGroup, check_computable, compute_group
from media_demo.signals.batch.events import KEY_FIELDS, EventExport, RawLog
from media_demo.signals.engine.plans import default_value, group_id

logger = logging.getLogger(__name__)

ANCHOR_TIME = "anchor_time"  # the dataset's anchor time column (a UTC date-time)
ENTITY = "_anchor_entity"  # the synthetic entity: one per anchor
SAMPLE_SIZE = 10  # entities a preview picks when given none
MAX_PREVIEW_ROWS = 10_000
Status = Literal["pending", "success", "failed"]
CANCELLED = "cancelled"


class UnknownRunError(LookupError):
    """No dataset run with that id (never submitted, or no longer kept)."""


class RunNotReadyError(Exception):
    """The run has no dataset to show (still pending, or failed)."""


class TooManyRunsError(Exception):
    """Every kept run is still pending: no room for another."""


class _CancelledError(Exception):
    pass


def feature_column(group: ComputableGroup, attribute: str) -> str:
    """A feature's column: `<group>_v<version>__<attribute>` (a plain identifier for any warehouse or frame)."""
    return f"{group_id(group.name, group.version or 1)}__{attribute}"


def _with_key(events: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """The events with a `key` column (read from the JSON when the export does not pull it out)."""
    if key in events.collect_schema():
        return events
    return events.with_columns(pl.col("body").str.json_path_match(f"$.atomic.{key}").alias(key))


def lookback_seconds(group: ComputableGroup, max_lookback_days: int | None) -> float | None:
    """How far before an anchor events count: the override, else the longest period when every attribute has
    one (older events fall outside every window), else no limit (lifetime attributes read all history)."""
    if max_lookback_days is not None:
        return max_lookback_days * 86_400.0
    periods = [a.period for a in group.attributes]
    if periods and all(p is not None for p in periods):
        return max(p.total_seconds() for p in periods if p is not None)
    return None


def _plain(value: Any) -> Any:
    """A value a Parquet column holds: category maps as JSON text (their keys differ from row to row)."""
    return json.dumps(value) if isinstance(value, dict) else value


def point_in_time(
    groups: Sequence[ComputableGroup],
    anchors: pl.DataFrame,
    events: pl.LazyFrame,
    max_lookback_days: int | None = None,
    check: Callable[[], None] = lambda: None,
) -> pl.DataFrame:
    """The dataset: `anchor_id`, the groups' key columns, `anchor_time`, `label`, then each group's features.

    `check` is called between groups (a cancelled run raises there).
    """
    keys = list(dict.fromkeys(g.attribute_key.name or "" for g in groups))
    missing = [k for k in keys if k not in anchors.columns]
    if missing:
        raise AnchorError(f"the anchors carry no {missing}, the attribute key(s) of the groups asked for")
    ids = anchors.get_column(ANCHOR_ID).cast(pl.String).to_list()
    dataset = anchors.select(
        ANCHOR_ID,
        *keys,
        (pl.col(ANCHOR_TS) * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias(ANCHOR_TIME),
        LABEL,
    )
    now = time.time()
    for group in groups:
        check()
        key = group.attribute_key.name or ""
        keyed = anchors.select(pl.col(ANCHOR_ID).cast(pl.String).alias(ENTITY), pl.col(key), ANCHOR_TS)
        joined = _with_key(events, key).join(keyed.lazy().filter(pl.col(key).is_not_null()), on=key, how="inner")
        before = pl.col("ts") < pl.col(ANCHOR_TS)
        lookback = lookback_seconds(group, max_lookback_days)
        if lookback is not None:
            before = before & (pl.col("ts") >= pl.col(ANCHOR_TS) - lookback)
        result = compute_group(group, joined.filter(before), now, key=ENTITY, now_column=ANCHOR_TS)
        defaults = {a.name: default_value(a) for a in group.attributes}
        for attribute in group.attributes:
            values = [_plain(result.rows.get(i, defaults)[attribute.name]) for i in ids]
            column = pl.Series(feature_column(group, attribute.name), values, strict=False)
            dataset = dataset.with_columns(column)
    return dataset


def preview_group(
    group: ComputableGroup,
    events: pl.LazyFrame,
    now: float,
    window_seconds: float,
    key_ids: Sequence[str] = (),
    app_ids: Sequence[str] = (),
    sample: Callable[[list[str], int], list[str]] = random.sample,
) -> dict[str, list[Any]]:
    """The group's values over the events of the last `window_seconds`, as columns (the key's, then each
    attribute's): for `key_ids` in order (defaults where unseen), else for up to 10 entities seen at random."""
    check_computable(group)
    key = group.attribute_key.name or ""
    recent = _with_key(events, key).filter(pl.col("ts") >= now - window_seconds)
    if app_ids:
        recent = recent.filter(pl.col("app_id").is_in(list(app_ids)))
    if key_ids:
        chosen = list(dict.fromkeys(key_ids))
    else:
        seen = recent.select(pl.col(key).drop_nulls().unique(maintain_order=True)).collect().to_series().to_list()
        picked = set(sample(seen, min(SAMPLE_SIZE, len(seen))))
        chosen = [e for e in seen if e in picked]
    result = compute_group(group, recent.filter(pl.col(key).is_in(chosen)), now)
    defaults = {a.name: default_value(a) for a in group.attributes}
    columns: dict[str, list[Any]] = {key: chosen}
    for attribute in group.attributes:
        columns[attribute.name] = [result.rows.get(e, defaults)[attribute.name] for e in chosen]
    return columns


# --- runs -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetRequest:
    """What to build: groups, anchors (the SDK's `SessionAnchors` or `UserSuppliedAnchors`), the output name."""

    groups: list[ComputableGroup]
    anchors: Any
    dataset: dict[str, str | None] | None = None  # the `WarehouseTable` answered with (None: one named for the run)
    max_lookback_days: int | None = None


@dataclass(frozen=True, slots=True)
class DatasetRun:
    """A run as the API reports it."""

    id: uuid.UUID
    status: Status
    dataset: dict[str, str | None]
    created_at: dt.datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetPreview:
    """The first rows of a finished dataset, and how many rows it has."""

    columns: list[str]
    data: list[list[Any]]
    row_count: int


@dataclass
class _Run:
    id: uuid.UUID
    request: DatasetRequest
    created_at: dt.datetime
    dataset: dict[str, str | None]
    status: Status = "pending"
    error: str | None = None
    path: Path | None = None
    keys: list[str] = field(default_factory=list)  # the dataset's key columns (what deletion looks in)
    cancel: threading.Event = field(default_factory=threading.Event)
    forgotten: set[str] = field(default_factory=set)  # entities deleted while the run was under way
    future: Future[None] | None = None

    def view(self) -> DatasetRun:
        return DatasetRun(self.id, self.status, self.dataset, self.created_at, self.error)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


class DatasetRuns:
    """Dataset runs over `export` (brought up to date with `log` at the start of each run), results in `folder`.

    At most `workers` runs compute at once and `keep` are remembered (the oldest finished ones, and their
    files, make room); a run's file is `<folder>/<run id>.parquet`.
    """

    def __init__(
        self,
        folder: Path,
        export: EventExport,
        log: RawLog,
        sources_dir: Path,
        workers: int = 2,
        keep: int = 20,
    ) -> None:
        self.folder, self.export, self._log, self.sources_dir = folder, export, log, sources_dir
        self.keep = keep
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dataset-run")
        self._runs: dict[uuid.UUID, _Run] = {}  # in submission order
        self._lock = threading.Lock()

    def anchors_of(self, request: DatasetRequest, events: pl.LazyFrame) -> pl.DataFrame:
        """The request's anchors (a supplied table is read from the sources folder)."""
        anchors = request.anchors
        if anchors.mode == "session":
            return session_anchors(events, anchors)
        source = anchors.source
        path = source_path(self.sources_dir, source.database, source.schema_, source.table)
        keys = list(dict.fromkeys(g.attribute_key.name or "" for g in request.groups))
        return custom_anchors(read_source(path), keys, bool(anchors.has_label))

    def submit(self, request: DatasetRequest) -> DatasetRun:
        """Queue a run; ValueError when the request cannot work (checked now rather than failing later)."""
        for group in request.groups:
            check_computable(group)
            if request.anchors.mode == "session" and group.attribute_key.name not in KEY_FIELDS:
                raise AnchorError(f"group {group.name!r}: session anchors carry only the keys {list(KEY_FIELDS)}")
        if request.anchors.mode != "session":
            source = request.anchors.source
            source_path(self.sources_dir, source.database, source.schema_, source.table)
        run_id = uuid.uuid4()
        table = request.dataset or {"database": None, "schema": None, "table": f"signals_dataset_{run_id.hex[:12]}"}
        run = _Run(run_id, request, dt.datetime.now(dt.UTC), table)
        with self._lock:
            self._make_room()
            self._runs[run.id] = run
        run.future = self._pool.submit(self._execute, run)
        return run.view()

    def _make_room(self) -> None:
        while len(self._runs) >= self.keep:
            finished = [r for r in self._runs.values() if r.status != "pending"]
            if not finished:
                raise TooManyRunsError(f"{len(self._runs)} dataset runs are pending; wait for one or cancel one")
            oldest = finished[0]
            del self._runs[oldest.id]
            if oldest.path is not None:
                oldest.path.unlink(missing_ok=True)

    def _execute(self, run: _Run) -> None:
        def check() -> None:
            if run.cancel.is_set():
                raise _CancelledError

        try:
            check()
            self.export.update(self._log)
            events = self.export.scan()
            check()
            anchors = self.anchors_of(run.request, events)
            check()
            dataset = point_in_time(run.request.groups, anchors, events, run.request.max_lookback_days, check)
            check()
            keys = list(dict.fromkeys(g.attribute_key.name or "" for g in run.request.groups))
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{run.id}.parquet"
            with self._lock:  # deletions during the run: their rows never reach the file
                dataset = _without(dataset, keys, run.forgotten)
                dataset.write_parquet(path)
                if run.id not in self._runs:  # forgotten (cleared) meanwhile
                    path.unlink(missing_ok=True)
                    return
                run.path, run.keys, run.status = path, keys, "success"
        except _CancelledError:
            self._fail(run, CANCELLED)
        except Exception as exc:  # (polars raises its own errors; a bad anchors file is an AnchorError)
            if not isinstance(exc, ValueError):
                logger.exception("dataset run %s failed", run.id)
            self._fail(run, f"{type(exc).__name__}: {exc}" if not isinstance(exc, AnchorError) else str(exc))

    def _fail(self, run: _Run, error: str) -> None:
        with self._lock:
            run.status, run.error = "failed", error

    def _get(self, run_id: uuid.UUID) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            raise UnknownRunError(f"unknown dataset run {run_id}")
        return run

    def status(self, run_id: uuid.UUID) -> DatasetRun:
        """The run's status."""
        with self._lock:
            return self._get(run_id).view()

    def preview(self, run_id: uuid.UUID, limit: int = 100) -> DatasetPreview:
        """The first `limit` rows of a finished dataset."""
        with self._lock:
            run = self._get(run_id)
            if run.status != "success" or run.path is None:
                detail = f": {run.error}" if run.error else ""
                raise RunNotReadyError(f"dataset run {run_id} is {run.status}{detail}")
            frame = pl.read_parquet(run.path)
        rows = [[_json_value(v) for v in row] for row in frame.head(limit).iter_rows()]
        return DatasetPreview(frame.columns, rows, frame.height)

    def cancel(self, run_id: uuid.UUID) -> DatasetRun:
        """Stop a pending run at its next check (it fails as `cancelled`); a finished run is left as it is."""
        with self._lock:
            run = self._get(run_id)
            if run.status != "pending":
                return run.view()
            run.cancel.set()
            if run.future is not None and run.future.cancel():  # still queued: it never starts
                run.status, run.error = "failed", CANCELLED
            return run.view()

    def forget(self, entities: set[str]) -> int:
        """Drop the rows of these entities from every dataset kept, and from runs under way; returns rows dropped."""
        dropped = 0
        with self._lock:
            for run in self._runs.values():
                if run.status == "pending":
                    run.forgotten |= entities
                elif run.path is not None:
                    frame = pl.read_parquet(run.path)
                    kept = _without(frame, run.keys, entities)
                    if kept.height != frame.height:
                        dropped += frame.height - kept.height
                        kept.write_parquet(run.path)
        return dropped

    def clear(self) -> None:
        """Forget every run and its file (the event log was reset)."""
        with self._lock:
            for run in self._runs.values():
                run.cancel.set()
            self._runs.clear()
            if self.folder.exists():
                shutil.rmtree(self.folder)

    def close(self) -> None:
        """Cancel what is queued or running; do not wait for a polars step under way."""
        with self._lock:
            for run in self._runs.values():
                run.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _without(frame: pl.DataFrame, keys: Sequence[str], entities: set[str]) -> pl.DataFrame:
    if not entities or not keys:
        return frame
    hit = pl.any_horizontal([pl.col(k).is_in(list(entities)).fill_null(False) for k in keys])
    return frame.filter(~hit)
