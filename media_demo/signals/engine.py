"""The embedded attribute engine: SDK attribute groups evaluated incrementally.

Each event updates only the attributes that listen to it, for the entity it
belongs to (e.g. its `domain_userid`). State lives in memory; durability is
the event log's job (`store.EventLog`) plus checkpoints of this state
(`dump_states`/`load_states`): the state is always a function of the events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from snowplow_signals import StreamAttributeGroup

from media_demo.signals.aggregations import Aggregation, Counter, make_aggregation
from media_demo.signals.coerce import coercer
from media_demo.signals.events import CanonicalEvent
from media_demo.signals.properties import Getter, Predicate, compile_criteria, compile_property

EventKey = tuple[str | None, str | None]
PlanKey = tuple[str | None, str | None, str | None]
Listener = tuple[int, "CompiledAttribute"]


def hashable(value: Any) -> Any:
    """Lists and objects from event data, as canonical JSON text so they can be counted."""
    if isinstance(value, (list, dict)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


@dataclass(slots=True)
class CompiledAttribute:
    """One SDK `Attribute`, compiled into functions of an event."""

    name: str
    aggregation: Aggregation
    value: Getter | None
    criteria: Predicate | None
    default: Any
    coerce: Callable[[Any], Any] | None
    event_versions: dict[EventKey, str | None]
    # Filled in by __post_init__ for the hot path.
    needs_value: bool = True
    update: Callable[[Any, Any, float], Any] | None = None
    # When the criteria are one `property = 'text'`, the engine looks the attribute
    # up by the property's value instead of testing every such attribute.
    equals: tuple[str, Getter, str] | None = None

    def __post_init__(self) -> None:
        self.needs_value = self.aggregation.needs_value
        self.update = self.aggregation.update

    def accepts(self, event: CanonicalEvent) -> bool:
        """Whether this event passes the attribute's criteria."""
        if self.equals is not None:
            _key, getter, expected = self.equals
            value = getter(event)
            return value is not None and str(value) == expected
        return self.criteria is None or self.criteria(event)

    def value_of(self, state: Any, now: float) -> Any:
        if state is None:
            return self.default
        result = self.aggregation.result(state, now)
        if result is None:
            return self.default
        return result if self.coerce is None else self.coerce(result)


def default_value(attribute: Any) -> Any:
    if attribute.default_value is not None:
        return attribute.default_value
    if attribute.aggregation in ("counter", "approx_count_distinct"):
        return 0
    if attribute.aggregation == "category_count" or attribute.type == "dict":
        return {}
    if attribute.type.endswith("_list") or attribute.aggregation == "unique_list":
        return []
    return None


def _single_equality(attribute: Any) -> tuple[str, Getter, str] | None:
    criteria = attribute.criteria
    if criteria is None or criteria.any or not criteria.all or len(criteria.all) != 1:
        return None
    (criterion,) = criteria.all
    if criterion.operator != "=" or not isinstance(criterion.value, str):
        return None
    return criterion.property.model_dump_json(), compile_property(criterion.property), criterion.value


def compile_attribute(attribute: Any) -> CompiledAttribute:
    """Compile one SDK `Attribute` (validating what the engine cannot evaluate)."""
    period = attribute.period.total_seconds() if attribute.period else None
    aggregation = make_aggregation(attribute.aggregation, attribute.time_unit, period)
    if aggregation.needs_value and attribute.property is None:
        raise ValueError(f"attribute {attribute.name!r}: aggregation {attribute.aggregation!r} needs a property")
    equals = _single_equality(attribute)
    return CompiledAttribute(
        name=attribute.name,
        aggregation=aggregation,
        value=compile_property(attribute.property) if attribute.property is not None else None,
        criteria=None if equals else compile_criteria(attribute.criteria),
        default=default_value(attribute),
        coerce=coercer(attribute.type),
        event_versions={(e.vendor, e.name): e.version for e in attribute.events},
        equals=equals,
    )


# What the hot loop needs of one attribute: (slot index, update, value getter, needs a value, is a counter).
Entry = tuple[int, Callable[[Any, Any, float], Any], Getter | None, bool, bool]


def _entry(index: int, attribute: CompiledAttribute) -> Entry:
    counter = isinstance(attribute.aggregation, Counter)
    return (index, attribute.aggregation.update, attribute.value, attribute.needs_value, counter)


@dataclass(slots=True)
class Plan:
    """What one kind of event does to a group.

    `fast` entries apply to every such event; `checked` attributes first test
    their criteria; `switches` pick attributes by the value of one property
    (criteria of the form `property = 'text'`).
    """

    fast: tuple[Entry, ...]
    checked: tuple[tuple[CompiledAttribute, Entry], ...]
    switches: tuple[tuple[Getter, dict[str, tuple[Entry, ...]]], ...]


