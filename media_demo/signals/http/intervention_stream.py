"""Interventions over HTTP, as Signals serves them: a Server-Sent Events stream per target.

`GET /api/v1/interventions?domain_userid=<id>` (or `domain_sessionid`, or
several) streams `data: {"intervention_id", "name", "version", "attributes",
"target_attribute_key": {"name", "id"}}` lines, the format the SDK's
`pull_interventions` parses. `POST /api/v1/interventions` pushes one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import orjson
from pydantic import ValidationError
from snowplow_signals import InterventionInstance
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.http.auth import authorised

if TYPE_CHECKING:
    from media_demo.newsroom import Newsroom

PATH = "/api/v1/interventions"
TARGET_KEYS = ("domain_userid", "domain_sessionid", "user_id", "network_userid")
KEEPALIVE_SECONDS = 15.0
MAX_ID_CHARS = 128


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, "detail": message}, status_code=status)


def _targets(request: Request) -> dict[str, set[str]] | str:
    """The targets named in the query string, or an error message."""
    targets: dict[str, set[str]] = {}
    for key, value in request.query_params.multi_items():
        if key not in TARGET_KEYS:
            return f"unknown attribute key {key!r}; use one of {list(TARGET_KEYS)}"
        if not value or len(value) > MAX_ID_CHARS:
            return f"attribute key {key!r}: the id must be 1 to {MAX_ID_CHARS} characters"
        targets.setdefault(key, set()).add(value)
    return targets or "name at least one target, e.g. ?domain_userid=<id>"


def intervention_routes(newsroom: Callable[[], Newsroom]) -> list[Route]:
    def checked(request: Request) -> tuple[Newsroom, dict[str, set[str]]] | JSONResponse:
        """The newsroom and the targets of an authorised request, or the error to answer."""
        room = newsroom()
        if not authorised(request, room.api_token):
            return _error(401, "missing or wrong bearer token")
        targets = _targets(request)
        if isinstance(targets, str):
            return _error(422, targets)
        return room, targets

    async def stream(request: Request) -> Response:
        answer = checked(request)
        if isinstance(answer, JSONResponse):
            return answer
        room, targets = answer
        queue = room.bus.subscribe(targets)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b": subscribed\n\n"
                while True:
                    try:
                        fired = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield b": keep-alive\n\n"
                        continue
                    yield b"data: " + orjson.dumps(fired.as_json()) + b"\n\n"
            finally:
                room.bus.unsubscribe(queue)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def push(request: Request) -> Response:
        """The SDK's `push_intervention`: deliver one intervention to the targets in the query string."""
        answer = checked(request)
        if isinstance(answer, JSONResponse):
            return answer
        room, targets = answer
        try:
            instance = InterventionInstance.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": "invalid intervention", "status": 422, "detail": exc.errors()}, 422)
        delivered = room.bus.publish(
            FiredIntervention(
                intervention_id=instance.intervention_id or "",
                name=instance.name,
                version=instance.version,
                attributes=instance.attributes or {},
                target_name=key,
                target_id=target,
                fired_at=0.0,
            )
            for key, ids in targets.items()
            for target in ids
        )
        return JSONResponse({"status": "success" if delivered else "undelivered"})

    return [Route(PATH, stream, methods=["GET"]), Route(PATH, push, methods=["POST"])]
