"""A Snowplow-compatible collector, plus Snowplow-Micro-style inspection for tests.

Real trackers (JavaScript, Python, mobile) can point at this app: `POST
/com.snowplowanalytics.snowplow/tp2` takes their batches and `GET /i` their
pixel requests; `GET /r/tp2` records a click and redirects (the e-mail digests'
links; `redirect_problem` says where it may send anyone). Every payload goes through
the backend's `collect` (`SignalsBackend`), the same path as the app's in-process
emitter, so every route produces the same canonical events.

Two promises, as a real collector makes them:
- an answer of 200 means the events are durable (committed to the event log),
  so a tracker that gets no answer can retry without losing anything;
- nothing is dropped: a body or payload that cannot become an event is kept
  as a bad event with its reason (Snowplow's bad rows), and the answer is a
  4xx JSON, never a 500.
"""

from __future__ import annotations

import base64
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from media_demo.signals.engine.events import BadEvent, CanonicalEvent
from media_demo.signals.engine.timestamps import iso_millis
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.backend import SignalsBackend
from media_demo.signals.http.errors import json_error, unauthorised
from media_demo.signals.http.intake import Intake

logger = logging.getLogger(__name__)

TP2_PATH = "/com.snowplowanalytics.snowplow/tp2"
PIXEL_PATH = "/i"
REDIRECT_PATH = "/r/tp2"
# What the redirect records when the request names no event of its own (as Snowplow's collector does).
UNSTRUCT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
REDIRECT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/uri_redirect/jsonschema/1-0-0"
CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
REDIRECT_TRACKER = "r-tp2"  # the `tv` Snowplow gives events that came by the redirect
MAX_REDIRECT_CHARS = 8192  # the `uri_redirect` schema's limit
PIXEL_TRACKER = "no-js-"  # `tv` prefix of Snowplow's pixel tracker: a fixed URL, so no event id of its own
DEFAULT_PORTS = {"http": 80, "https": 443}
# Any 1-0-* revision of the batch envelope: they differ only in documentation and limits.
PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-"
MAX_BODY_BYTES = 1024 * 1024
DURABLE_SECONDS = 10.0  # a batch not committed by then is answered 503 (the tracker retries; nothing is lost)
# How much of an unusable body a bad event keeps: enough to debug, bounded so bad input cannot fill the disk.
BAD_COPY_CHARS = 64 * 1024
MICRO_DEFAULT_LIMIT = 100
MICRO_MAX_LIMIT = 10_000
# Bad-event reason prefixes, named after Snowplow's bad-row types.
FORMAT_VIOLATION = "collector_payload_format_violation"
SIZE_VIOLATION = "size_violation"
# The 1x1 transparent GIF every Snowplow collector answers pixel requests with.
PIXEL = base64.b64decode("R0lGODlhAQABAPAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate"}


def _json(document: Any) -> Response:
    return Response(orjson.dumps(document), media_type="application/json", headers=NO_CACHE)


