"""Checkpoints of the engine's state in the database, so a restart replays only the log's tail.

A checkpoint is the state of every entity that changed since the previous
one, with the seq of the last event it includes. At start the engine loads it
and replays only later events, which gives the same state as replaying
everything (a test holds it to that). A checkpoint is used only when the
published definitions are the ones it was taken with.

It is written in short transactions, not one: a checkpoint of ~5,000 rows in one
transaction held SQLite's only write lock for 35-100 ms, and every group commit of
the event log (every collector acknowledgement) waited behind it. So `save`
stages the rows as generation N in `attribute_state_pending`, a few hundred per
transaction; then one one-row transaction makes generation N part of the
checkpoint (with its position); then the rows move into `attribute_state`, a
few hundred per transaction. What `load` reads is `attribute_state` overlaid by
the pending rows of committed generations, oldest first, so at every moment
(after any crash) the database holds either the whole old checkpoint or the
whole new one: never a mix of states from different positions. Rows of a
generation that never got committed (a crash while staging) are ignored by
`load` and deleted by the next `save`, which also finishes a move a crash cut short.
`run`, given to `save`, decides where each short transaction runs: the event log
passes its own writer (`EventLog.run_on_writer`), so they take turns with the
group commits on one connection instead of queueing on SQLite's lock.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

import orjson
from snowplow_signals import StreamAttributeGroup
from sqlalchemy import Connection, Engine, delete, insert, inspect
from sqlmodel import Field, Session, SQLModel, col, select

from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.storage.database import BIG_INT, nul_free, stores_nul, table_of

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Runs `job(connection)` in one transaction and returns what it returned: where `save` writes.
Runner = Callable[[Callable[[Connection], T]], T]
# Rows per short transaction of `save`. ~500 rows kept SQLite's write lock ~3 ms each (the log's group
# commits go between them); fewer would only add transactions, each with its fixed cost.
PIECE_ROWS = 500


class StateRow(SQLModel, table=True):
    """One entity's state in one group, as the engine's checkpoint JSON."""

    __tablename__ = "attribute_state"

    group_id: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    state: bytes


class PendingStateRow(SQLModel, table=True):
    """A row of checkpoint `generation` on its way into `attribute_state` (None: the row goes)."""

    __tablename__ = "attribute_state_pending"

    generation: int = Field(primary_key=True, sa_type=BIG_INT, sa_column_kwargs={"autoincrement": False})
    piece: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # its staging transaction
    group_id: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    state: bytes | None = None


class CheckpointRow(SQLModel, table=True):
    """Where the checkpoint stands: the last event included, the definitions, extra state, and the
    last generation of pending rows that belongs to it."""

    __tablename__ = "checkpoint"

    name: str = Field(primary_key=True)
    last_seq: int = Field(sa_type=BIG_INT)
    fingerprint: str
    extra: bytes = b"null"
    generation: int = Field(default=0, sa_type=BIG_INT)


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
        tables = [table_of(StateRow), table_of(PendingStateRow), table_of(CheckpointRow)]
        SQLModel.metadata.create_all(db, tables=tables)
        self._migrate()
        mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
        pending, state = PendingStateRow.__tablename__, StateRow.__tablename__
        columns = "generation, piece, group_id, entity, state"
        self._stage_sql = f"INSERT INTO {pending} ({columns}) VALUES ({', '.join([mark] * 5)})"
        of_piece = f"FROM {pending} WHERE generation = {mark} AND piece = {mark}"
        # (The WHERE also tells SQLite's parser that ON CONFLICT is the upsert's, not a join's.)
        self._move_sql = (
            f"INSERT INTO {state} (group_id, entity, state) SELECT group_id, entity, state {of_piece} "
            "AND state IS NOT NULL ON CONFLICT (group_id, entity) DO UPDATE SET state = excluded.state",
            f"DELETE FROM {state} WHERE (group_id, entity) IN (SELECT group_id, entity {of_piece} AND state IS NULL)",
            f"DELETE {of_piece}",
        )

    def _migrate(self) -> None:
        """A checkpoint table from before pending generations gets its `generation` column (0: none pending)."""
        if "generation" in {c["name"] for c in inspect(self.db).get_columns("checkpoint")}:
            return
        kind = "INTEGER" if self.db.dialect.name == "sqlite" else "BIGINT"
        with self.db.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE checkpoint ADD COLUMN generation {kind} NOT NULL DEFAULT 0")

    def _in_transaction(self, job: Callable[[Connection], T]) -> T:
        with self.db.begin() as connection:
            return job(connection)

    def save(
        self,
        states: dict[str, list[tuple[str, bytes]]],
        last_seq: int,
        prints: str,
        extra: bytes = b"null",
        rows: Sequence[tuple[str, str, bytes]] = (),
        removed: Sequence[tuple[str, str]] = (),
        run: Runner[Any] | None = None,
    ) -> None:
        """Write changed states, other (group id, entity, state) `rows`, deletions and the new position:
        staged in short transactions, made the checkpoint by one, then moved in short ones (see the module).

        `run(job)` runs each transaction (default: a connection of this engine's own).
        """
        run = run or self._in_transaction
        written: dict[tuple[str, str], bytes | None] = {(g, e): s for g, pairs in states.items() for e, s in pairs}
        written.update(((g, e), s) for g, e, s in rows)
        written.update(((g, e), None) for g, e in removed)
        entries = [(g, nul_free(e) if self._nul_free else e, s) for (g, e), s in written.items()]
        generation = run(self._tidy) + 1
        pieces = [entries[start : start + PIECE_ROWS] for start in range(0, len(entries), PIECE_ROWS)]
        for number, piece in enumerate(pieces):
            run(functools.partial(self._stage, [(generation, number, *row) for row in piece]))
        position = {"name": self.NAME, "last_seq": last_seq, "fingerprint": prints, "extra": extra}
        run(functools.partial(self._commit, {**position, "generation": generation}))
        for number in range(len(pieces)):
            run(functools.partial(self._move, generation=generation, piece=number))

    def _stage(self, rows: list[tuple[Any, ...]], connection: Connection) -> None:
        connection.exec_driver_sql(self._stage_sql, rows)

    def _commit(self, position: dict[str, Any], connection: Connection) -> None:
        """Make the staged generation the checkpoint's, with its position: the one step a restart sees."""
        connection.execute(delete(CheckpointRow).where(col(CheckpointRow.name) == self.NAME))
        connection.execute(insert(CheckpointRow), [position])

    def _tidy(self, connection: Connection) -> int:
        """Drop the pending rows of a generation never committed, finish moving those of committed ones (a save
        cut short), and return the committed generation. One transaction: done once per save, and rarely
        has anything to do."""
        committed = (
            connection.execute(select(CheckpointRow.generation).where(CheckpointRow.name == self.NAME)).scalar() or 0
        )
        connection.execute(delete(PendingStateRow).where(col(PendingStateRow.generation) > committed))
        left = connection.execute(select(PendingStateRow.generation, PendingStateRow.piece).distinct()).all()
        for generation, piece in sorted(left):
            self._move(connection, generation, piece)
        return committed

    def _move(self, connection: Connection, generation: int, piece: int) -> None:
        """Move one staged piece into `attribute_state` (its deletions too), in the caller's transaction."""
        for statement in self._move_sql:
            connection.exec_driver_sql(statement, (generation, piece))

    def load(
        self, engine: AttributeEngine, other_prefix: str | None = None
    ) -> tuple[int, bytes, list[tuple[str, str, bytes]]] | None:
        """Load the checkpoint into `engine`; (last_seq, extra, the rows whose group id starts with
        `other_prefix`), or None when there is no usable one."""
        with Session(self.db) as session:
            row = session.get(CheckpointRow, self.NAME)
            if row is None or row.fingerprint != fingerprint(engine.groups):
                return None
            # Rows of committed generations not yet moved (a save cut short) win over `attribute_state`'s,
            # the newest generation over older ones.
            overlay: dict[tuple[str, str], bytes | None] = {}
            pending = select(PendingStateRow.group_id, PendingStateRow.entity, PendingStateRow.state).where(
                col(PendingStateRow.generation) <= row.generation
            )
            for group, entity, state in session.exec(
                pending.order_by(col(PendingStateRow.generation), col(PendingStateRow.piece))
            ):
                overlay[group, entity] = state
            known = set(engine.group_ids())
            others = []

            def take(group: str, entity: str, state: bytes) -> None:
                if group in known:
                    engine.load_state(group, entity, state)
                elif other_prefix is not None and group.startswith(other_prefix):
                    others.append((group, entity, state))

            for group, entity, state in session.exec(select(StateRow.group_id, StateRow.entity, StateRow.state)):
                if (group, entity) not in overlay:
                    take(group, entity, state)
            for (group, entity), maybe in overlay.items():
                if maybe is not None:
                    take(group, entity, maybe)
            return row.last_seq, row.extra, others

    def forget(self, entities: Collection[str]) -> int:
        """Delete every group's saved state for these entities (a deleted reader's ids, sessions), pending
        rows included, so a restart cannot bring them back; returns the rows deleted.

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
                connection.execute(delete(PendingStateRow).where(col(PendingStateRow.entity).in_(chunk)))
        return deleted

    def clear(self) -> None:
        """Delete the checkpoint and every saved state (the log was reset: no state may outlive it)."""
        with self.db.begin() as connection:
            connection.execute(delete(StateRow))
            connection.execute(delete(PendingStateRow))
            connection.execute(delete(CheckpointRow))
