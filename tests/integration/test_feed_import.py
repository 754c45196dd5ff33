"""Feeds end to end: a feed on a real local HTTP server, imported by the command-line tool through the running
publishing API, and polled by a newsroom configured with FEED_URLS."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from media_demo.api import build_api
from media_demo.articles import import_feed
from media_demo.newsroom import Newsroom
from media_demo.settings import PROJECT_ROOT, Settings
from tests.factories import articles_folder
from tests.integration.conftest import API_TOKEN, AUTH, eventually, serve

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
MILL = "tide-mill-restorers-grind-the-first-flour-in-ninety-years"
SEAGRASS = "seagrass-meadow-in-the-estuary-doubles-in-five-years-divers-find"
CLINIC = "clinic-trials-evening-appointments-for-shift-workers"
QUARRY = "upper-valley-quarry-plans-go-to-a-public-inquiry"
NEEDS = "publishing needs the API token (Authorization: Bearer <token>)"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving a folder holding copies of the test feeds; (base URL, folder)."""
    folder = tmp_path / "feeds"
    folder.mkdir()
    for name in ("harbour-gazette.atom", "valley-wire.rss"):
        (folder / name).write_bytes((FEEDS / name).read_bytes())
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        articles_dir=articles_folder(tmp_path / "articles"),
        flush_interval_seconds=0.01,
        signals_api_token=API_TOKEN,
    )


def run_cli(*argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    args = import_feed.build_parser().parse_args(argv)
    status = import_feed.import_feed(args.feed, args.backend, args.token, args.category, out=out)
    return status, out.getvalue().splitlines()


def test_the_importer_publishes_a_served_feed_through_the_api(
    feed_server: tuple[str, Path], small_settings: Settings
) -> None:
    feeds, folder = feed_server
    room = Newsroom(small_settings)
    try:
        with serve(build_api(lambda: room)) as api, httpx.Client(base_url=api) as client:
            status, lines = run_cli(f"{feeds}/harbour-gazette.atom", "--backend", api, "--token", API_TOKEN)
            assert status == 0
            assert lines[:2] == [f"published: {MILL}", f"published: {SEAGRASS}"]
            assert lines[2].startswith("skipped: feed entry 'Ferry timetable changes for the winter': body has")
            assert len(lines) == 3
            story = client.get(f"/api/articles/{MILL}").json()
            assert story["category"] == "culture" and story["author"] == "Isolde Marchetti"
            assert room.stories.source(MILL) == f"feed:{feeds}/harbour-gazette.atom"
            assert MILL in room.index and MILL in room.passages

            # Again: nothing changed. Then the feed changes one entry, and an editor withdraws the other.
            assert run_cli(f"{feeds}/harbour-gazette.atom", "--backend", api, "--token", API_TOKEN)[1][:2] == [
                f"unchanged: {MILL}",
                f"unchanged: {SEAGRASS}",
            ]
            atom = folder / "harbour-gazette.atom"
            atom.write_text(atom.read_text().replace("a sack of wholemeal", "two sacks of wholemeal"))
            assert client.delete(f"/api/articles/{SEAGRASS}", headers=AUTH).status_code == 204
            status, lines = run_cli(f"{feeds}/harbour-gazette.atom", "--backend", api, "--token", API_TOKEN)
            assert status == 0 and lines[0] == f"updated: {MILL}"
            assert lines[1].startswith(f"skipped: {SEAGRASS}: withdrawn by an editor")
            assert client.get(f"/api/articles/{SEAGRASS}").status_code == 410

            # RSS, with a default section for the entry whose tags name none; as `make import-feed` runs it,
            # the token from the environment.
            command = [sys.executable, "-m", "media_demo.articles.import_feed", f"{feeds}/valley-wire.rss"]
            done = subprocess.run(
                [*command, "--backend", api, "--category", "culture"],
                env={**os.environ, "SIGNALS_API_TOKEN": API_TOKEN},
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.splitlines() == [f"published: {CLINIC}", f"published: {QUARRY}"]
            assert client.get(f"/api/articles/{QUARRY}").json()["category"] == "culture"
    finally:
        room.close()


def test_the_importer_reports_a_wrong_token_an_absent_newsroom_and_a_missing_feed(
    feed_server: tuple[str, Path], small_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds, _folder = feed_server
    room = Newsroom(small_settings)
    try:
        with serve(build_api(lambda: room)) as api:
            status, lines = run_cli(f"{feeds}/valley-wire.rss", "--backend", api, "--token", "wrong")
            assert status == 1 and lines[0] == f"failed: {CLINIC}: PUT /api/articles/{CLINIC}: HTTP 401 {NEEDS}"
            assert CLINIC not in room.corpus
            status, _ = run_cli(f"{feeds}/no-such-feed.xml", "--backend", api, "--token", API_TOKEN)
            assert status == 1 and "cannot be read" in capsys.readouterr().err
    finally:
        room.close()
    status, _ = run_cli(f"{feeds}/valley-wire.rss", "--backend", api, "--token", API_TOKEN)
    assert status == 1 and "is the newsroom running" in capsys.readouterr().err


def test_a_newsroom_polls_its_configured_feeds_and_stops_on_close(
    feed_server: tuple[str, Path], small_settings: Settings
) -> None:
    feeds, _folder = feed_server
    settings = small_settings.model_copy(
        update={"feed_urls": f"{feeds}/harbour-gazette.atom,{feeds}/valley-wire.rss", "feed_poll_seconds": 3600.0}
    )
    room = Newsroom(settings)
    try:
        assert room.feeds is not None and room.feeds.running

        eventually(lambda: _has(room, MILL, SEAGRASS, CLINIC), timeout=30)
        assert QUARRY not in room.corpus  # no section tag and no FEED_CATEGORY: skipped
        assert room.stories.source(CLINIC) == f"feed:{feeds}/valley-wire.rss"
    finally:
        room.close()
    assert not room.feeds.running


def _has(room: Newsroom, *slugs: str) -> None:
    missing = [slug for slug in slugs if slug not in room.corpus]
    assert not missing, missing
