"""The canonical, enriched-event-like record that every route into the engine produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

PAGE_VIEW = ("com.snowplowanalytics.snowplow", "page_view")


@dataclass(slots=True)
class CanonicalEvent:
    """One good event, shaped like a row of Snowplow's enriched events.

    `atomic` holds the atomic fields by their Snowplow names (`event_name`,
    `domain_userid`, `page_urlpath`, ...); `event_data` the self-describing
    event's data (validated); `entities` the attached context entities.
    `timestamp` (epoch seconds, the derived timestamp) orders events in time.
    """

    atomic: dict[str, Any]
    timestamp: float
    event_schema: str | None = None
    event_data: dict[str, Any] | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def event_id(self) -> str:
        """The event's UUID (`eid`): every good event has one, so this never fails."""
        return self.atomic["event_id"]

    @property
    def key(self) -> tuple[str | None, str | None]:
        """(event_vendor, event_name): what attribute definitions select on."""
        return self.atomic.get("event_vendor"), self.atomic.get("event_name")

    def to_json(self) -> bytes:
        """The event as the log stores it (`from_json` reads it back)."""
        return orjson.dumps(
            {
                "atomic": self.atomic,
                "timestamp": self.timestamp,
                "event_schema": self.event_schema,
                "event_data": self.event_data,
                "entities": self.entities,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> CanonicalEvent:
        """The event `to_json` wrote."""
        doc = orjson.loads(raw)
        return cls(
            atomic=doc["atomic"],
            timestamp=doc["timestamp"],
            event_schema=doc["event_schema"],
            event_data=doc["event_data"],
            entities=doc["entities"],
        )


@dataclass(frozen=True, slots=True)
class BadEvent:
    """A payload that could not become a good event, kept with the reason why."""

    reason: str
    payload: str
    received_at: float
