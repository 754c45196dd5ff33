"""The newsroom's publishing API: stories created, replaced, withdrawn and read over HTTP, and the drawn covers.

- `POST /api/articles` (token): a new story; 201 with its address in `Location`, 409 if the slug is taken.
- `PUT /api/articles/<slug>` (token): create (201) or replace (200) the story at that address.
- `DELETE /api/articles/<slug>` (token): withdraw it from every page; 204, 404 for a slug never published.
- `GET /api/articles/<slug>`: the story; 410 once withdrawn. `GET /api/articles?limit=&category=`: newest first.
- `GET /api/covers/<slug>.svg`: the cover drawn when a story without a shipped one was published.

The JSON body is the front matter of an article file (`data/articles/FORMAT.md`) plus
`body` (Markdown). Bad JSON is a 400; fields the newsroom refuses are a 422 whose
`detail` lists every problem, each naming the field. The writes run off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from media_demo.articles import Article, CorpusError
from media_demo.articles.cover_urls import STORED_COVERS_PATH, cover_url, has_shipped_cover, stored_cover_url
from media_demo.articles.store import API_SOURCE, FEED_SOURCE, story_hash
from media_demo.newsroom import Newspaper
from media_demo.routes import article_url
from media_demo.services.publishing import StoryExistsError, UnknownStoryError
from media_demo.signals.engine.timestamps import iso_seconds
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.errors import json_error, unauthorised

ARTICLES_PATH = "/api/articles"
WHERE = "request body"
MAX_BODY_BYTES = 1_000_000  # a long read is ~50 KB of Markdown
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_SOURCE = 2000
NEEDS_TOKEN = "publishing needs the API token (Authorization: Bearer <token>)"
COVER_HEADERS = {
    "Cache-Control": "public, max-age=600",  # then revalidated by its ETag: a new category or tags redraw it
    "X-Content-Type-Options": "nosniff",
    # Opened on its own, an SVG is a document: nothing in it may load or run anything.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def article_address(slug: str) -> str:
    """The API address of a story (`Location` of a created one)."""
    return f"{ARTICLES_PATH}/{slug}"


def article_document(article: Article, body: bool = True) -> dict[str, Any]:
    """A story as the API gives it: its fields, where its page and cover are, and (unless listed) its body."""
    document: dict[str, Any] = {
        "slug": article.slug,
        "title": article.title,
        "excerpt": article.excerpt,
        "category": article.category,
        "author": article.author,
        "published": article.published.isoformat(),
        "reading_minutes": article.reading_minutes,
        "tags": list(article.tags),
        "breaking": article.breaking,
        "updated": iso_seconds(article.updated) if article.updated is not None else None,
        "url": article_url(article.slug),
        # A drawn cover is served by the backend: prefix the backend's origin when the page is elsewhere.
        "cover": cover_url(article.slug) if has_shipped_cover(article.slug) else stored_cover_url(article.slug),
    }
    if body:
        document["body"] = article.body
    return document


def _invalid(error: CorpusError) -> JSONResponse:
    count = len(error.problems)
    message = f"the story has {count} problem{'s' if count != 1 else ''}: " + "; ".join(error.problems)
    return json_error(422, message, detail=error.problems)


def _etag(value: str) -> str:
    return f'"{value}"'


def _not_modified(request: Request, etag: str) -> bool:
    return etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}


async def _fields(request: Request) -> dict[str, Any] | JSONResponse:
    """The request's JSON object of story fields, or the 400/413 to answer."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return json_error(413, f"request body is {len(body)} bytes, at most {MAX_BODY_BYTES}")
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return json_error(400, f"request body is not valid JSON ({exc})")
    if not isinstance(fields, dict):
        return json_error(400, f"request body must be a JSON object of story fields, got {type(fields).__name__}")
    return fields


def _source(request: Request) -> str | JSONResponse:
    """Where the story comes from: `api`, or `feed:<url>` when a feed importer says so (query parameter `source`)."""
    source = request.query_params.get("source", API_SOURCE)
    if source == API_SOURCE:
        return source
    url = source.removeprefix(FEED_SOURCE)
    parts = urlsplit(url)
    located = parts.netloc if parts.scheme in ("http", "https") else parts.path if parts.scheme == "file" else ""
    if url == source or len(source) > MAX_SOURCE or not located:
        message = f"query parameter 'source' must be 'api' or 'feed:<the feed's URL>', got {source[:80]!r}"
        return json_error(400, message)
    return source


