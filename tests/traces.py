"""Finding traces of a reader: in the bytes of the database's files, and in a live object graph.

The deletion tests use both to prove "nothing about them remains", which only
means something when the same search finds a reader who was not deleted.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def database_files(db: Path) -> list[Path]:
    """The database and the WAL and shared-memory files beside it (those that exist)."""
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


def traces_on_disk(db: Path | Iterable[Path], needles: Iterable[str]) -> dict[str, list[str]]:
    """{needle: [files whose raw bytes contain it]} for the needles found anywhere: in a SQLite
    database's files (`db` its path), or in the files given (a PostgreSQL database's)."""
    found: dict[str, list[str]] = {}
    files = database_files(db) if isinstance(db, Path) else list(db)
    contents = {p.name: p.read_bytes() for p in files}
    for needle in needles:
        where = [name for name, data in contents.items() if needle.encode() in data]
        if where:
            found[needle] = where
    return found


def traces_in_memory(root: Any, needles: Iterable[str], skip: Iterable[Any] = ()) -> dict[str, str]:
    """{needle: path to a string that contains it} for the needles reachable from `root`.

    Walks containers and instance attributes (dict, __slots__), not modules,
    classes, functions or numeric arrays. `skip` names objects not to enter
    (large, known-clean data such as the article corpus).
    """
    wanted = list(needles)
    found: dict[str, str] = {}
    seen = {id(s) for s in skip}
    stack: list[tuple[Any, str]] = [(root, "root")]
    while stack and len(found) < len(wanted):
        obj, path = stack.pop()
        if isinstance(obj, (str, bytes)):
            text = obj if isinstance(obj, str) else obj.decode("utf-8", "replace")
            for needle in wanted:
                if needle not in found and needle in text:
                    found[needle] = path
            continue
        if id(obj) in seen or isinstance(obj, (int, float, bool, type(None), np.ndarray)):
            continue
        if isinstance(obj, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            for key, value in obj.items():
                stack.append((key, f"{path}[key]"))
                stack.append((value, f"{path}[{key!r:.40}]"))
        elif isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
            stack.extend((item, f"{path}[]") for item in obj)
        elif isinstance(obj, types.MethodType):
            stack.append((obj.__self__, f"{path}.__self__"))
        else:
            attributes = getattr(obj, "__dict__", None)
            if isinstance(attributes, dict):
                stack.extend((value, f"{path}.{name}") for name, value in attributes.items())
            for cls in type(obj).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    try:
                        value = getattr(obj, name)
                    except Exception:  # unset, or a lazy slot that cannot be built (a SQLAlchemy Connection's
                        continue  # `dispatch` raises TypeError): it holds nothing yet
                    stack.append((value, f"{path}.{name}"))
    return found
