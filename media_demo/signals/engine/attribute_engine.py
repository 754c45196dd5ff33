"""The embedded attribute engine: SDK attribute groups evaluated incrementally.

Each event updates only the attributes that listen to it, for the entity it
belongs to (e.g. its `domain_userid`). State lives in memory; durability is
the event log's job (`store.EventLog`) plus checkpoints of this state
(`dump_states`/`load_states`): the state is always a function of the events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from snowplow_signals import StreamAttributeGroup

from media_demo.signals.engine.aggregations import Aggregation, Counter, make_aggregation
from media_demo.signals.engine.coerce import coercer
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.properties import (
    Extractor,
    Getter,
    Predicate,
    Property,
    compile_criteria,
    compile_extractor,
    compile_property,
    property_key,
)

EventKey = tuple[str | None, str | None]
PlanKey = tuple[str | None, str | None, str | None]
Listener = tuple[int, "CompiledAttribute"]
Route = tuple[tuple[str, "CompiledGroup", "Plan"], ...]


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
    # The SDK property behind `value`, and behind `equals`' getter: a plan reads each property once per event.
    value_property: Property | None = None
    equals_property: Property | None = None
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


def _single_equality(attribute: Any) -> Any:
    """The criterion when the criteria are exactly one `property = 'text'`, else None."""
    criteria = attribute.criteria
    if criteria is None or criteria.any or not criteria.all or len(criteria.all) != 1:
        return None
    (criterion,) = criteria.all
    if criterion.operator != "=" or not isinstance(criterion.value, str):
        return None
    return criterion


def compile_attribute(attribute: Any) -> CompiledAttribute:
    """Compile one SDK `Attribute` (validating what the engine cannot evaluate)."""
    period = attribute.period.total_seconds() if attribute.period else None
    aggregation = make_aggregation(attribute.aggregation, attribute.time_unit, period)
    if aggregation.needs_value and attribute.property is None:
        raise ValueError(f"attribute {attribute.name!r}: aggregation {attribute.aggregation!r} needs a property")
    equality = _single_equality(attribute)
    prop = equality.property if equality is not None else None
    return CompiledAttribute(
        name=attribute.name,
        aggregation=aggregation,
        value=compile_property(attribute.property) if attribute.property is not None else None,
        criteria=None if equality else compile_criteria(attribute.criteria),
        default=default_value(attribute),
        coerce=coercer(attribute.type),
        event_versions={(e.vendor, e.name): e.version for e in attribute.events},
        value_property=attribute.property,
        equals_property=prop,
        equals=(property_key(prop), compile_property(prop), equality.value) if equality is not None else None,
    )


Update = Callable[[Any, Any, float], Any]
# What one event does to one entity's states, split by how cheap each kind is:
# counters (state indexes, incremented inline), attributes that take every event and ignore
# values ((index, update): counters with a window, time since first/last), and attributes
# that need a value ((index, update, update for an in-order event, slot of the value in the
# plan's extracted values); see `Aggregation.update_in_order`).
Work = tuple[tuple[int, ...], tuple[tuple[int, Update], ...], tuple[tuple[int, Update, Update, int], ...]]
NOTHING: Work = ((), (), ())


def _join(a: Work, b: Work) -> Work:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


@dataclass(slots=True)
class Plan:
    """What one kind of event does to a group.

    `extract` reads, once per event, every property the plan's attributes use
    (work items and switches refer to those values by slot), so an event pays
    for each property once, not once per attribute. `fast` work applies to
    every such event; `checked` attributes first test their criteria;
    `switches` pick attributes by the value of one property (criteria
    `property = 'text'`).

    The app's plans have at most one switch and nothing checked: for those,
    `switch` is the switch's value slot and `switched` maps each value to its
    work already joined to `fast`, so the hot loop picks one tuple and
    concatenates nothing. `general` marks the plans that need `select`.
    """

    extract: Extractor | None
    fast: Work
    checked: tuple[tuple[CompiledAttribute, Work], ...]
    switches: tuple[tuple[int, dict[str, Work]], ...]
    switch: int | None = None
    switched: dict[str, Work] = field(default_factory=dict)
    general: bool = False

    def __post_init__(self) -> None:
        if len(self.switches) == 1 and not self.checked:
            self.switch, table = self.switches[0]
            self.switched = {value: _join(self.fast, work) for value, work in table.items()}
        self.general = bool(self.checked or self.switches) and self.switch is None

    @property
    def empty(self) -> bool:
        """Whether no attribute listens to this kind of event (the engine then skips the group)."""
        return self.fast == NOTHING and not (self.checked or self.switches)

    def select(self, event: CanonicalEvent, values: Sequence[Any]) -> Work:
        """The work that applies to `event`: the fast work, that of attributes whose criteria pass, the switches'."""
        work = self.fast
        for attribute, more in self.checked:
            if attribute.accepts(event):
                work = _join(work, more)
        for slot, table in self.switches:
            selector = values[slot]
            if selector is not None:
                more = table.get(selector if selector.__class__ is str else str(selector))
                if more is not None:
                    work = _join(work, more)
        return work


