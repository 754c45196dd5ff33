"""The Signals aggregations as small state machines.

Each aggregation keeps a compact state per entity and attribute, updated by
one event at a time (`update`), combined with another state (`merge`, which
is how time windows add up their buckets) and turned into the attribute's
value on read (`result`). `dump`/`load` turn a state into JSON and back for
checkpoints. States are plain Python values so hundreds of thousands of
readers stay cheap to hold.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from typing_extensions import override

from media_demo.signals.engine.hll import HyperLogLog

MAX_VALUES = 100  # Signals keeps at most 100 values in lists and category maps.
SECONDS_PER_UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
WINDOW_BUCKETS = 60  # a period window advances in steps of period / 60


def finite_number(value: Any) -> float | None:
    """A value as a finite float, or None: what the numeric aggregations accept."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Aggregation:
    """Base class. States are never shared: `merge` returns new objects."""

    name = ""
    needs_value = True  # events whose property is null are skipped

    def update(self, state: Any, value: Any, timestamp: float) -> Any:
        """The state after one more event: may change `state` in place and return it (None: no state yet)."""
        raise NotImplementedError

    # Optional: `update` for an event no earlier than any event the state has seen. The engine
    # knows when that holds (an entity's states never hold a time later than its last event's)
    # and then calls this instead, so the time-ordered aggregations can skip their order checks.
    # It must return exactly what `update` would. Aggregations without it get `update`.
    update_in_order: Callable[[Any, Any, float], Any] | None = None

    def merge(self, a: Any, b: Any) -> Any:
        """Combine the states of two disjoint sets of events (`a` older than `b`)."""
        raise NotImplementedError

    def result(self, state: Any, now: float) -> Any:
        """The attribute's value, read at `now` (which the windows and the time-since aggregations use)."""
        return state

    def dump(self, state: Any) -> Any:
        """The state as JSON for a checkpoint; by default it is JSON already."""
        return state

    def load(self, doc: Any) -> Any:
        """The state back from what `dump` made."""
        return doc


class _Combined(Aggregation):
    """Aggregations with container states: where one side saw no events the other, copied, is the answer."""

    def combine(self, a: Any, b: Any) -> Any:
        """Combine two states that both saw events (`a` older than `b`) into a new one."""
        raise NotImplementedError

    @override
    def merge(self, a: Any, b: Any) -> Any:
        if b is None:
            return None if a is None else copy.copy(a)
        if a is None:
            return copy.copy(b)
        return self.combine(a, b)


class Counter(Aggregation):
    """How many events matched; reads no property, so a null one does not skip the event."""

    name = "counter"
    needs_value = False

    @override
    def update(self, state: int | None, value: Any, timestamp: float) -> int:
        return 1 if state is None else state + 1

    @override
    def merge(self, a: int | None, b: int | None) -> int:
        return (a or 0) + (b or 0)


class _Numeric(Aggregation):
    """Numeric aggregations skip values that are not finite numbers."""

    def pick(self, a: float, b: float) -> float:
        raise NotImplementedError

    @override
    def update(self, state: float | None, value: Any, timestamp: float) -> float | None:
        number = finite_number(value)
        if number is None:
            return state
        return number if state is None else self.pick(state, number)

    @override
    def merge(self, a: float | None, b: float | None) -> float | None:
        return a if b is None else b if a is None else self.pick(a, b)


class Sum(_Numeric):
    """The total of the numbers seen."""

    name = "sum"

    @override
    def pick(self, a: float, b: float) -> float:
        return a + b


class Min(_Numeric):
    """The smallest number seen."""

    name = "min"

    @override
    def pick(self, a: float, b: float) -> float:
        return b if b < a else a


class Max(_Numeric):
    """The largest number seen."""

    name = "max"

    @override
    def pick(self, a: float, b: float) -> float:
        return b if b > a else a


class Mean(_Combined):
    """The average of the numbers seen, kept as [sum, count] so that two states (window buckets) merge exactly."""

    name = "mean"

    @override
    def update(self, state: list[float] | None, value: Any, timestamp: float) -> list[float] | None:
        number = finite_number(value)
        if number is None:
            return state
        if state is None:
            return [number, 1.0]
        state[0] += number
        state[1] += 1.0
        return state

    @override
    def combine(self, a: list[float], b: list[float]) -> list[float]:
        return [a[0] + b[0], a[1] + b[1]]

    @override
    def result(self, state: list[float] | None, now: float) -> float | None:
        return None if state is None else state[0] / state[1]


