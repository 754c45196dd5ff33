"""The Signals aggregations as small state machines.

Each aggregation keeps a compact state per entity and attribute, updated by
one event at a time (`update`) and turned into the attribute's value on read
(`result`). States are plain Python values so they are cheap to hold for
hundreds of thousands of readers.
"""

from __future__ import annotations

from typing import Any

MAX_VALUES = 100  # Signals keeps at most 100 values in lists and category maps.
SECONDS_PER_UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


class Aggregation:
    """Base class: `needs_value` aggregations skip events whose property is null."""

    name = ""
    needs_value = True

    def update(self, state: Any, value: Any, timestamp: float) -> Any:
        raise NotImplementedError

    def result(self, state: Any, now: float) -> Any:
        return state


class Counter(Aggregation):
    name = "counter"
    needs_value = False

    def update(self, state: int | None, value: Any, timestamp: float) -> int:
        return 1 if state is None else state + 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Sum(Aggregation):
    name = "sum"

    def update(self, state: float | None, value: Any, timestamp: float) -> float | None:
        number = _number(value)
        if number is None:
            return state
        return number if state is None else state + number


class Min(Aggregation):
    name = "min"

    def update(self, state: float | None, value: Any, timestamp: float) -> float | None:
        number = _number(value)
        if number is None:
            return state
        return number if state is None or number < state else state


class Max(Aggregation):
    name = "max"

    def update(self, state: float | None, value: Any, timestamp: float) -> float | None:
        number = _number(value)
        if number is None:
            return state
        return number if state is None or number > state else state


class Mean(Aggregation):
    name = "mean"

    def update(self, state: list[float] | None, value: Any, timestamp: float) -> list[float] | None:
        number = _number(value)
        if number is None:
            return state
        if state is None:
            return [number, 1.0]
        state[0] += number
        state[1] += 1.0
        return state

    def result(self, state: list[float] | None, now: float) -> float | None:
        return None if state is None else state[0] / state[1]


class First(Aggregation):
    """The value of the earliest event (by event time); the first to arrive wins ties."""

    name = "first"

    def update(self, state: list | None, value: Any, timestamp: float) -> list:
        if state is None or timestamp < state[0]:
            return [timestamp, value]
        return state

    def result(self, state: list | None, now: float) -> Any:
        return None if state is None else state[1]


class Last(Aggregation):
    """The value of the latest event (by event time); the last to arrive wins ties."""

    name = "last"

    def update(self, state: list | None, value: Any, timestamp: float) -> list:
        if state is None or timestamp >= state[0]:
            return [timestamp, value]
        return state

    def result(self, state: list | None, now: float) -> Any:
        return None if state is None else state[1]


class UniqueList(Aggregation):
    """Distinct values ordered by when each was last seen, oldest first, at most 100."""

    name = "unique_list"

    def update(self, state: dict | None, value: Any, timestamp: float) -> dict:
        if state is None:
            return {value: timestamp}
        seen = state.get(value)
        if seen is not None:
            if timestamp < seen:
                return state
            del state[value]  # re-insert so dict order stays "last seen" order
        elif len(state) >= MAX_VALUES:
            del state[min(state, key=state.__getitem__)]
        if state and timestamp < next(reversed(state.values())):
            # Out-of-order event: rebuild the order by timestamp.
            state[value] = timestamp
            return dict(sorted(state.items(), key=lambda item: item[1]))
        state[value] = timestamp
        return state

    def result(self, state: dict | None, now: float) -> list:
        return [] if state is None else list(state)


class CategoryCount(Aggregation):
    """How many times each value was seen, at most 100 values (the rarest go first)."""

    name = "category_count"

    def update(self, state: dict | None, value: Any, timestamp: float) -> dict:
        if state is None:
            return {value: 1}
        if value in state:
            state[value] += 1
        else:
            if len(state) >= MAX_VALUES:
                del state[min(state, key=state.__getitem__)]
            state[value] = 1
        return state

    def result(self, state: dict | None, now: float) -> dict:
        return {} if state is None else dict(state)


class MostFrequent(CategoryCount):
    """The most frequent value; ties go to the value seen first."""

    name = "most_frequent"

    def result(self, state: dict | None, now: float) -> Any:
        return None if not state else max(state, key=state.__getitem__)


class LeastFrequent(CategoryCount):
    """The least frequent value; ties go to the value seen first."""

    name = "least_frequent"

    def result(self, state: dict | None, now: float) -> Any:
        return None if not state else min(state, key=state.__getitem__)


class ApproxCountDistinct(Aggregation):
    """How many distinct values were seen (exact for now, approximate later)."""

    name = "approx_count_distinct"

    def update(self, state: set | None, value: Any, timestamp: float) -> set:
        if state is None:
            return {value}
        state.add(value)
        return state

    def result(self, state: set | None, now: float) -> int:
        return 0 if state is None else len(state)


class TimeSinceFirst(Aggregation):
    name = "time_since_first"
    needs_value = False

    def __init__(self, unit: str = "s") -> None:
        self.seconds = SECONDS_PER_UNIT[unit]

    def update(self, state: float | None, value: Any, timestamp: float) -> float:
        return timestamp if state is None or timestamp < state else state

    def result(self, state: float | None, now: float) -> float | None:
        return None if state is None else (now - state) / self.seconds


class TimeSinceLast(TimeSinceFirst):
    name = "time_since_last"

    def update(self, state: float | None, value: Any, timestamp: float) -> float:
        return timestamp if state is None or timestamp > state else state


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


def make_aggregation(name: str, time_unit: str | None = None) -> Aggregation:
    """The aggregation called `name`, raising ValueError for unknown names."""
    cls = AGGREGATIONS.get(name)
    if cls is None:
        raise ValueError(f"aggregation: unknown aggregation {name!r}; expected one of {sorted(AGGREGATIONS)}")
    if issubclass(cls, TimeSinceFirst):
        return cls(time_unit or "s")
    return cls()
