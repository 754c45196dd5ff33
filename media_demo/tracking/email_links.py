"""The addresses in a digest that report back: its open pixel and its tracked story links.

A mail cannot run a tracker, so each address is one tracker-protocol payload in a
query string, the way Snowplow's pixel tracker writes them: the open pixel is a
`GET /i` of an `email_open` event, a story link a `GET /r/tp2` whose collector
records a `uri_redirect` event with the link's `email_link` entity, then sends the
reader on to the story. Both carry the subscriber's `user_id` and no device, under
the site's e-mail app id (`email_app_id`), and no event id: the same address is
loaded each time the mail is opened, so the collector gives each load its own.

Pure functions: the digest builds every address of a mail once, before it is sent.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from media_demo.definitions import EMAIL_LINK_SCHEMA, EMAIL_OPEN_SCHEMA
from media_demo.signals.engine.consent import email_app_id

PIXEL_TRACKER_VERSION = "no-js-0.1.0"  # `tv` of Snowplow's pixel tracker, which the collector recognises
PIXEL_PATH = "/i"
REDIRECT_PATH = "/r/tp2"
UNSTRUCT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"

__all__ = ["click_url", "email_app_id", "open_pixel_url"]


def _base64url(document: Any) -> str:
    """JSON as unpadded base64url, as trackers put it in a URL (`ue_px`, `cx`)."""
    return base64.urlsafe_b64encode(orjson.dumps(document)).decode("ascii").rstrip("=")


def _web_address(name: str, value: str) -> str:
    """`value` checked to be an absolute http(s) address; ValueError naming `name` otherwise."""
    try:
        parts = urlsplit(value)
    except ValueError:  # brackets around something that is not an IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name}: must be an absolute http or https address, got {value[:200]!r}")
    return value


def _text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    return value


def _digest_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"digest_id: must be a UUID, got {value!r}") from None


def _common(app_id: str, user_id: str) -> dict[str, str]:
    """The fields every e-mail payload carries: the pixel tracker, the e-mail app, the subscriber."""
    return {
        "tv": PIXEL_TRACKER_VERSION,
        "p": "web",
        "aid": email_app_id(_text("app_id", app_id)),
        "uid": _text("user_id", user_id),
    }


def open_pixel_url(api_base: str, app_id: str, user_id: str, digest_id: str) -> str:
    """The open pixel of one digest for one subscriber: `<api_base>/i?...` tracking `email_open`.

    `app_id` is the site's (`Settings.snowplow_app_id`); the address carries its e-mail app id.
    """
    base = _web_address("api_base", api_base).rstrip("/")
    event = {"schema": EMAIL_OPEN_SCHEMA, "data": {"digest_id": _digest_id(digest_id)}}
    params = {**_common(app_id, user_id), "e": "ue", "ue_px": _base64url({"schema": UNSTRUCT_SCHEMA, "data": event})}
    return f"{base}{PIXEL_PATH}?{urlencode(params)}"


def click_url(
    api_base: str, target: str, app_id: str, user_id: str, digest_id: str, position: int, slug: str, section: str
) -> str:
    """A story link of a digest: `<api_base>/r/tp2?u=<target>&...`, which records the click and redirects.

    No `e`: the collector records Snowplow's `uri_redirect` event with the `email_link` entity
    (`position` counts from 1 down the digest). `target` must be an address the collector
    redirects to (the site's, see `Settings.site_url`); `app_id` is the site's, as in `open_pixel_url`.
    """
    base = _web_address("api_base", api_base).rstrip("/")
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise ValueError(f"position: must be a whole number from 1, got {position!r}")
    link = {
        "digest_id": _digest_id(digest_id),
        "position": position,
        "slug": _text("slug", slug),
        "section": _text("section", section),
    }
    contexts = {"schema": CONTEXTS_SCHEMA, "data": [{"schema": EMAIL_LINK_SCHEMA, "data": link}]}
    params = {"u": _web_address("target", target), **_common(app_id, user_id), "cx": _base64url(contexts)}
    return f"{base}{REDIRECT_PATH}?{urlencode(params)}"