class First(Aggregation):
    """The value of the earliest event (by event time); the first to arrive wins ties."""

    name = "first"

    @override
    def update(self, state: list | None, value: Any, timestamp: float) -> list:
        if state is None or timestamp < state[0]:
            return [timestamp, value]
        return state

    @override
    def update_in_order(self, state: list | None, value: Any, timestamp: float) -> list:
        return [timestamp, value] if state is None else state

    @override
    def merge(self, a: list | None, b: list | None) -> list | None:
        if a is None or b is None:
            return a or b
        return b if b[0] < a[0] else a

    @override
    def result(self, state: list | None, now: float) -> Any:
        return None if state is None else state[1]


class Last(First):
    """The value of the latest event (by event time); the last to arrive wins ties."""

    name = "last"

    @override
    def update(self, state: list | None, value: Any, timestamp: float) -> list:
        if state is None or timestamp >= state[0]:
            return [timestamp, value]
        return state

    @override
    def update_in_order(self, state: list | None, value: Any, timestamp: float) -> list:
        return [timestamp, value]

    @override
    def merge(self, a: list | None, b: list | None) -> list | None:
        if a is None or b is None:
            return a or b
        return b if b[0] >= a[0] else a


class UniqueList(_Combined):
    """Distinct values ordered by when each was last seen, oldest first, at most 100."""

    name = "unique_list"

    @override
    def update(self, state: dict | None, value: Any, timestamp: float) -> dict:
        if state is None:
            return {value: timestamp}
        seen = state.get(value)
        if seen is not None:
            if timestamp < seen:
                return state
            del state[value]  # re-insert so dict order stays "last seen" order
        if state and timestamp < next(reversed(state.values())):
            state[value] = timestamp  # out-of-order event: re-sort by time
            state = dict(sorted(state.items(), key=lambda item: item[1]))
        else:
            state[value] = timestamp
        while len(state) > MAX_VALUES:
            del state[next(iter(state))]
        return state

    @override
    def update_in_order(self, state: dict | None, value: Any, timestamp: float) -> dict:
        """No time in the state is later than `timestamp`: move (or add) the value to the end, no sorting."""
        if state is None:
            return {value: timestamp}
        state.pop(value, None)
        state[value] = timestamp
        while len(state) > MAX_VALUES:
            del state[next(iter(state))]
        return state

    @override
    def combine(self, a: dict, b: dict) -> dict:
        merged = dict(a)
        for value, seen in b.items():
            if seen >= merged.get(value, -math.inf):
                merged.pop(value, None)
                merged[value] = seen
        ordered = sorted(merged.items(), key=lambda item: item[1])
        return dict(ordered[-MAX_VALUES:])

    @override
    def result(self, state: dict | None, now: float) -> list:
        return [] if state is None else list(state)

    @override
    def dump(self, state: dict) -> list:
        return [[value, seen] for value, seen in state.items()]

    @override
    def load(self, doc: list) -> dict:
        return {value: seen for value, seen in doc}


class CategoryCount(_Combined):
    """How many times each value was seen, in first-seen order, at most 100 values.

    When a new value arrives with 100 already kept, the least frequent (the
    oldest among equals) makes room.
    """

    name = "category_count"

    @override
    def update(self, state: dict | None, value: Any, timestamp: float) -> dict:
        if state is None:
            return {value: 1}
        count = state.get(value)  # one lookup, not `in` then `+=`
        if count is not None:
            state[value] = count + 1
        else:
            if len(state) >= MAX_VALUES:
                del state[min(state, key=state.__getitem__)]
            state[value] = 1
        return state

    @override
    def combine(self, a: dict, b: dict) -> dict:
        merged = dict(a)
        for value, count in b.items():
            merged[value] = merged.get(value, 0) + count
        if len(merged) > MAX_VALUES:
            keep = set(sorted(merged, key=lambda v: -merged[v])[:MAX_VALUES])
            merged = {v: c for v, c in merged.items() if v in keep}
        return merged

    @override
    def result(self, state: dict | None, now: float) -> dict:
        return {} if state is None else dict(state)

    @override
    def dump(self, state: dict) -> list:
        return [[value, count] for value, count in state.items()]

    @override
    def load(self, doc: list) -> dict:
        return {value: count for value, count in doc}


class MostFrequent(CategoryCount):
    """The most frequent value; ties go to the value seen first."""

    name = "most_frequent"

    @override
    def result(self, state: dict | None, now: float) -> Any:
        return None if not state else max(state, key=state.__getitem__)


class LeastFrequent(CategoryCount):
    """The least frequent value; ties go to the value seen first."""

    name = "least_frequent"

    @override
    def result(self, state: dict | None, now: float) -> Any:
        return None if not state else min(state, key=state.__getitem__)


