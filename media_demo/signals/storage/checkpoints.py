"""Checkpoints of the engine's state in the database, so a restart replays only the log's tail.

A checkpoint is the state of every entity that changed since the previous
one, written in one transaction with the seq of the last event it includes.
At start the engine loads it and replays only later events, which gives the
same state as replaying everything (a test holds it to that). A checkpoint is
used only when the published definitions are the ones it was taken with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence

import orjson
from snowplow_signals import StreamAttributeGroup
from sqlalchemy import Engine, delete, insert
from sqlmodel import Field, Session, SQLModel, col, select

from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.storage.database import BIG_INT, nul_free, stores_nul, table_of, upsert


class StateRow(SQLModel, table=True):
    """One entity's state in one group, as the engine's checkpoint JSON."""

    __tablename__ = "attribute_state"

    group_id: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    state: bytes


class CheckpointRow(SQLModel, table=True):
    """Where the checkpoint stands: the last event included, the definitions, extra state."""

    __tablename__ = "checkpoint"

    name: str = Field(primary_key=True)
    last_seq: int = Field(sa_type=BIG_INT)
    fingerprint: str
    extra: bytes = b"null"


def fingerprint(groups: Iterable[StreamAttributeGroup]) -> str:
    """A digest of the definitions, so a checkpoint is never applied to other ones."""
    docs = sorted(
        orjson.dumps(g.model_dump(mode="json", exclude={"is_published"}), option=orjson.OPT_SORT_KEYS) for g in groups
    )
    return hashlib.sha256(b"\n".join(docs)).hexdigest()


class Checkpoints:
    """Reads and writes the engine's checkpoint in the event log's database."""

    NAME = "engine"

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._nul_free = not stores_nul(db)  # PostgreSQL: an entity id's NULs are stored replaced
        SQLModel.metadata.create_all(db, tables=[table_of(StateRow), table_of(CheckpointRow)])

    def save(
        self,
        states: dict[str, list[tuple[str, bytes]]],
        last_seq: int,
        prints: str,
        extra: bytes = b"null",
        rows: Sequence[tuple[str, str, bytes]] = (),
        removed: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write changed states, other (group id, entity, state) `rows`, deletions and the new position,
        in one transaction."""
        written = [{"group_id": g, "entity": e, "state": s} for g, pairs in states.items() for e, s in pairs]
        written += [{"group_id": g, "entity": e, "state": s} for g, e, s in rows]
        if self._nul_free:
            written = [{**row, "entity": nul_free(row["entity"])} for row in written]
            removed = [(group, nul_free(entity)) for group, entity in removed]
        with self.db.begin() as connection:
            for group, entity in removed:
                connection.execute(
                    delete(StateRow).where(col(StateRow.group_id) == group, col(StateRow.entity) == entity)
                )
            if written:
                upsert(connection, table_of(StateRow), written)
            connection.execute(delete(CheckpointRow).where(col(CheckpointRow.name) == self.NAME))
            connection.execute(
                insert(CheckpointRow),
                [{"name": self.NAME, "last_seq": last_seq, "fingerprint": prints, "extra": extra}],
            )

    def load(
        self, engine: AttributeEngine, other_prefix: str | None = None
    ) -> tuple[int, bytes, list[tuple[str, str, bytes]]] | None:
        """Load the checkpoint into `engine`; (last_seq, extra, the rows whose group id starts with
        `other_prefix`), or None when there is no usable one."""
        with Session(self.db) as session:
            row = session.get(CheckpointRow, self.NAME)
            if row is None or row.fingerprint != fingerprint(engine.groups):
                return None
            known = set(engine.group_ids())
            others = []
            for group, entity, state in session.exec(select(StateRow.group_id, StateRow.entity, StateRow.state)):
                if group in known:
                    engine.load_state(group, entity, state)
                elif other_prefix is not None and group.startswith(other_prefix):
                    others.append((group, entity, state))
            return row.last_seq, row.extra, others

    def forget(self, entities: Collection[str]) -> int:
        """Delete every group's saved state for these entities (a deleted reader's ids, sessions),
        so a restart cannot bring them back; returns the rows deleted.

        The connection's `secure_delete` zeroes the rows; `EventLog.scrub` then removes every other copy.
        """
        if isinstance(entities, str | bytes):
            raise TypeError(f"entities: expected a collection of strings, got {type(entities).__name__}")
        ids = sorted({nul_free(e) for e in entities} if self._nul_free else set(entities))
        deleted = 0
        with self.db.begin() as connection:
            for start in range(0, len(ids), 500):  # under SQLite's limit on bound parameters
                chunk = ids[start : start + 500]
                deleted += connection.execute(delete(StateRow).where(col(StateRow.entity).in_(chunk))).rowcount
        return deleted

    def clear(self) -> None:
        """Delete the checkpoint and every saved state (the log was reset: no state may outlive it)."""
        with self.db.begin() as connection:
            connection.execute(delete(StateRow))
            connection.execute(delete(CheckpointRow))
