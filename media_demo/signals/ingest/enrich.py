"""Turn Snowplow tracker-protocol payloads into canonical events (or bad events).

Both routes into the engine use this one function: the in-process emitter of
the app's own tracker and the HTTP collector endpoint. So both produce the
same records, and what the engine sees does not depend on how it arrived.

Which parameter fills which atomic field, with what type and limit, is the
table in `media_demo.signals.ingest.protocol`; a value it refuses makes the event bad.
Besides the tracker's own fields it derives what Snowplow's enrichments do:
referrer medium/source/term (referer parser), `utm_*` campaign fields
(campaign attribution) and browser/OS/device from the user agent. The
user-agent parse is cached because a reader sends the same string on every event.
Derived fields are held to the atomic schema's lengths too, as Snowplow's enrich does.
"""

from __future__ import annotations

import base64
import binascii
import sys
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import orjson
from ua_parser import parse as parse_user_agent

from media_demo.signals.engine.events import BadEvent, CanonicalEvent
from media_demo.signals.engine.timestamps import iso_from_epoch_millis, iso_millis
from media_demo.signals.ingest import referers
from media_demo.signals.ingest.iglu import SchemaKey, SchemaRegistry
from media_demo.signals.ingest.protocol import derived_checks, derived_problems, read_parameters

SNOWPLOW = "com.snowplowanalytics.snowplow"
# Tracker protocol `e` values -> (event, event_vendor, event_name, event_version); `ev` is the legacy `se`.
EVENT_TYPES: dict[str, tuple[str, str, str, str]] = {
    "pv": ("page_view", SNOWPLOW, "page_view", "1-0-0"),
    "pp": ("page_ping", SNOWPLOW, "page_ping", "1-0-0"),
    "se": ("struct", "com.google.analytics", "event", "1-0-0"),
    "ev": ("struct", "com.google.analytics", "event", "1-0-0"),
    "tr": ("transaction", SNOWPLOW, "transaction", "1-0-0"),
    "ti": ("transaction_item", SNOWPLOW, "transaction_item", "1-0-0"),
}
# Derived fields whose atomic-schema lengths are checked, by the parameter they come from.
PAGE_CHECKS = derived_checks("page_urlscheme", "page_urlhost", "page_urlpath", "page_urlquery", "page_urlfragment")
REFERRER_CHECKS = derived_checks(
    "refr_urlscheme",
    "refr_urlhost",
    "refr_urlpath",
    "refr_urlquery",
    "refr_urlfragment",
    "refr_medium",
    "refr_source",
    "refr_term",
)
MARKETING_CHECKS = derived_checks(
    "mkt_medium", "mkt_source", "mkt_term", "mkt_content", "mkt_campaign", "mkt_clickid", "mkt_network"
)
USER_AGENT_CHECKS = derived_checks("br_family", "br_version", "os_family", "dvce_type")
# Campaign attribution: page URL query parameter -> atomic field (Snowplow's defaults).
CAMPAIGN_FIELDS = {
    "utm_medium": "mkt_medium",
    "utm_source": "mkt_source",
    "utm_term": "mkt_term",
    "utm_content": "mkt_content",
    "utm_campaign": "mkt_campaign",
}
# Click-id parameter -> ad network (`mkt_clickid`, `mkt_network`), also Snowplow's defaults.
CLICK_IDS = {"gclid": "Google", "msclkid": "Microsoft", "dclid": "DoubleClick"}
MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS"})
COMPUTER_OS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Debian", "Fedora", "Chrome OS", "FreeBSD", "OpenBSD", "NetBSD"}
)
# Not people, beyond the crawlers ua-parser already files under the "Spider" device: headless browsers
# and HTTP libraries (lower-case substrings; not a bare "bot", which CUBOT phones contain).
ROBOT_MARKERS = ("headless", "curl/", "wget/", "python-", "python/", "go-http-client", "java/", "libwww")


class InvalidPayloadError(ValueError):
    """The payload breaks the tracker protocol; the message is the bad-event reason."""


