"""Durable registry of the definitions published through the Signals-compatible API.

Attribute groups (by name and version), services, interventions, attribute
keys and event logs are stored as the SDK models' own JSON in SQLite (table
`signals_definitions`, beside the event log), validated with the SDK's
pydantic models on the way in and loaded back at start. Published stream
groups are put into the attribute engine before the event log is replayed,
so their attributes come back complete after a restart.

An event log is stored twice over: `event_log` is the registry's definition (the draft the
SDK POSTs and PUTs), `event_log_published` the copy the engine serves, written by
`engines/publish` and deleted by `engines/unpublish`, so a changed draft does not change
what is served until it is published again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel, ValidationError
from snowplow_signals import (
    AttributeKey,
    BatchAttributeGroup,
    EventLog,
    ExternalBatchAttributeGroup,
    LinkAttributeKey,
    RuleIntervention,
    Service,
    StreamAttributeGroup,
)
from sqlalchemy import Engine, delete
from sqlmodel import Field, Session, SQLModel, col, select

from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.event_logs import InvalidEventLogError, check_event_log
from media_demo.signals.storage.database import SHARED_PRAGMAS, open_database, table_of

logger = logging.getLogger(__name__)

Kind = Literal["attribute_group", "service", "intervention", "attribute_key", "event_log", "event_log_published"]
MODELS: dict[Kind, type[BaseModel]] = {
    "attribute_group": StreamAttributeGroup,
    "service": Service,
    "intervention": RuleIntervention,
    "attribute_key": AttributeKey,
    "event_log": EventLog,
    "event_log_published": EventLog,
}
VERSIONED: frozenset[Kind] = frozenset({"attribute_group", "intervention"})
UNVERSIONED = 0  # the version column of services and attribute keys


class DefinitionRow(SQLModel, table=True):
    """One published definition: the SDK model's JSON, keyed by kind, name and version."""

    __tablename__ = "signals_definitions"

    kind: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    body: str
    updated_at: dt.datetime


class InvalidDefinitionError(ValueError):
    """A request body the SDK models reject; `errors` are pydantic's, JSON-safe."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the parts that are not JSON (exception objects) or echo the input."""
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def parse_definition(kind: Kind, body: Any) -> BaseModel:
    """Validate a request body with the SDK model for `kind`; raise `InvalidDefinitionError` otherwise."""
    if not isinstance(body, Mapping):
        raise InvalidDefinitionError(f"{kind.replace('_', ' ')}: the body must be a JSON object")
    model = MODELS[kind] if kind != "attribute_group" else group_model(body)
    try:
        definition = model.model_validate(body)
        if isinstance(definition, EventLog):
            check_event_log(definition)
            # The SDK reads `{"name": ...}` back as a whole AttributeKey; an event log only links to one.
            link = LinkAttributeKey(name=definition.attribute_key.name)
            definition = definition.model_copy(update={"attribute_key": link})
        return definition
    except InvalidEventLogError as exc:
        errors = [{"loc": exc.field.split("."), "msg": str(exc), "type": "value_error"}]
        raise InvalidDefinitionError(f"invalid event log: {exc}", errors) from exc
    except ValidationError as exc:
        errors = validation_errors(exc)
        summary = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors[:5])
        raise InvalidDefinitionError(f"invalid {kind.replace('_', ' ')}: {summary}", errors) from exc
    except (ValueError, TypeError) as exc:  # raised by the SDK's own post-init checks
        raise InvalidDefinitionError(f"invalid {kind.replace('_', ' ')}: {exc}") from exc


def group_model(body: Mapping[str, Any]) -> type[BaseModel]:
    """Which of the SDK's three attribute group classes a body is: stream (`offline` false), external batch
    (`fields` and a `batch_source`, read from a table) or batch (`attributes` computed from events offline)."""
    if not body.get("offline"):
        return StreamAttributeGroup
    if body.get("fields") is not None or body.get("batch_source") is not None:
        return ExternalBatchAttributeGroup
    return BatchAttributeGroup


def is_batch(group: Any) -> bool:
    """Whether a group is computed offline (batch or external batch) rather than by the streaming engine."""
    return bool(getattr(group, "offline", False))


def definition_version(kind: Kind, definition: BaseModel) -> int:
    """The version a definition is stored under: its own (1 when unset) for versioned kinds, else `UNVERSIONED`."""
    if kind not in VERSIONED:
        return UNVERSIONED
    return cast(int | None, getattr(definition, "version", None)) or 1


def to_json(definition: BaseModel) -> dict[str, Any]:
    """The JSON the SDK itself sends for a model (so a stored body validates back unchanged)."""
    return definition.model_dump(mode="json", exclude_none=True, by_alias=True)


