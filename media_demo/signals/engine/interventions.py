"""Rule interventions, evaluated by the engine after every event that changes what they read.

Definitions are the SDK's `RuleIntervention` objects. Semantics follow Signals:
an intervention fires once per target when its criteria go from not matching
to matching; a criterion with the `changed` operator makes it fire on every
change instead. Fired interventions go to subscribers (the open page, the SSE
endpoint) through `InterventionBus`.
"""

from __future__ import annotations

import asyncio
import operator
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from snowplow_signals import RuleIntervention

from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.events import CanonicalEvent

Values = dict[str, Any]  # qualified attribute name -> current value
Check = Callable[[Values, Values], bool]  # (current values, previous values) -> matches
RECENT_PER_TARGET = 20


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# The comparison operators, looked up once per check (a dict of lambdas built per call cost a third of `evaluate`).
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number = _number(actual)
        if number is None:
            return False
        actual, expected = number, float(expected)
    elif isinstance(expected, str):
        actual = str(actual)
    return _OPERATORS[op](actual, expected)


def _like(pattern: str) -> re.Pattern[str]:
    translated = {"%": ".*", "_": "."}
    return re.compile("".join(translated.get(ch) or re.escape(ch) for ch in pattern), re.DOTALL)


def _criterion(node: Any) -> tuple[Check, set[str], bool]:
    """A leaf criterion: (check, qualified attributes read, uses `changed`)."""
    name, op, expected = node.attribute, node.operator, node.value
    if op == "changed":
        return (lambda now, before: name in before and now.get(name) != before.get(name)), {name}, True
    if op in ("is null", "is not null"):
        wanted = op == "is null"
        return (lambda now, _before: (now.get(name) is None) == wanted), {name}, False
    if op in ("like", "not like", "rlike", "not rlike"):
        regex = _like(str(expected)) if "like" in op and "rlike" not in op else re.compile(str(expected))
        negate = op.startswith("not")
        search = regex.fullmatch if "rlike" not in op else regex.search

        def matches(now: Values, _before: Values) -> bool:
            value = now.get(name)
            return value is not None and (search(str(value)) is not None) != negate

        return matches, {name}, False
    if op in ("in", "not in"):
        options = expected if isinstance(expected, list) else [expected]
        negate = op == "not in"

        def among(now: Values, _before: Values) -> bool:
            value = now.get(name)
            return value is not None and any(_compare("=", value, o) for o in options) != negate

        return among, {name}, False
    return (lambda now, _before: _compare(op, now.get(name), expected)), {name}, False


def _combine(kind: str, checks: list[Check]) -> Check:
    if kind == "all":
        return lambda now, before: all(c(now, before) for c in checks)
    if kind == "any":
        return lambda now, before: any(c(now, before) for c in checks)
    return lambda now, before: not any(c(now, before) for c in checks)


def compile_criteria(node: Any) -> tuple[Check, set[str], bool]:
    """The criteria tree (`all` / `any` / `none` / a criterion) as one check."""
    for kind in ("all", "any", "none"):
        children = getattr(node, kind, None)
        if children is not None:
            parts = [compile_criteria(child) for child in children]
            checks = [p[0] for p in parts]
            reads = set().union(*(p[1] for p in parts)) if parts else set()
            uses_changed = any(p[2] for p in parts)
            return _combine(kind, checks), reads, uses_changed
    return _criterion(node)


# (qualified name, group id, key, attribute, the read of its value: the engine's or another source's)
Binding = tuple[str, str, str, str, Callable[[str, str | None, str], Any]]


@dataclass(frozen=True)
class FiredIntervention:
    """One delivery of an intervention to one target, shaped like the SDK's InterventionInstance."""

    intervention_id: str
    name: str
    version: int
    attributes: dict[str, str]
    target_name: str
    target_id: str
    fired_at: float

    def as_json(self) -> dict[str, Any]:
        """The JSON of the SDK's InterventionInstance, as the interventions stream sends it."""
        return {
            "intervention_id": self.intervention_id,
            "name": self.name,
            "version": self.version,
            "attributes": self.attributes,
            "target_attribute_key": {"name": self.target_name, "id": self.target_id},
        }


