"""The Signals-compatible HTTP API under `/api/v1/`, for the official `snowplow-signals` SDK.

`SignalsSandbox(api_url=..., sandbox_token=...)` works against this backend:
`publish()` stores definitions in the durable registry and makes the engine
evaluate stream attribute groups, or the batch engine compute batch and external
batch groups (at once, then on its schedule); `get_service_attributes()` and
`get_group_attributes()` read either, batch and streaming attributes together;
event logs are stored, published with `engines/publish` and read with
`get_agentic_context()` (`GET event_log`). Paths, bodies, status codes and
response shapes follow what the SDK sends and parses (POST answers 400 when
the object exists, which is the SDK's cue to PUT). Every route needs the
bearer token; every error is JSON with a 4xx status (`errors.json_error`). The
routes reach the application only through `backend.SignalsBackend`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast, get_args

import orjson
from pydantic import BaseModel, ValidationError
from snowplow_signals import (
    AtomicProperty,
    AttributeKey,
    EventLog,
    ExternalBatchAttributeGroup,
    Service,
    StreamAttributeGroup,
)
from snowplow_signals.models import (
    DatasetBundleRequest,
    GetAttributeGroupAttributesRequest,
    GetServiceAttributesRequest,
    SelectivePublishRequest,
    TestAttributeGroupRequest,
    UnpublishRequest,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from media_demo.signals.batch.compute import ComputableGroup, attribute_names, check_computable
from media_demo.signals.batch.datasets import (
    MAX_PREVIEW_ROWS,
    DatasetRequest,
    DatasetRun,
    RunNotReadyError,
    TooManyRunsError,
    UnknownRunError,
)
from media_demo.signals.engine.event_logs import narrative, response_document
from media_demo.signals.engine.plans import compile_group, group_id
from media_demo.signals.http.auth import authorised
from media_demo.signals.http.backend import SignalsBackend
from media_demo.signals.http.errors import json_error, unauthorised
from media_demo.signals.storage.registry import (
    InvalidDefinitionError,
    Kind,
    definition_version,
    is_batch,
    parse_definition,
    to_json,
    validation_errors,
)

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY_BYTES = 1_000_000
MAX_IDENTIFIERS = 1_000
QUALIFIED_NAME = re.compile(r"^(?P<group>[A-Za-z0-9_]+)_v(?P<version>[0-9]+):(?P<attribute>[A-Za-z0-9_]+)$")
# The SDK model's `QualifiedAttributeName` pattern, for `fullmatch` (pydantic's `$` is the end of the text only).
SDK_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9_]+_v[0-9]+:[A-Za-z0-9_]+")
MAX_ATTRIBUTE_KEYS = 100  # the SDK model's `AttributeKeyIdentifiers` takes 1 to 100 keys
MAX_CACHED_SELECTIONS = 256
# Anything orjson would render otherwise than json_safe + json.dumps goes to `default` (none): TypeError.
ORJSON_PLAIN = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
ATOMIC_FIELDS = frozenset(get_args(AtomicProperty.model_fields["name"].annotation))
Params = Mapping[str, str]
Handler = Callable[[SignalsBackend, Params, bytes], Response]


class ApiError(Exception):
    """An answer other than success: becomes a JSON error with this status."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail

    def response(self) -> JSONResponse:
        """This error as the API's one JSON error shape."""
        return json_error(self.status, self.message, detail=self.detail)


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
    except RecursionError as exc:  # (the stdlib parser recurses once per level)
        raise ApiError(422, "the request body is nested too deeply") from exc


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


def _builtin_group(backend: SignalsBackend, name: str, version: int | None) -> StreamAttributeGroup | None:
    if name not in backend.signals_registry.builtin_groups:
        return None
    groups = backend.evaluated_groups()
    versions = [g for g in groups if g.name == name and (version is None or (g.version or 1) == version)]
    return max(versions, key=lambda g: g.version or 1) if versions else None


def _find_group(backend: SignalsBackend, name: str, version: int | None) -> tuple[StreamAttributeGroup, bool]:
    """A built-in or stored group and whether it is published; 404 when there is none."""
    builtin = _builtin_group(backend, name, version)
    if builtin is not None:
        return builtin, True
    stored = backend.signals_registry.get("attribute_group", name, version)
    if stored is None or name in backend.signals_registry.builtin_groups:
        raise ApiError(404, f"unknown attribute group {name!r}" + (f" version {version}" if version else ""))
    group = cast(StreamAttributeGroup, stored)
    return group, bool(group.is_published)