def _plan(listeners: list[Listener]) -> Plan:
    fast: list[Entry] = []
    checked: list[tuple[CompiledAttribute, Entry]] = []
    switches: dict[str, tuple[Getter, dict[str, list[Entry]]]] = {}
    for index, attribute in listeners:
        entry = _entry(index, attribute)
        if attribute.equals is not None:
            key, getter, expected = attribute.equals
            switches.setdefault(key, (getter, {}))[1].setdefault(expected, []).append(entry)
        elif attribute.criteria is None:
            fast.append(entry)
        else:
            checked.append((attribute, entry))
    return Plan(
        fast=tuple(fast),
        checked=tuple(checked),
        switches=tuple((getter, {v: tuple(es) for v, es in table.items()}) for getter, table in switches.values()),
    )


@dataclass(slots=True)
class CompiledGroup:
    """An attribute group with its dispatch plans and per-entity states.

    Each entity's state is a list: one slot per attribute, then the time of
    the last event that changed it (for `ttl`).
    """

    definition: StreamAttributeGroup
    key: str
    attributes: list[CompiledAttribute]
    plans: dict[PlanKey, Plan]
    every_event: Plan
    ttl: float | None
    states: dict[str, list[Any]] = field(default_factory=dict)
    index_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index_of = {a.name: i for i, a in enumerate(self.attributes)}

    @property
    def id(self) -> str:
        return group_id(self.definition.name, self.definition.version or 1)

    def is_expired(self, state: list[Any], now: float) -> bool:
        """Whether the entity's attributes have outlived the group's `ttl`."""
        return self.ttl is not None and now - state[-1] > self.ttl


def group_id(name: str, version: int) -> str:
    """How Signals names a group version in fully qualified attribute names."""
    return f"{name}_v{version}"


def compile_group(group: StreamAttributeGroup) -> CompiledGroup:
    """Compile a group, indexing its attributes by the events they listen to."""
    key = group.attribute_key.name
    if key is None:
        raise ValueError(f"group {group.name!r}: attribute key has no name")
    attributes = [compile_attribute(a) for a in group.attributes]
    # (vendor, name, version or None) -> listeners. An event looks up its exact version
    # first, then None (attributes that take any version): no version test per attribute.
    by_event: dict[PlanKey, list[Listener]] = {}
    every: list[Listener] = []
    for i, compiled in enumerate(attributes):
        if not compiled.event_versions:
            every.append((i, compiled))
        for (vendor, name), version in compiled.event_versions.items():
            by_event.setdefault((vendor, name, version), []).append((i, compiled))
    for vendor, name, _version in list(by_event):
        by_event.setdefault((vendor, name, None), [])
    plans = {}
    for (vendor, name, version), listeners in by_event.items():
        any_version = by_event[(vendor, name, None)] if version is not None else []
        plans[(vendor, name, version)] = _plan(
            sorted(listeners + any_version, key=lambda listener: listener[0]) + every
        )
    return CompiledGroup(
        definition=group,
        key=key,
        attributes=attributes,
        plans=plans,
        every_event=_plan(every),
        ttl=group.ttl.total_seconds() if group.ttl else None,
    )


