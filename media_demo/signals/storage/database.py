"""The one place SQLite is set up: engines, their connections' pragmas, and the WAL's maintenance.

The event log owns the database file (`events.db`): it opens it with `LOG_PRAGMAS`
(WAL, `synchronous=NORMAL`, zeroed deletes, checkpoints in its own thread). Checkpoints,
the definition registry and the accounts share the log's engine. A component given
only a URL opens its own engine with `SHARED_PRAGMAS`, which changes nothing about the
file and waits for the log's locks instead of failing; one that may open the file before the
log does (the story store, at start) uses `FIRST_OPEN_PRAGMAS`, so a new file is made as the log
would make it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, Table
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlmodel import SQLModel, create_engine

PAGE_SIZE = 16_384
LOG_PRAGMAS: tuple[str, ...] = (
    # 16 KiB pages for a new database (an existing one keeps its size): ~25% faster inserts of the log's
    # ~0.5 KB rows than the 4 KiB default, in fewer, fuller pages. Must come before WAL is switched on.
    f"page_size={PAGE_SIZE}",
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "busy_timeout=30000",
    "secure_delete=ON",  # deleted rows (a forgotten reader's) are overwritten with zeros
    "wal_autocheckpoint=0",  # the log's checkpoint thread does it, off the commit path (`wal_checkpoint`)
)
SHARED_PRAGMAS: tuple[str, ...] = ("busy_timeout=5000",)
# The page size and WAL mode of the file itself: set by whoever creates it (later they change nothing).
FIRST_OPEN_PRAGMAS: tuple[str, ...] = (f"page_size={PAGE_SIZE}", "journal_mode=WAL", "busy_timeout=30000")

Checkpoint = Literal["PASSIVE", "FULL", "RESTART", "TRUNCATE"]


def is_sqlite(url: str) -> bool:
    """Whether `url` is a SQLite database, the only kind the pragmas apply to."""
    return url.startswith("sqlite")


def open_database(url: str, pragmas: Sequence[str] = SHARED_PRAGMAS) -> Engine:
    """An engine for `url`. For SQLite: the file's folder is created, connections may be used from any
    thread (the app's locks order the writes), and each new connection runs `PRAGMA <p>` for each of `pragmas`."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if not is_sqlite(url):
        return create_engine(url)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    statements = tuple(f"PRAGMA {pragma}" for pragma in pragmas)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()

    sa_event.listen(engine, "connect", on_connect)
    return engine


def table_of(model: type[SQLModel]) -> Table:
    """The `Table` of a `table=True` model, for `create_all(tables=...)` and its indexes: sqlmodel
    sets `model.__table__` but does not declare it, so a type checker cannot see it there."""
    table = sa_inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


def wal_checkpoint(engine: Engine, mode: Checkpoint = "PASSIVE") -> tuple[int, int, int]:
    """Copy committed pages from the WAL into the database file: (busy, WAL frames, frames copied).

    PASSIVE never blocks readers or writers and may stop short; TRUNCATE also empties
    the WAL, and reports busy (1) when readers kept it from finishing.
    """
    with engine.connect() as connection:
        busy, frames, copied = connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
    return busy, frames, copied


def vacuum(engine: Engine) -> None:
    """Rebuild the database file from its live rows (no free page keeps a deleted row's bytes)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("VACUUM")