@dataclass
class CompiledIntervention:
    """A rule intervention with its criteria compiled, bound to the attribute groups it reads (`_bind`)."""

    definition: RuleIntervention
    check: Check
    reads: set[str]
    fires_on_change: bool
    targets: list[str]
    bindings: list[Binding] = field(default_factory=list)
    groups: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """`name_vN`: one state per rule version and target, as group ids name group versions."""
        return f"{self.definition.name}_v{self.definition.version or 1}"


@dataclass
class TargetState:
    """What an intervention last saw for one target."""

    matched: bool = False
    values: Values = field(default_factory=dict)


Suppress = Callable[[str, str, str], bool]  # (intervention name, target key, target id) -> skip


class AttributeSource(Protocol):
    """Attributes kept outside the streaming engine (batch groups) that rules may read too.

    A rule is evaluated when an event changes a streaming group it reads; the values of
    other sources are read as they stand then (a rule on batch attributes alone never fires).
    """

    def resolve(self, reference: str) -> str | None:
        """A group id from `name_vN` or `name`; None when this source has no such group."""
        ...

    def attribute_names(self, gid: str) -> list[str]:
        """The group's attribute names."""
        ...

    def key_of(self, gid: str) -> str:
        """The atomic field naming the group's entities."""
        ...

    def value(self, gid: str, entity: str | None, attribute: str) -> Any:
        """One attribute of one entity (its default when unknown)."""
        ...


class InterventionEngine:
    """Evaluates rule interventions against the attribute engine after each event."""

    def __init__(
        self, engine: AttributeEngine, suppress: Suppress | None = None, sources: Sequence[AttributeSource] = ()
    ) -> None:
        self._engine = engine
        self._sources = tuple(sources)
        self._suppress = suppress or (lambda _name, _key, _id: False)
        self._rules: dict[str, CompiledIntervention] = {}
        self._states: dict[tuple[str, str, str], TargetState] = {}
        self._changed: set[tuple[str, str, str]] = set()  # state keys changed since `take_changed`
        self._generation = engine.generation
        self.recent: dict[str, deque[FiredIntervention]] = {}

    def publish(self, intervention: RuleIntervention) -> None:
        """Evaluate `intervention` from the next event on (replacing the same version); ValueError when
        it names an attribute no group has."""
        check, reads, fires_on_change = compile_criteria(intervention.criteria)
        targets = [key.name for key in intervention.target_attribute_keys or []] or ["domain_userid"]
        compiled = CompiledIntervention(intervention, check, reads, fires_on_change, targets)
        self._bind(compiled)
        self._rules[compiled.key] = compiled

    @property
    def definitions(self) -> list[RuleIntervention]:
        """The SDK definitions of every rule evaluated."""
        return [rule.definition for rule in self._rules.values()]

    def _bind(self, rule: CompiledIntervention) -> None:
        """Resolve `group:attribute` names to group ids and keys once, not on every event."""
        bindings: list[Binding] = []
        for qualified in sorted(rule.reads):
            reference, _, attribute = qualified.partition(":")
            source: AttributeEngine | AttributeSource = self._engine
            gid = self._engine.resolve(reference)
            for other in self._sources:
                if gid is not None:
                    break
                source, gid = other, other.resolve(reference)
            if gid is None:
                raise ValueError(f"intervention {rule.definition.name!r}: unknown attribute group in {qualified!r}")
            if attribute not in source.attribute_names(gid):
                raise ValueError(f"intervention {rule.definition.name!r}: unknown attribute {qualified!r}")
            bindings.append((qualified, gid, source.key_of(gid), attribute, source.value))
        rule.bindings = bindings
        rule.groups = frozenset(gid for _q, gid, _k, _a, _v in bindings)

    def _rebind(self) -> None:
        """Groups were published since the rules were bound: `name` may now mean a newer version."""
        for rule in self._rules.values():
            self._bind(rule)
        self._generation = self._engine.generation

    def evaluate(self, event: CanonicalEvent, changed: Iterable[tuple[str, str]]) -> list[FiredIntervention]:
        """Re-check the interventions that read a group this event changed; return those that fire."""
        changed_groups = {gid for gid, _entity in changed}
        if not changed_groups:
            return []
        if self._generation != self._engine.generation:
            self._rebind()
        fired: list[FiredIntervention] = []
        atomic = event.atomic
        for rule in self._rules.values():
            if rule.groups.isdisjoint(changed_groups):
                continue
            values = {q: read(gid, atomic.get(key), attr) for q, gid, key, attr, read in rule.bindings}
            for target_key in rule.targets:
                target_id = atomic.get(target_key)
                if target_id is None:
                    continue
                key = (rule.key, target_key, target_id)
                state = self._states.setdefault(key, TargetState())
                matches = rule.check(values, state.values)
                due = matches and (rule.fires_on_change or not state.matched)
                if matches != state.matched or values != state.values:
                    state.matched, state.values = matches, values
                    self._changed.add(key)
                if due and not self._suppress(rule.definition.name, target_key, target_id):
                    instance = FiredIntervention(
                        intervention_id=str(uuid.uuid4()),
                        name=rule.definition.name,
                        version=rule.definition.version or 1,
                        attributes={k.partition(":")[2]: _text(v) for k, v in values.items()},
                        target_name=target_key,
                        target_id=target_id,
                        fired_at=event.timestamp,
                    )
                    fired.append(instance)
                    self.recent.setdefault(target_id, deque(maxlen=RECENT_PER_TARGET)).append(instance)
        return fired

    def forget(self, target_ids: Iterable[str]) -> None:
        """Drop everything held about these targets (a reader deleted, or their profile withdrawn)."""
        gone = set(target_ids)
        dropped = {k for k in self._states if k[2] in gone}
        for key in dropped:
            del self._states[key]
        self._changed |= dropped
        for target in gone:
            self.recent.pop(target, None)

    # Checkpoint support: the transition state is part of what a restart must restore.

    def dump(self) -> list:
        """Every target's state as JSON rows, for `load`."""
        return [[list(key), state.matched, state.values] for key, state in self._states.items()]

    def take_changed(self) -> set[tuple[str, str, str]]:
        """The (rule, target key, target id) states changed (or gone) since the last call."""
        changed, self._changed = self._changed, set()
        return changed

    def dump_one(self, key: tuple[str, str, str]) -> list | None:
        """One target's state, JSON-ready; None when there is none."""
        state = self._states.get(key)
        return None if state is None else [state.matched, state.values]

    def restore(self, key: tuple[str, str, str], doc: list) -> None:
        """Put back one target's state from `dump_one`."""
        matched, values = doc
        self._states[key] = TargetState(matched, values)

    def load(self, doc: list) -> None:
        """Replace every target's state with `dump`'s rows (an old whole-document checkpoint); all count as changed."""
        self._states = {tuple(key): TargetState(matched, values) for key, matched, values in doc}
        self._changed = set(self._states)  # all of it still to be written entry by entry


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