class AttributeEngine:
    """Keeps every group's attributes up to date, per entity, as events arrive."""

    def __init__(self, groups: Iterable[StreamAttributeGroup] = (), clock: Callable[[], float] = time.time) -> None:
        self._groups: dict[str, CompiledGroup] = {}
        self._clock = clock
        self.generation = 0  # bumped whenever the set of groups changes
        for group in groups:
            self.publish(group)

    def publish(self, group: StreamAttributeGroup) -> bool:
        """Add a group version; True if it is new (so it needs a backfill).

        Republishing an identical definition keeps its state; a changed
        definition under the same name and version starts empty.
        """
        compiled = compile_group(group)
        existing = self._groups.get(compiled.id)
        if existing is not None and existing.definition == group:
            return False
        self._groups[compiled.id] = compiled
        self.generation += 1
        return True

    @property
    def groups(self) -> list[StreamAttributeGroup]:
        return [g.definition for g in self._groups.values()]

    def ingest(self, event: CanonicalEvent, only: str | None = None) -> list[tuple[str, str]]:
        """Apply one event (to one group when `only` names it); return the (group, entity) pairs changed.

        This is the hot path (every event, every group), so it is written flat.
        """
        changed: list[tuple[str, str]] = []
        atomic = event.atomic
        vendor, name = atomic.get("event_vendor"), atomic.get("event_name")
        plan_key, any_version = (vendor, name, atomic.get("event_version")), (vendor, name, None)
        timestamp = event.timestamp
        groups = self._groups.items() if only is None else [(only, self._groups[only])]
        for gid, group in groups:
            entity = atomic.get(group.key)
            if entity is None:
                continue
            plan = group.plans.get(plan_key)
            if plan is None:
                plan = group.plans.get(any_version, group.every_event)
            entries = plan.fast
            if plan.checked:
                passed = tuple(entry for attribute, entry in plan.checked if attribute.accepts(event))
                if passed:
                    entries = entries + passed
            for getter, table in plan.switches:
                selector = getter(event)
                if selector is not None:
                    entries = entries + table.get(selector if selector.__class__ is str else str(selector), ())
            states = None
            for index, update, getter, needs_value, counter in entries:
                value = None
                if getter is not None:
                    value = getter(event)
                    if value is None:
                        if needs_value:
                            continue
                    elif value.__class__ is list or value.__class__ is dict:
                        value = hashable(value)
                if states is None:
                    states = group.states.get(entity)
                    if states is None or (group.ttl is not None and timestamp - states[-1] > group.ttl):
                        states = group.states[entity] = [None] * len(group.attributes) + [timestamp]
                if counter:
                    current = states[index]
                    states[index] = 1 if current is None else current + 1
                else:
                    states[index] = update(states[index], value, timestamp)
            if states is not None:
                if timestamp > states[-1]:
                    states[-1] = timestamp
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
        """Current values of a group's attributes for one entity (defaults when unseen or expired)."""
        group = self._group(name, version)
        wanted = set(attributes) if attributes is not None else None
        now = self._clock()
        states = group.states.get(entity)
        if states is not None and group.is_expired(states, now):
            states = None
        return {
            a.name: a.value_of(None if states is None else states[i], now)
            for i, a in enumerate(group.attributes)
            if wanted is None or a.name in wanted
        }

    def merged_attributes(
        self, name: str, entities: Iterable[str], version: int | None = None, attributes: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """A group's attributes over several entities at once, as if their events had been one stream.

        Identity stitching reads a signed-in reader this way: the merge of their
        devices' states, so each event counts once whichever device it came from.
        """
        group = self._group(name, version)
        wanted = set(attributes) if attributes is not None else None
        now = self._clock()
        live = [s for e in dict.fromkeys(entities) if (s := group.states.get(e)) is not None]
        live = [s for s in live if not group.is_expired(s, now)]
        result = {}
        for i, attribute in enumerate(group.attributes):
            if wanted is not None and attribute.name not in wanted:
                continue
            state = None
            for states in live:
                if states[i] is not None:
                    state = states[i] if state is None else attribute.aggregation.merge(state, states[i])
            result[attribute.name] = attribute.value_of(state, now)
        return result

    def resolve(self, reference: str) -> str | None:
        """A group id from `name_vN` or `name` (its latest version); None when unknown."""
        if reference in self._groups:
            return reference
        try:
            return self._group(reference, None).id
        except KeyError:
            return None

    def value(self, gid: str, entity: str | None, attribute: str) -> Any:
        """One attribute of one entity, by group id: the fast path for interventions."""
        group = self._groups[gid]
        index = group.index_of[attribute]
        compiled = group.attributes[index]
        now = self._clock()
        states = group.states.get(entity) if entity is not None else None
        if states is None or group.is_expired(states, now):
            return compiled.default
        return compiled.value_of(states[index], now)

    def has_state(self, gid: str, entity: str) -> bool:
        return entity in self._groups[gid].states

    def key_of(self, gid: str) -> str:
        return self._groups[gid].key

    def attribute_names(self, gid: str) -> list[str]:
        return [a.name for a in self._groups[gid].attributes]

    def entities(self, name: str, version: int | None = None) -> int:
        """How many entities have state in a group."""
        return len(self._group(name, version).states)

    def forget(self, entities: Iterable[str]) -> None:
        """Drop every state held for these entities in any group."""
        for entity in entities:
            for group in self._groups.values():
                group.states.pop(entity, None)

    # Checkpoints: states as JSON, so a restart need not replay the whole log.

    def dump_states(self, gid: str, entities: Iterable[str] | None = None) -> Iterator[tuple[str, bytes]]:
        """(entity, JSON state) for the given entities of group `gid` (all when None)."""
        group = self._groups[gid]
        for entity in group.states if entities is None else entities:
            states = group.states.get(entity)
            if states is None:
                continue
            doc = [None if s is None else a.aggregation.dump(s) for a, s in zip(group.attributes, states, strict=False)]
            doc.append(states[-1])
            yield entity, orjson.dumps(doc)

    def load_state(self, gid: str, entity: str, raw: bytes) -> None:
        group = self._groups[gid]
        doc = orjson.loads(raw)
        states = [None if d is None else a.aggregation.load(d) for a, d in zip(group.attributes, doc, strict=False)]
        group.states[entity] = [*states, doc[-1]]

    def group_ids(self) -> list[str]:
        return list(self._groups)

    def definition(self, gid: str) -> StreamAttributeGroup:
        return self._groups[gid].definition
