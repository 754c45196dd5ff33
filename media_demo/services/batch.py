"""Batch attributes: Signals' batch half, run here on polars.

`Batch` keeps the batch groups (the app's own and those published through the
API) and runs them: the log's new events are exported to Parquet, each
`BatchAttributeGroup` is computed over the whole export, each
`ExternalBatchAttributeGroup` is synced from its table, and the values replace
the group's previous ones in `BatchValues`, which the Signals API and the pages
read. Runs happen at start, every `interval` seconds, and on demand (publishing
a group, `POST /api/batch/run`); one at a time.

Steps that produce tables before the sync (the reader features) are passed in
as `before_sync` callables: the service knows nothing of what they compute.

Deletion: a forgotten reader's rows go at once, the export is dropped (it held
their events; the next run exports the log again, which no longer has them),
a run under way drops them from its result, and external tables' rows for them
are skipped from then on (their keys kept only as hashes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from snowplow_signals import BatchAttributeGroup, ExternalBatchAttributeGroup

from media_demo.signals.batch.compute import attribute_names, compute_group
from media_demo.signals.batch.events import EventExport, RawLog
from media_demo.signals.batch.external import ExternalSync
from media_demo.signals.engine.plans import default_value, group_id
from media_demo.signals.storage.batch_values import BatchRun, BatchValues

logger = logging.getLogger(__name__)

AnyBatchGroup = BatchAttributeGroup | ExternalBatchAttributeGroup
MAX_REJECTIONS_SHOWN = 20  # a run's summary names this many rejected values; the count says how many in all
BeforeSync = Callable[[pl.LazyFrame, float], None]
ExternalReader = Callable[[ExternalBatchAttributeGroup, Path], ExternalSync]


def gid_of(group: Any) -> str:
    """The group version's id (`name_vN`)."""
    return group_id(group.name, group.version or 1)


def defaults_of(group: Any) -> dict[str, Any]:
    """What a batch group reads for an entity it has no row for."""
    if group.attributes:
        return {a.name: default_value(a) for a in group.attributes}
    return {f.name: None for f in group.fields or []}


