"""The backend's HTTP API (Starlette), mounted in front of Reflex's own routes, and its JSON documents.

The publishing routes (`/api/articles`, `/api/covers`) are in `media_demo.publishing_api`; the attribute
engine's own (collector, `/api/v1/`, interventions, `/api/health`) in `media_demo.engine_api`, which the
engine service serves alone when the engine runs as a process of its own.

Errors are always JSON with a 4xx status: a bad request never becomes a 500
or an HTML traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from media_demo.engine_api import engine_routes
from media_demo.experiments.report import ExperimentReport
from media_demo.newsroom import Newspaper, Newsroom, RemoteNewsroom
from media_demo.paper import SECTION_BLURBS
from media_demo.personalise import describe_context
from media_demo.personalise.context import MAX_TZ_OFFSET_MINUTES, ReaderContext, server_now
from media_demo.publishing_api import publishing_routes
from media_demo.recommend import ReaderProfile, Recommendation, interests, strategy_name
from media_demo.services.digests import ONE_CLICK_PATH, DigestError
from media_demo.services.engine_reads import EngineUnavailableError
from media_demo.services.reader_views import ReaderViews
from media_demo.signals.engine.timestamps import iso_seconds
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.collector import PIXEL_PATH, REDIRECT_PATH
from media_demo.signals.http.errors import http_exception, json_error, unauthorised
from media_demo.signals.http.signals_api import json_safe
from media_demo.story_pages import story_page_routes
from media_demo.tracking import is_domain_userid
from media_demo.tracking.identity import SIGNATURE_COOKIE, USER_COOKIE, is_signed_domain_userid

DEFAULT_COUNT = 3
# What a worker passes back of the collector's answer to a forwarded pixel or redirect.
FORWARDED_HEADERS = ("content-type", "location", "cache-control", "access-control-allow-origin")
MAX_RECOMMENDATIONS = 20
TZ_OFFSET = re.compile(r"^[+-]?[0-9]{1,4}$")


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


def recommendations_document(views: ReaderViews, domain_userid: str, count: int = DEFAULT_COUNT) -> dict[str, Any]:
    """The `/api/recommended-articles` answer for one reader, from their attributes alone (blocking)."""
    profile = views.profile(domain_userid)
    picks = views.picks(profile, count)
    return _document(domain_userid, profile, picks, strategy_name(picks))


def contextual_document(
    views: ReaderViews, domain_userid: str, context: ReaderContext, count: int = DEFAULT_COUNT
) -> dict[str, Any]:
    """The `/api/recommended-articles` answer given the request's context (blocking).

    A reader with history gets the strategy's picks; one without gets the contextual
    cold start (referrer, campaign, device, hour) instead of the plain most-read list.
    Both add the reader's segment and what the context said.
    """
    view = views.reader_view(domain_userid, context, count=count)
    profile = view.profile
    picks = view.recommendations
    cold = not profile.has_history
    strategy = "contextual" if cold and any(r.kind != "popular" for r in picks) else strategy_name(picks)
    document = _document(domain_userid, profile, picks, strategy)
    document["metadata"]["personalised"] = view.personalised
    document["metadata"]["reason"] = view.reason
    document["metadata"]["segment"] = view.segment.name
    document["metadata"]["context"] = describe_context(context, views.corpus, picks if cold else [])
    return document


def _document(domain_userid: str, profile: ReaderProfile, picks: list[Recommendation], strategy: str) -> dict[str, Any]:
    """The JSON of `/api/recommended-articles`."""
    return {
        "recommendations": [r.as_json() for r in picks],
        "metadata": {
            "domain_userid": domain_userid,
            "interests": interests(profile),
            "last_read": profile.last_read,
            "strategy": strategy,
            "generated_at": iso_seconds(time.time()),
        },
    }


def experiment_document(report: ExperimentReport) -> dict[str, Any]:
    """One experiment's report as the API and the dashboard's numbers give it (strict JSON: no NaN)."""
    document: dict[str, Any] = json_safe(dataclasses.asdict(report))
    return document


def experiments_document(room: Newspaper) -> dict[str, Any]:
    """`GET /api/experiments`: every experiment's report (blocking: reads the engine under its lock)."""
    return {"experiments": [experiment_document(report) for report in room.experiments.reports()]}


