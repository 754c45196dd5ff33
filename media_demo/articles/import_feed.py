"""`make import-feed URL=...`: publish a feed's entries through the running newsroom's publishing API.

Each entry is turned into story fields (`media_demo.articles.feeds`) and PUT at its
slug, so importing the same feed again updates what changed and leaves the rest alone.
A story an editor withdrew is left withdrawn. One line per entry: published, updated,
unchanged, or skipped with the reason (the entry's title and the field).

The newsroom's address defaults to the dev backend (http://localhost:8000); the token is
`--token`, else `SIGNALS_API_TOKEN`, else the file the newsroom keeps it in (`data/signals_token`).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlencode, urlsplit

import orjson

from media_demo.articles.feeds import FeedError, FeedStory, fetch_feed, read_feed
from media_demo.articles.store import FEED_SOURCE
from media_demo.settings import get_settings

DEFAULT_BACKEND = "http://localhost:8000"
TIMEOUT = 30.0
SAID = {"created": "published", "updated": "updated", "unchanged": "unchanged"}


class ApiError(RuntimeError):
    """The newsroom could not be reached or answered something unexpected."""


def api_token(given: str | None) -> str | None:
    """The API token: given, else `SIGNALS_API_TOKEN`, else the newsroom's token file."""
    settings = get_settings()
    for candidate in (given, settings.signals_api_token):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return settings.signals_token_path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def feed_source(location: str) -> str:
    """How the stories' source is recorded: `feed:<url>` (a local file as its `file:` URL)."""
    if urlsplit(location).scheme in ("http", "https", "file"):
        return f"{FEED_SOURCE}{location}"
    return f"{FEED_SOURCE}{Path(location).resolve().as_uri()}"


class Newsroom:
    """The few calls the importer makes to the publishing API (blocking; a command-line tool)."""

    def __init__(self, backend: str, token: str) -> None:
        self.backend, self.token = backend.rstrip("/"), token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """(status, JSON answer) of one request; `ApiError` when there is no answer at all."""
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(f"{self.backend}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status, content = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"no answer from {self.backend} ({exc}); is the newsroom running (make run)?") from exc
        try:
            answer = orjson.loads(content) if content else {}
        except orjson.JSONDecodeError:
            raise ApiError(
                f"{method} {path}: HTTP {status}, not JSON (is {self.backend} the newsroom's backend?)"
            ) from None
        return status, answer if isinstance(answer, dict) else {}

    def sections(self) -> list[str]:
        """The newsroom's sections, which a story's category must be one of."""
        status, answer = self.call("GET", "/api/articles?limit=1")
        if status != 200 or not isinstance(answer.get("sections"), list):
            raise ApiError(f"GET /api/articles: HTTP {status} {answer.get('error', '')}".strip())
        return [str(s) for s in answer["sections"]]

    def publish(self, story: FeedStory, source: str) -> str:
        """PUT one story (unless an editor withdrew it); the line to print about it."""
        assert story.fields is not None and story.slug is not None
        path = f"/api/articles/{quote(story.slug)}"
        status, answer = self.call("GET", path)
        if status == 410:
            return f"skipped: {story.slug}: withdrawn by an editor (publish it again with PUT {path})"
        status, answer = self.call("PUT", f"{path}?{urlencode({'source': source})}", story.fields)
        if status in (200, 201):
            return f"{SAID.get(str(answer.get('status')), 'published')}: {story.slug}"
        if status == 422:
            return "skipped: " + "; ".join(str(p) for p in answer.get("detail") or [answer.get("error")])
        raise ApiError(f"PUT {path}: HTTP {status} {answer.get('error', '')}".strip())


def import_feed(location: str, backend: str, token: str, category: str | None = None, out: TextIO = sys.stdout) -> int:
    """Publish every entry of the feed at `location`, printing a line per entry; the exit status."""
    newsroom = Newsroom(backend, token)
    try:
        document = fetch_feed(location)
        stories = read_feed(document, newsroom.sections(), category)
    except (FeedError, ApiError) as exc:
        print(f"import-feed: {exc}", file=sys.stderr)
        return 1
    source = feed_source(location)
    failed = 0
    for story in stories:
        if story.fields is None:
            print(f"skipped: {'; '.join(story.problems)}", file=out)
            continue
        try:
            print(newsroom.publish(story, source), file=out)
        except ApiError as exc:
            failed += 1
            print(f"failed: {story.slug}: {exc}", file=out)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: the feed, and where and as whom to publish it."""
    parser = argparse.ArgumentParser(
        prog="python -m media_demo.articles.import_feed",
        description="Publish the entries of an Atom or RSS feed through the running newsroom's API.",
    )
    parser.add_argument("feed", help="the feed: an http(s) URL, a file: URL or a path")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, help=f"the newsroom (default {DEFAULT_BACKEND})")
    parser.add_argument("--token", default=None, help="the API token (default: SIGNALS_API_TOKEN, data/signals_token)")
    parser.add_argument(
        "--category",
        default=get_settings().feed_category,
        help="the section of entries none of whose tags names one (default: FEED_CATEGORY; unset: skipped)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = build_parser().parse_args(argv)
    token = api_token(args.token)
    if token is None:
        message = "no API token: pass --token, set SIGNALS_API_TOKEN, or start the newsroom once"
        print(f"import-feed: {message}", file=sys.stderr)
        return 2
    return import_feed(args.feed, args.backend, token, args.category)


if __name__ == "__main__":
    raise SystemExit(main())