def _refuse_builtin(backend: SignalsBackend, name: str) -> None:
    if name in backend.signals_registry.builtin_groups:
        raise ApiError(409, f"attribute group {name!r} is built into the app and cannot be changed; use another name")


def _check_evaluable(group: StreamAttributeGroup) -> None:
    """Refuse what the embedded engine would evaluate wrongly rather than serve silently wrong values."""
    key = group.attribute_key
    field = key.name or ""
    legacy_key = to_json(key).get("key")  # read from the dump: the attribute itself warns it is deprecated
    # (Declared AttributeKey | LinkAttributeKey, but the SDK's validator turns a link into an AttributeKey.)
    prop = key.property if isinstance(key, AttributeKey) else None
    if (
        field not in ATOMIC_FIELDS
        or (legacy_key is not None and legacy_key != field)
        or (prop is not None and not (isinstance(prop, AtomicProperty) and prop.name == field))
    ):
        raise ApiError(
            422,
            f"attribute group {group.name!r}: the embedded engine keys groups by an atomic field named like the "
            f"attribute key; {field!r} is not one (use e.g. domain_userid, domain_sessionid, user_id)",
        )
    try:
        if not is_batch(group):
            compile_group(group)
        elif group.attributes:
            check_computable(group)
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(422, f"attribute group {group.name!r}: {exc}") from exc


def _evaluated(backend: SignalsBackend, name: str, version: int) -> bool:
    return any((g.name, g.version or 1) == (name, version) for g in backend.evaluated_groups())


def _unpublished_json(group: BaseModel) -> dict[str, Any]:
    document = to_json(group)
    document.pop("is_published", None)
    return document


def _save_group(backend: SignalsBackend, group: StreamAttributeGroup) -> None:
    """Store the group, then have the engine evaluate it (again only if its definition changed)."""
    _check_evaluable(group)
    registry = backend.signals_registry
    previous = registry.get("attribute_group", group.name, group.version or 1)
    registry.put("attribute_group", group)
    unchanged = previous is not None and _unpublished_json(previous) == _unpublished_json(group)
    if unchanged and _evaluated(backend, group.name, group.version or 1):
        return  # re-publishing the same definition keeps the attributes computed so far
    if is_batch(group):
        error = backend.publish_batch(group)
        if error is not None:  # (a source that cannot be read: say so now, not at the first read)
            if previous is None:
                registry.delete("attribute_group", group.name, group.version or 1)
            else:
                registry.put("attribute_group", previous)
            raise ApiError(422, f"attribute group {group.name!r}: {error}")
        return
    if backend.publish(group):
        backend.backfill(group)


