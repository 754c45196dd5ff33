"""Batch attribute values, durable and served from memory: what Signals keeps in its online store for batch groups.

One row per (group version, entity): the attributes as JSON and when they were
computed (or, for an external table, the newest `timestamp_field` of the entity's
row). A run replaces a group's rows in one transaction, so a reader never sees
half of two runs; a run's summary (when, how many, how long, what was rejected)
is kept beside them for the freshness the API and the inspector show. Loaded at
start, so a restart serves the last run's values before the next one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, delete
from sqlmodel import Field, Session, SQLModel, col, select

from media_demo.signals.storage.database import nul_free, table_of, upsert

INSERT_CHUNK = 2_000


class BatchValueRow(SQLModel, table=True):
    """One entity's values of one batch group version."""

    __tablename__ = "batch_values"

    group_id: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    body: bytes  # the attributes as JSON
    computed_at: float  # epoch seconds: the run's time, or the external row's timestamp


class BatchTombstoneRow(SQLModel, table=True):
    """A forgotten entity, as the SHA-256 of its id: its rows in external tables are skipped from then on."""

    __tablename__ = "batch_tombstones"

    digest: str = Field(primary_key=True)


class BatchRunRow(SQLModel, table=True):
    """The latest run of one batch group version: its freshness."""

    __tablename__ = "batch_runs"

    group_id: str = Field(primary_key=True)
    kind: str  # "batch" (computed from events) or "external" (synced from a table)
    finished_at: float
    entities: int
    events_read: int
    seconds: float
    detail: bytes  # JSON: the source file, rows rejected and why, the error of a failed run