@dataclass
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[FiredIntervention]
    targets: dict[str, set[str]] | None


class InterventionBus:
    """Hands fired interventions to subscribers (SSE streams, open pages), across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []

    def subscribe(self, targets: dict[str, set[str]] | None, size: int = 100) -> asyncio.Queue[FiredIntervention]:
        """A queue receiving interventions for any of `targets` ({key name: ids}, None for all); from async code."""
        queue: asyncio.Queue[FiredIntervention] = asyncio.Queue(maxsize=size)
        with self._lock:
            self._subscribers.append(_Subscriber(asyncio.get_running_loop(), queue, targets))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[FiredIntervention]) -> None:
        """Stop delivering to a queue `subscribe` returned (its stream closed)."""
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s.queue is not queue]

    def publish(self, fired: Iterable[FiredIntervention]) -> int:
        """Deliver to every matching subscriber; returns how many deliveries were made."""
        delivered = 0
        with self._lock:
            subscribers = list(self._subscribers)
        for instance in fired:
            for subscriber in subscribers:
                if subscriber.targets is None or instance.target_id in subscriber.targets.get(instance.target_name, ()):
                    subscriber.loop.call_soon_threadsafe(_offer, subscriber.queue, instance)
                    delivered += 1
        return delivered


def _offer(queue: asyncio.Queue[FiredIntervention], instance: FiredIntervention) -> None:
    if not queue.full():  # a stalled subscriber drops interventions rather than growing without bound
        queue.put_nowait(instance)
