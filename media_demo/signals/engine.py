"""The embedded attribute engine: SDK attribute groups evaluated incrementally.

Each event updates only the attributes that listen to it, for the entity it
belongs to (e.g. its `domain_userid`). State lives in memory; durability is
the event log's job (`store.EventLog`): the state is always a function of
the events, so it can be rebuilt by replaying them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from snowplow_signals import StreamAttributeGroup

from media_demo.signals.aggregations import Aggregation, make_aggregation
from media_demo.signals.events import CanonicalEvent
from media_demo.signals.properties import Getter, Predicate, compile_criteria, compile_property

EventKey = tuple[str | None, str | None]


@dataclass(slots=True)
class CompiledAttribute:
    """One SDK `Attribute`, compiled into functions of an event."""

    name: str
    type: str
    aggregation: Aggregation
    value: Getter | None
    criteria: Predicate | None
    default: Any
    event_versions: dict[EventKey, str | None]

    def value_of(self, state: Any, now: float) -> Any:
        return self.default if state is None else self.aggregation.result(state, now)


def _default_for(attribute: Any) -> Any:
    if attribute.default_value is not None:
        return attribute.default_value
    if attribute.aggregation in ("counter", "approx_count_distinct"):
        return 0
    if attribute.aggregation == "category_count" or attribute.type == "dict":
        return {}
    if attribute.type.endswith("_list"):
        return []
    return None


def compile_attribute(attribute: Any) -> CompiledAttribute:
    """Compile one SDK `Attribute` (validating what the engine cannot evaluate)."""
    aggregation = make_aggregation(attribute.aggregation, attribute.time_unit)
    if aggregation.needs_value and attribute.property is None:
        raise ValueError(f"attribute {attribute.name!r}: aggregation {attribute.aggregation!r} needs a property")
    return CompiledAttribute(
        name=attribute.name,
        type=attribute.type,
        aggregation=aggregation,
        value=compile_property(attribute.property) if attribute.property is not None else None,
        criteria=compile_criteria(attribute.criteria),
        default=_default_for(attribute),
        event_versions={(e.vendor, e.name): e.version for e in attribute.events},
    )


@dataclass(slots=True)
class CompiledGroup:
    """An attribute group with its dispatch table and per-entity states."""

    definition: StreamAttributeGroup
    key: str
    attributes: list[CompiledAttribute]
    by_event: dict[EventKey, tuple[tuple[int, CompiledAttribute], ...]]
    every_event: tuple[tuple[int, CompiledAttribute], ...]
    states: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return group_id(self.definition.name, self.definition.version or 1)


def group_id(name: str, version: int) -> str:
    """How Signals names a group version in fully qualified attribute names."""
    return f"{name}_v{version}"


def compile_group(group: StreamAttributeGroup) -> CompiledGroup:
    """Compile a group, indexing its attributes by the events they listen to."""
    key = group.attribute_key.name
    if key is None:
        raise ValueError(f"group {group.name!r}: attribute key has no name")
    attributes = [compile_attribute(a) for a in group.attributes]
    by_event: dict[EventKey, list[tuple[int, CompiledAttribute]]] = {}
    every: list[tuple[int, CompiledAttribute]] = []
    for i, compiled in enumerate(attributes):
        if not compiled.event_versions:
            every.append((i, compiled))
        for event_key in compiled.event_versions:
            by_event.setdefault(event_key, []).append((i, compiled))
    return CompiledGroup(
        definition=group,
        key=key,
        attributes=attributes,
        by_event={k: tuple(v) for k, v in by_event.items()},
        every_event=tuple(every),
    )


class AttributeEngine:
    """Keeps every group's attributes up to date, per entity, as events arrive."""

    def __init__(self, groups: Iterable[StreamAttributeGroup] = (), clock: Callable[[], float] = time.time) -> None:
        self._groups: dict[str, CompiledGroup] = {}
        self._clock = clock
        for group in groups:
            self.publish(group)

    def publish(self, group: StreamAttributeGroup) -> None:
        """Add a group version (replacing one with the same name and version)."""
        compiled = compile_group(group)
        self._groups[compiled.id] = compiled

    @property
    def groups(self) -> list[StreamAttributeGroup]:
        return [g.definition for g in self._groups.values()]

    def ingest(self, event: CanonicalEvent) -> list[tuple[str, str]]:
        """Apply one event; return the (group id, entity id) pairs it changed."""
        changed: list[tuple[str, str]] = []
        event_key = (event.atomic.get("event_vendor"), event.atomic.get("event_name"))
        timestamp = event.timestamp
        for gid, group in self._groups.items():
            entity = event.atomic.get(group.key)
            if entity is None:
                continue
            listeners = group.by_event.get(event_key, ())
            if group.every_event:
                listeners = listeners + group.every_event
            if not listeners:
                continue
            states = group.states.get(entity)
            touched = False
            for index, attribute in listeners:
                wanted_version = attribute.event_versions.get(event_key)
                if wanted_version is not None and wanted_version != event.atomic.get("event_version"):
                    continue
                if attribute.criteria is not None and not attribute.criteria(event):
                    continue
                value = None
                if attribute.value is not None:
                    value = attribute.value(event)
                    if value is None and attribute.aggregation.needs_value:
                        continue
                if states is None:
                    states = group.states[entity] = [None] * len(group.attributes)
                states[index] = attribute.aggregation.update(states[index], value, timestamp)
                touched = True
            if touched:
                changed.append((gid, entity))
        return changed

    def _group(self, name: str, version: int | None) -> CompiledGroup:
        if version is not None:
            group = self._groups.get(group_id(name, version))
        else:
            versions = [g for g in self._groups.values() if g.definition.name == name]
            group = max(versions, key=lambda g: g.definition.version or 1) if versions else None
        if group is None:
            raise KeyError(f"unknown attribute group {name!r}" + (f" version {version}" if version else ""))
        return group

    def get_attributes(
        self, name: str, entity: str, version: int | None = None, attributes: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Current values of a group's attributes for one entity (defaults when unseen)."""
        group = self._group(name, version)
        wanted = set(attributes) if attributes is not None else None
        states = group.states.get(entity)
        now = self._clock()
        return {
            a.name: a.value_of(None if states is None else states[i], now)
            for i, a in enumerate(group.attributes)
            if wanted is None or a.name in wanted
        }

    def entities(self, name: str, version: int | None = None) -> int:
        """How many entities have state in a group."""
        return len(self._group(name, version).states)
