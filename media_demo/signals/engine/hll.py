"""A small HyperLogLog for `approx_count_distinct`: exact while small, 1 KiB when large.

Written here rather than imported so its state is a plain list/bytes value that
the engine can checkpoint as JSON and that the batch recompute reproduces
exactly: the estimate depends only on the set of values, never on their order.

The exact mode keeps 64-bit hashes of the values, never the values themselves:
what is counted is often a reader's identifier (the distinct `domain_userid`s
reading a page), and after that reader is deleted no identifier of theirs may
stay in memory or in a checkpoint. Distinct values give distinct hashes (a
collision among at most `EXACT_LIMIT` 64-bit hashes is vanishingly unlikely),
and the registers are built from the same hashes, so the counts are unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable
from typing import Any

PRECISION = 10
REGISTERS = 1 << PRECISION
EXACT_LIMIT = 128  # below this many distinct values, keep their hashes and count exactly
_ALPHA = 0.7213 / (1 + 1.079 / REGISTERS)
_REST_BITS = 64 - PRECISION


def _hash(value: Any) -> int:
    """The 64-bit hash both modes work from: stable across processes (unlike `hash`), so a checkpoint
    taken by one process and the batch recompute agree with the streaming state."""
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "big")


def _add_hash(registers: bytearray, h: int) -> None:
    index = h >> _REST_BITS
    rank = _REST_BITS - (h & ((1 << _REST_BITS) - 1)).bit_length() + 1
    if rank > registers[index]:
        registers[index] = rank


def _registers(hashes: Iterable[int]) -> bytearray:
    """Registers holding these hashes: what the exact mode turns into once it is too large."""
    registers = bytearray(REGISTERS)
    for h in hashes:
        _add_hash(registers, h)
    return registers


class HyperLogLog:
    """Distinct-count sketch; `state` is a set of value hashes (exact) or a bytearray of registers."""

    @staticmethod
    def add(state: set[int] | bytearray | None, value: Any) -> set[int] | bytearray:
        """The state with `value` counted (changed in place), turned into registers past `EXACT_LIMIT`."""
        h = _hash(value)
        if state is None:
            return {h}
        if isinstance(state, set):
            state.add(h)
            return state if len(state) <= EXACT_LIMIT else _registers(state)
        _add_hash(state, h)
        return state

    @staticmethod
    def merge(a: set[int] | bytearray | None, b: set[int] | bytearray | None) -> set[int] | bytearray | None:
        """A new state counting the values of both: exact while their union is small, else registers."""
        if a is None or b is None:
            return HyperLogLog.copy(a if b is None else b)
        if isinstance(a, set) and isinstance(b, set):
            union = a | b
            return union if len(union) <= EXACT_LIMIT else _registers(union)
        registers = bytearray(REGISTERS)
        for part in (a, b):
            if isinstance(part, set):
                for h in part:
                    _add_hash(registers, h)
            else:
                for i, rank in enumerate(part):
                    if rank > registers[i]:
                        registers[i] = rank
        return registers

    @staticmethod
    def copy(state: set[int] | bytearray | None) -> set[int] | bytearray | None:
        """A copy that `add` can change without touching `state` (merged states are never shared)."""
        return None if state is None else type(state)(state)

    @staticmethod
    def count(state: set[int] | bytearray | None) -> int:
        """The distinct values counted: exact for a set, the HyperLogLog estimate for registers."""
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
    def dump(state: set[int] | bytearray) -> Any:
        """JSON for a checkpoint: the sorted hashes (exact) or the registers in base64."""
        if isinstance(state, set):
            return {"hashes": sorted(state)}
        return {"registers": base64.b64encode(bytes(state)).decode()}

    @staticmethod
    def load(doc: Any) -> set[int] | bytearray:
        """Read `dump`'s JSON; also the older `{"exact": [values]}`, whose values are hashed on the way in."""
        if "hashes" in doc:
            return {int(h) for h in doc["hashes"]}
        if "exact" in doc:
            return {_hash(value) for value in doc["exact"]}
        return bytearray(base64.b64decode(doc["registers"]))
