"""The attribute engine's HTTP routes, in one list: what the engine service serves, and the Reflex backend too.

The collector (Snowplow's paths and `/micro/`), the Signals API (`/api/v1/`), the interventions
stream, the right to be forgotten (`DELETE /api/v1/readers`) and `/api/health`. Every one of them
reads or writes events and attributes, which exactly one process owns: embedded, the Reflex backend
(`media_demo.api.build_api` mounts this list); scaled out, the engine service
(`media_demo.engine_service`), and nothing else. The newsroom's reader-facing routes
(recommendations, story pages, publishing, experiments) are not here: see `build_api`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from media_demo.newsroom import Newsroom
from media_demo.reads_api import reads_routes
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.collector import collector_routes
from media_demo.signals.http.errors import json_error, unauthorised
from media_demo.signals.http.intervention_stream import intervention_routes
from media_demo.signals.http.signals_api import signals_routes
from media_demo.tracking import is_domain_userid

MAX_USER_ID = 255
READERS_PATH = "/api/v1/readers"
HEALTH_PATH = "/api/health"


def engine_routes(newsroom: Callable[[], Newsroom]) -> list[BaseRoute]:
    """The engine's routes; `newsroom` is called per request so tests (and the service's lifespan) supply it.

    The collector comes first: its POSTs are most of the traffic, and Starlette tries the routes in order
    (no other route overlaps its paths). `DELETE /api/v1/readers` comes before the Signals API, whose
    catch-all answers every other `/api/v1/` path.
    """

    async def forget_reader(request: Request) -> JSONResponse:
        """`DELETE /api/v1/readers?domain_userid=<id>&user_id=<id>`: the right to be forgotten, by API."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return unauthorised("deleting a reader needs the API token (Authorization: Bearer <token>)")
        devices = request.query_params.getlist("domain_userid")
        user_id = request.query_params.get("user_id") or None
        if not devices and not user_id:
            return json_error(400, "name the reader: query parameter 'domain_userid' (repeatable) and/or 'user_id'")
        if bad := [d for d in devices if not is_domain_userid(d)]:
            return json_error(400, f"query parameter 'domain_userid' must be a UUID, got {bad[0][:64]!r}")
        if user_id is not None and (len(user_id) > MAX_USER_ID or not user_id.strip()):
            return json_error(400, f"query parameter 'user_id' must be 1 to {MAX_USER_ID} characters")
        deleted = await asyncio.to_thread(room.privacy.forget_reader, [d.lower() for d in devices], user_id)
        return JSONResponse({"deleted": deleted}, headers={"Cache-Control": "no-store"})

    def redirect_origins() -> tuple[str, str]:
        """Where the collector's click redirect may send a reader: the site and its own backend."""
        settings = newsroom().settings
        return settings.site_url, settings.public_api_url

    async def health(_request: Request) -> JSONResponse:
        """`GET /api/health`: up, the stories it knows and the events committed (good and bad)."""
        room = newsroom()
        counts = await asyncio.to_thread(room.log.counts)
        return JSONResponse({"status": "ok", "articles": len(room.corpus), "events": counts})

    return [
        *collector_routes(newsroom, redirect_origins=redirect_origins),
        Route(HEALTH_PATH, health, methods=["GET"]),
        Route(READERS_PATH, forget_reader, methods=["DELETE"]),
        *intervention_routes(newsroom),
        *reads_routes(newsroom),
        *signals_routes(newsroom),
    ]
