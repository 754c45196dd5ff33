"""The backend's HTTP API (Starlette), mounted in front of Reflex's own routes.

Errors are always JSON with a 4xx status: a bad request never becomes a 500
or an HTML traceback.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from media_demo.newsroom import Newsroom
from media_demo.personalise.context import MAX_TZ_OFFSET_MINUTES, ReaderContext, server_now
from media_demo.signals.collector import collector_routes
from media_demo.signals.intervention_stream import intervention_routes
from media_demo.signals.signals_api import signals_routes
from media_demo.tracking import is_domain_userid

MAX_RECOMMENDATIONS = 20
TZ_OFFSET = re.compile(r"^[+-]?[0-9]{1,4}$")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def request_context(request: Request, clock: Callable[[], dt.datetime] = server_now) -> ReaderContext:
    """The reader's context from the request itself: User-Agent, Referer (or a forwarded `referrer`
    parameter, e.g. a page's `document.referrer`), Accept-Language, `utm_*` and `tz_offset`/`tz`.

    `tz_offset` is minutes east of UTC (`-new Date().getTimezoneOffset()`); `tz` an IANA zone name.
    Raises ValueError (the message names the parameter) for a malformed offset.
    """
    params = request.query_params
    offset: int | None = None
    if (raw := params.get("tz_offset")) is not None:
        limit = MAX_TZ_OFFSET_MINUTES
        if not TZ_OFFSET.match(raw) or not -limit <= int(raw) <= limit:
            raise ValueError(f"query parameter 'tz_offset' must be whole minutes from -{limit} to {limit}")
        offset = int(raw)
    return ReaderContext.from_request(
        user_agent=request.headers.get("user-agent"),
        referrer=params.get("referrer") or request.headers.get("referer"),
        query={name: value for name, value in params.items() if name.startswith("utm_")},
        accept_language=request.headers.get("accept-language"),
        host=request.url.hostname,
        tz_offset_minutes=offset,
        tz_name=params.get("tz"),
        clock=clock,
    )


def build_api(newsroom: Callable[[], Newsroom], clock: Callable[[], dt.datetime] = server_now) -> Starlette:
    """The API app; `newsroom` is called per request so tests can supply their own, and `clock` their time."""

    async def recommended_articles(request: Request) -> JSONResponse:
        domain_userid = request.query_params.get("domain_userid", "")
        if not domain_userid:
            return error(400, "query parameter 'domain_userid' is required")
        if not is_domain_userid(domain_userid):
            return error(400, f"query parameter 'domain_userid' must be a UUID, got {domain_userid[:64]!r}")
        raw_count = request.query_params.get("count", "3")
        if not raw_count.isdigit() or not 1 <= int(raw_count) <= MAX_RECOMMENDATIONS:
            return error(400, f"query parameter 'count' must be a whole number from 1 to {MAX_RECOMMENDATIONS}")
        try:
            context = request_context(request, clock)
        except ValueError as exc:
            return error(400, str(exc))
        document = newsroom().contextual_document(domain_userid.lower(), context, int(raw_count))
        return JSONResponse(document, headers={"Cache-Control": "no-store"})

    async def health(_request: Request) -> JSONResponse:
        room = newsroom()
        return JSONResponse({"status": "ok", "articles": len(room.corpus), "events": room.log.counts()})

    async def unknown_api_route(request: Request) -> JSONResponse:
        return error(404, f"no API route {request.url.path}")

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, str(exc.detail))

    return Starlette(
        routes=[
            Route("/api/recommended-articles", recommended_articles, methods=["GET"]),
            Route("/api/health", health, methods=["GET"]),
            *intervention_routes(newsroom),
            *signals_routes(newsroom),
            *collector_routes(newsroom),
            Route("/api/{path:path}", unknown_api_route, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