def publishing_routes(newsroom: Callable[[], Newspaper]) -> list[Route]:
    """The routes above; `newsroom` is called per request, so tests can supply their own."""

    async def create(request: Request) -> Response:
        room = newsroom()
        if not authorised(request, room.api_token):
            return unauthorised(NEEDS_TOKEN)
        fields = await _fields(request)
        if isinstance(fields, JSONResponse):
            return fields
        source = _source(request)
        if isinstance(source, JSONResponse):
            return source
        try:
            article = await asyncio.to_thread(room.publishing.create, fields, WHERE, source)
        except CorpusError as exc:
            return _invalid(exc)
        except StoryExistsError as exc:
            return json_error(
                409,
                f"{WHERE}: field 'slug': a published story already has the slug {exc.slug!r}; "
                f"PUT {article_address(exc.slug)} replaces it",
            )
        document = {"status": "created", "article": article_document(article)}
        return JSONResponse(document, status_code=201, headers={"Location": article_address(article.slug)})

    async def put(request: Request) -> Response:
        room = newsroom()
        if not authorised(request, room.api_token):
            return unauthorised(NEEDS_TOKEN)
        fields = await _fields(request)
        if isinstance(fields, JSONResponse):
            return fields
        source = _source(request)
        if isinstance(source, JSONResponse):
            return source
        slug = request.path_params["slug"]
        try:
            outcome = await asyncio.to_thread(room.publishing.submit, slug, fields, WHERE, source)
        except CorpusError as exc:
            return _invalid(exc)
        document = {"status": outcome.status, "article": article_document(outcome.article)}
        if outcome.status == "created":
            return JSONResponse(document, status_code=201, headers={"Location": article_address(slug)})
        return JSONResponse(document)

    async def delete(request: Request) -> Response:
        room = newsroom()
        if not authorised(request, room.api_token):
            return unauthorised(NEEDS_TOKEN)
        slug = request.path_params["slug"]
        try:
            await asyncio.to_thread(room.publishing.unpublish, slug)
        except UnknownStoryError:
            return json_error(404, f"no story has the slug {slug[:80]!r}")
        return Response(status_code=204)

    async def read(request: Request) -> Response:
        room = newsroom()
        slug = request.path_params["slug"]
        article = room.corpus.get(slug)
        if article is None:
            if room.corpus.withdrawn(slug) is not None:
                return json_error(410, f"the story {slug!r} is no longer available: it was withdrawn")
            return json_error(404, f"no story has the slug {slug[:80]!r}")
        etag = _etag(story_hash(article))
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if _not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return JSONResponse(article_document(article), headers=headers)

    async def listing(request: Request) -> Response:
        room = newsroom()
        raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return json_error(400, f"query parameter 'limit' must be a whole number from 1 to {MAX_LIMIT}")
        sections = room.publishing.sections
        category = request.query_params.get("category") or None
        if category is not None and category not in sections:
            return json_error(
                400, f"query parameter 'category' must be one of {', '.join(sections)}, got {category[:40]!r}"
            )
        stories = room.corpus.latest(int(raw_limit), category)
        document = {"articles": [article_document(a, body=False) for a in stories], "sections": list(sections)}
        return JSONResponse(document, headers={"Cache-Control": "no-cache"})

    async def cover(request: Request) -> Response:
        room = newsroom()
        slug = request.path_params["slug"]
        found = await asyncio.to_thread(room.publishing.cover, slug)
        if found is None:
            return json_error(404, f"no drawn cover for {slug[:80]!r} (a shipped cover is at {cover_url(slug)})")
        etag = _etag(found.etag)
        headers = {**COVER_HEADERS, "ETag": etag}
        if _not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return Response(found.svg, media_type="image/svg+xml", headers=headers)

    return [
        Route(ARTICLES_PATH, create, methods=["POST"]),
        Route(ARTICLES_PATH, listing, methods=["GET"]),
        Route(f"{ARTICLES_PATH}/{{slug}}", put, methods=["PUT"]),
        Route(f"{ARTICLES_PATH}/{{slug}}", delete, methods=["DELETE"]),
        Route(f"{ARTICLES_PATH}/{{slug}}", read, methods=["GET"]),
        Route(f"{STORED_COVERS_PATH}/{{slug}}.svg", cover, methods=["GET"]),
    ]