@dataclass(frozen=True, slots=True)
class BatchRun:
    """What one run of a group did: the freshness the API and the inspector show."""

    group_id: str
    kind: str
    finished_at: float
    entities: int
    events_read: int
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The run as the API returns it (times as ISO-8601 UTC too, for people)."""
        return {
            "group": self.group_id,
            "kind": self.kind,
            "computed_at": self.finished_at,
            "computed_at_iso": dt.datetime.fromtimestamp(self.finished_at, dt.UTC).isoformat(timespec="seconds"),
            "entities": self.entities,
            # (What a run read: events for a batch group, the table's rows for an external one.)
            "rows_read" if self.kind == "external" else "events_read": self.events_read,
            "seconds": round(self.seconds, 3),
            **self.detail,
        }


class BatchValues:
    """Every batch group's latest values per entity, in SQL and in memory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(
            engine, tables=[table_of(BatchValueRow), table_of(BatchRunRow), table_of(BatchTombstoneRow)]
        )
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, tuple[dict[str, Any], float]]] = {}
        self._runs: dict[str, BatchRun] = {}
        self._tombstones: set[str] = set()
        self._load()

    def _load(self) -> None:
        with Session(self.engine) as session:
            for row in session.exec(select(BatchValueRow)):
                self._values.setdefault(row.group_id, {})[row.entity] = (orjson.loads(row.body), row.computed_at)
            for run in session.exec(select(BatchRunRow)):
                self._runs[run.group_id] = _run_of(run)
            self._tombstones = set(session.exec(select(BatchTombstoneRow.digest)))

    def replace(
        self, run: BatchRun, rows: Mapping[str, dict[str, Any]], computed_at: Mapping[str, float] | float
    ) -> None:
        """A group's new values (every entity; the old ones go) and its run, durably, then visible at once."""
        times = computed_at if isinstance(computed_at, Mapping) else None
        records = [
            {
                "group_id": run.group_id,
                "entity": nul_free(entity),
                "body": orjson.dumps(values),
                "computed_at": times[entity] if times is not None else computed_at,
            }
            for entity, values in rows.items()
        ]
        with self._lock:
            with self.engine.begin() as connection:
                connection.execute(delete(BatchValueRow).where(col(BatchValueRow.group_id) == run.group_id))
                for start in range(0, len(records), INSERT_CHUNK):
                    connection.execute(table_of(BatchValueRow).insert(), records[start : start + INSERT_CHUNK])
                upsert(connection, table_of(BatchRunRow), [_row_of(run)])
            self._values[run.group_id] = {
                entity: (values, float(times[entity] if times is not None else computed_at))  # type: ignore[arg-type]
                for entity, values in rows.items()
            }
            self._runs[run.group_id] = run

    def record_failure(self, run: BatchRun) -> None:
        """A run that failed: its error is shown; the values of the last good run stay served."""
        with self._lock:
            with self.engine.begin() as connection:
                upsert(connection, table_of(BatchRunRow), [_row_of(run)])
            self._runs[run.group_id] = run

    def get(self, group_id: str, entity: str) -> tuple[dict[str, Any], float] | None:
        """An entity's values and when they were computed; None when the group has no row for it."""
        return self._values.get(group_id, {}).get(entity)

    def run(self, group_id: str) -> BatchRun | None:
        """The group's latest run, if it ran."""
        return self._runs.get(group_id)

    def runs(self) -> list[BatchRun]:
        """Every group's latest run, by group."""
        return [self._runs[g] for g in sorted(self._runs)]

    def entities(self, group_id: str) -> int:
        """How many entities the group has values for."""
        return len(self._values.get(group_id, {}))

    def forget(self, entities: Iterable[str]) -> int:
        """Drop every group's rows of these entities (a deleted reader); returns how many there were."""
        wanted = {nul_free(e) for e in entities}
        if not wanted:
            return 0
        with self._lock:
            dropped = 0
            for values in self._values.values():
                for entity in wanted & values.keys():
                    del values[entity]
                    dropped += 1
            with self.engine.begin() as connection:
                ids = sorted(wanted)
                for start in range(0, len(ids), 500):
                    connection.execute(
                        delete(BatchValueRow).where(col(BatchValueRow.entity).in_(ids[start : start + 500]))
                    )
            return dropped

    def tombstone(self, entities: Iterable[str]) -> None:
        """Remember that these entities were forgotten, so a later sync of an external table skips them.

        Only a digest is kept: the ids are random (device cookies, account ids), so it names no one.
        """
        digests = {_digest(nul_free(e)) for e in entities} - self._tombstones
        if not digests:
            return
        with self._lock:
            with self.engine.begin() as connection:
                # (New digests only: this process is the one that writes them, and it knows them all.)
                connection.execute(table_of(BatchTombstoneRow).insert(), [{"digest": d} for d in sorted(digests)])
            self._tombstones |= digests

    def is_tombstoned(self, entity: str) -> bool:
        """Whether `entity` was forgotten (its external rows are not synced)."""
        return bool(self._tombstones) and _digest(nul_free(entity)) in self._tombstones

    def drop_group(self, group_id: str) -> None:
        """Forget a group's values and run (its definition was deleted)."""
        with self._lock:
            with self.engine.begin() as connection:
                connection.execute(delete(BatchValueRow).where(col(BatchValueRow.group_id) == group_id))
                connection.execute(delete(BatchRunRow).where(col(BatchRunRow.group_id) == group_id))
            self._values.pop(group_id, None)
            self._runs.pop(group_id, None)


def _digest(entity: str) -> str:
    return hashlib.sha256(entity.encode()).hexdigest()


def _row_of(run: BatchRun) -> dict[str, Any]:
    return {
        "group_id": run.group_id,
        "kind": run.kind,
        "finished_at": run.finished_at,
        "entities": run.entities,
        "events_read": run.events_read,
        "seconds": run.seconds,
        "detail": orjson.dumps(run.detail),
    }


def _run_of(row: BatchRunRow) -> BatchRun:
    return BatchRun(
        group_id=row.group_id,
        kind=row.kind,
        finished_at=row.finished_at,
        entities=row.entities,
        events_read=row.events_read,
        seconds=row.seconds,
        detail=orjson.loads(row.detail),
    )
