"""Throwaway PostgreSQL servers for the tests and benchmarks: own data directory and port, stopped after.

Never a mock: the storage must be tested against the real thing. The server runs as the
invoking user, or, as root (which PostgreSQL refuses), as `postgres` if that user exists
else `nobody`, owning its temporary folder. fsync stays on: the kill -9 test is about durability.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import psycopg
from psycopg import sql

MISSING = "PostgreSQL is not installed (Debian: apt-get install postgresql)"


def postgres_bin() -> Path | None:
    """The folder holding `initdb` and `postgres`: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_as() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: None for the invoking one, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and neither a postgres nor a nobody account exists to run PostgreSQL")


@dataclass
class PostgresServer:
    """A running private server; `database()` gives a fresh database's SQLAlchemy URL."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    user: str
    _numbers: Iterator[int] = field(default_factory=lambda: count(1))

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) of one of its databases, over TCP on loopback."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        """An autocommit connection to the maintenance database (CREATE/DROP DATABASE)."""
        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database for one test or run, dropped afterwards (open connections cut off)."""
        name = f"test_{next(self._numbers)}"
        with self.admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield self.url(name)
        finally:
            with self.admin() as connection:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def database_files(self, url: str) -> list[Path]:
        """The files holding one database's tables and indexes (not the server's shared WAL), after a
        CHECKPOINT has written every changed page into them."""
        name = url.rsplit("/", 1)[-1]
        with self.admin() as connection:
            connection.execute("CHECKPOINT")
            row = connection.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if row is None:
            raise LookupError(f"no database {name!r}")
        return sorted(p for p in (self.folder / "data" / "base" / str(row[0])).iterdir() if p.is_file())

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients cut off, a clean checkpoint), then remove its folder."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(timeout: float = 30.0) -> PostgresServer:
    """initdb a temporary data directory and start `postgres` on a free loopback port (RuntimeError if
    PostgreSQL is missing or does not come up). The caller stops it (`stop`)."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError(MISSING)
    account = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="media_demo_pg_"))  # short: the socket path must fit in 107 bytes
    data = folder / "data"
    uid = gid = None  # Popen's: None keeps the invoking user's
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
        uid, gid = account.pw_uid, account.pw_gid
    user = account.pw_name if account is not None else pwd.getpwuid(os.geteuid()).pw_name
    try:
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8", "--locale", "C"],
            check=True,
            capture_output=True,
            cwd=folder,
            user=uid,
            group=gid,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
    port = _free_port()
    log = open(folder / "postgres.log", "wb")  # noqa: SIM115  (the server writes it while it runs)
    settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(folder), "max_connections": "200"}
    options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
    process = subprocess.Popen(
        [str(binaries / "postgres"), "-D", str(data), "-p", str(port), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
        start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops the server itself
        user=uid,
        group=gid,
    )
    log.close()
    server = PostgresServer(folder, port, process, user)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            text = (folder / "postgres.log").read_text(errors="replace")
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"postgres exited at start:\n{text}")
        try:
            server.admin().close()
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("postgres did not accept connections in time") from None
            time.sleep(0.05)


@dataclass
class RedisServer:
    """A running private redis-server, keeping nothing on disk."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(timeout: float = 10.0) -> RedisServer:
    """A redis-server on a free loopback port, with no persistence (RuntimeError if missing or not up)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = _free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*command, "--dir", tempfile.gettempdir()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = RedisServer(port, process)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError("redis-server exited at start")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
