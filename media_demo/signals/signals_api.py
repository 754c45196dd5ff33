"""The Signals-compatible HTTP API under `/api/v1/`, for the official `snowplow-signals` SDK.

`SignalsSandbox(api_url=..., sandbox_token=...)` works against this backend:
`publish()` stores definitions in the durable registry and makes the engine
evaluate stream attribute groups; `get_service_attributes()` and
`get_group_attributes()` read the engine. Paths, bodies, status codes and
response shapes follow what the SDK sends and parses (POST answers 400 when
the object exists, which is the SDK's cue to PUT). Every route needs the
bearer token; every error is JSON with a 4xx status.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast, get_args

from pydantic import BaseModel, ValidationError
from snowplow_signals import AtomicProperty, Service, StreamAttributeGroup
from snowplow_signals.models import GetAttributeGroupAttributesRequest, GetServiceAttributesRequest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from media_demo.signals.auth import authorised
from media_demo.signals.engine import compile_group, group_id
from media_demo.signals.registry import (
    InvalidDefinitionError,
    Kind,
    definition_version,
    parse_definition,
    to_json,
    validation_errors,
)

if TYPE_CHECKING:
    from media_demo.newsroom import Newsroom

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY_BYTES = 1_000_000
MAX_IDENTIFIERS = 1_000
QUALIFIED_NAME = re.compile(r"^(?P<group>[A-Za-z0-9_]+)_v(?P<version>[0-9]+):(?P<attribute>[A-Za-z0-9_]+)$")
ATOMIC_FIELDS = frozenset(get_args(AtomicProperty.model_fields["name"].annotation))
Params = Mapping[str, str]
Handler = Callable[["Newsroom", Params, bytes], Response]


class ApiError(Exception):
    """An answer other than success: becomes a JSON error with this status."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail

    def response(self) -> JSONResponse:
        return api_error(self.status, self.message, self.detail)


def api_error(status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The project's error shape (`error`, `status`) plus FastAPI's `detail`, which Signals clients know."""
    body = {"error": message, "status": status, "detail": message if detail is None else detail}
    return JSONResponse(body, status_code=status, headers=headers)


def json_safe(value: Any) -> Any:
    """Attribute values as strict JSON: NaN and infinities become null, sets and tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would accept NaN and Infinity


def _body_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"the request body is not valid JSON: {exc}") from exc


def _parse(kind: Kind, body: bytes) -> Any:
    try:
        return parse_definition(kind, _body_json(body))
    except InvalidDefinitionError as exc:
        raise ApiError(422, str(exc), exc.errors or None) from exc