def _plan(listeners: list[Listener]) -> Plan:
    slots: dict[str, int] = {}
    properties: list[Property] = []

    def slot(prop: Property) -> int:
        key = property_key(prop)
        if key not in slots:
            slots[key] = len(properties)
            properties.append(prop)
        return slots[key]

    def work(index: int, attribute: CompiledAttribute) -> Work:
        aggregation = attribute.aggregation
        if isinstance(aggregation, Counter):
            return (index,), (), ()
        if not aggregation.needs_value or attribute.value_property is None:  # these ignore the value
            return (), ((index, aggregation.update),), ()
        in_order = aggregation.update_in_order or aggregation.update
        return (), (), ((index, aggregation.update, in_order, slot(attribute.value_property)),)

    fast = NOTHING
    checked: list[tuple[CompiledAttribute, Work]] = []
    switches: dict[str, tuple[int, dict[str, Work]]] = {}
    for index, attribute in listeners:
        if attribute.equals is not None and attribute.equals_property is not None:
            key, _getter, expected = attribute.equals
            table = switches.setdefault(key, (slot(attribute.equals_property), {}))[1]
            table[expected] = _join(table.get(expected, NOTHING), work(index, attribute))
        elif attribute.criteria is None:
            fast = _join(fast, work(index, attribute))
        else:
            checked.append((attribute, work(index, attribute)))
    return Plan(
        extract=compile_extractor(properties) if properties else None,
        fast=fast,
        checked=tuple(checked),
        switches=tuple(switches.values()),
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
    readers: tuple[Reader, ...] = ()

    def __post_init__(self) -> None:
        self.index_of = {a.name: i for i, a in enumerate(self.attributes)}
        self.readers = tuple(_reader(i, a) for i, a in enumerate(self.attributes))

    @property
    def id(self) -> str:
        return group_id(self.definition.name, self.definition.version or 1)

    def is_expired(self, state: list[Any], now: float) -> bool:
        """Whether the entity's attributes have outlived the group's `ttl`."""
        return self.ttl is not None and now - state[-1] > self.ttl

    def plan_for(self, vendor: str | None, name: str | None, version: str | None) -> Plan:
        """The plan for an event: its exact version's, else the any-version one, else the every-event one."""
        plan = self.plans.get((vendor, name, version))
        if plan is None:
            plan = self.plans.get((vendor, name, None), self.every_event)
        return plan


# What `get_attributes` needs of one attribute: (name, state index, `aggregation.result` or None when that
# returns the state itself, coercion or None, default); `CompiledAttribute.value_of` written out.
Reader = tuple[str, int, Callable[[Any, float], Any] | None, Callable[[Any], Any] | None, Any]


def _reader(index: int, attribute: CompiledAttribute) -> Reader:
    result = attribute.aggregation.result
    identity = type(attribute.aggregation).result is Aggregation.result  # returns the state (counters, sums...)
    return attribute.name, index, None if identity else result, attribute.coerce, attribute.default


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
        # Per kind of event, the (group id, group, plan) of every group that listens to it (see `_route`).
        self._routes: dict[PlanKey, Route] = {}
        self._any_version_routes: dict[EventKey, Route] = {}
        self._every_event_route: Route = ()
        # event name -> (vendor, version, route) of one exact kind with that name (see `ingest`).
        self._by_name: dict[str | None, tuple[str | None, str | None, Route]] = {}
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
        self._build_routes()
        return True

    def _route(self, vendor: str | None, name: str | None, version: str | None) -> Route:
        """The groups an event of this kind updates, with their plans; groups with nothing to do are left out."""
        planned = ((gid, group, group.plan_for(vendor, name, version)) for gid, group in self._groups.items())
        return tuple(step for step in planned if not step[2].empty)

    def _build_routes(self) -> None:
        """Resolve every group's plan per kind of event once, when groups change, rather than per event.

        An event whose exact (vendor, name, version) no group names takes its
        (vendor, name) route, else the every-event route: exactly what each
        group's `plan_for` would pick.
        """
        keys = {key for group in self._groups.values() for key in group.plans}
        self._routes = {key: self._route(*key) for key in keys}
        self._any_version_routes = {(vendor, name): self._route(vendor, name, None) for vendor, name, _ in keys}
        self._every_event_route = self._route(None, None, None)
        self._by_name = {}
        for vendor, name, version in sorted(keys, key=lambda key: key[2] is None):  # versioned kinds first
            self._by_name.setdefault(name, (vendor, version, self._routes[(vendor, name, version)]))

    def _route_of(self, vendor: str | None, name: str | None, version: str | None) -> Route:
        """The route of any kind of event (what `ingest` falls back to)."""
        route = self._routes.get((vendor, name, version))
        if route is None:
            route = self._any_version_routes.get((vendor, name), self._every_event_route)
        return route

    @property
    def groups(self) -> list[StreamAttributeGroup]:
        return [g.definition for g in self._groups.values()]

    def ingest(self, event: CanonicalEvent, only: str | None = None) -> list[tuple[str, str]]:
        """Apply one event (to one group when `only` names it); return the (group, entity) pairs changed.

        This is the hot path (every event, every group), so it is written flat:
        one route lookup, then per listening group one extraction of the event's
        values and a loop over the attributes that apply.
        """
        changed: list[tuple[str, str]] = []
        atomic = event.atomic
        name, vendor, version = atomic.get("event_name"), atomic.get("event_vendor"), atomic.get("event_version")
        if only is None:
            # Events arrive with freshly decoded strings, whose hashes are not cached: look up by
            # the name alone (one hash, not three plus a tuple's) and compare vendor and version.
            known = self._by_name.get(name)
            if known is not None and known[0] == vendor and known[1] == version:
                route = known[2]
            else:
                route = self._route_of(vendor, name, version)
        else:
            group = self._groups[only]
            route = ((only, group, group.plan_for(vendor, name, version)),)
        timestamp = event.timestamp
        for gid, group, plan in route:
            entity = atomic.get(group.key)
            if entity is None:
                continue
            values = () if plan.extract is None else plan.extract(event)
            if plan.switch is not None:
                selector = values[plan.switch]
                if selector is None:
                    counters, always, valued = plan.fast
                else:
                    key = selector if selector.__class__ is str else str(selector)
                    counters, always, valued = plan.switched.get(key, plan.fast)
            elif plan.general:
                counters, always, valued = plan.select(event, values)
            else:
                counters, always, valued = plan.fast
            states = group.states.get(entity)
            if states is not None and group.ttl is not None and timestamp - states[-1] > group.ttl:
                states = None  # expired: the entity starts afresh if this event changes it
            touched = counters or always  # (truthy when an attribute of the entity changes)
            if touched:
                if states is None:
                    states = group.states[entity] = [None] * len(group.attributes) + [timestamp]
                for index in counters:
                    current = states[index]
                    states[index] = 1 if current is None else current + 1
                if always:  # (each loop is guarded: iterating an empty tuple still allocates an iterator)
                    for index, update in always:
                        states[index] = update(states[index], None, timestamp)
            if valued:
                # No state holds a time later than the entity's last event (`states[-1]`; counters leave
                # it alone), so an event at or after it is in order for every attribute, as is any event
                # for an entity without states.
                in_order = states is None or timestamp >= states[-1]
                for index, update, update_in_order, slot in valued:
                    value = values[slot]
                    if value is None:
                        continue
                    if value.__class__ is list or value.__class__ is dict:
                        value = hashable(value)
                    if states is None:  # only now is the entity known to change
                        states = group.states[entity] = [None] * len(group.attributes) + [timestamp]
                    touched = True
                    if in_order:
                        states[index] = update_in_order(states[index], value, timestamp)
                    else:
                        states[index] = update(states[index], value, timestamp)
            if touched:
                if timestamp > states[-1]:  # type: ignore[index]
                    states[-1] = timestamp  # type: ignore[index]
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
        values: dict[str, Any] = {}
        # `value_of` per attribute, written out: this is the read path of every API request.
        for attribute, index, result, coerce, default in group.readers:
            if wanted is not None and attribute not in wanted:
                continue
            value = None if states is None else states[index]
            if value is None:
                value = default
            else:
                if result is not None:
                    value = result(value, now)
                if value is None:
                    value = default
                elif coerce is not None:
                    value = coerce(value)
            values[attribute] = value
        return values

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
