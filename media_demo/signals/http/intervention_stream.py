"""Interventions over HTTP, as Signals serves them: a Server-Sent Events stream per target.

`GET /api/v1/interventions?domain_userid=<id>` (or `domain_sessionid`, or
several) streams `data: {"intervention_id", "name", "version", "attributes",
"target_attribute_key": {"name", "id"}}` lines, the format the SDK's
`pull_interventions` parses. `POST /api/v1/interventions` pushes one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import orjson
from pydantic import ValidationError
from snowplow_signals import InterventionInstance
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.backend import SignalsBackend
from media_demo.signals.http.errors import json_error, unauthorised
from media_demo.signals.storage.registry import validation_errors

PATH = "/api/v1/interventions"
TARGET_KEYS = ("domain_userid", "domain_sessionid", "user_id", "network_userid")
KEEPALIVE_SECONDS = 15.0
MAX_ID_CHARS = 128


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


def intervention_routes(get_backend: Callable[[], SignalsBackend]) -> list[Route]:
    """The interventions routes; `get_backend` is called per request so tests can supply their own."""

    def checked(request: Request) -> tuple[SignalsBackend, dict[str, set[str]]] | JSONResponse:
        """The backend and the targets of an authorised request, or the error to answer."""
        backend = get_backend()
        if not authorised(request, backend.api_token):
            return unauthorised()
        targets = _targets(request)
        if isinstance(targets, str):
            return json_error(422, targets)
        return backend, targets

    async def stream(request: Request) -> Response:
        answer = checked(request)
        if isinstance(answer, JSONResponse):
            return answer
        backend, targets = answer
        queue = backend.bus.subscribe(targets)

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
                backend.bus.unsubscribe(queue)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def push(request: Request) -> Response:
        """The SDK's `push_intervention`: deliver one intervention to the targets in the query string."""
        answer = checked(request)
        if isinstance(answer, JSONResponse):
            return answer
        backend, targets = answer
        try:
            instance = InterventionInstance.model_validate_json(await request.body())
        except ValidationError as exc:
            return json_error(422, "invalid intervention", detail=validation_errors(exc))
        delivered = backend.bus.publish(
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