def create_group(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """POST an attribute group: a new name or version only (400 if it exists: PUT changes one)."""
    group: StreamAttributeGroup = _parse("attribute_group", body)
    _refuse_builtin(backend, group.name)
    if backend.signals_registry.get("attribute_group", group.name, group.version or 1) is not None:
        raise ApiError(
            400,
            f"attribute group {group.name} v{group.version or 1} already exists; "
            f"PUT {PREFIX}/registry/attribute_groups/{group.name}/versions/{group.version or 1} to change it",
        )
    _save_group(backend, group)
    return _ok(_group_document(group), 201)


def update_group(backend: SignalsBackend, params: Params, body: bytes) -> Response:
    """PUT an attribute group at its name and version; the body must name the same ones."""
    version = _version(params["version"])
    group: StreamAttributeGroup = _parse("attribute_group", body)
    _same_identity(params["name"], version, group.name, group.version)
    _refuse_builtin(backend, group.name)
    _save_group(backend, group)
    return _ok(_group_document(group))


def get_group(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """One attribute group (its newest version unless one is given), saying whether it is published."""
    version = _version(params["version"]) if "version" in params else None
    group, published = _find_group(backend, params["name"], version)
    return _ok(_group_document(group, published))


def list_groups(backend: SignalsBackend, _params: Params, _body: bytes) -> Response:
    """Every attribute group: the newsroom's built-in ones first, then those registered through the API."""
    registry = backend.signals_registry
    builtin = [g for g in backend.evaluated_groups() if g.name in registry.builtin_groups]
    documents = [_group_document(g, True) for g in builtin]
    documents += [_group_document(g) for g in registry.groups()]
    return _ok(documents)


def delete_group(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """Delete a registered group version; refused (409) while a service still serves it, and for built-ins."""
    name, version = params["name"], _version(params["version"])
    _refuse_builtin(backend, name)
    services = [cast(Service, s) for s in backend.signals_registry.definitions("service")]
    users = [
        s.name for s in services if any(g.name == name and (g.version or 1) == version for g in s.attribute_groups)
    ]
    if users:
        raise ApiError(409, f"attribute group {name} v{version} is used by service(s) {users}; change those first")
    stored = backend.signals_registry.get("attribute_group", name, version)
    if not backend.signals_registry.delete("attribute_group", name, version):
        raise ApiError(404, f"unknown attribute group {name!r} version {version}")
    if is_batch(stored):
        backend.drop_batch(name, version)
    return _ok({"ok": True})


# --- services, interventions, attribute keys ---------------------------------------------------------------------


def _check_group_links(backend: SignalsBackend, what: str, links: list[Any] | None) -> None:
    for link in links or []:
        try:
            _find_group(backend, link.name, link.version or 1)
        except ApiError as exc:
            raise ApiError(422, f"{what}: {exc.message}") from exc


def _check_references(backend: SignalsBackend, kind: Kind, definition: Any) -> None:
    if kind == "service":
        _check_group_links(backend, f"service {definition.name!r}", definition.attribute_groups)
    elif kind == "intervention":
        _check_group_links(backend, f"intervention {definition.name!r}", definition.payload_attribute_groups)


def _evaluate_intervention(backend: SignalsBackend, kind: Kind, definition: Any) -> None:
    """A published rule intervention is evaluated by the engine from the next event on."""
    if kind != "intervention":
        return
    try:
        backend.publish_intervention(definition)
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
    """The POST handler for definitions of `kind` (services, interventions, attribute keys)."""

    def create(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
        definition = _parse(kind, body)
        if backend.signals_registry.get(kind, definition.name, definition_version(kind, definition)) is not None:
            raise ApiError(400, f"{_identity(kind, definition)} already exists; PUT it to change it")
        _check_references(backend, kind, definition)
        _evaluate_intervention(backend, kind, definition)
        backend.signals_registry.put(kind, definition)
        return _ok(_document(kind, definition), 201)

    return create


def updater(kind: Kind) -> Handler:
    """The PUT handler for definitions of `kind`: the body must name the definition the path names."""

    def update(backend: SignalsBackend, params: Params, body: bytes) -> Response:
        version = _version(params["version"]) if "version" in params else None
        definition = _parse(kind, body)
        _same_identity(params["name"], version, definition.name, getattr(definition, "version", None))
        _check_references(backend, kind, definition)
        _evaluate_intervention(backend, kind, definition)
        backend.signals_registry.put(kind, definition)
        return _ok(_document(kind, definition))

    return update


def getter(kind: Kind) -> Handler:
    """The GET handler for one definition of `kind` (404 naming it when unknown)."""

    def get(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
        version = _version(params["version"]) if "version" in params else None
        definition = backend.signals_registry.get(kind, params["name"], version)
        if definition is None:
            suffix = f" version {version}" if version else ""
            raise ApiError(404, f"unknown {kind.replace('_', ' ')} {params['name']!r}{suffix}")
        return _ok(_document(kind, definition))

    return get


def lister(kind: Kind) -> Handler:
    """The GET handler listing every definition of `kind`."""

    def list_all(backend: SignalsBackend, _params: Params, _body: bytes) -> Response:
        return _ok([_document(kind, d) for d in backend.signals_registry.definitions(kind)])

    return list_all


def deleter(kind: Kind) -> Handler:
    """The DELETE handler for one definition of `kind` (404 naming it when unknown)."""

    def delete(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
        version = _version(params["version"]) if "version" in params else None
        if not backend.signals_registry.delete(kind, params["name"], version):
            raise ApiError(404, f"unknown {kind.replace('_', ' ')} {params['name']!r}")
        return _ok({"ok": True})

    return delete


# --- event logs (agentic context) ---------------------------------------------------------------------------------


def _event_log_document(backend: SignalsBackend, log: BaseModel) -> dict[str, Any]:
    """An event log as `EventLogResponse`: the definition, and whether it (or an earlier one) is what is served."""
    document = _unpublished_json(log)
    published = backend.signals_registry.get("event_log_published", cast(EventLog, log).name)
    document["is_published"] = published is not None and _unpublished_json(published) == _unpublished_json(log)
    document["has_published_version"] = published is not None
    return document


def _find_event_log(backend: SignalsBackend, name: str) -> EventLog:
    log = backend.signals_registry.get("event_log", name)
    if log is None:
        raise ApiError(404, f"unknown event log {name!r}")
    return cast(EventLog, log)


def create_event_log(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """POST an event log: a new name only (400 if it exists: PUT changes it). Serving needs `engines/publish`."""
    log: EventLog = _parse("event_log", body)
    if backend.signals_registry.get("event_log", log.name) is not None:
        raise ApiError(400, f"event log {log.name} already exists; PUT {PREFIX}/registry/event_logs/{log.name}")
    backend.signals_registry.put("event_log", log)
    return _ok(_event_log_document(backend, log), 201)


def update_event_log(backend: SignalsBackend, params: Params, body: bytes) -> Response:
    """PUT an event log at its name: the draft changes; what is served changes at the next `engines/publish`."""
    log: EventLog = _parse("event_log", body)
    _same_identity(params["name"], None, log.name, None)
    backend.signals_registry.put("event_log", log)
    return _ok(_event_log_document(backend, log))


def get_event_log(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """One event log, saying whether it is published."""
    return _ok(_event_log_document(backend, _find_event_log(backend, params["name"])))


def list_event_logs(backend: SignalsBackend, _params: Params, _body: bytes) -> Response:
    """Every event log."""
    return _ok([_event_log_document(backend, log) for log in backend.signals_registry.definitions("event_log")])


def delete_event_log(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """Delete an event log; refused (409) while it is published (unpublish it first, as the SDK says)."""
    name = params["name"]
    _find_event_log(backend, name)
    if backend.signals_registry.get("event_log_published", name) is not None:
        raise ApiError(409, f"event log {name!r} is published; unpublish it first")
    backend.signals_registry.delete("event_log", name)
    return _ok({"ok": True})


def _engine_request(body: bytes, model: type[SelectivePublishRequest] | type[UnpublishRequest]) -> list[str]:
    """The event log names of an `engines/publish` or `engines/unpublish` body (the SDK sends only those)."""
    try:
        request = model.model_validate(_body_json(body))
    except ValidationError as exc:
        raise ApiError(422, "invalid engines request", validation_errors(exc)) from exc
    others = [name for name, value in request if name != "event_logs" and value]
    if others:
        raise ApiError(
            422,
            f"{others}: only event_logs are published through engines/ here; publish the others "
            "through the registry (is_published)",
        )
    if not request.event_logs:
        raise ApiError(422, "event_logs: name at least one event log")
    return [ref.name for ref in request.event_logs]


def publish_to_engines(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """Serve the registry's current definition of each event log named (rebuilding its buffers from the log)."""
    registry, changed = backend.signals_registry, False
    logs = [_find_event_log(backend, name) for name in _engine_request(body, SelectivePublishRequest)]
    for log in logs:
        published = registry.get("event_log_published", log.name)
        if published is None or _unpublished_json(published) != _unpublished_json(log):
            registry.put("event_log_published", log)
            changed = True
    if changed:
        backend.event_logs_changed()
    return _ok({"published": {"event_logs": [log.name for log in logs]}})


def unpublish_from_engines(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """Stop serving each event log named (its definition stays in the registry)."""
    names = _engine_request(body, UnpublishRequest)
    for name in names:
        if backend.signals_registry.get("event_log", name) is None and (
            backend.signals_registry.get("event_log_published", name) is None
        ):
            raise ApiError(404, f"unknown event log {name!r}")
    if sum(backend.signals_registry.delete("event_log_published", name) for name in names):
        backend.event_logs_changed()
    return _ok({"unpublished": {"event_logs": names}})


def agentic_context(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """`GET event_log?name=&identifier=&format=json|narrative`: a session's recent events of a published log."""
    missing = [key for key in ("name", "identifier") if not params.get(key)]
    if missing:
        raise ApiError(400, f"missing query parameter(s) {missing}: give name, identifier and optionally format")
    name, identifier, form = params["name"], params["identifier"], params.get("format") or "json"
    if form not in ("json", "narrative"):
        raise ApiError(400, f"format: must be json or narrative, got {form[:32]!r}")
    _find_event_log(backend, name)
    if backend.signals_registry.get("event_log_published", name) is None:
        raise ApiError(409, f"event log {name!r} is not published; publish it before reading its context")
    window = backend.agentic_context(name, identifier)
    if window is None:
        raise ApiError(409, f"event log {name!r} is published but not served by this engine (see the server log)")
    if form == "narrative":
        return PlainTextResponse(narrative(window))
    return _json(response_document(window))


# --- attribute values -------------------------------------------------------------------------------------------


def _servable_group(backend: SignalsBackend, name: str, version: int) -> StreamAttributeGroup:
    group, published = _find_group(backend, name, version)
    if not published:
        raise ApiError(404, f"attribute group {name} v{version} is not published")
    if not _evaluated(backend, name, version):
        raise ApiError(404, f"attribute group {name} v{version} is not evaluated by the engine (see the server log)")
    return group


@dataclass(frozen=True, slots=True)
class OnlineRequest:
    """A get-online-attributes request, validated: `service` or `attributes` (qualified names), per key the ids."""

    service: str | None
    attributes: tuple[str, ...]
    keys: dict[str, list[str]]
    full_names: bool


def _selection(backend: SignalsBackend, request: OnlineRequest) -> list[tuple[StreamAttributeGroup, list[str]]]:
    """The groups and attribute names asked for, in the order asked."""
    if request.service is not None:
        service = cast(Service | None, backend.signals_registry.get("service", request.service))
        if service is None:
            raise ApiError(404, f"unknown service {request.service!r}")
        if not service.is_published:
            raise ApiError(404, f"service {request.service!r} is not published")
        chosen = []
        for link in service.attribute_groups:
            group = _servable_group(backend, link.name, link.version or 1)
            chosen.append((group, attribute_names(group)))
        return chosen
    cache = _builtin_selections(backend)
    cached = cache.get(request.attributes)
    if cached is not None:
        return cached
    wanted: dict[tuple[str, int], list[str]] = {}
    for qualified in request.attributes:
        match = QUALIFIED_NAME.match(qualified)
        assert match is not None  # validated against the SDK model's pattern
        names = wanted.setdefault((match["group"], int(match["version"])), [])
        if match["attribute"] not in names:
            names.append(match["attribute"])
    chosen = []
    for (name, version), names in wanted.items():
        group = _servable_group(backend, name, version)
        known = set(attribute_names(group))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ApiError(404, f"attribute group {name} v{version} has no attribute(s) {unknown}")
        chosen.append((group, names))
    if all(group.name in backend.signals_registry.builtin_groups for group, _ in chosen):
        if len(cache) >= MAX_CACHED_SELECTIONS:  # the keys come from clients: keep the cache bounded
            cache.clear()
        cache[request.attributes] = chosen
    return chosen


class _SelectionCache:
    """Resolved `attributes` lists, for as long as the evaluated groups and the built-in names are unchanged."""

    __slots__ = ("builtin", "generation", "selections")

    def __init__(self, generation: int, builtin: frozenset[str]) -> None:
        self.generation, self.builtin = generation, builtin
        self.selections: dict[tuple[str, ...], list[tuple[StreamAttributeGroup, list[str]]]] = {}


_selection_caches: weakref.WeakKeyDictionary[Any, _SelectionCache] = weakref.WeakKeyDictionary()


def _builtin_selections(backend: SignalsBackend) -> dict[tuple[str, ...], list[tuple[StreamAttributeGroup, list[str]]]]:
    """The selections cached for this backend.

    Only selections of built-in groups are kept: those resolve from the evaluated
    groups alone (`_find_group` never reads the registry for a built-in name), so
    they stay right until `groups_generation` moves. Stored groups can be
    unpublished or deleted through the registry and are resolved every time.
    """
    generation, builtin = backend.groups_generation, backend.signals_registry.builtin_groups
    cache = _selection_caches.get(backend)
    if cache is None or cache.generation != generation or cache.builtin is not builtin:
        cache = _selection_caches[backend] = _SelectionCache(generation, builtin)
    return cache.selections


def _model_request(document: Any) -> OnlineRequest:
    """Any request body, validated by the SDK's request models (their error messages on failure)."""
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
    if isinstance(request, GetServiceAttributesRequest):
        return OnlineRequest(request.service, (), keys, bool(request.full_attribute_names))
    attributes = tuple(q.root for q in request.attributes)
    return OnlineRequest(None, attributes, keys, bool(request.full_attribute_names))


def _plain_request(document: Any) -> OnlineRequest | None:
    """The request when it has exactly the shape the SDK sends, checked by hand; None for anything else.

    Building the SDK's pydantic models is most of a request's cost. Only input
    the models certainly accept unchanged passes here: plain lists of strings,
    qualified names matching the models' pattern, at most 100 attribute keys,
    `full_attribute_names` true, false or null. Everything else (errors, and
    the shapes pydantic would coerce) goes through `_model_request`, so every
    answer, error message and status code is the same as before.
    """
    if document.__class__ is not dict:
        return None
    keys = document.get("attribute_keys")
    if keys.__class__ is not dict or not 0 < len(keys) <= MAX_ATTRIBUTE_KEYS:
        return None
    identifiers = 0
    for ids in keys.values():
        if ids.__class__ is not list or any(i.__class__ is not str for i in ids):
            return None
        identifiers += len(ids)
    if identifiers > MAX_IDENTIFIERS:
        return None
    full_names = document.get("full_attribute_names", False)
    if full_names is not True and full_names is not False and full_names is not None:
        return None
    if "service" in document:
        service = document["service"]
        if "attributes" in document or service.__class__ is not str:
            return None
        return OnlineRequest(service, (), keys, bool(full_names))
    attributes = document.get("attributes")
    if attributes.__class__ is not list or any(q.__class__ is not str for q in attributes):
        return None
    qualified_names = tuple(attributes)
    if qualified_names not in _matched_names:  # (a client asks for the same list every time: match it once)
        if not all(SDK_QUALIFIED_NAME.fullmatch(q) for q in qualified_names):
            return None
        if len(_matched_names) >= MAX_CACHED_SELECTIONS:
            _matched_names.clear()
        _matched_names.add(qualified_names)
    return OnlineRequest(None, qualified_names, keys, bool(full_names))


_matched_names: set[tuple[str, ...]] = set()  # attribute lists whose every name matches the SDK's pattern


def _online_request(body: bytes) -> OnlineRequest:
    """Parse and validate a body: orjson and `_plain_request` for the SDK's shapes, else the stdlib and pydantic.

    Whatever the fast path declines is parsed again by `_body_json`, exactly as
    before: orjson refuses some JSON the stdlib takes (UTF-16, a BOM, 1e999) and
    reads integers over 64 bits as floats, and neither may change an answer. One
    difference remains: orjson reads JSON nested to 1,023 levels, the stdlib gives up
    near 1,000 (a 422), so such a body in a field the fast path ignores is answered.
    """
    try:
        request = _plain_request(orjson.loads(body))
    except orjson.JSONDecodeError:
        request = None
    if request is not None:
        return request
    return _model_request(_body_json(body))


def _readable_by(key_name: str) -> tuple[str, ...]:
    """Group keys an attribute key can read: a `user_id` also reads `domain_userid` groups, stitched
    over the devices the user signed in on (identity stitching)."""
    return (key_name, "domain_userid") if key_name == "user_id" else (key_name,)


def online_attributes(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """`{"<key>": [ids], "<attribute>": [value per id], ...}`: the SDK takes the first of each list."""
    request = _online_request(body)
    selection = _selection(backend, request)
    keys = request.keys
    answer: dict[str, list[Any]] = {}
    for key_name, identifiers in keys.items():
        keyed = [(group, names) for group, names in selection if group.attribute_key.name in _readable_by(key_name)]
        if not keyed:
            continue
        answer[key_name] = list(identifiers)
        for group, names in keyed:
            version = group.version or 1
            # A device-keyed group read by user is stitched: the merge over the user's linked devices.
            stitched = group.attribute_key.name != key_name
            rows = backend.read_attributes(group.name, version, identifiers, names, stitched=stitched)
            for name in names:
                column = f"{group_id(group.name, version)}:{name}" if request.full_names else name
                if column in answer:
                    raise ApiError(422, f"attribute name {column!r} appears twice; ask with full_attribute_names=true")
                answer[column] = [row[name] for row in rows]
    if not answer:
        group_keys = sorted({g.attribute_key.name or "" for g, _ in selection})
        raise ApiError(422, f"none of the attribute keys {sorted(keys)} keys the groups asked for ({group_keys})")
    return _json(answer)


def _json(document: dict[str, Any]) -> Response:
    """`_ok(json_safe(document))`, rendered by orjson when it can (a third of the stdlib's cost).

    orjson writes NaN and infinities as null, as `json_safe` does. Values it
    would render differently from `json_safe` + `json.dumps` (sets, non-string
    keys, subclasses, datetimes, integers over 64 bits) make it raise, and
    those documents take the original path.
    """
    try:
        content = orjson.dumps(document, option=ORJSON_PLAIN)
    except TypeError:
        return _ok(json_safe(document))
    return Response(content, media_type="application/json")


# --- testing a group, training datasets ------------------------------------------------------------------------


def _validated(model: type[BaseModel], document: Any, what: str) -> Any:
    if not isinstance(document, dict):
        raise ApiError(422, "the body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ApiError(422, f"invalid {what}", validation_errors(exc)) from exc


def _computable_group(document: Any) -> ComputableGroup:
    """A group from a request body, as the SDK class it is; refused when it is not computed from events."""
    try:
        group = parse_definition("attribute_group", document)
    except InvalidDefinitionError as exc:
        raise ApiError(422, str(exc), exc.errors or None) from exc
    if isinstance(group, ExternalBatchAttributeGroup):
        raise ApiError(422, f"attribute group {group.name!r} is read from a table, not computed from events")
    return cast(ComputableGroup, group)


def test_group(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """`signals.test(group)`: the group's values over the last window of events, as columns (one per attribute,
    after the key's), which the SDK turns into a DataFrame with a row per entity (its columns even when empty)."""
    document = _body_json(body)
    request = _validated(TestAttributeGroupRequest, document, "test request")
    group = _computable_group(document["attribute_group"])
    window = request.window or dt.timedelta(hours=1)
    if window <= dt.timedelta(0):
        raise ApiError(422, "window: must be a positive duration")
    key_ids = [k.root for k in request.attribute_key_ids or []]
    app_ids = [a.root for a in request.app_ids or []]
    try:
        columns = backend.preview_attribute_group(group, key_ids, app_ids, window)
    except ValueError as exc:
        raise ApiError(422, f"attribute group {group.name!r}: {exc}") from exc
    return _json(columns)


def _run_document(run: DatasetRun, *, status: bool) -> dict[str, Any]:
    document: dict[str, Any] = {"id": str(run.id), "dataset": run.dataset}
    if status:
        document.update(status=run.status, error=run.error)
    else:
        document["created_at"] = run.created_at.isoformat()
    return document


def submit_dataset_run(backend: SignalsBackend, _params: Params, body: bytes) -> Response:
    """`submit_dataset_run_with_*`: start computing the dataset here (polars, in the background); 202."""
    document = _body_json(body)
    request = _validated(DatasetBundleRequest, document, "dataset request")
    groups = [_computable_group(g) for g in document["attributes"]["attribute_groups"]]
    table = request.dataset
    dataset = {"database": table.database, "schema": table.schema_, "table": table.table} if table else None
    try:
        run = backend.submit_dataset_run(DatasetRequest(groups, request.anchors, dataset, request.max_lookback_days))
    except TooManyRunsError as exc:
        raise ApiError(429, str(exc)) from exc
    except ValueError as exc:  # (AnchorError included: a missing table or column)
        raise ApiError(422, str(exc)) from exc
    return _ok(_run_document(run, status=False), 202)


def _run_id(params: Params) -> uuid.UUID:
    try:
        return uuid.UUID(params["run_id"])
    except ValueError:
        raise ApiError(404, f"unknown dataset run {params['run_id'][:64]!r}") from None


def _known_run(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except UnknownRunError as exc:
        raise ApiError(404, str(exc)) from exc


def dataset_run_status(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """`get_dataset_run_status`: pending, success, or failed with the error (`cancelled` when cancelled)."""
    run_id = _run_id(params)
    return _ok(_run_document(_known_run(lambda: backend.dataset_run(run_id)), status=True))


def dataset_run_preview(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """`get_dataset_run_preview`: columns, the first `limit` rows, and the row count; 409 until it succeeded."""
    run_id = _run_id(params)
    text = params.get("limit") or "100"
    if not text.isdigit() or not 1 <= int(text) <= MAX_PREVIEW_ROWS:
        raise ApiError(422, f"limit: a whole number from 1 to {MAX_PREVIEW_ROWS}, got {text[:32]!r}")
    try:
        preview = _known_run(lambda: backend.dataset_preview(run_id, int(text)))
    except RunNotReadyError as exc:
        raise ApiError(409, str(exc)) from exc
    return _json({"columns": preview.columns, "data": preview.data, "row_count": preview.row_count})


def cancel_dataset_run(backend: SignalsBackend, params: Params, _body: bytes) -> Response:
    """`cancel_dataset_run`: a pending run stops at its next step and fails as cancelled."""
    run_id = _run_id(params)
    return _ok(_run_document(_known_run(lambda: backend.cancel_dataset_run(run_id)), status=True))


def dataset_sql(_backend: SignalsBackend, _params: Params, _body: bytes) -> Response:
    """`build_dataset_with_*` asks for warehouse SQL; with no warehouse here, say what computes the dataset."""
    raise ApiError(
        422,
        "this embedded engine has no warehouse to write SQL for: use submit_dataset_run_with_session_anchors or "
        "submit_dataset_run_with_custom_anchors, which compute the same dataset here (then "
        "get_dataset_run_status and get_dataset_run_preview)",
    )


# --- routing ----------------------------------------------------------------------------------------------------


def signals_routes(get_backend: Callable[[], SignalsBackend]) -> list[Route]:
    """The `/api/v1/` routes; `get_backend` is called per request so tests can supply their own."""

    def route(path: str, handlers: dict[str, Handler], *, query: bool = False) -> Route:
        """`query`: the handler reads the query string's parameters too (the path's win on a clash)."""

        async def endpoint(request: Request) -> Response:
            backend = get_backend()
            if not authorised(request, backend.api_token):
                return unauthorised()
            handler = handlers.get(request.method)
            if handler is None:
                return json_error(405, f"{request.method} is not allowed on {request.url.path}")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return json_error(413, f"the request body is over {MAX_BODY_BYTES} bytes")
            params = {**request.query_params, **request.path_params} if query else dict(request.path_params)
            try:
                if handler is online_attributes:  # a fast in-memory read: a thread hop would cost more
                    return handler(backend, params, body)
                # Registry writes, engine publishes and backfills block: keep them off the event loop.
                return await run_in_threadpool(handler, backend, params, body)
            except ApiError as exc:
                return exc.response()
            except Exception:  # a bug must still answer JSON, never an HTML traceback
                logger.exception("Signals API: %s %s failed", request.method, request.url.path)
                return json_error(500, "internal error; see the server log")

        return Route(PREFIX + path, endpoint, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])

    def collection(path: str, handlers: dict[str, Handler]) -> list[Route]:
        """The SDK calls collections with a trailing slash; accept both rather than redirect a POST."""
        return [route(path + "/", handlers), route(path, handlers)]

    def unknown(_backend: SignalsBackend, params: Params, _body: bytes) -> Response:
        raise ApiError(404, f"no Signals API route {PREFIX}/{params.get('path', '')} in this embedded engine")

    groups = "/registry/attribute_groups"
    return [
        # First: the hot read path, so routing does not try every registry pattern before it (no other overlaps it).
        route("/get-online-attributes", {"POST": online_attributes}),
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
        *collection("/registry/event_logs", {"GET": list_event_logs, "POST": create_event_log}),
        route(
            "/registry/event_logs/{name}",
            {"GET": get_event_log, "PUT": update_event_log, "DELETE": delete_event_log},
        ),
        route("/engines/publish", {"POST": publish_to_engines}),
        route("/engines/unpublish", {"POST": unpublish_from_engines}),
        route("/event_log", {"GET": agentic_context}, query=True),
        *collection("/testing/attribute_groups", {"POST": test_group}),
        route("/datasets/sql", {"POST": dataset_sql}),
        route("/datasets/runs", {"POST": submit_dataset_run}),
        route("/datasets/runs/{run_id}", {"GET": dataset_run_status}),
        route("/datasets/runs/{run_id}/preview", {"GET": dataset_run_preview}, query=True),
        route("/datasets/runs/{run_id}/cancel", {"POST": cancel_dataset_run}),
        route("/{path:path}", {m: unknown for m in ("GET", "POST", "PUT", "DELETE", "PATCH")}),
    ]