def _version(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ApiError(422, f"version must be a whole number from 1, got {text[:32]!r}")
    return int(text)


def _same_identity(path_name: str, path_version: int | None, name: str, version: int | None) -> None:
    if path_name != name or (path_version is not None and path_version != (version or 1)):
        where = path_name if path_version is None else f"{path_name} v{path_version}"
        raise ApiError(422, f"the body defines {name} v{version or 1} but the URL names {where}")


def _ok(document: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(document, status_code=status)


# --- attribute groups -------------------------------------------------------------------------------------------


def _group_document(group: StreamAttributeGroup, published: bool | None = None) -> dict[str, Any]:
    """A group as the registry returns it: the SDK's JSON plus the read-only fields of `AttributeGroupResponse`."""
    document = to_json(group)
    if published is not None:
        document["is_published"] = published
    key = document["attribute_key"] = {**document["attribute_key"], "blobl_path": None}
    full_name = group_id(group.name, group.version or 1)
    document.update(
        attribute_key_or_name=key.get("key") or key.get("name"),
        full_name=full_name,
        feast_name=full_name,
        stream_source_name=None,
    )
    return document


def _builtin_group(room: Newsroom, name: str, version: int | None) -> StreamAttributeGroup | None:
    if name not in room.signals_registry.builtin_groups:
        return None
    versions = [g for g in room.engine.groups if g.name == name and (version is None or (g.version or 1) == version)]
    return max(versions, key=lambda g: g.version or 1) if versions else None


def _find_group(room: Newsroom, name: str, version: int | None) -> tuple[StreamAttributeGroup, bool]:
    """A built-in or stored group and whether it is published; 404 when there is none."""
    builtin = _builtin_group(room, name, version)
    if builtin is not None:
        return builtin, True
    stored = room.signals_registry.get("attribute_group", name, version)
    if stored is None or name in room.signals_registry.builtin_groups:
        raise ApiError(404, f"unknown attribute group {name!r}" + (f" version {version}" if version else ""))
    group = cast(StreamAttributeGroup, stored)
    return group, bool(group.is_published)


def _refuse_builtin(room: Newsroom, name: str) -> None:
    if name in room.signals_registry.builtin_groups:
        raise ApiError(409, f"attribute group {name!r} is built into the app and cannot be changed; use another name")


def _check_evaluable(group: StreamAttributeGroup) -> None:
    """Refuse what the embedded engine would evaluate wrongly rather than serve silently wrong values."""
    key = group.attribute_key
    field = key.name or ""
    legacy_key = to_json(key).get("key")  # read from the dump: the attribute itself warns it is deprecated
    if (
        field not in ATOMIC_FIELDS
        or (legacy_key is not None and legacy_key != field)
        or (key.property is not None and not (isinstance(key.property, AtomicProperty) and key.property.name == field))
    ):
        raise ApiError(
            422,
            f"attribute group {group.name!r}: the embedded engine keys groups by an atomic field named like the "
            f"attribute key; {field!r} is not one (use e.g. domain_userid, domain_sessionid, user_id)",
        )
    try:
        compile_group(group)
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(422, f"attribute group {group.name!r}: {exc}") from exc


def _evaluated(room: Newsroom, name: str, version: int) -> bool:
    return any((g.name, g.version or 1) == (name, version) for g in room.engine.groups)


def _unpublished_json(group: BaseModel) -> dict[str, Any]:
    document = to_json(group)
    document.pop("is_published", None)
    return document


def _save_group(room: Newsroom, group: StreamAttributeGroup) -> None:
    """Store the group, then have the engine evaluate it (again only if its definition changed)."""
    _check_evaluable(group)
    registry = room.signals_registry
    previous = registry.get("attribute_group", group.name, group.version or 1)
    registry.put("attribute_group", group)
    unchanged = previous is not None and _unpublished_json(previous) == _unpublished_json(group)
    if unchanged and _evaluated(room, group.name, group.version or 1):
        return  # re-publishing the same definition keeps the attributes computed so far
    if room.publish(group):
        room.backfill(group)


def create_group(room: Newsroom, _params: Params, body: bytes) -> Response:
    group: StreamAttributeGroup = _parse("attribute_group", body)
    _refuse_builtin(room, group.name)
    if room.signals_registry.get("attribute_group", group.name, group.version or 1) is not None:
        raise ApiError(
            400,
            f"attribute group {group.name} v{group.version or 1} already exists; "
            f"PUT {PREFIX}/registry/attribute_groups/{group.name}/versions/{group.version or 1} to change it",
        )
    _save_group(room, group)
    return _ok(_group_document(group), 201)


def update_group(room: Newsroom, params: Params, body: bytes) -> Response:
    version = _version(params["version"])
    group: StreamAttributeGroup = _parse("attribute_group", body)
    _same_identity(params["name"], version, group.name, group.version)
    _refuse_builtin(room, group.name)
    _save_group(room, group)
    return _ok(_group_document(group))


def get_group(room: Newsroom, params: Params, _body: bytes) -> Response:
    version = _version(params["version"]) if "version" in params else None
    group, published = _find_group(room, params["name"], version)
    return _ok(_group_document(group, published))


def list_groups(room: Newsroom, _params: Params, _body: bytes) -> Response:
    registry = room.signals_registry
    builtin = [g for g in room.engine.groups if g.name in registry.builtin_groups]
    documents = [_group_document(g, True) for g in builtin]
    documents += [_group_document(g) for g in registry.groups()]
    return _ok(documents)


def delete_group(room: Newsroom, params: Params, _body: bytes) -> Response:
    name, version = params["name"], _version(params["version"])
    _refuse_builtin(room, name)
    services = [cast(Service, s) for s in room.signals_registry.definitions("service")]
    users = [
        s.name for s in services if any(g.name == name and (g.version or 1) == version for g in s.attribute_groups)
    ]
    if users:
        raise ApiError(409, f"attribute group {name} v{version} is used by service(s) {users}; change those first")
    if not room.signals_registry.delete("attribute_group", name, version):
        raise ApiError(404, f"unknown attribute group {name!r} version {version}")
    return _ok({"ok": True})


# --- services, interventions, attribute keys ---------------------------------------------------------------------


def _check_group_links(room: Newsroom, what: str, links: list[Any] | None) -> None:
    for link in links or []:
        try:
            _find_group(room, link.name, link.version or 1)
        except ApiError as exc:
            raise ApiError(422, f"{what}: {exc.message}") from exc


def _check_references(room: Newsroom, kind: Kind, definition: Any) -> None:
    if kind == "service":
        _check_group_links(room, f"service {definition.name!r}", definition.attribute_groups)
    elif kind == "intervention":
        _check_group_links(room, f"intervention {definition.name!r}", definition.payload_attribute_groups)


def _evaluate_intervention(room: Newsroom, kind: Kind, definition: Any) -> None:
    """A published rule intervention is evaluated by the engine from the next event on."""
    if kind != "intervention":
        return
    try:
        room.publish_intervention(definition)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc


def _identity(kind: Kind, definition: Any) -> str:
    if kind == "intervention":
        return f"intervention {definition.name} v{definition.version or 1}"
    return f"{kind.replace('_', ' ')} {definition.name}"


def _document(kind: Kind, definition: BaseModel) -> dict[str, Any]:
    document = to_json(definition)
    if kind == "attribute_key":
        document["blobl_path"] = None  # `AttributeKeyOutput` requires the field
    return document


def creator(kind: Kind) -> Handler:
    def create(room: Newsroom, _params: Params, body: bytes) -> Response:
        definition = _parse(kind, body)
        if room.signals_registry.get(kind, definition.name, definition_version(kind, definition)) is not None:
            raise ApiError(400, f"{_identity(kind, definition)} already exists; PUT it to change it")
        _check_references(room, kind, definition)
        _evaluate_intervention(room, kind, definition)
        room.signals_registry.put(kind, definition)
        return _ok(_document(kind, definition), 201)

    return create


def updater(kind: Kind) -> Handler:
    def update(room: Newsroom, params: Params, body: bytes) -> Response:
        version = _version(params["version"]) if "version" in params else None
        definition = _parse(kind, body)
        _same_identity(params["name"], version, definition.name, getattr(definition, "version", None))
        _check_references(room, kind, definition)
        _evaluate_intervention(room, kind, definition)
        room.signals_registry.put(kind, definition)
        return _ok(_document(kind, definition))

    return update


def getter(kind: Kind) -> Handler:
    def get(room: Newsroom, params: Params, _body: bytes) -> Response:
        version = _version(params["version"]) if "version" in params else None
        definition = room.signals_registry.get(kind, params["name"], version)
        if definition is None:
            suffix = f" version {version}" if version else ""
            raise ApiError(404, f"unknown {kind.replace('_', ' ')} {params['name']!r}{suffix}")
        return _ok(_document(kind, definition))

    return get


def lister(kind: Kind) -> Handler:
    def list_all(room: Newsroom, _params: Params, _body: bytes) -> Response:
        return _ok([_document(kind, d) for d in room.signals_registry.definitions(kind)])

    return list_all


def deleter(kind: Kind) -> Handler:
    def delete(room: Newsroom, params: Params, _body: bytes) -> Response:
        version = _version(params["version"]) if "version" in params else None
        if not room.signals_registry.delete(kind, params["name"], version):
            raise ApiError(404, f"unknown {kind.replace('_', ' ')} {params['name']!r}")
        return _ok({"ok": True})

    return delete


# --- attribute values -------------------------------------------------------------------------------------------


def _servable_group(room: Newsroom, name: str, version: int) -> StreamAttributeGroup:
    group, published = _find_group(room, name, version)
    if not published:
        raise ApiError(404, f"attribute group {name} v{version} is not published")
    if not _evaluated(room, name, version):
        raise ApiError(404, f"attribute group {name} v{version} is not evaluated by the engine (see the server log)")
    return group


def _selection(room: Newsroom, request: BaseModel) -> list[tuple[StreamAttributeGroup, list[str]]]:
    """The groups and attribute names asked for, in the order asked."""
    if isinstance(request, GetServiceAttributesRequest):
        service = cast(Service | None, room.signals_registry.get("service", request.service))
        if service is None:
            raise ApiError(404, f"unknown service {request.service!r}")
        if not service.is_published:
            raise ApiError(404, f"service {request.service!r} is not published")
        chosen = []
        for link in service.attribute_groups:
            group = _servable_group(room, link.name, link.version or 1)
            chosen.append((group, [a.name for a in group.attributes]))
        return chosen
    wanted: dict[tuple[str, int], list[str]] = {}
    for qualified in cast(GetAttributeGroupAttributesRequest, request).attributes:
        match = QUALIFIED_NAME.match(qualified.root)
        assert match is not None  # the SDK model checked the pattern
        names = wanted.setdefault((match["group"], int(match["version"])), [])
        if match["attribute"] not in names:
            names.append(match["attribute"])
    chosen = []
    for (name, version), names in wanted.items():
        group = _servable_group(room, name, version)
        known = {a.name for a in group.attributes}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ApiError(404, f"attribute group {name} v{version} has no attribute(s) {unknown}")
        chosen.append((group, names))
    return chosen


def _online_request(document: Any) -> GetServiceAttributesRequest | GetAttributeGroupAttributesRequest:
    if not isinstance(document, dict):
        raise ApiError(422, "the body must be a JSON object")
    if "entities" in document and "attribute_keys" not in document:  # the field's name in SDKs before 0.4
        document = {k: v for k, v in document.items() if k != "entities"} | {"attribute_keys": document["entities"]}
    if ("service" in document) == ("attributes" in document):
        raise ApiError(422, "give either `service` or `attributes` (qualified as <group>_v<version>:<attribute>)")
    model = GetServiceAttributesRequest if "service" in document else GetAttributeGroupAttributesRequest
    try:
        request = model.model_validate(document)
    except ValidationError as exc:
        raise ApiError(422, "invalid get-online-attributes request", validation_errors(exc)) from exc
    keys = request.attribute_keys.root
    if not keys:
        raise ApiError(422, "attribute_keys must map an attribute key to identifiers, e.g. {'domain_userid': [id]}")
    if sum(len(ids) for ids in keys.values()) > MAX_IDENTIFIERS:
        raise ApiError(422, f"at most {MAX_IDENTIFIERS} identifiers per request")
    return request


def _readable_by(key_name: str) -> tuple[str, ...]:
    """Group keys an attribute key can read: a `user_id` also reads `domain_userid` groups, stitched
    over the devices the user signed in on (identity stitching)."""
    return (key_name, "domain_userid") if key_name == "user_id" else (key_name,)


def online_attributes(room: Newsroom, _params: Params, body: bytes) -> Response:
    """`{"<key>": [ids], "<attribute>": [value per id], ...}`: the SDK takes the first of each list."""
    request = _online_request(_body_json(body))
    selection = _selection(room, request)
    full_names = bool(request.full_attribute_names)
    keys = request.attribute_keys.root or {}
    answer: dict[str, list[Any]] = {}
    for key_name, identifiers in keys.items():
        keyed = [(group, names) for group, names in selection if group.attribute_key.name in _readable_by(key_name)]
        if not keyed:
            continue
        answer[key_name] = list(identifiers)
        for group, names in keyed:
            version = group.version or 1
            with room._lock:  # reads must not interleave with `collect` updating the same states
                if group.attribute_key.name == key_name:
                    rows = [room.engine.get_attributes(group.name, i, version, names) for i in identifiers]
                else:  # a device-keyed group read by user: the merge over the user's linked devices
                    rows = [
                        room.engine.merged_attributes(group.name, room.links.devices(i), version, names)
                        for i in identifiers
                    ]
            for name in names:
                column = f"{group_id(group.name, version)}:{name}" if full_names else name
                if column in answer:
                    raise ApiError(422, f"attribute name {column!r} appears twice; ask with full_attribute_names=true")
                answer[column] = [json_safe(row[name]) for row in rows]
    if not answer:
        group_keys = sorted({g.attribute_key.name or "" for g, _ in selection})
        raise ApiError(422, f"none of the attribute keys {sorted(keys)} keys the groups asked for ({group_keys})")
    return _ok(answer)


# --- routing ----------------------------------------------------------------------------------------------------


def signals_routes(newsroom: Callable[[], Newsroom]) -> list[Route]:
    """The `/api/v1/` routes; `newsroom` is called per request so tests can supply their own."""

    def route(path: str, handlers: dict[str, Handler]) -> Route:
        async def endpoint(request: Request) -> Response:
            room = newsroom()
            if not authorised(request, room.api_token):
                return api_error(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
            handler = handlers.get(request.method)
            if handler is None:
                return api_error(405, f"{request.method} is not allowed on {request.url.path}")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return api_error(413, f"the request body is over {MAX_BODY_BYTES} bytes")
            try:
                if handler is online_attributes:  # a fast in-memory read: a thread hop would cost more
                    return handler(room, dict(request.path_params), body)
                # Registry writes, engine publishes and backfills block: keep them off the event loop.
                return await run_in_threadpool(handler, room, dict(request.path_params), body)
            except ApiError as exc:
                return exc.response()
            except Exception:  # a bug must still answer JSON, never an HTML traceback
                logger.exception("Signals API: %s %s failed", request.method, request.url.path)
                return api_error(500, "internal error; see the server log")

        return Route(PREFIX + path, endpoint, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])

    def collection(path: str, handlers: dict[str, Handler]) -> list[Route]:
        """The SDK calls collections with a trailing slash; accept both rather than redirect a POST."""
        return [route(path + "/", handlers), route(path, handlers)]

    def unknown(_room: Newsroom, params: Params, _body: bytes) -> Response:
        raise ApiError(404, f"no Signals API route {PREFIX}/{params.get('path', '')} in this embedded engine")

    groups = "/registry/attribute_groups"
    return [
        *collection(groups, {"GET": list_groups, "POST": create_group}),
        route(groups + "/{name}", {"GET": get_group}),
        route(groups + "/{name}/versions/{version}", {"GET": get_group, "PUT": update_group, "DELETE": delete_group}),
        *collection("/registry/services", {"GET": lister("service"), "POST": creator("service")}),
        route(
            "/registry/services/{name}",
            {"GET": getter("service"), "PUT": updater("service"), "DELETE": deleter("service")},
        ),
        *collection("/registry/interventions", {"GET": lister("intervention"), "POST": creator("intervention")}),
        route("/registry/interventions/{name}", {"GET": getter("intervention")}),
        route(
            "/registry/interventions/{name}/versions/{version}",
            {"GET": getter("intervention"), "PUT": updater("intervention"), "DELETE": deleter("intervention")},
        ),
        *collection("/registry/attribute_keys", {"GET": lister("attribute_key"), "POST": creator("attribute_key")}),
        route(
            "/registry/attribute_keys/{name}",
            {"GET": getter("attribute_key"), "PUT": updater("attribute_key"), "DELETE": deleter("attribute_key")},
        ),
        route("/get-online-attributes", {"POST": online_attributes}),
        route("/{path:path}", {m: unknown for m in ("GET", "POST", "PUT", "DELETE", "PATCH")}),
    ]
