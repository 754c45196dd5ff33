"""Remote mode: with SIGNALS_API_URL set, the pages read an engine service (a UI worker of a cluster).

The engine is a second process of our own server, so the events travel over real
HTTP to its collector and the attributes come back through
`SignalsSandbox.get_group_attributes`, as they would from Snowplow Signals; consent,
devices and everyone's reading come from its `/api/engine/` routes. The UI side
(`RemoteNewsroom`) holds no event log and no attribute engine.

A read waits for the remote (up to its timeout) in a worker thread, never on the
event loop: the last tests run the app's real handlers (Reflex states, the offer
delivery, the recommendations API) against a slow API beside a ticking coroutine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

import httpx
import pytest
from snowplow_signals import SignalsSandbox
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

import media_demo.media_demo  # noqa: F401  (registers every state of the app, as the backend does)
from media_demo.api import build_api, recommendations_document
from media_demo.articles import Corpus
from media_demo.definitions import READER_GROUP, WELCOME_BACK, category_read_count, reader_profile_group
from media_demo.newsroom import Newsroom, RemoteNewsroom, get_index
from media_demo.services.reader_views import ENGINE_DOWN
from media_demo.settings import PROJECT_ROOT, Settings
from media_demo.signals.engine.consent import BEHAVIOURAL
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.remote import RemoteAttributes
from media_demo.state import offer as offer_state
from media_demo.state import privacy as privacy_state
from media_demo.state import reader as reader_state
from media_demo.state.privacy import PrivacyState
from media_demo.state.reader import ReaderState
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from media_demo.tracking.email_links import click_url, open_pixel_url
from tests.integration.conftest import eventually, free_port, grant, serve, stop
from tests.loop_watch import assert_loop_kept_running, loop_stall, run_apart, tab

TOKEN = "remote-token-" + uuid.uuid4().hex
SERVER = """
import sys, uvicorn
from media_demo.api import build_api, recommendations_document
from media_demo.newsroom import get_newsroom
uvicorn.run(build_api(get_newsroom), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
# Variables that would make the second process itself remote, or send its events elsewhere.
NOT_INHERITED = ("SIGNALS_API_URL", "SNOWPLOW_COLLECTOR_URL", "SIGNALS_TOKEN_FILE")
T = TypeVar("T")


class EngineProcess:
    """Our server as a second process (the engine), with its own event log and token; stoppable and restartable."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.tmp_path = free_port(), tmp_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env |= {
            "MEDIA_DEMO_DB": str(self.tmp_path / "remote" / "events.db"),
            "SIGNALS_API_TOKEN": TOKEN,
            "FLUSH_INTERVAL_SECONDS": "0.01",
        }
        output = (self.tmp_path / "remote.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        output.close()
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the remote server exited ({self.process.returncode}):\n{_log(self.tmp_path)}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the remote server did not answer /api/health:\n{_log(self.tmp_path)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    """The engine in a second process, started."""
    process = EngineProcess(tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def remote_server(engine: EngineProcess) -> str:
    """The engine's base URL."""
    return engine.url


def _log(tmp_path: Path) -> str:
    return (tmp_path / "remote.log").read_text(errors="replace")[-4000:]


def remote_settings(tmp_path: Path, api_url: str | None, **overrides: object) -> Settings:
    """The test process's settings: its own event log, remote mode on when `api_url` is given."""
    fields: dict[str, object] = {
        "media_demo_db": tmp_path / "local" / "events.db",
        "flush_interval_seconds": 0.01,
        "signals_api_url": api_url,
        "signals_api_token": TOKEN,
    }
    return Settings(**(fields | overrides))  # type: ignore[arg-type]


def read_articles(room: Newsroom | RemoteNewsroom, reader: Reader, slugs: list[str]) -> None:
    grant(room, reader)  # the consent event travels to the remote collector like every other
    for slug in slugs:
        article = room.corpus.get(slug)
        assert article is not None
        page = Page(url=f"http://localhost:3000/article/{slug}", title=article.title)
        room.tracker.page_view(reader, page)
        room.tracker.article_view(reader, page, article)
        # The HTTP emitter sends from a pool of threads: without waiting, two stories' events can reach
        # the collector in either order, and `articles_read` is in arrival order (as in Snowplow).
        room.tracker.flush()


def test_attributes_and_recommendations_come_from_the_remote_api(
    remote_server: str, tmp_path: Path, corpus: Corpus
) -> None:
    settings = remote_settings(tmp_path, remote_server)
    assert settings.collector_url == remote_server  # events go to the deployment the attributes come from
    room = RemoteNewsroom(settings, corpus, get_index())
    try:
        reader = Reader(new_domain_userid(), touch_session(None, time.time()))
        sport = [a.slug for a in corpus.in_category("sport")[:3]]
        read_articles(room, reader, sport)

        def remote_profile() -> dict:
            attributes = room.views.attributes(reader.domain_userid)
            assert attributes[category_read_count("sport")] == 3
            return attributes

        attributes = eventually(remote_profile)
        assert attributes["articles_read"] == sport
        assert attributes["article_last_read"] == sport[-1]
        assert attributes["page_view_count"] == 3
        assert attributes["categories_read"] == ["sport"]
        assert set(attributes) == {a.name for a in reader_profile_group(corpus.categories).attributes}

        document = recommendations_document(room.views, reader.domain_userid)
        metadata = document["metadata"]
        assert (metadata["interests"], metadata["last_read"], metadata["strategy"]) == (
            ["sport"],
            sport[-1],
            "personalised",
        )
        assert document["recommendations"][0]["reason"] == "More in Sport"
        assert not {r["slug"] for r in document["recommendations"]} & set(sport)

        # The engine agrees about this reader, and holds the events: this process has no log of its own.
        theirs = httpx.get(
            f"{remote_server}/api/recommended-articles",
            params={"domain_userid": reader.domain_userid},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert theirs.json()["metadata"]["interests"] == ["sport"]
        assert not hasattr(room, "log") and not hasattr(room, "memory")
        assert room.event_counts()["good"] == 1 + 2 * len(sport)  # the consent, then a page and an article view each
        consent = room.privacy.consent_of(reader.domain_userid)
        assert consent is not None and consent.allows(BEHAVIOURAL)
        # Everyone's reading comes from the engine too.
        assert room.views.trending(5)[0][1] == 1 and {slug for slug, _n in room.views.trending(5)} == set(sport)

        # A wrong token is a remote failure like any other: defaults, no exception.
        wrong = RemoteAttributes(remote_server, "wrong-token", [reader_profile_group(corpus.categories)])
        assert wrong.get(READER_GROUP, 1, reader.domain_userid)[category_read_count("sport")] == 0
    finally:
        room.close()


def test_a_down_engine_gives_an_empty_profile_and_the_last_popular_stories(
    engine: EngineProcess, tmp_path: Path, corpus: Corpus, caplog: pytest.LogCaptureFixture
) -> None:
    room = RemoteNewsroom(remote_settings(tmp_path, engine.url), corpus, get_index())
    try:
        popular = [a.slug for a in corpus.articles[:2]]
        read_articles(room, Reader(new_domain_userid(), touch_session(None, time.time())), popular)
        assert {slug for slug, _n in room.views.trending(5)} == set(popular)  # this worker has seen them once
        engine.stop()
        time.sleep(1.1)  # the snapshot in hand is due for revalidation, which fails
        reader = new_domain_userid()
        with caplog.at_level(logging.WARNING, logger="media_demo.signals.remote"):
            attributes = room.views.attributes(reader)
            profile = room.views.profile(reader)
            document = recommendations_document(room.views, reader)
        assert attributes["articles_read"] == [] and attributes[category_read_count("sport")] == 0
        assert not profile.has_history
        assert document["metadata"]["strategy"] == "popular"
        assert {r["slug"] for r in document["recommendations"]} == set(popular)
        warnings = [r for r in caplog.records if r.name == "media_demo.signals.remote"]
        assert len(warnings) == 1, "one warning per outage, not one per page"
        # A page says why it is not personalised, and shows no consent banner to a reader who may have chosen.
        view = room.views.reader_view(reader)
        assert view.unavailable and view.reason == ENGINE_DOWN and view.consent is None
        assert {r.article.slug for r in view.recommendations} == set(popular)
        # Tracked meanwhile: kept by the worker, sent when the engine is back; nothing acknowledged was lost.
        someone = Reader(new_domain_userid(), touch_session(None, time.time()))
        room.tracker.page_view(someone, Page(url="http://localhost:3000/", title="Home"))
        assert room.emitter.pending == 1

        engine.start()
        eventually(lambda: _assert(not room.views.reader_view(reader).unavailable))
        eventually(lambda: _assert(room.emitter.pending == 0))
        assert room.event_counts()["good"] == 1 + 2 * len(popular) + 1
    finally:
        room.close()


def _assert(condition: bool) -> None:
    assert condition


def test_a_slow_remote_api_is_given_up_on_quickly(corpus: Corpus) -> None:
    async def hang(_request: Request) -> JSONResponse:
        await asyncio.sleep(1)
        return JSONResponse({})

    slow = Starlette(routes=[Route("/api/v1/get-online-attributes", hang, methods=["POST"])])
    with serve(slow) as url:
        remote = RemoteAttributes(url, TOKEN, [reader_profile_group(corpus.categories)], timeout=0.1)
        started = time.monotonic()
        attributes = remote.get(READER_GROUP, 1, new_domain_userid())
        assert time.monotonic() - started < 0.9  # the SDK alone would wait for the answer (up to 30 s)
        assert attributes["articles_read"] == [] and attributes["article_last_read"] is None


def test_remote_mode_needs_a_token_and_defaults_the_collector(tmp_path: Path, corpus: Corpus) -> None:
    with pytest.raises(ValueError, match="SIGNALS_API_TOKEN"):
        RemoteNewsroom(remote_settings(tmp_path, "http://127.0.0.1:9", signals_api_token=None), corpus, get_index())
    assert (
        remote_settings(tmp_path, "https://signals.example:8443/base/").collector_url == "https://signals.example:8443"
    )
    explicit = remote_settings(tmp_path, "https://signals.example", snowplow_collector_url="https://collector.example")
    assert explicit.collector_url == "https://collector.example"
    assert remote_settings(tmp_path, None).collector_url is None


# --- a slow Signals API never holds up the event loop ------------------------------------------------------------

HANG_SECONDS = 1.0  # under the remote reads' timeout (2 s): every read waits this long, then answers


@pytest.fixture
def slow_room(tmp_path: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> Iterator[RemoteNewsroom]:
    """A newsroom in remote mode whose Signals API answers each attribute read after `HANG_SECONDS` (its
    engine routes at once: nobody has consented, nobody has read), and which the app's states and handlers
    use (as `get_newsroom()` would give them)."""

    async def hang(_request: Request) -> JSONResponse:
        await asyncio.sleep(HANG_SECONDS)
        return JSONResponse({})

    async def no_consent(_request: Request) -> JSONResponse:
        return JSONResponse({"consent": None})

    async def no_reads(_request: Request) -> JSONResponse:
        return JSONResponse({"version": 0, "most_read": [], "trending": []})

    async def quiet_feed(_request: Request) -> StreamingResponse:
        async def comments() -> AsyncIterator[bytes]:
            while True:
                yield b": nothing happens\n\n"
                await asyncio.sleep(5)

        return StreamingResponse(comments(), media_type="text/event-stream")

    async def nothing(_request: Request) -> JSONResponse:
        return JSONResponse({})

    slow = Starlette(
        routes=[
            Route("/api/v1/get-online-attributes", hang, methods=["POST"]),
            Route("/api/engine/readers/{reader}/consent", no_consent),
            Route("/api/engine/popularity", no_reads),
            Route("/api/engine/feed", quiet_feed),
            Route("/{path:path}", nothing, methods=["GET", "POST"]),  # the collector the events go to
        ]
    )
    with serve(slow) as url:
        room = RemoteNewsroom(remote_settings(tmp_path, url), corpus, get_index())
        for module in (reader_state, privacy_state, offer_state):
            monkeypatch.setattr(module, "get_newsroom", lambda: room)
        try:
            yield room
        finally:
            room.close()


def assert_remote_waited_for(took: float, stall: float) -> None:
    assert_loop_kept_running(took, stall, HANG_SECONDS, "a remote read")


def test_the_reader_panel_waits_for_a_slow_remote_off_the_event_loop(slow_room: RemoteNewsroom) -> None:
    async def scenario() -> None:
        reader = await tab(ReaderState, "/article/x")
        _result, took, stall = await loop_stall(
            ReaderState.visit.fn(reader, "Story", slow_room.corpus.articles[0].slug)
        )
        assert_remote_waited_for(took, stall)
        assert reader.recommendations_loaded
        _result, took, stall = await loop_stall(reader._refresh_view())
        assert_remote_waited_for(took, stall)

    run_apart(scenario())


def test_the_privacy_page_waits_for_a_slow_remote_off_the_event_loop(slow_room: RemoteNewsroom) -> None:
    async def scenario() -> None:
        privacy = await tab(PrivacyState, "/privacy")
        _result, took, stall = await loop_stall(PrivacyState.open.fn(privacy))
        assert_remote_waited_for(took, stall)
        assert privacy.summarised and privacy.profile_articles == 0  # the remote had nothing: defaults

    run_apart(scenario())


def test_an_offer_reads_the_reader_from_a_slow_remote_off_the_event_loop(slow_room: RemoteNewsroom) -> None:
    fired = FiredIntervention("i-1", WELCOME_BACK, 1, {}, "domain_userid", new_domain_userid(), time.time())
    no_tabs = SimpleNamespace(event_namespace=None)

    async def scenario() -> None:
        _result, took, stall = await loop_stall(offer_state._push_offer(no_tabs, fired, slow_room))  # type: ignore[arg-type]
        assert_remote_waited_for(took, stall)

    run_apart(scenario())


def test_the_recommendations_api_waits_for_a_slow_remote_off_the_event_loop(slow_room: RemoteNewsroom) -> None:
    app = build_api(lambda: slow_room)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            response, took, stall = await loop_stall(
                client.get(
                    "/api/recommended-articles",
                    params={"domain_userid": new_domain_userid()},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            )
        assert response.status_code == 200
        assert response.json()["metadata"]["domain_userid"]
        assert_remote_waited_for(took, stall)

    run_apart(scenario())


def test_a_worker_passes_a_mails_pixel_and_click_to_the_engines_collector(
    engine: EngineProcess, tmp_path: Path, corpus: Corpus
) -> None:
    """In a cluster the mails' addresses point at the workers (`PUBLIC_API_URL`); the collector is the engine's."""
    room = RemoteNewsroom(remote_settings(tmp_path, engine.url), corpus, get_index())
    try:
        with serve(build_api(lambda: room, serves_engine=False)) as worker:
            user_id, digest_id = str(uuid.uuid4()), str(uuid.uuid4())
            story = corpus.in_category("science")[0]
            target = f"http://localhost:3000/article/{story.slug}"  # the engine's SITE_URL: its default
            app_id = room.settings.snowplow_app_id
            pixel = httpx.get(open_pixel_url(worker, app_id, user_id, digest_id))
            assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
            click = httpx.get(click_url(worker, target, app_id, user_id, digest_id, 1, story.slug, "science"))
            assert click.status_code == 302 and click.headers["location"] == target
            refused = httpx.get(f"{worker}/r/tp2", params={"u": "https://elsewhere.example/"})
            assert refused.status_code == 400 and "elsewhere.example" in refused.json()["error"]
        signals = SignalsSandbox(api_url=engine.url, sandbox_token=TOKEN)
        names = ["digests_opened", "email_clicks", "favourite_email_section"]
        engagement = signals.get_group_attributes("email_engagement", 1, names, "user_id", user_id)
        assert {n: engagement[n] for n in names} == {
            "digests_opened": 1,
            "email_clicks": 1,
            "favourite_email_section": "science",
        }
    finally:
        room.close()