class ApproxCountDistinct(Aggregation):
    """Distinct values: exact up to 128, then a HyperLogLog (about 3% error)."""

    name = "approx_count_distinct"

    @override
    def update(self, state: Any, value: Any, timestamp: float) -> Any:
        return HyperLogLog.add(state, value)

    @override
    def merge(self, a: Any, b: Any) -> Any:
        return HyperLogLog.merge(a, b)

    @override
    def result(self, state: Any, now: float) -> int:
        return HyperLogLog.count(state)

    @override
    def dump(self, state: Any) -> Any:
        return HyperLogLog.dump(state)

    @override
    def load(self, doc: Any) -> Any:
        return HyperLogLog.load(doc)


class TimeSinceFirst(Aggregation):
    """Time since the earliest event, in `time_unit`, measured when read."""

    name = "time_since_first"
    needs_value = False

    def __init__(self, unit: str = "s") -> None:
        self.seconds = SECONDS_PER_UNIT[unit]

    @override
    def update(self, state: float | None, value: Any, timestamp: float) -> float:
        return timestamp if state is None or timestamp < state else state

    @override
    def merge(self, a: float | None, b: float | None) -> float | None:
        return a if b is None else b if a is None else min(a, b)

    @override
    def result(self, state: float | None, now: float) -> float | None:
        return None if state is None else (now - state) / self.seconds


class TimeSinceLast(TimeSinceFirst):
    """Time since the latest event, in `time_unit`, measured when read."""

    name = "time_since_last"

    @override
    def update(self, state: float | None, value: Any, timestamp: float) -> float:
        return timestamp if state is None or timestamp > state else state

    @override
    def merge(self, a: float | None, b: float | None) -> float | None:
        return a if b is None else b if a is None else max(a, b)


class Windowed(_Combined):
    """An aggregation over the last `period` seconds, kept in 60 time buckets.

    Each bucket holds the inner aggregation's state for its slice of time;
    reading merges the buckets still inside the window, so values expire as
    time passes without rescanning events. The window moves in steps of
    period / 60: an event counts while its bucket is newer than the bucket
    of `now - period`.
    """

    def __init__(self, inner: Aggregation, period_seconds: float) -> None:
        if period_seconds <= 0:
            raise ValueError(f"period: must be positive, got {period_seconds}s")
        self.inner = inner
        self.name = inner.name
        self.needs_value = inner.needs_value
        self.period = period_seconds
        self.width = period_seconds / WINDOW_BUCKETS

    def bucket(self, timestamp: float) -> int:
        """The bucket holding `timestamp`: buckets are `period / 60` wide, counted from the epoch."""
        return math.floor(timestamp / self.width)

    @override
    def update(self, state: dict | None, value: Any, timestamp: float) -> dict:
        bucket = self.bucket(timestamp)
        if state is None:
            state = {}
        state[bucket] = self.inner.update(state.get(bucket), value, timestamp)
        if len(state) > WINDOW_BUCKETS + 1:
            newest = max(state)
            for old in [b for b in state if b <= newest - WINDOW_BUCKETS - 1]:
                del state[old]
        return state

    @override
    def combine(self, a: dict, b: dict) -> dict:
        """Bucket by bucket (both windows have the same width), keeping the newest buckets."""
        merged = dict(a)
        for bucket, inner in b.items():
            merged[bucket] = self.inner.merge(merged.get(bucket), inner)
        newest = max(merged)
        return {bucket: inner for bucket, inner in merged.items() if bucket > newest - WINDOW_BUCKETS - 1}

    @override
    def result(self, state: dict | None, now: float) -> Any:
        cutoff = self.bucket(now - self.period)
        merged = None
        buckets = state or {}
        for bucket in sorted(buckets):
            if bucket > cutoff:
                merged = self.inner.merge(merged, buckets[bucket])
        return self.inner.result(merged, now)

    @override
    def dump(self, state: dict) -> list:
        return [[bucket, self.inner.dump(inner)] for bucket, inner in state.items()]

    @override
    def load(self, doc: list) -> dict:
        return {bucket: self.inner.load(inner) for bucket, inner in doc}


AGGREGATIONS: dict[str, type[Aggregation]] = {
    cls.name: cls
    for cls in (
        Counter,
        Sum,
        Min,
        Max,
        Mean,
        First,
        Last,
        UniqueList,
        MostFrequent,
        LeastFrequent,
        CategoryCount,
        ApproxCountDistinct,
        TimeSinceFirst,
        TimeSinceLast,
    )
}


def make_aggregation(name: str, time_unit: str | None = None, period_seconds: float | None = None) -> Aggregation:
    """The aggregation called `name`, windowed when `period_seconds` is given."""
    cls = AGGREGATIONS.get(name)
    if cls is None:
        raise ValueError(f"aggregation: unknown aggregation {name!r}; expected one of {sorted(AGGREGATIONS)}")
    aggregation = cls(time_unit or "s") if issubclass(cls, TimeSinceFirst) else cls()
    return Windowed(aggregation, period_seconds) if period_seconds else aggregation