class DefinitionRegistry:
    """Published definitions, durable in SQL and cached in memory (they are few and read on every call)."""

    def __init__(self, engine_or_url: Engine | str) -> None:
        if isinstance(engine_or_url, str):
            self.engine = open_database(engine_or_url, SHARED_PRAGMAS)
            self._owns_engine = True
        else:
            self.engine = engine_or_url
            self._owns_engine = False
        SQLModel.metadata.create_all(self.engine, tables=[table_of(DefinitionRow)])
        self._lock = threading.RLock()
        self._cache: dict[tuple[Kind, str, int], BaseModel] = {}
        self.builtin_groups: frozenset[str] = frozenset()
        self._load()

    def _load(self) -> None:
        with Session(self.engine) as session:
            rows = session.exec(select(DefinitionRow)).all()
        for row in rows:
            if row.kind not in MODELS:
                logger.error("Signals registry: skipping %s %r of unknown kind", row.kind, row.name)
                continue
            kind = row.kind  # a Kind: narrowed by `not in MODELS` above
            try:
                self._cache[(kind, row.name, row.version)] = parse_definition(kind, json.loads(row.body))
            except (InvalidDefinitionError, ValueError) as exc:  # e.g. stored by another SDK version
                logger.error("Signals registry: skipping stored %s %r v%s: %s", kind, row.name, row.version, exc)

    def install(self, engine: AttributeEngine) -> None:
        """Put every stored attribute group into `engine` (call before replaying the event log).

        The groups already in `engine` are the app's built-in ones: they are
        remembered so the API never lets a published group replace them.
        """
        self.builtin_groups = frozenset(group.name for group in engine.groups)
        for group in self.groups():
            if is_batch(group):
                continue  # computed by the batch engine: see `batch_groups`
            if group.name in self.builtin_groups:
                logger.error("Signals registry: stored group %r clashes with a built-in group; ignored", group.name)
                continue
            try:
                engine.publish(group)
            except (ValueError, TypeError, KeyError) as exc:
                logger.error("Signals registry: the engine cannot evaluate stored group %r: %s", group.name, exc)

    def get(self, kind: Kind, name: str, version: int | None = None) -> BaseModel | None:
        """One definition; for versioned kinds without `version`, the highest version."""
        with self._lock:
            if kind not in VERSIONED:
                return self._cache.get((kind, name, UNVERSIONED))
            if version is not None:
                return self._cache.get((kind, name, version))
            versions = [(v, d) for (k, n, v), d in self._cache.items() if k == kind and n == name]
            return max(versions, key=lambda pair: pair[0])[1] if versions else None

    def definitions(self, kind: Kind) -> list[BaseModel]:
        """Every definition of a kind, by name then version."""
        with self._lock:
            return [d for (k, _n, _v), d in sorted(self._cache.items(), key=lambda item: item[0]) if k == kind]

    def groups(self) -> list[StreamAttributeGroup]:
        """Every stored attribute group version (batch ones too: their attributes read alike)."""
        return [cast(StreamAttributeGroup, d) for d in self.definitions("attribute_group")]

    def batch_groups(self) -> list[BatchAttributeGroup | ExternalBatchAttributeGroup]:
        """The stored groups computed offline, for the batch engine."""
        return [cast(BatchAttributeGroup | ExternalBatchAttributeGroup, g) for g in self.groups() if is_batch(g)]

    def add_builtin(self, names: frozenset[str]) -> None:
        """Also treat these group names as built in (the app's own batch groups)."""
        self.builtin_groups = self.builtin_groups | names

    def put(self, kind: Kind, definition: BaseModel) -> None:
        """Create or replace a definition, durably, before it is visible."""
        name = cast(str, getattr(definition, "name"))  # noqa: B009 - every registry model has a name
        key = (kind, name, definition_version(kind, definition))
        row = DefinitionRow(
            kind=kind,
            name=name,
            version=key[2],
            body=json.dumps(to_json(definition), sort_keys=True),
            updated_at=dt.datetime.now(dt.UTC),
        )
        with self._lock, Session(self.engine) as session:
            session.merge(row)
            session.commit()
            self._cache[key] = definition

    def delete(self, kind: Kind, name: str, version: int | None = None) -> bool:
        """Remove a definition; False if there was none."""
        key = (kind, name, version if kind in VERSIONED and version is not None else UNVERSIONED)
        with self._lock:
            if key not in self._cache:
                return False
            with self.engine.begin() as connection:
                connection.execute(
                    delete(DefinitionRow).where(
                        col(DefinitionRow.kind) == key[0],
                        col(DefinitionRow.name) == key[1],
                        col(DefinitionRow.version) == key[2],
                    )
                )
            del self._cache[key]
            return True

    def close(self) -> None:
        """Dispose of the engine if the registry opened it (one given to it stays its owner's)."""
        if self._owns_engine:
            self.engine.dispose()
