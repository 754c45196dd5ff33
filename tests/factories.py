"""Small builders for canonical events, shared by unit tests and benchmarks."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.signals.engine.events import CanonicalEvent

SNOWPLOW = "com.snowplowanalytics.snowplow"
_ids = itertools.count()


def page_view(user: str = "u1", timestamp: float = 0.0, **atomic: Any) -> CanonicalEvent:
    fields = {
        "event_id": str(uuid.UUID(int=next(_ids))),
        "event": "page_view",
        "event_vendor": SNOWPLOW,
        "event_name": "page_view",
        "event_version": "1-0-0",
        "domain_userid": user,
    }
    fields.update(atomic)
    return CanonicalEvent(atomic=fields, timestamp=timestamp)


def self_describing(
    schema: str, data: dict[str, Any], user: str = "u1", timestamp: float = 0.0, **atomic: Any
) -> CanonicalEvent:
    _, path = schema.split(":", 1)
    vendor, name, _format, version = path.split("/")
    fields = {
        "event_id": str(uuid.UUID(int=next(_ids))),
        "event": "unstruct",
        "event_vendor": vendor,
        "event_name": name,
        "event_version": version,
        "domain_userid": user,
    }
    fields.update(atomic)
    return CanonicalEvent(atomic=fields, timestamp=timestamp, event_schema=schema, event_data=data)


def article_view(
    slug: str, category: str, user: str = "u1", timestamp: float = 0.0, title: str | None = None
) -> CanonicalEvent:
    data = {"slug": slug, "title": title or slug.replace("-", " "), "category": category}
    return self_describing(ARTICLE_SCHEMA, data, user=user, timestamp=timestamp)