def _json_field(payload: Mapping[str, Any], plain: str, encoded: str) -> Any:
    """A JSON field sent either plain (`ue_pr`, `co`) or base64url-encoded (`ue_px`, `cx`)."""
    if payload.get(plain) not in (None, ""):
        raw, name = payload[plain], plain
        if not isinstance(raw, str | bytes):
            raise InvalidPayloadError(f"field '{name}' must be JSON text, got a {type(raw).__name__}")
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


def _bare(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def referer_fields(refr_host: str | None, refr_query: str | None, page_host: str | None) -> dict[str, str]:
    """`refr_medium`, `refr_source`, `refr_term` like Snowplow's referer parser.

    `internal` when the referrer is the page's own host (ignoring `www.`), a listed
    search/social/email site, else `unknown`. No referrer, no fields.
    """
    if not refr_host:
        return {}
    if page_host and _bare(refr_host) == _bare(page_host):
        return {"refr_medium": "internal"}
    found = referers.classify(refr_host)
    if found is None:
        return {"refr_medium": "unknown"}
    medium, source, term_params = found
    fields = {"refr_medium": medium, "refr_source": source}
    if term_params and refr_query:
        values = parse_qs(refr_query)
        for name in term_params:
            term = values.get(name, [""])[0].strip()
            if term:
                fields["refr_term"] = term
                break
    return fields


def campaign_fields(page_query: str | None) -> dict[str, str]:
    """`mkt_*` from the page URL's `utm_*` and click-id parameters (the first value of each wins)."""
    if not page_query or ("utm_" not in page_query and "clid" not in page_query):
        return {}
    fields: dict[str, str] = {}
    for name, value in parse_qsl(page_query):
        if not value:
            continue
        if (target := CAMPAIGN_FIELDS.get(name)) is not None:
            fields.setdefault(target, value)
        elif name in CLICK_IDS and "mkt_clickid" not in fields:
            fields["mkt_clickid"], fields["mkt_network"] = value, CLICK_IDS[name]
    return fields


def _device_type(useragent: str, os_family: str | None, device_family: str | None) -> str:
    """Computer / Mobile / Tablet / Robot / Unknown, the classes of Snowplow's `dvce_type`."""
    lowered = useragent.lower()
    if device_family == "Spider" or any(marker in lowered for marker in ROBOT_MARKERS):
        return "Robot"
    device = (device_family or "").lower()
    if "ipad" in device or "tablet" in device or "kindle" in device:
        return "Tablet"
    if os_family == "Android" and "mobile" not in lowered:  # Android tablets leave "Mobile" out
        return "Tablet"
    if os_family in MOBILE_OS or "mobi" in lowered:
        return "Mobile"
    if os_family in COMPUTER_OS:
        return "Computer"
    return "Unknown"


@lru_cache(maxsize=4096)
def user_agent_fields(useragent: str) -> tuple[tuple[str, str | bool], ...]:
    """`br_family`, `br_version`, `os_family`, `dvce_type`, `dvce_ismobile` of a user agent.

    Parsed with ua-parser (about a millisecond each, so cached); a tuple of pairs so
    that the cached value cannot be changed by a caller.
    """
    result = parse_user_agent(useragent)
    browser, system, device = result.user_agent, result.os, result.device
    dvce_type = _device_type(useragent, system.family if system else None, device.family if device else None)
    fields: dict[str, str | bool] = {
        "br_family": browser.family if browser else "Unknown",
        "os_family": system.family if system else "Unknown",
        "dvce_type": dvce_type,
        "dvce_ismobile": dvce_type in ("Mobile", "Tablet"),
    }
    if browser:
        parts = [p for p in (browser.major, browser.minor, browser.patch, browser.patch_minor) if p]
        if parts:
            fields["br_version"] = ".".join(parts)
    return tuple(fields.items())


@lru_cache(maxsize=4096)
def _user_agent_problems(useragent: str) -> tuple[str, ...]:
    """Reasons the user agent's derived fields break the atomic schema's lengths (cached with the parse)."""
    return tuple(derived_problems(dict(user_agent_fields(useragent)), USER_AGENT_CHECKS, sys.maxsize))


def enrich(payload: Mapping[str, Any], registry: SchemaRegistry, collector_time: float | None = None) -> CanonicalEvent:
    """Validate one tracker payload and build its canonical event.

    Every protocol parameter becomes its atomic field with its canonical type
    (`media_demo.signals.ingest.protocol`). Raises `InvalidPayloadError` whose message
    is the reason the event is bad: every refused value, each naming its
    parameter and atomic field.
    """
    collector_time = time.time() if collector_time is None else collector_time
    e = payload.get("e")
    if not e:
        raise InvalidPayloadError("field 'e' (event type) is missing")
    if not isinstance(e, str):
        raise InvalidPayloadError(f"field 'e' (event type) must be a string, got {e!r}")

    atomic: dict[str, Any] = {"event_format": "jsonschema"}
    times: dict[str, int] = {}
    if (refused := read_parameters(payload, atomic, times)) is not None:
        raise InvalidPayloadError("; ".join(refused))
    if "event_id" not in atomic:
        raise InvalidPayloadError("field 'eid' (event_id) is missing: every event needs a UUID")
    if not (atomic.get("domain_userid") or atomic.get("user_id") or atomic.get("network_userid")):
        raise InvalidPayloadError("no user identifier: one of 'duid', 'uid' or 'nuid' is required")

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

    created, sent = times.get("dvce_created_tstamp"), times.get("dvce_sent_tstamp")
    true = times.get("true_tstamp")
    if true is not None:
        derived, derived_iso = true / 1000.0, iso_from_epoch_millis(true)
    elif created is not None and sent is not None:
        derived = collector_time - max(0.0, (sent - created) / 1000.0)
        derived_iso = iso_millis(derived)
    elif created is not None:
        derived, derived_iso = created / 1000.0, iso_from_epoch_millis(created)
    else:
        derived, derived_iso = collector_time, iso_millis(collector_time)
    atomic["collector_tstamp"] = iso_millis(collector_time)
    atomic["derived_tstamp"] = derived_iso
    for name, millis in times.items():
        atomic[name] = iso_from_epoch_millis(millis)
    problems: list[str] = []
    if "page_url" in atomic:
        atomic.update(_url_parts("page", atomic["page_url"]))
        problems += derived_problems(atomic, PAGE_CHECKS, len(atomic["page_url"]))
    if "page_referrer" in atomic:
        atomic.update(_url_parts("refr", atomic["page_referrer"]))
        refr_host, refr_query = atomic.get("refr_urlhost"), atomic.get("refr_urlquery")
        atomic.update(referer_fields(refr_host, refr_query, atomic.get("page_urlhost")))
        problems += derived_problems(atomic, REFERRER_CHECKS, len(atomic["page_referrer"]))
    if marketing := campaign_fields(atomic.get("page_urlquery")):
        atomic.update(marketing)
        problems += derived_problems(atomic, MARKETING_CHECKS, len(atomic["page_url"]))
    if "useragent" in atomic:
        atomic.update(user_agent_fields(atomic["useragent"]))
        problems += _user_agent_problems(atomic["useragent"])
    if problems:
        raise InvalidPayloadError("; ".join(problems))
    return CanonicalEvent(
        atomic=atomic, timestamp=derived, event_schema=event_schema, event_data=event_data, entities=entities
    )


def enrich_or_bad(
    payload: Mapping[str, Any], registry: SchemaRegistry, collector_time: float | None = None
) -> CanonicalEvent | BadEvent:
    """Like `enrich`, but an invalid payload becomes a `BadEvent` that keeps the payload.

    An unexpected error is a bad event too (Snowplow's "enrichment failure"): a
    payload from the network must never take the pipeline down.
    """
    collector_time = time.time() if collector_time is None else collector_time
    try:
        return enrich(payload, registry, collector_time)
    except InvalidPayloadError as exc:
        reason = str(exc)
    except Exception as exc:
        reason = f"enrichment failed: {type(exc).__name__}: {exc}"
    raw = orjson.dumps(dict(payload), default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return BadEvent(reason=reason, payload=raw, received_at=collector_time)
