"""Turn Snowplow tracker-protocol payloads into canonical events (or bad events).

Both routes into the engine use this one function: the in-process emitter of
the app's own tracker and the HTTP collector endpoint. So both produce the
same records, and what the engine sees does not depend on how it arrived.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from media_demo.signals.events import BadEvent, CanonicalEvent
from media_demo.signals.iglu import SchemaKey, SchemaRegistry

SNOWPLOW = "com.snowplowanalytics.snowplow"
# Tracker protocol `e` values -> (event, event_vendor, event_name, event_version).
EVENT_TYPES: dict[str, tuple[str, str, str, str]] = {
    "pv": ("page_view", SNOWPLOW, "page_view", "1-0-0"),
    "pp": ("page_ping", SNOWPLOW, "page_ping", "1-0-0"),
    "se": ("struct", "com.google.analytics", "event", "1-0-0"),
    "tr": ("transaction", "com.snowplowanalytics.snowplow", "transaction", "1-0-0"),
    "ti": ("transaction_item", "com.snowplowanalytics.snowplow", "transaction_item", "1-0-0"),
}
# Tracker protocol field -> atomic field copied as a string.
STRING_FIELDS = {
    "aid": "app_id",
    "p": "platform",
    "tna": "name_tracker",
    "tv": "v_tracker",
    "uid": "user_id",
    "ip": "user_ipaddress",
    "duid": "domain_userid",
    "sid": "domain_sessionid",
    "tnuid": "network_userid",
    "nuid": "network_userid",
    "url": "page_url",
    "page": "page_title",
    "refr": "page_referrer",
    "ua": "useragent",
    "lang": "br_lang",
    "tz": "os_timezone",
    "se_ca": "se_category",
    "se_ac": "se_action",
    "se_la": "se_label",
    "se_pr": "se_property",
}
MAX_FIELD_CHARS = 8192


class InvalidPayloadError(ValueError):
    """The payload breaks the tracker protocol; the message is the bad-event reason."""


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _millis(payload: Mapping[str, Any], name: str) -> float | None:
    """An epoch-milliseconds field as epoch seconds, or None when absent."""
    raw = payload.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw) / 1000.0
    except (TypeError, ValueError):
        raise InvalidPayloadError(f"field '{name}' must be epoch milliseconds, got {raw!r}") from None


def _json_field(payload: Mapping[str, Any], plain: str, encoded: str) -> Any:
    """A JSON field sent either plain (`ue_pr`, `co`) or base64url-encoded (`ue_px`, `cx`)."""
    if payload.get(plain) not in (None, ""):
        raw, name = payload[plain], plain
    elif payload.get(encoded) not in (None, ""):
        name = encoded
        text = str(payload[encoded])
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayloadError(f"field '{name}' is not valid base64") from None
    else:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidPayloadError(f"field '{name}' is not valid JSON") from None


def _self_describing(doc: Any, field: str) -> tuple[SchemaKey, Any]:
    if not isinstance(doc, dict) or "schema" not in doc or "data" not in doc:
        raise InvalidPayloadError(f"field '{field}' must be a self-describing JSON with 'schema' and 'data'")
    try:
        return SchemaKey.parse(doc["schema"]), doc["data"]
    except ValueError as exc:
        raise InvalidPayloadError(f"field '{field}': {exc}") from None


def _url_parts(prefix: str, url: str | None) -> dict[str, Any]:
    if not url:
        return {}
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return {}
    return {
        f"{prefix}_urlscheme": parts.scheme or None,
        f"{prefix}_urlhost": parts.hostname,
        f"{prefix}_urlport": port or {"http": 80, "https": 443}.get(parts.scheme),
        f"{prefix}_urlpath": parts.path or "/",
        f"{prefix}_urlquery": parts.query or None,
        f"{prefix}_urlfragment": parts.fragment or None,
    }


def enrich(payload: Mapping[str, Any], registry: SchemaRegistry, collector_time: float | None = None) -> CanonicalEvent:
    """Validate one tracker payload and build its canonical event.

    Raises `InvalidPayloadError` whose message is the reason the event is bad.
    """
    collector_time = time.time() if collector_time is None else collector_time
    e = payload.get("e")
    if not e:
        raise InvalidPayloadError("field 'e' (event type) is missing")
    event_id = payload.get("eid")
    try:
        event_id = str(uuid.UUID(str(event_id)))
    except ValueError:
        raise InvalidPayloadError(f"field 'eid' must be a UUID, got {event_id!r}") from None

    atomic: dict[str, Any] = {"event_id": event_id, "event_format": "jsonschema"}
    for source, target in STRING_FIELDS.items():
        value = payload.get(source)
        if value not in (None, ""):
            text = str(value)
            if len(text) > MAX_FIELD_CHARS:
                raise InvalidPayloadError(f"field '{source}' is longer than {MAX_FIELD_CHARS} characters")
            atomic[target] = text
    if not (atomic.get("domain_userid") or atomic.get("user_id") or atomic.get("network_userid")):
        raise InvalidPayloadError("no user identifier: one of 'duid', 'uid' or 'nuid' is required")
    if payload.get("vid") not in (None, ""):
        try:
            atomic["domain_sessionidx"] = int(payload["vid"])
        except (TypeError, ValueError):
            raise InvalidPayloadError(f"field 'vid' must be an integer, got {payload['vid']!r}") from None

    event_schema = event_data = None
    if e == "ue":
        outer = _json_field(payload, "ue_pr", "ue_px")
        if outer is None:
            raise InvalidPayloadError("self-describing event without 'ue_pr' or 'ue_px'")
        _, inner = _self_describing(outer, "ue_pr/ue_px")
        key, event_data = _self_describing(inner, "ue_pr/ue_px data")
        if (reason := registry.validate(key.uri, event_data)) is not None:
            raise InvalidPayloadError(reason)
        event_schema = key.uri
        atomic.update(event="unstruct", event_vendor=key.vendor, event_name=key.name, event_version=key.version)
    elif e in EVENT_TYPES:
        event, vendor, name, version = EVENT_TYPES[e]
        atomic.update(event=event, event_vendor=vendor, event_name=name, event_version=version)
    else:
        raise InvalidPayloadError(f"unknown event type e={e!r}")

    entities: list[dict[str, Any]] = []
    contexts = _json_field(payload, "co", "cx")
    if contexts is not None:
        _, items = _self_describing(contexts, "co/cx")
        if not isinstance(items, list):
            raise InvalidPayloadError("field 'co/cx' data must be a list of entities")
        for item in items:
            key, data = _self_describing(item, "co/cx entity")
            if (reason := registry.validate(key.uri, data)) is not None:
                raise InvalidPayloadError(reason)
            entities.append({"schema": key.uri, "data": data})

    created, sent, true = _millis(payload, "dtm"), _millis(payload, "stm"), _millis(payload, "ttm")
    if true is not None:
        derived = true
    elif created is not None and sent is not None:
        derived = collector_time - max(0.0, sent - created)
    else:
        derived = created if created is not None else collector_time
    atomic["collector_tstamp"] = _iso(collector_time)
    atomic["derived_tstamp"] = _iso(derived)
    for name, value in (("dvce_created_tstamp", created), ("dvce_sent_tstamp", sent), ("true_tstamp", true)):
        if value is not None:
            atomic[name] = _iso(value)
    atomic.update(_url_parts("page", atomic.get("page_url")))
    atomic.update(_url_parts("refr", atomic.get("page_referrer")))
    return CanonicalEvent(
        atomic=atomic, timestamp=derived, event_schema=event_schema, event_data=event_data, entities=entities
    )


def enrich_or_bad(
    payload: Mapping[str, Any], registry: SchemaRegistry, collector_time: float | None = None
) -> CanonicalEvent | BadEvent:
    """Like `enrich`, but an invalid payload becomes a `BadEvent` that keeps the payload."""
    collector_time = time.time() if collector_time is None else collector_time
    try:
        return enrich(payload, registry, collector_time)
    except InvalidPayloadError as exc:
        raw = orjson.dumps(dict(payload), default=str).decode()
        return BadEvent(reason=str(exc), payload=raw, received_at=collector_time)