class Batch:
    """The batch groups, their runs, and their values as the API serves them."""

    def __init__(
        self,
        values: BatchValues,
        export: EventExport,
        log: RawLog,
        sources_dir: Path,
        interval: float,
        read_external: ExternalReader | None = None,
        clock: Callable[[], float] = time.time,
        roots: Mapping[str, Path] | None = None,
    ) -> None:
        self.values, self.export, self._log = values, export, log
        self.sources_dir = sources_dir
        self._roots = dict(roots or {})  # schemas whose tables this app writes itself (the features), elsewhere
        self.interval = interval
        self._read_external = read_external
        self._clock = clock
        self._groups: dict[str, AnyBatchGroup] = {}
        self._builtin: set[str] = set()
        self._before_sync: list[BeforeSync] = []
        self._after_run: list[Callable[[list[BatchRun]], None]] = []
        self._running = threading.Lock()  # one run at a time
        self._lock = threading.Lock()  # the groups and the forgotten set
        self._forgotten: set[str] | None = None  # entities forgotten while a run is under way
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- definitions ------------------------------------------------------------------------------------------------

    def add(self, group: AnyBatchGroup, builtin: bool = False) -> None:
        """Evaluate `group` from the next run on (replacing the same name and version)."""
        with self._lock:
            self._groups[gid_of(group)] = group
            if builtin:
                self._builtin.add(group.name)

    def remove(self, name: str, version: int) -> None:
        """Stop evaluating a group and drop its values."""
        gid = group_id(name, version)
        with self._lock:
            self._groups.pop(gid, None)
        self.values.drop_group(gid)

    def before_sync(self, step: BeforeSync) -> None:
        """Run `step(events, now)` in each run after the batch groups and before the external syncs."""
        self._before_sync.append(step)

    def after_run(self, listener: Callable[[list[BatchRun]], None]) -> None:
        """Call `listener(runs)` after each run (open pages refresh their batch attributes)."""
        self._after_run.append(listener)

    @property
    def builtin_names(self) -> frozenset[str]:
        """Names of the app's own batch groups (the API may not replace them)."""
        return frozenset(self._builtin)

    def groups(self) -> list[AnyBatchGroup]:
        """Every batch group evaluated, by id."""
        with self._lock:
            return [self._groups[g] for g in sorted(self._groups)]

    def group(self, gid: str) -> AnyBatchGroup | None:
        """The batch group with this id, if any."""
        return self._groups.get(gid)

    def is_batch(self, gid: str) -> bool:
        """Whether `gid` names a batch group (so its values come from here, not the streaming engine)."""
        return gid in self._groups

    # --- reading ----------------------------------------------------------------------------------------------------

    def read(self, gid: str, entities: Sequence[str], attributes: Sequence[str]) -> list[dict[str, Any]]:
        """The values of `attributes` per entity (the group's defaults where it has no row)."""
        group = self._groups[gid]
        defaults = defaults_of(group)
        rows = []
        for entity in entities:
            found = self.values.get(gid, entity)
            values = found[0] if found is not None else defaults
            rows.append({name: values.get(name, defaults.get(name)) for name in attributes})
        return rows

    def freshest(self, gid: str, entities: Iterable[str]) -> str | None:
        """Of `entities` (a signed-in reader's devices), the one whose row was computed last."""
        best: tuple[float, str] | None = None
        for entity in entities:
            found = self.values.get(gid, entity)
            if found is not None and (best is None or found[1] > best[0]):
                best = (found[1], entity)
        return best[1] if best else None

    def computed_at(self, gid: str, entity: str) -> float | None:
        """When the entity's row was computed (None: no row)."""
        found = self.values.get(gid, entity)
        return found[1] if found is not None else None

    # --- as an intervention's attribute source (`AttributeSource`) ------------------------------------------------

    def resolve(self, reference: str) -> str | None:
        """A batch group id from `name_vN` or `name` (its newest version)."""
        if reference in self._groups:
            return reference
        versions = [g for g in self.groups() if g.name == reference]
        return gid_of(max(versions, key=lambda g: g.version or 1)) if versions else None

    def attribute_names(self, gid: str) -> list[str]:
        """The group's attribute (or field) names."""
        return attribute_names(self._groups[gid])

    def key_of(self, gid: str) -> str:
        """The atomic field naming the group's entities."""
        return self._groups[gid].attribute_key.name or ""

    def value(self, gid: str, entity: str | None, attribute: str) -> Any:
        """One attribute of one entity, from the last run (its default when there is no row)."""
        if entity is None:
            return defaults_of(self._groups[gid]).get(attribute)
        return self.read(gid, [entity], [attribute])[0][attribute]

    # --- running ----------------------------------------------------------------------------------------------------

    def run(self, only: Iterable[str] | None = None) -> list[BatchRun]:
        """Export the new events, compute the batch groups, sync the external ones (`only`: these ids).

        A group that fails is recorded with its error and keeps its last values; the others go on.
        """
        wanted = set(only) if only is not None else None
        with self._running:
            with self._lock:
                self._forgotten = set()
            try:
                runs = self._run(wanted)
            finally:
                with self._lock:
                    self._forgotten = None
        for listener in tuple(self._after_run):
            try:
                listener(runs)
            except Exception:  # a listener's failure must not fail the run
                logger.exception("batch: a run listener failed")
        return runs

    def _run(self, wanted: set[str] | None) -> list[BatchRun]:
        started = time.perf_counter()
        exported = self.export.update(self._log)
        logger.info("batch: exported %d new events in %.2fs", exported.events, time.perf_counter() - started)
        events = self.export.scan()
        now = self._clock()
        runs: list[BatchRun] = []
        groups = [g for g in self.groups() if wanted is None or gid_of(g) in wanted]
        for group in groups:
            if isinstance(group, BatchAttributeGroup):
                runs.append(self._compute(group, events, now))
        for step in self._before_sync:
            try:
                step(events, now)
            except Exception:  # a step that fails leaves its table as it was; the syncs go on
                logger.exception("batch: a step before the external syncs failed")
        for group in groups:
            if isinstance(group, ExternalBatchAttributeGroup):
                runs.append(self._sync(group, now))
        return runs

    def _compute(self, group: BatchAttributeGroup, events: pl.LazyFrame, now: float) -> BatchRun:
        gid = gid_of(group)
        try:
            result = compute_group(group, events, now)
        except Exception as exc:  # (polars raises its own errors on a bad file or a bad expression)
            logger.exception("batch: group %s failed", gid)
            run = BatchRun(gid, "batch", self._clock(), 0, 0, 0.0, {"error": f"{type(exc).__name__}: {exc}"})
            self.values.record_failure(run)
            return run
        rows = self._without_forgotten(result.rows)
        run = BatchRun(gid, "batch", now, len(rows), result.events_read, result.seconds)
        self.values.replace(run, rows, now)
        return run

    def _sync(self, group: ExternalBatchAttributeGroup, now: float) -> BatchRun:
        gid = gid_of(group)
        started = time.perf_counter()
        if self._read_external is None:
            run = BatchRun(gid, "external", now, 0, 0, 0.0, {"error": "external sources are not configured"})
            self.values.record_failure(run)
            return run
        try:
            synced = self._read_external(group, self._roots.get(group.batch_source.schema_, self.sources_dir))
        except (ValueError, OSError, pl.exceptions.PolarsError) as exc:
            logger.error("batch: external group %s not synced: %s", gid, exc)
            run = BatchRun(gid, "external", now, 0, 0, time.perf_counter() - started, {"error": str(exc)})
            self.values.record_failure(run)
            return run
        rows, times = synced.attributes(), synced.timestamps()
        rows = self._without_forgotten(rows)
        rows = {key: values for key, values in rows.items() if not self.values.is_tombstoned(key)}
        detail = {
            "source": str(synced.source.path),
            "source_modified": synced.source.modified,
            "rows_rejected": synced.rows_rejected,
            "rejections": [str(r) for r in synced.rejections[:MAX_REJECTIONS_SHOWN]],
        }
        run = BatchRun(gid, "external", now, len(rows), synced.rows_read, time.perf_counter() - started, detail)
        self.values.replace(run, rows, {key: times[key] for key in rows})
        return run

    def _without_forgotten(self, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        with self._lock:
            forgotten = set(self._forgotten or ())
        return {e: v for e, v in rows.items() if e not in forgotten} if forgotten else rows

    # --- deletion ---------------------------------------------------------------------------------------------------

    def forget(self, entities: Iterable[str]) -> int:
        """Drop these entities' rows everywhere, now and from any run under way; returns the rows dropped."""
        entities = set(entities)
        with self._lock:
            if self._forgotten is not None:
                self._forgotten |= entities
        self.values.tombstone(entities)
        self.export.clear()
        return self.values.forget(entities)

    def reset(self) -> None:
        """Forget every value and the export (the log was reset)."""
        self.export.clear()
        for group in self.groups():
            self.values.drop_group(gid_of(group))

    # --- schedule ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run now, in the background, then every `interval` seconds (0: only now)."""
        self._thread = threading.Thread(target=self._schedule, name="batch-runs", daemon=True)
        self._thread.start()

    def _schedule(self) -> None:
        while not self._stop.is_set():
            try:
                runs = self.run()
                if runs:
                    logger.info("batch: %s", ", ".join(f"{r.group_id} {r.entities} rows" for r in runs))
            except Exception:  # the next run tries again
                logger.exception("batch run failed")
            if self.interval <= 0:
                return
            self._stop.wait(self.interval)

    def close(self) -> None:
        """Stop the schedule after the run under way."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=60)


__all__ = ["Batch", "attribute_names", "defaults_of", "gid_of"]