def _cors(request: Request) -> dict[str, str]:
    """Like the Snowplow collector: any page may send events, with credentials (the JS tracker sets them)."""
    origin = request.headers.get("origin")
    if not origin:
        return {"Access-Control-Allow-Origin": "*"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def _copy(text: str | bytes) -> str:
    """What a bad event keeps of an unusable input: its text, cut at `BAD_COPY_CHARS`."""
    if isinstance(text, bytes):
        text = text[: BAD_COPY_CHARS * 4].decode("utf-8", errors="replace")
    return text[:BAD_COPY_CHARS]


def _bad(reason: str, copy: str | bytes) -> BadEvent:
    return BadEvent(reason=reason, payload=_copy(copy), received_at=time.time())


def _collector_fields(request: Request) -> dict[str, str]:
    """What the collector knows about the sender: its user agent and IP address.

    Used only where the tracker sent no `ua` / `ip` of its own, as in Snowplow;
    `SP-Anonymous` (the JS tracker's anonymous tracking) keeps the IP out.
    """
    fields: dict[str, str] = {}
    if user_agent := request.headers.get("user-agent"):
        fields["ua"] = user_agent
    if "sp-anonymous" not in request.headers:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if ip := forwarded or (request.client.host if request.client else ""):
            fields["ip"] = ip
    return fields


def _tracker_payload(item: dict[str, Any], collector: dict[str, str]) -> dict[str, Any]:
    """A payload as the tracker protocol has it: string values (as the in-process emitter sends them).

    Numbers and booleans from a lax JSON sender become strings; objects and lists are
    left for enrichment to reject with a reason.
    """
    payload: dict[str, Any] = dict(collector)
    for key, value in item.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        payload[key] = value
    return payload


def _collect(backend: SignalsBackend, items: list[Any], collector: dict[str, str], bad: list[BadEvent]) -> int:
    """Collect a batch (and log the bad events found before it); returns the highest event-log ticket (0: none).

    Blocking (the backend's lock): the intake thread runs it, never the event loop.
    """
    tickets = [backend.log.append(event) for event in bad]
    for index, item in enumerate(items):
        if isinstance(item, dict):
            tickets.append(backend.collect(_tracker_payload(item, collector)))
        else:
            reason = f"{FORMAT_VIOLATION}: payload {index} of the batch is a {type(item).__name__}, not an object"
            tickets.append(backend.log.append(_bad(reason, orjson.dumps(item))))
    return max(tickets, default=0)


async def _read_body(request: Request) -> tuple[bytes, bool]:
    """The body, read no further than `MAX_BODY_BYTES`; (body, True) when it is longer."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return bytes(body[:MAX_BODY_BYTES]), True
    return bytes(body), False


def _envelope_problem(document: Any) -> str | None:
    """Why a parsed body is not a `payload_data` batch, or None when it is one."""
    if not isinstance(document, dict) or "schema" not in document or "data" not in document:
        return "body must be a self-describing JSON object with 'schema' and 'data'"
    schema = document["schema"]
    if not (isinstance(schema, str) and schema.startswith(PAYLOAD_DATA_SCHEMA) and schema[-1:].isdigit()):
        return f"unsupported schema {str(schema)[:200]!r}, expected {PAYLOAD_DATA_SCHEMA}*"
    if not isinstance(document["data"], list):
        return f"'data' must be a list of tracker payloads, got {type(document['data']).__name__}"
    if not document["data"]:
        return "'data' is an empty list"
    return None


def _event_document(event: CanonicalEvent) -> dict[str, Any]:
    return {
        "atomic": event.atomic,
        "timestamp": event.timestamp,
        "event_schema": event.event_schema,
        "event_data": event.event_data,
        "entities": event.entities,
    }


def web_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) address, lower-cased, without a default port; else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != DEFAULT_PORTS[parts.scheme] else "")


def _bad_character(target: str) -> str | None:
    """What is wrong with the first character of `target` that has no place in a Location header, if any."""
    for char in target:
        if char == "\\":
            return "contains a backslash (browsers read it as a slash)"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"contains a control character ({ord(char):#04x})"
        if char.isspace():
            return "contains white space (percent-encode it)"
        if ord(char) > 0x7E:
            return "contains a character outside ASCII (percent-encode it)"
    return None


def redirect_problem(targets: list[str], allowed_origins: Collection[str]) -> str | None:
    """Why the redirect must not go to `targets` (the request's `u` values), or None when it may.

    No open redirect: exactly one `u`, an absolute http(s) address in printable ASCII, without
    user name or password, whose origin (scheme, host and port) is one of `allowed_origins`.
    So `//evil.example`, `javascript:...`, `https://site.example.evil.example` and
    `https://site.example@evil.example` are refused, and so is anything a browser might
    read differently from us (backslashes, control characters, white space).
    """
    if not targets or not targets[0]:
        return "query parameter 'u' (the address to redirect to) is missing"
    if len(targets) > 1:
        return f"query parameter 'u' is given {len(targets)} times; give it once"
    target = targets[0]
    if len(target) > MAX_REDIRECT_CHARS:
        return f"query parameter 'u' is longer than {MAX_REDIRECT_CHARS} characters ({len(target)})"
    if (problem := _bad_character(target)) is not None:
        return f"query parameter 'u' {problem}"
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. brackets around something that is not an IPv6 address
        return f"query parameter 'u' is not a valid address: {target[:200]!r}"
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        return f"query parameter 'u' must be an absolute http or https address, got {target[:200]!r}"
    if "@" in parts.netloc:
        return "query parameter 'u' must not carry a user name or password (user@host)"
    origin = web_origin(target)
    if origin is None:
        return f"query parameter 'u' has no valid host and port: {parts.netloc[:200]!r}"
    allowed = {o for o in map(web_origin, allowed_origins) if o is not None}
    if origin not in allowed:
        known = ", ".join(sorted(allowed)) or "none configured"
        return f"query parameter 'u' leads to {origin}, which is not this site (allowed: {known})"
    return None


def with_event_id(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with a fresh UUID4 `eid` when it has none.

    Only for requests that cannot carry a unique id: a pixel-tracker URL or a redirect link
    is fixed in a mail that may be opened many times. Snowplow's enrich gives such events
    an id; ours refuses events without one (replayed data must keep its ids), so the
    collector assigns it for these two kinds of request and no other.
    """
    return payload if payload.get("eid") else {**payload, "eid": str(uuid.uuid4())}


def _with_entity(payload: dict[str, Any], entity: dict[str, Any]) -> dict[str, Any]:
    """`payload` with `entity` first among its entities (as plain `co`); unchanged when its own `co`/`cx`
    cannot be read, so that enrichment refuses it with the reason."""
    plain, encoded = payload.get("co"), payload.get("cx")
    try:
        if plain:
            contexts = orjson.loads(plain)
        elif encoded:
            text = str(encoded)
            contexts = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        else:
            contexts = {"schema": CONTEXTS_SCHEMA, "data": []}
    except (ValueError, TypeError):  # not base64, not JSON
        return payload
    if not isinstance(contexts, dict) or not isinstance(contexts.get("data"), list):
        return payload
    contexts = {**contexts, "data": [entity, *contexts["data"]]}
    rest = {key: value for key, value in payload.items() if key != "cx"}
    return {**rest, "co": orjson.dumps(contexts).decode()}


def redirect_payload(params: dict[str, Any], target: str) -> dict[str, Any]:
    """The payload a redirect records, as Snowplow's enrich builds it from the query string minus `u`.

    The tracker's own event when the query names one (`e`), with a `uri_redirect` entity of
    `u`; else the `uri_redirect` event itself. `tv` says it came by the redirect (`r-tp2`),
    `p` is `web` unless given, and it gets an event id when it has none.
    """
    payload = {key: value for key, value in params.items() if key != "u"}
    redirect = {"schema": REDIRECT_SCHEMA, "data": {"uri": target}}
    if payload.get("e"):
        payload = _with_entity(payload, redirect)
    else:
        payload.pop("ue_px", None)
        payload.update(e="ue", ue_pr=orjson.dumps({"schema": UNSTRUCT_SCHEMA, "data": redirect}).decode())
    payload["tv"] = REDIRECT_TRACKER
    payload["p"] = payload.get("p") or "web"
    return with_event_id(payload)


def _limit(request: Request) -> int:
    """The `?limit=` of a `/micro` listing; ValueError with the reason when it is not 1..MICRO_MAX_LIMIT."""
    raw = request.query_params.get("limit", str(MICRO_DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MICRO_MAX_LIMIT:
        raise ValueError(f"query parameter 'limit' must be a whole number from 1 to {MICRO_MAX_LIMIT}")
    return int(raw)


def _no_redirects() -> tuple[str, ...]:
    return ()


def collector_routes(
    get_backend: Callable[[], SignalsBackend],
    *,
    micro: bool = True,
    redirect_origins: Callable[[], Collection[str]] = _no_redirects,
) -> list[Route]:
    """The collector's routes; `get_backend` is called per request so tests can supply their own.

    `micro=False` leaves out the `/micro/*` inspection routes, whose reset deletes
    the whole event log: they are meant for tests and local development.
    `redirect_origins` (called per request) lists the origins `GET /r/tp2` may send
    anyone to, e.g. the site's and the API's; by default none, so every redirect is refused.
    """
    intake = Intake()

    async def ingest(request: Request, items: list[Any], bad: list[BadEvent] | None = None) -> Response | None:
        """Collect on the intake thread and wait for the commit; None when durable, else a 503 (trackers retry it)."""
        backend, fields = get_backend(), _collector_fields(request)
        try:
            work = functools.partial(_collect, backend, items, fields, bad or [])
            await intake.submit(backend.log, work, DURABLE_SECONDS)
        except Exception:
            logger.exception("collector: could not make a batch durable")
            return json_error(503, "the event log could not store the events; retry later", headers=_cors(request))
        return None

    async def reject(request: Request, status: int, reason: str, copy: str | bytes) -> Response:
        """Keep an unusable body as a bad event, then answer `status` with the reason."""
        failed = await ingest(request, [], [_bad(reason, copy)])
        return failed or json_error(status, reason, headers=_cors(request))

    async def tp2(request: Request) -> Response:
        cors = _cors(request)
        if request.method == "OPTIONS":  # CORS preflight of the JS tracker's POST
            requested = request.headers.get("access-control-request-headers", "Content-Type, SP-Anonymous")
            preflight = {
                "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
                "Access-Control-Allow-Headers": requested,
            }
            return Response(status_code=200, headers={**cors, **preflight, "Access-Control-Max-Age": "3600"})
        try:
            body, too_large = await _read_body(request)
        except ClientDisconnect:  # nothing was received whole, and nobody is listening for the answer
            return json_error(400, "the client disconnected before the body was complete", headers=cors)
        if too_large:
            declared = request.headers.get("content-length", "unknown")
            reason = (
                f"{SIZE_VIOLATION}: body is over the {MAX_BODY_BYTES}-byte limit (Content-Length {declared}); "
                f"its first {BAD_COPY_CHARS} characters are kept"
            )
            return await reject(request, 413, reason, body)
        if not body.strip():
            return await reject(request, 400, f"{FORMAT_VIOLATION}: the body is empty", body)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return await reject(request, 400, f"{FORMAT_VIOLATION}: the body is not valid JSON ({exc})", body)
        if (problem := _envelope_problem(document)) is not None:
            return await reject(request, 400, f"{FORMAT_VIOLATION}: {problem}", body)
        # A well-formed batch is accepted whole; its bad payloads go to the bad events.
        failed = await ingest(request, document["data"])
        return failed or PlainTextResponse("ok", headers={**cors, **NO_CACHE})

    async def pixel(request: Request) -> Response:
        """The GET tracker: the query string is one payload; the pixel answers good and bad ones alike.

        A pixel-tracker request (`tv=no-js-*`) without an `eid` gets one (`with_event_id`).
        """
        payload = dict(request.query_params)
        if str(payload.get("tv", "")).startswith(PIXEL_TRACKER):
            payload = with_event_id(payload)
        failed = await ingest(request, [payload])
        return failed or Response(PIXEL, media_type="image/gif", headers={**_cors(request), **NO_CACHE})

    async def redirect(request: Request) -> Response:
        """`GET /r/tp2?u=<target>&<tracker payload>`: record the click, then 302 to the target.

        The query string is one tracker payload plus `u`. The event is the tracker's own when
        it names one (`e`), else a `uri_redirect` of `u` (with whatever entities `cx`/`co` carry);
        without an `eid` it gets one. The answer comes once the event is durable, good or bad,
        like the pixel's. A target `redirect_problem` refuses is kept as a bad event and answered
        400. The answer never sets a cookie, and nothing here signs anyone in.
        """
        targets = request.query_params.getlist("u")
        if (problem := redirect_problem(targets, redirect_origins())) is not None:
            return await reject(request, 400, f"{FORMAT_VIOLATION}: {problem}", request.url.query)
        failed = await ingest(request, [redirect_payload(dict(request.query_params), targets[0])])
        return failed or Response(status_code=302, headers={"Location": targets[0], "Cache-Control": "no-store"})

    async def micro_all(_request: Request) -> Response:
        backend = get_backend()
        await run_in_threadpool(backend.log.flush)  # in-process events too, not only acknowledged ones
        counts = await run_in_threadpool(backend.log.counts)
        return _json({"total": counts["good"] + counts["bad"], **counts})

    async def micro_good(request: Request) -> Response:
        """Recent good events, newest first, as canonical-event documents."""
        try:
            limit = _limit(request)
        except ValueError as exc:
            return json_error(400, str(exc))
        backend = get_backend()
        await run_in_threadpool(backend.log.flush)
        events = await run_in_threadpool(backend.log.recent_events, limit)
        return _json([_event_document(event) for event in events])

    async def micro_bad(request: Request) -> Response:
        """Recent bad events, newest first, with their reasons."""
        try:
            limit = _limit(request)
        except ValueError as exc:
            return json_error(400, str(exc))
        backend = get_backend()
        await run_in_threadpool(backend.log.flush)
        rows = await run_in_threadpool(backend.log.bad_events, limit)
        return _json(
            [{"reason": r.reason, "payload": r.payload, "received_at": iso_millis(r.received_at)} for r in rows]
        )

    async def micro_reset(_request: Request) -> Response:
        """Forget every event: log, attributes and read counts."""
        await run_in_threadpool(get_backend().reset)
        return _json({"total": 0, "good": 0, "bad": 0})

    def token_only(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The micro routes show every reader's events: they need the API token, like /api/v1/."""

        async def guarded(request: Request) -> Response:
            if not authorised(request, get_backend().api_token):
                return unauthorised()
            return await handler(request)

        return guarded

    routes = [
        Route(TP2_PATH, tp2, methods=["POST", "OPTIONS"]),
        Route(PIXEL_PATH, pixel, methods=["GET"]),
        Route(REDIRECT_PATH, redirect, methods=["GET"]),
    ]
    if micro:
        routes += [
            Route("/micro/all", token_only(micro_all), methods=["GET"]),
            Route("/micro/good", token_only(micro_good), methods=["GET"]),
            Route("/micro/bad", token_only(micro_bad), methods=["GET"]),
            Route("/micro/reset", token_only(micro_reset), methods=["GET", "POST"]),
        ]
    return routes
