"""The one place the database's dialects differ: engines, SQLite's pragmas and WAL, upserts, JSON fields, VACUUM.

Two backends, behind one SQLAlchemy URL (`Settings.database_url`): SQLite (the default, one
file) and PostgreSQL (psycopg 3). Everything else in the app writes portable SQLAlchemy and
calls the helpers here where the dialects part: `upsert`, `insert_rows`, `json_text`, `contains_text`,
`BIG_INT`, `nul_free`.

SQLite: the event log owns the database file: it opens it with `LOG_PRAGMAS` (WAL,
`synchronous=NORMAL`, zeroed deletes, checkpoints in its own thread). Checkpoints, the
definition registry and the accounts share the log's engine. A component given only a URL
opens its own engine with `SHARED_PRAGMAS`, which changes nothing about the file and waits
for the log's locks instead of failing; one that may open the file before the log does (the
story store, at start) uses `FIRST_OPEN_PRAGMAS`, so a new file is made as the log would make it.

PostgreSQL: pragmas mean nothing there and are not sent; the server keeps its own WAL
(`wal_checkpoint` has nothing to do) and a commit is durable once acknowledged (its default
`synchronous_commit=on`), so the kill -9 guarantee holds as on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import BigInteger, ColumnElement, Connection, Engine, Integer, Table, literal
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer as IntegerType
from sqlalchemy.types import Text
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

# PostgreSQL connections per engine: the log's writer, the HTTP API's reader threads, accounts, stories
# and checkpoints share one engine; beyond `POOL_SIZE` idle ones are closed, past the overflow callers wait.
POOL_SIZE = 10
POOL_OVERFLOW = 20
VACUUM_LOCK_TIMEOUT = "60s"  # a scrub gives up (and releases the writer) rather than wait for ever on a lock

# A 64-bit integer column (seqs): BIGINT on PostgreSQL, whose INTEGER is 32 bits; SQLite's INTEGER is
# already 64 bits, and only an INTEGER primary key is the rowid (a BIGINT one would be a second index).
BIG_INT = BigInteger().with_variant(Integer(), "sqlite")

Checkpoint = Literal["PASSIVE", "FULL", "RESTART", "TRUNCATE"]


def is_sqlite(url: str) -> bool:
    """Whether `url` is a SQLite database, the only kind the pragmas apply to."""
    return url.startswith("sqlite")


def open_database(url: str, pragmas: Sequence[str] = SHARED_PRAGMAS) -> Engine:
    """An engine for `url`. For SQLite: the file's folder is created, connections may be used from any
    thread (the app's locks order the writes), and each new connection runs `PRAGMA <p>` for each of `pragmas`.
    For PostgreSQL: a pool of `POOL_SIZE` connections (plus `POOL_OVERFLOW`), each checked before use so
    a server restart costs a reconnect, not an error; `pragmas` are ignored."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if not is_sqlite(url):
        return create_engine(
            url,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_pre_ping=True,
            # UTC sessions: aware datetimes come back in UTC whatever the server's own time zone.
            connect_args={"application_name": "media_demo", "options": "-c timezone=UTC"},
        )
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


def upsert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` into `table`, replacing every row whose primary key is taken (what SQLite's
    `INSERT OR REPLACE` did): `INSERT ... ON CONFLICT (<key>) DO UPDATE` in both dialects.

    Rows with the same key keep the last (PostgreSQL refuses to update one row twice in one statement).
    """
    if not rows:
        return
    keys = [column.name for column in table.primary_key.columns]
    unique = list({tuple(row[key] for key in keys): row for row in rows}.values())
    others = [column.name for column in table.columns if column.name not in keys]
    dialect = connection.dialect.name
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        excluded = lite.excluded
        statement: Any = lite.on_conflict_do_update(index_elements=keys, set_={n: excluded[n] for n in others})
    elif dialect == "postgresql":
        pg = postgresql.insert(table)
        excluded = pg.excluded
        statement = pg.on_conflict_do_update(index_elements=keys, set_={n: excluded[n] for n in others})
    else:
        raise NotImplementedError(f"upsert: no {dialect} spelling")
    connection.execute(statement, unique)


class json_text(FunctionElement[str]):  # noqa: N801  (used like a SQL function, as SQLAlchemy's own are)
    """`json_text(column, "atomic", "user_id")`: the text at that path of the JSON document stored as
    UTF-8 bytes in `column` (a BLOB on SQLite, a bytea on PostgreSQL), NULL when absent."""

    type = Text()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any] | Any, *path: str) -> None:
        if not path or not all(part.isidentifier() for part in path):
            raise ValueError(f"json_text: path parts must be identifiers, got {path!r}")
        self.path = path
        super().__init__(column)


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    # CAST: SQLite 3.45+ reads a BLOB argument as JSONB, not as JSON text.
    column = compiler.process(element.clauses, **kw)
    path = compiler.process(literal("$." + ".".join(element.path)), **kw)
    return f"json_extract(CAST({column} AS TEXT), {path})"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    path = compiler.process(literal("{" + ",".join(element.path) + "}"), **kw)
    return f"(convert_from({column}, 'UTF8')::json #>> CAST({path} AS TEXT[]))"


class _Position(FunctionElement[int]):
    """Where `needle` first occurs in `haystack` (1-based), 0 if nowhere: case-sensitive in both dialects."""

    type = IntegerType()
    inherit_cache = True


@compiles(_Position, "sqlite")
def _position_sqlite(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _position_postgresql(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def contains_text(haystack: ColumnElement[str] | Any, needle: str) -> ColumnElement[bool]:
    """Whether the text column `haystack` contains `needle` exactly (no LIKE wildcards, case counts;
    SQLite's LIKE would ignore ASCII case)."""
    return _Position(haystack, literal(needle)) > 0


NUL_STAND_IN = "\ufffd"  # the replacement character: what a NUL in a text column is stored as on PostgreSQL


def stores_nul(engine: Engine) -> bool:
    """Whether text columns hold NUL characters (SQLite's do; PostgreSQL refuses the whole statement)."""
    return engine.dialect.name == "sqlite"


def nul_free(value: Any) -> Any:
    """`value` with every NUL replaced by `NUL_STAND_IN` if it is a string, else as it is: where
    `stores_nul` is false, one NUL in one tracker payload must not fail the group commit of every
    event with it (for ever: the batch is retried). Apply it to the values written and to the
    values looked up alike, so an id with a NUL still finds its rows."""
    return value.replace("\x00", NUL_STAND_IN) if isinstance(value, str) and "\x00" in value else value


def insert_rows(cursor: Any, dialect: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert `rows` (values in `columns`' order) through the driver's own `cursor`, with no per-row work
    in SQLAlchemy: the event log's hot path. SQLite: `executemany`. PostgreSQL: COPY, which wrote 100k
    events in one transaction 2.4x as fast as psycopg's pipelined `executemany` (65k against 27k rows/s,
    `make bench`), and took the log's group commits from about 7k to 25-38k events/s.
    Names are the caller's constants, never input."""
    if not rows:
        return
    names = ", ".join(columns)
    if dialect == "postgresql":
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)


def keeps_wal(engine: Engine) -> bool:
    """Whether the app checkpoints the database's WAL itself (SQLite; PostgreSQL's server does its own)."""
    return engine.dialect.name == "sqlite"


def wal_checkpoint(engine: Engine, mode: Checkpoint = "PASSIVE") -> tuple[int, int, int]:
    """Copy committed pages from the WAL into the database file: (busy, WAL frames, frames copied).

    PASSIVE never blocks readers or writers and may stop short; TRUNCATE also empties
    the WAL, and reports busy (1) when readers kept it from finishing. On PostgreSQL
    there is nothing to do (see `keeps_wal`): (0, 0, 0).
    """
    if not keeps_wal(engine):
        return 0, 0, 0
    with engine.connect() as connection:
        busy, frames, copied = connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
    return busy, frames, copied


def vacuum(engine: Engine) -> None:
    """Rewrite every table from its live rows, so no deleted row stays readable in the database's files.

    SQLite: VACUUM rebuilds the one file (no free page keeps a deleted row's bytes); with
    `secure_delete` and a TRUNCATE `wal_checkpoint` after it, no copy remains in the file or its WAL.

    PostgreSQL: VACUUM FULL of every table of the database, one after another, each holding an
    exclusive lock meanwhile (readers of that table wait; under a second for 100k events): each
    table and its indexes are written anew from the live rows and the old files are emptied at
    commit. What it does not reach: the server's WAL segments (and any archive or replica of them)
    keep earlier images of deleted rows until the server recycles and overwrites them, and the
    filesystem does not zero freed blocks. Gives up (an error) after `VACUUM_LOCK_TIMEOUT` waiting
    for a lock held by another transaction.
    """
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"SET lock_timeout = '{VACUUM_LOCK_TIMEOUT}'")
        try:
            connection.exec_driver_sql("VACUUM FULL")
        finally:
            connection.exec_driver_sql("RESET lock_timeout")
