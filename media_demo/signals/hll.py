"""A small HyperLogLog for `approx_count_distinct`: exact while small, 1 KiB when large.

Written here rather than imported so its state is a plain list/bytes value that
the engine can checkpoint as JSON and that the batch recompute reproduces
exactly: the estimate depends only on the set of values, never on their order.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

PRECISION = 10
REGISTERS = 1 << PRECISION
EXACT_LIMIT = 128  # below this many distinct values, keep them and count exactly
_ALPHA = 0.7213 / (1 + 1.079 / REGISTERS)


def _hash(value: Any) -> int:
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "big")


def _add_to_registers(registers: bytearray, value: Any) -> None:
    h = _hash(value)
    index = h >> (64 - PRECISION)
    rest = h & ((1 << (64 - PRECISION)) - 1)
    rank = (64 - PRECISION) - rest.bit_length() + 1
    if rank > registers[index]:
        registers[index] = rank


class HyperLogLog:
    """Distinct-count sketch; `state` is a set (exact) or a bytearray of registers."""

    @staticmethod
    def add(state: set | bytearray | None, value: Any) -> set | bytearray:
        if state is None:
            return {value}
        if isinstance(state, set):
            state.add(value)
            if len(state) <= EXACT_LIMIT:
                return state
            registers = bytearray(REGISTERS)
            for item in state:
                _add_to_registers(registers, item)
            return registers
        _add_to_registers(state, value)
        return state

    @staticmethod
    def merge(a: set | bytearray | None, b: set | bytearray | None) -> set | bytearray | None:
        if a is None or b is None:
            return HyperLogLog.copy(a if b is None else b)
        if isinstance(a, set) and isinstance(b, set):
            union = a | b
            if len(union) <= EXACT_LIMIT:
                return union
            a, b = union, bytearray(REGISTERS)
        registers = bytearray(REGISTERS)
        for part in (a, b):
            if isinstance(part, set):
                for item in part:
                    _add_to_registers(registers, item)
            else:
                for i, rank in enumerate(part):
                    if rank > registers[i]:
                        registers[i] = rank
        return registers

    @staticmethod
    def copy(state: set | bytearray | None) -> set | bytearray | None:
        return None if state is None else type(state)(state)

    @staticmethod
    def count(state: set | bytearray | None) -> int:
        if state is None:
            return 0
        if isinstance(state, set):
            return len(state)
        estimate = _ALPHA * REGISTERS * REGISTERS / sum(2.0**-r for r in state)
        zeros = state.count(0)
        if estimate <= 2.5 * REGISTERS and zeros:
            estimate = REGISTERS * math.log(REGISTERS / zeros)  # linear counting for small ranges
        return round(estimate)

    @staticmethod
    def dump(state: set | bytearray) -> Any:
        if isinstance(state, set):
            return {"exact": sorted(state, key=repr)}
        return {"registers": base64.b64encode(bytes(state)).decode()}

    @staticmethod
    def load(doc: Any) -> set | bytearray:
        if "exact" in doc:
            return set(doc["exact"])
        return bytearray(base64.b64decode(doc["registers"]))
