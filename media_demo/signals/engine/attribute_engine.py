"""The embedded attribute engine: SDK attribute groups evaluated incrementally.

Each event updates only the attributes that listen to it, for the entity it
belongs to (e.g. its `domain_userid`), by the plans compiled from the groups
(`plans`). State lives in memory; durability is the event log's job
(`storage.event_log.EventLog`) plus checkpoints of this state
(`dump_states`/`load_state`): the state is always a function of the events.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from snowplow_signals import StreamAttributeGroup

from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.plans import (
    CompiledGroup,
    EventKey,
    Plan,
    PlanKey,
    compile_group,
    group_id,
    hashable,
)

Route = tuple[tuple[str, CompiledGroup, Plan], ...]
# Generations are drawn from one counter, so no two engines of a process share one: a cache keyed by
# `generation` stays right when an engine is replaced by another (the application's reset).
_GENERATIONS = itertools.count(1)


class AttributeEngine:
    """Keeps every group's attributes up to date, per entity, as events arrive."""

    def __init__(self, groups: Iterable[StreamAttributeGroup] = (), clock: Callable[[], float] = time.time) -> None:
        self._groups: dict[str, CompiledGroup] = {}
        self._clock = clock
        self.generation = next(_GENERATIONS)  # moves whenever the set of groups changes, never back
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
        self.generation = next(_GENERATIONS)
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
        """The SDK definitions of every group evaluated (a checkpoint's fingerprint is taken of them)."""
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
            touched: object = counters or always  # (truthy when an attribute of the entity changes)
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
                assert states is not None  # every branch that sets `touched` made them
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

    def entity_ids(self, name: str, version: int | None = None) -> list[str]:
        """Every entity a group holds state for (a snapshot: reading them later is safe while events arrive)."""
        return list(self._group(name, version).states)

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
        """Whether group `gid` holds state for `entity`, expired or not (forgetting a reader counts these)."""
        return entity in self._groups[gid].states

    def key_of(self, gid: str) -> str:
        """The atomic field that names a group's entities (`domain_userid`, ...): what an intervention targets."""
        return self._groups[gid].key

    def attribute_names(self, gid: str) -> list[str]:
        """The group's attributes, in state order (interventions check the ones they name exist)."""
        return [a.name for a in self._groups[gid].attributes]

    def entities(self, name: str, version: int | None = None) -> int:
        """How many entities have state in a group."""
        return len(self._group(name, version).states)

    def adopt_states(self, gid: str, source: AttributeEngine) -> list[str]:
        """Take the states `source` built for group `gid` in place of this engine's; returns their entities.

        For a backfill: the group's state is built from the log in an engine of its own, with
        no lock held, then swapped in. Both must evaluate the same definition (ValueError if not).
        """
        group, built = self._groups[gid], source._groups[gid]
        if built.definition != group.definition:
            raise ValueError(f"group {gid}: the states were built for another definition")
        group.states, built.states = built.states, {}
        return list(group.states)

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
        """Put back one entity's states from `dump_states`' JSON (a checkpoint being loaded)."""
        group = self._groups[gid]
        doc = orjson.loads(raw)
        states = [None if d is None else a.aggregation.load(d) for a, d in zip(group.attributes, doc, strict=False)]
        group.states[entity] = [*states, doc[-1]]

    def group_ids(self) -> list[str]:
        """Every group version's id (`name_vN`), as states and checkpoint rows are keyed."""
        return list(self._groups)

    def definition(self, gid: str) -> StreamAttributeGroup:
        """The SDK definition of group `gid`."""
        return self._groups[gid].definition
