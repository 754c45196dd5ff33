"""SDK attribute groups compiled into plans: what each kind of event does to each attribute.

`compile_group` turns a `StreamAttributeGroup` into a `CompiledGroup`: its attributes
as functions of an event (`CompiledAttribute`), and per kind of event a `Plan` that
reads each property the plan needs once and names the work to do. The engine
(`attribute_engine`) runs these plans; the states they update live in the groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        """The attribute's value from its state at `now`: the default when there is none, else coerced to its type."""
        if state is None:
            return self.default
        result = self.aggregation.result(state, now)
        if result is None:
            return self.default
        return result if self.coerce is None else self.coerce(result)


def default_value(attribute: Any) -> Any:
    """What an attribute reads before any event counts: its `default_value`, else by its aggregation
    and type (0, {}, [] or None)."""
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
    prop = equals = None
    if equality is not None:
        prop = equality.property
        equals = property_key(prop), compile_property(prop), equality.value
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
        equals=equals,
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
                picked = table.get(selector if selector.__class__ is str else str(selector))
                if picked is not None:
                    work = _join(work, picked)
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
        """The group version's id (`group_id`), which keys its states and checkpoint rows."""
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
