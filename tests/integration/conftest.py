"""Fixtures that run real servers on loopback for integration tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.types import ASGIApp

from media_demo.api import build_api
from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import Settings
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.tracking import Page, Reader
from tests.servers import MISSING as POSTGRES_MISSING
from tests.servers import PostgresServer, postgres_bin, start_postgres
from tests.traces import database_files

API_TOKEN = "integration-test-token"
POLICY_URL = "http://localhost:3000/privacy"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ask a server process to exit (SIGTERM), then kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on `port` (default: a free loopback port); yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running(settings: Settings, corpus: Corpus) -> Iterator[tuple[Newsroom, str]]:
    """A newsroom on `settings`' file, served by uvicorn; yields it and its base URL."""
    room = Newsroom(settings, corpus, get_index())
    try:
        with serve(build_api(lambda: room)) as url:
            yield room, url
    finally:
        room.close()


def eventually(check, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """Retry `check` until it stops raising AssertionError (HTTP delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def grant(room: Newsroom, reader: Reader, scopes: frozenset[str] = frozenset({BEHAVIOURAL, CONTEXTUAL})) -> None:
    """The reader answers the consent banner (by default: allow everything)."""
    room.tracker.consent(reader, Page(url="http://localhost:3000/", title="Home"), set(scopes), POLICY_URL)


def read(room: Newsroom, reader: Reader, slug: str, consent: bool = True) -> None:
    """What the app does when a reader opens an article: a page view and an article view.

    A reader who has not answered the consent banner is first made to allow everything
    (what most of these tests are about); `consent=False` leaves them undecided.
    """
    if consent and room.privacy.consent_of(reader.domain_userid) is None:
        grant(room, reader)
    article = room.corpus.get(slug)
    assert article is not None
    page = Page(url=f"http://localhost:3000/article/{slug}", title=article.title)
    room.tracker.page_view(reader, page)
    room.tracker.article_view(reader, page, article)


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return get_corpus()


DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `each_database` runs once per backend (its `database_url` fixture says which)."""
    if metafunc.definition.get_closest_marker("each_database") and "database_backend" in metafunc.fixturenames:
        metafunc.parametrize("database_backend", DATABASES, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the session (each xdist worker starts its own: own port and folder).

    Missing PostgreSQL skips locally and fails in CI (REQUIRE_SERVERS=1, set by .ci/run).
    """
    if postgres_bin() is None:
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail(POSTGRES_MISSING)
        pytest.skip(POSTGRES_MISSING)
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_backend(request: pytest.FixtureRequest) -> str:
    """The backend of the test's database: SQLite, or each in turn for a test marked `each_database`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(database_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new empty database for the test: a SQLite file in its folder, or a database of `postgres`."""
    if database_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.database() as url:
        yield url


@pytest.fixture
def stored_files(database_url: str, request: pytest.FixtureRequest) -> Callable[[], list[Path]]:
    """What holds the test's database on disk, read when called: the SQLite file and its WAL, or the
    PostgreSQL database's own files (checkpointed first; the server's shared WAL is not among them)."""
    if database_url.startswith("sqlite:///"):
        return lambda: database_files(Path(database_url.removeprefix("sqlite:///")))
    server: PostgresServer = request.getfixturevalue("postgres")
    return lambda: server.database_files(database_url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        database_url=database_url,
        flush_interval_seconds=0.01,
        signals_api_token=API_TOKEN,
        batch_dir=tmp_path / "batch",
    )


@pytest.fixture
def newsroom(settings: Settings, corpus: Corpus) -> Iterator[Newsroom]:
    room = Newsroom(settings, corpus, get_index())
    yield room
    room.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free loopback port, keeping nothing on disk; its URL.

    Missing redis-server skips locally and fails in CI (REQUIRE_SERVERS=1, set by .ci/run).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        assert process.poll() is None, "redis-server exited at start"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)