def may_read(request: Request, room: Newspaper, domain_userid: str) -> JSONResponse | None:
    """None when the request may read this reader's data, else the error to answer.

    The API token may read anyone; a browser may read only the reader its own
    signed `dc_duid` cookie names (a cookie edited to another id is not signed).
    """
    if authorised(request, room.api_token):
        return None
    own = request.cookies.get(USER_COOKIE, "")
    if not is_signed_domain_userid(own, request.cookies.get(SIGNATURE_COOKIE), room.cookie_secret):
        return unauthorised("reading a reader's data needs the API token (Authorization: Bearer) or their own cookie")
    if own.lower() != domain_userid:
        return json_error(403, "a reader's cookie may read only that reader's data")
    return None


def build_api(
    newsroom: Callable[[], Newspaper],
    clock: Callable[[], dt.datetime] = server_now,
    page_shell: Path | None = None,
    public_api_url: str = "",
    serves_engine: bool = True,
) -> Starlette:
    """The API app; `newsroom` is called per request so tests can supply their own, and `clock` their time.

    With `page_shell` (the built frontend's shell, see `story_pages.find_shell`), it also answers story and
    section addresses with their own head, for link previews and search engines. `serves_engine`: the
    collector, the Signals API, the interventions stream and the engine's routes too, which need the
    engine in this process (not so in a UI worker of a cluster, whose engine is a service of its own).
    """

    def engine() -> Newsroom:
        room = newsroom()
        if not isinstance(room, Newsroom):
            raise TypeError("the engine's routes need the engine in this process (remote mode has none)")
        return room

    async def recommended_articles(request: Request) -> JSONResponse:
        domain_userid = request.query_params.get("domain_userid", "")
        if not domain_userid:
            return json_error(400, "query parameter 'domain_userid' is required")
        if not is_domain_userid(domain_userid):
            return json_error(400, f"query parameter 'domain_userid' must be a UUID, got {domain_userid[:64]!r}")
        raw_count = request.query_params.get("count", "3")
        if not raw_count.isdigit() or not 1 <= int(raw_count) <= MAX_RECOMMENDATIONS:
            return json_error(400, f"query parameter 'count' must be a whole number from 1 to {MAX_RECOMMENDATIONS}")
        try:
            context = request_context(request, clock)
        except ValueError as exc:
            return json_error(400, str(exc))
        room = newsroom()
        if (refusal := may_read(request, room, domain_userid.lower())) is not None:
            return refusal
        # Blocking (the newsroom's lock; in remote mode the Signals API, up to its timeout): off the loop.
        document = await asyncio.to_thread(
            contextual_document, room.views, domain_userid.lower(), context, int(raw_count)
        )
        return JSONResponse(document, headers={"Cache-Control": "no-store"})

    async def experiments(request: Request) -> JSONResponse:
        """`GET /api/experiments`: status, exposures, SRM, lifts and verdict of every experiment."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return json_error(403, "the experiments API needs the API token (Authorization: Bearer <token>)")
        document = await asyncio.to_thread(experiments_document, room)
        return JSONResponse(document, headers={"Cache-Control": "no-store"})

    async def experiment(request: Request) -> JSONResponse:
        """`GET /api/experiments/<name>`: one experiment's report."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return json_error(403, "the experiments API needs the API token (Authorization: Bearer <token>)")
        name = request.path_params["name"]
        found = room.experiments.get(name)
        if found is None:
            known = ", ".join(e.name for e in room.experiments.all) or "none"
            return json_error(404, f"no experiment named {name[:64]!r} (known: {known})")
        report = await asyncio.to_thread(room.experiments.report, found)
        return JSONResponse(experiment_document(report), headers={"Cache-Control": "no-store"})

    async def digest_preview(request: Request) -> JSONResponse:
        """`GET /api/digests/preview?user_id=`: what that reader's next digest says (editors; nothing tracked)."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return json_error(403, "digest previews need the API token (Authorization: Bearer <token>)")
        user_id = request.query_params.get("user_id", "").strip()
        if not user_id:
            return json_error(400, "query parameter 'user_id' is required")
        try:
            mail = await asyncio.to_thread(room.digests.preview, user_id)
        except DigestError as exc:
            return json_error(404, f"{exc} ({user_id[:64]!r})")
        document = {"user_id": user_id, "subject": mail.subject, "html": mail.html, "text": mail.text}
        return JSONResponse(document, headers={"Cache-Control": "no-store"})

    async def digest_send(request: Request) -> JSONResponse:
        """`POST /api/digests/send` (optionally `{"user_ids": [...]}`): this period's digests now, each at most once."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return json_error(403, "sending digests needs the API token (Authorization: Bearer <token>)")
        body = await request.body()
        user_ids: list[str] | None = None
        if body.strip():
            try:
                document = json.loads(body)
            except ValueError:
                return json_error(400, 'the body must be JSON, e.g. {"user_ids": ["<user id>"]}, or empty')
            raw = document.get("user_ids") if isinstance(document, dict) else None
            if not isinstance(raw, list) or not all(isinstance(u, str) and u for u in raw):
                return json_error(400, "'user_ids' must be a list of account ids (leave the body empty for everyone)")
            user_ids = raw
        report = await asyncio.to_thread(room.digests.send_now, user_ids)
        return JSONResponse(report.as_json(), headers={"Cache-Control": "no-store"})

    async def one_click_unsubscribe(request: Request) -> JSONResponse:
        """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` here; the signed token says who. No sign-in."""
        room = newsroom()
        try:
            ended = await asyncio.to_thread(room.digests.unsubscribe_with, request.query_params.get("token", ""))
        except DigestError as exc:
            return json_error(400, str(exc))
        return JSONResponse({"unsubscribed": True, "changed": ended}, headers={"Cache-Control": "no-store"})

    async def to_the_collector(request: Request) -> Response:
        """A UI worker of a cluster passes the collector's GET addresses (a mail's open pixel `/i` and click
        redirect `/r/tp2`, built on `PUBLIC_API_URL`) to the engine service, which owns the collector; the
        reader's user agent and address go with them, as a proxy in front of a collector sends them."""
        room = newsroom()
        if not isinstance(room, RemoteNewsroom):
            return json_error(404, f"no API route {request.url.path}")
        headers = {"User-Agent": request.headers.get("user-agent", "")}
        if request.client is not None and "sp-anonymous" not in request.headers:
            headers["X-Forwarded-For"] = request.headers.get("x-forwarded-for") or request.client.host
        try:
            answer = await asyncio.to_thread(room.remote.client.forward, request.url.path, request.url.query, headers)
        except EngineUnavailableError:
            return json_error(503, "the collector cannot be reached just now; try again in a moment")
        kept = {k: v for k, v in answer.headers.items() if k.lower() in FORWARDED_HEADERS}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    async def worker_health(_request: Request) -> JSONResponse:
        """A UI worker's `/api/health`: its stories, and the engine's counts (503 while the engine is away)."""
        room = newsroom()
        try:
            counts = await asyncio.to_thread(room.event_counts)
        except RuntimeError as exc:
            return json_error(503, f"the engine cannot be reached: {exc}")
        return JSONResponse({"status": "ok", "articles": len(room.corpus), "events": counts})

    async def unknown_api_route(request: Request) -> JSONResponse:
        return json_error(404, f"no API route {request.url.path}")

    pages = story_page_routes(newsroom, page_shell, SECTION_BLURBS, public_api_url) if page_shell is not None else []
    return Starlette(
        routes=[
            *pages,
            Route("/api/recommended-articles", recommended_articles, methods=["GET"]),
            Route("/api/experiments", experiments, methods=["GET"]),
            Route("/api/experiments/{name}", experiment, methods=["GET"]),
            Route("/api/digests/preview", digest_preview, methods=["GET"]),
            Route("/api/digests/send", digest_send, methods=["POST"]),
            Route(ONE_CLICK_PATH, one_click_unsubscribe, methods=["POST"]),
            *publishing_routes(newsroom),
            # The engine's routes where the engine is this process; a UI worker of a cluster has only a health check.
            *(
                engine_routes(engine)
                if serves_engine
                else [
                    Route("/api/health", worker_health, methods=["GET"]),
                    Route(PIXEL_PATH, to_the_collector, methods=["GET"]),
                    Route(REDIRECT_PATH, to_the_collector, methods=["GET"]),
                ]
            ),
            Route("/api/{path:path}", unknown_api_route, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ],
        exception_handlers={HTTPException: http_exception},
    )
