"""The embedded attribute engine, Signals-style (no Reflex imports)."""

from media_demo.signals.engine import AttributeEngine
from media_demo.signals.enrich import InvalidPayloadError, enrich, enrich_or_bad
from media_demo.signals.events import BadEvent, CanonicalEvent
from media_demo.signals.iglu import SchemaKey, SchemaRegistry
from media_demo.signals.store import EventLog

__all__ = [
    "AttributeEngine",
    "BadEvent",
    "CanonicalEvent",
    "EventLog",
    "InvalidPayloadError",
    "SchemaKey",
    "SchemaRegistry",
    "enrich",
    "enrich_or_bad",
]
