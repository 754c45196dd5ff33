"""The engine's reads beyond the Signals API, for the UI workers of a cluster (`/api/engine/...`).

A UI worker reads a reader's attributes through the Signals API like any client; what a
newspaper needs besides (the reader's consent and devices, everyone's reading, the
inspector's events, experiment outcomes) comes from these routes, and what happens in
the engine (interventions fired, readers forgotten, events applied) from one
Server-Sent Events feed that every worker follows. All need the API token: they are
for the newsroom's own processes, not for browsers. `RemoteReads` is their client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from media_demo.newsroom import Newsroom
from media_demo.recommend import PopularitySnapshot
from media_demo.services.experiments import collector_resting
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.errors import json_error, unauthorised
from media_demo.tracking import is_domain_userid

PREFIX = "/api/engine"
MAX_EVENTS = 200
MAX_ID_CHARS = 255
FEED_KEEPALIVE_SECONDS = 10.0
FEED_COALESCE_SECONDS = 0.05  # "applied" notices are sent in batches this often, not one line per event
FEED_QUEUE = 10_000  # notices held for one slow follower before it is cut off (it reconnects and carries on)
NO_STORE = {"Cache-Control": "no-store"}

Handler = Callable[[Request, Newsroom], Awaitable[Response]]


def intervention_json(fired: FiredIntervention) -> dict[str, Any]:
    """A fired intervention as the engine sends it to workers: the SDK's shape plus when it fired."""
    return {**fired.as_json(), "fired_at": fired.fired_at}


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EVENTS:
        raise ValueError(f"query parameter 'limit' must be a whole number from 1 to {MAX_EVENTS}")
    return int(raw)


def _reader(request: Request) -> str:
    reader = request.path_params["domain_userid"]
    if not is_domain_userid(reader):
        raise ValueError(f"domain_userid must be a UUID, got {reader[:64]!r}")
    return str(reader).lower()


def reads_routes(newsroom: Callable[[], Newsroom]) -> list[Route]:
    """The routes; `newsroom` is called per request so tests can supply their own."""

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            room = newsroom()
            if not authorised(request, room.api_token):
                return unauthorised("the engine's API is for the newsroom's processes: it needs the API token")
            try:
                return await handler(request, room)
            except ValueError as exc:
                return json_error(400, str(exc))

        return endpoint

    async def consent(request: Request, room: Newsroom) -> Response:
        choice = await asyncio.to_thread(room.reads.consent_of, _reader(request))  # (the engine's lock: off the loop)
        return JSONResponse({"consent": choice.as_json() if choice is not None else None}, headers=NO_STORE)

    async def interventions(request: Request, room: Newsroom) -> Response:
        fired = await asyncio.to_thread(room.reads.recent_interventions, _reader(request))
        return JSONResponse({"interventions": [intervention_json(f) for f in fired]}, headers=NO_STORE)

    async def events(request: Request, room: Newsroom) -> Response:
        reader, limit = _reader(request), _limit(request, 50)
        found = await asyncio.to_thread(room.reads.reader_events, reader, limit)  # waits for the group commit
        body = b'{"events":[' + b",".join(e.to_json() for e in found) + b"]}"
        return Response(body, media_type="application/json", headers=NO_STORE)

    async def bad_events(request: Request, room: Newsroom) -> Response:
        reader, limit = _reader(request), _limit(request, 50)
        rows = await asyncio.to_thread(room.reads.reader_bad_events, reader, limit)
        found = [{"received_at": r.received_at.isoformat(), "reason": r.reason, "payload": r.payload} for r in rows]
        return JSONResponse({"bad_events": found}, headers=NO_STORE)

    async def groups(request: Request, room: Newsroom) -> Response:
        ids = {"domain_userid": _reader(request)}
        ids |= {k: v for k, v in request.query_params.items() if k != "domain_userid" and 0 < len(v) <= MAX_ID_CHARS}
        found = await asyncio.to_thread(room.reads.reader_groups, ids)
        body = [
            {"group": g.model_dump(mode="json", by_alias=True), "attributes": values, "computed_at": computed}
            for g, values, computed in found
        ]
        return Response(orjson.dumps({"groups": body}, default=str), media_type="application/json", headers=NO_STORE)

    async def devices(request: Request, room: Newsroom) -> Response:
        user_id = request.path_params["user_id"]
        if not 0 < len(user_id) <= MAX_ID_CHARS:
            raise ValueError(f"user_id must be 1 to {MAX_ID_CHARS} characters")
        return JSONResponse({"devices": await asyncio.to_thread(room.reads.devices, user_id)}, headers=NO_STORE)

    async def popularity(request: Request, room: Newsroom) -> Response:
        """Everyone's read counts; `If-None-Match` with the last ETag answers 304 while nothing changed."""

        def snapshot(known: str | None) -> tuple[str, PopularitySnapshot | None]:
            with room.memory.lock:  # in a thread: the lock, and sorting every story, stay off the loop
                stats = room.memory.read_stats
                etag = f'"{id(stats)}-{stats.version}"'  # (a reset makes new counts, with their own versions)
                return etag, None if known == etag else stats.snapshot()

        etag, found = await asyncio.to_thread(snapshot, request.headers.get("if-none-match"))
        if found is None:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(
            orjson.dumps(found.as_json()), media_type="application/json", headers={**NO_STORE, "ETag": etag}
        )

    async def coreads(request: Request, room: Newsroom) -> Response:
        limit = _limit(request, 20)

        def also_read(slug: str) -> list[tuple[str, float]]:
            with room.reads.everyone() as everyone:
                return everyone.coreads.also_read(slug, limit)

        found = await asyncio.to_thread(also_read, request.path_params["slug"])
        return JSONResponse({"also_read": [[slug, score] for slug, score in found]}, headers=NO_STORE)

    async def state(request: Request, room: Newsroom) -> Response:
        group, raw_version, entity = (request.path_params[k] for k in ("group", "version", "entity"))
        if not raw_version.isdigit():
            raise ValueError(f"version must be a whole number, got {raw_version[:16]!r}")
        held = await asyncio.to_thread(room.reads.has_state, group, int(raw_version), entity)
        return JSONResponse({"has_state": held}, headers=NO_STORE)

    async def outcomes(request: Request, room: Newsroom) -> Response:
        name = request.path_params["name"]
        experiment = room.experiments.get(name)
        if experiment is None:
            return json_error(404, f"no experiment named {name[:64]!r}")
        now = time.time()

        def body() -> bytes:  # one object per exposed reader: serialised before any collection sees them
            with collector_resting():
                units, visits = room.experiments.outcomes(experiment), room.experiments.visits(experiment)
                return orjson.dumps({"now": now, "units": units, "visits": visits})

        return Response(await asyncio.to_thread(body), media_type="application/json", headers=NO_STORE)

    async def feed(request: Request, room: Newsroom) -> Response:
        return StreamingResponse(
            _feed(room, request), media_type="text/event-stream", headers={**NO_STORE, "X-Accel-Buffering": "no"}
        )

    def route(path: str, handler: Handler) -> Route:
        return Route(PREFIX + path, guarded(handler), methods=["GET"])

    return [
        route("/readers/{domain_userid}/consent", consent),
        route("/readers/{domain_userid}/interventions", interventions),
        route("/readers/{domain_userid}/events", events),
        route("/readers/{domain_userid}/bad-events", bad_events),
        route("/readers/{domain_userid}/groups", groups),
        route("/users/{user_id}/devices", devices),
        route("/popularity", popularity),
        route("/coreads/{slug}", coreads),
        route("/state/{group}/{version}/{entity:path}", state),
        route("/experiments/{name}/outcomes", outcomes),
        route("/feed", feed),
    ]


