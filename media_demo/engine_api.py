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
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from media_demo.newsroom import Newsroom
from media_demo.reads_api import reads_routes
from media_demo.services.batch import gid_of
from media_demo.signals.batch.compute import attribute_names
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.collector import collector_routes
from media_demo.signals.http.errors import json_error, unauthorised
from media_demo.signals.http.intervention_stream import intervention_routes
from media_demo.signals.http.signals_api import signals_routes
from media_demo.tracking import is_domain_userid

MAX_USER_ID = 255
READERS_PATH = "/api/v1/readers"
HEALTH_PATH = "/api/health"
BATCH_PATH = "/api/batch"


def batch_document(room: Newsroom) -> dict[str, Any]:
    """Every batch group, its kind, and its last run: when it was computed, how many rows, what was rejected."""
    groups = []
    for group in room.batch.groups():
        gid = gid_of(group)
        run = room.batch.values.run(gid)
        groups.append(
            {
                "group": gid,
                "kind": "external" if group.fields else "batch",
                "attribute_key": group.attribute_key.name,
                "attributes": attribute_names(group),
                "builtin": group.name in room.batch.builtin_names,
                "last_run": run.as_json() if run is not None else None,
            }
        )
    return {"interval_seconds": room.batch.interval, "groups": groups}


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

    async def batch_status(request: Request) -> JSONResponse:
        """`GET /api/batch`: the batch groups and the freshness of each (API token)."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return unauthorised("the batch engine's status needs the API token (Authorization: Bearer <token>)")
        return JSONResponse(batch_document(room), headers={"Cache-Control": "no-store"})

    async def batch_run(request: Request) -> JSONResponse:
        """`POST /api/batch/run` (optionally `{"groups": ["name_v1", ...]}`): run the batch groups now."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return unauthorised("running the batch engine needs the API token (Authorization: Bearer <token>)")
        body = (await request.body()).strip()
        only: list[str] | None = None
        if body:
            try:
                document = json.loads(body)
            except ValueError:
                return json_error(400, 'the body must be JSON, e.g. {"groups": ["reading_history_v1"]}, or empty')
            raw = document.get("groups") if isinstance(document, dict) else None
            if not isinstance(raw, list) or not all(isinstance(g, str) for g in raw):
                return json_error(400, "'groups' must be a list of group ids such as 'reading_history_v1'")
            if unknown := [g for g in raw if not room.batch.is_batch(g)]:
                return json_error(404, f"no batch group {unknown[0][:64]!r}; GET {BATCH_PATH} lists them")
            only = raw
        runs = await asyncio.to_thread(room.batch.run, only)
        return JSONResponse({"runs": [r.as_json() for r in runs]}, headers={"Cache-Control": "no-store"})

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
        Route(BATCH_PATH, batch_status, methods=["GET"]),
        Route(BATCH_PATH + "/run", batch_run, methods=["POST"]),
        *intervention_routes(newsroom),
        *reads_routes(newsroom),
        *signals_routes(newsroom),
    ]