async def _feed(room: Newsroom, request: Request) -> AsyncIterator[bytes]:
    """What happens in the engine, as Server-Sent Events: `intervention` (each one fired), `forgotten`
    (readers deleted: their devices and user ids) and `applied` (readers whose events were just applied,
    in batches), with a comment line every few seconds so a dead connection is noticed."""
    loop = asyncio.get_running_loop()
    notices: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(FEED_QUEUE)
    overflowed = asyncio.Event()

    def hand_over(kind: str, data: Any) -> None:
        def put() -> None:
            try:
                notices.put_nowait((kind, data))
            except asyncio.QueueFull:
                overflowed.set()

        loop.call_soon_threadsafe(put)

    fired = room.bus.subscribe(None, size=FEED_QUEUE)
    stop_forgotten = room.privacy.on_forget(
        lambda devices, users: hand_over("forgotten", {"devices": sorted(devices), "users": sorted(users)})
    )
    stop_applied = room.ingest.on_event(
        lambda e: hand_over("applied", reader) if (reader := e.atomic.get("domain_userid")) else None
    )

    async def forward_interventions() -> None:
        while True:
            item = await fired.get()
            await notices.put(("intervention", intervention_json(item)))

    forwarder = asyncio.create_task(forward_interventions())
    try:
        yield b": engine feed\n\n"
        # Asked only when idle: under granian, asking between notices can report a disconnect that is not one.
        while not overflowed.is_set():
            try:
                kind, data = await asyncio.wait_for(notices.get(), FEED_KEEPALIVE_SECONDS)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keepalive\n\n"
                continue
            batch = [(kind, data)]
            if kind == "applied":  # a burst of events becomes one line per batch of readers
                await asyncio.sleep(FEED_COALESCE_SECONDS)
            while not notices.empty():
                batch.append(notices.get_nowait())
            readers = sorted({data for kind, data in batch if kind == "applied"})
            lines = [_event(kind, data) for kind, data in batch if kind != "applied"]
            if readers:
                lines.append(_event("applied", readers))
            yield b"".join(lines)
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarder
        room.bus.unsubscribe(fired)
        stop_forgotten()
        stop_applied()


def _event(kind: str, data: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
