"""What the pages read of the attribute engine's state, wherever it is kept.

`ReaderViews`, `Experiments` and `Privacy` read readers' attributes, consent, linked
devices, everyone's reading and the log through `EngineReads`, never through the
engine's objects: `LocalReads` serves them from this process's `Memory` and event
log (the one-process app, and the engine service), `RemoteReads`
(`media_demo.services.remote_reads`) from an engine service over HTTP (a UI worker of
a cluster). Everything here blocks: callers are in worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from snowplow_signals import StreamAttributeGroup

from media_demo.recommend.coreads import AlsoRead
from media_demo.recommend.popularity import Popularity
from media_demo.services.batch import Batch, gid_of
from media_demo.services.memory import Memory
from media_demo.signals.batch.compute import attribute_names
from media_demo.signals.engine.consent import Consent
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.storage.event_log import BadEventRow, EventLog

# A group, one entity's attributes of it, and when a batch group computed them (None for streaming groups).
GroupValues = tuple[StreamAttributeGroup, dict[str, Any], float | None]


@dataclass(frozen=True)
class Everyone:
    """Everyone's reading, as one consistent view for the span of one recommendation."""

    popularity: Popularity
    coreads: AlsoRead


class EngineUnavailableError(RuntimeError):
    """The engine service did not answer (down, restarting, or too slow): a page shows what it can without it."""


class EngineReads(Protocol):
    """The reads the pages make of the engine's state (blocking). Over HTTP, a read may raise
    `EngineUnavailableError`; attribute reads answer the defaults instead (an empty profile)."""

    def reader_attributes(
        self,
        group: str,
        version: int,
        domain_userid: str,
        user_id: str | None = None,
        names: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A device-keyed group's attributes of one reader; with `user_id`, merged over every device of
        their account and this one (what they did anywhere counts once, everywhere)."""
        ...

    def entity_attributes(
        self, group: str, version: int, entity: str, names: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """One entity's attributes of a group keyed by anything (a page path, a session)."""
        ...

    def devices(self, user_id: str) -> list[str]:
        """The devices (`domain_userid`s) a signed-in reader used, in link order."""
        ...

    def consent_of(self, domain_userid: str) -> Consent | None:
        """The reader's current consent choice; None until they make one."""
        ...

    def everyone(self) -> AbstractContextManager[Everyone]:
        """Everyone's reading, unchanged while the context is open (it may hold the engine's lock: be brief)."""
        ...

    def has_state(self, group: str, version: int, entity: str) -> bool:
        """Whether the engine holds anything for `entity` in that group version."""
        ...

    def reader_groups(self, ids: Mapping[str, str]) -> list[GroupValues]:
        """Each evaluated group keyed by one of `ids` ({key name: id}), with that entity's attributes and, for a
        batch group, when they were computed (None: streaming, always current; or no batch row yet)."""
        ...

    def recent_interventions(self, domain_userid: str) -> list[FiredIntervention]:
        """The interventions recently fired for one reader, oldest first."""
        ...

    def settle(self) -> None:
        """Return once every event this process tracked so far is applied and committed."""
        ...

    def reader_events(self, domain_userid: str, limit: int) -> list[CanonicalEvent]:
        """One reader's most recent committed events, newest first."""
        ...

    def reader_bad_events(self, domain_userid: str, limit: int) -> list[BadEventRow]:
        """The most recent rejected payloads that name this reader, newest first."""
        ...


class LocalReads:
    """`EngineReads` from this process's `Memory` (under its lock), event log and batch values."""

    def __init__(self, memory: Memory, log: EventLog, batch: Batch | None = None) -> None:
        self._memory, self._log, self._batch = memory, log, batch

    def reader_attributes(
        self,
        group: str,
        version: int,
        domain_userid: str,
        user_id: str | None = None,
        names: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """From the engine; merged over the account's devices with `user_id` (a batch group: the freshest device's)."""
        memory = self._memory
        batch = self._batch
        if batch is not None and batch.is_batch(f"{group}_v{version}"):
            gid = f"{group}_v{version}"
            wanted = list(names) if names is not None else attribute_names(batch.group(gid))
            device = domain_userid
            if user_id:
                device = batch.freshest(gid, [*self.devices(user_id), domain_userid]) or domain_userid
            return batch.read(gid, [device], wanted)[0]
        with memory.lock:
            if user_id:  # in link order, so every device sees the same merge (ties included)
                devices = [*memory.links.devices(user_id), domain_userid]
                return memory.engine.merged_attributes(group, devices, version, names)
            return memory.engine.get_attributes(group, domain_userid, version, names)

    def entity_attributes(
        self, group: str, version: int, entity: str, names: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """From the engine, under its lock (a batch group: from its values)."""
        batch = self._batch
        if batch is not None and batch.is_batch(f"{group}_v{version}"):
            gid = f"{group}_v{version}"
            wanted = list(names) if names is not None else attribute_names(batch.group(gid))
            return batch.read(gid, [entity], wanted)[0]
        with self._memory.lock:
            return self._memory.engine.get_attributes(group, entity, version, names)

    def devices(self, user_id: str) -> list[str]:
        """From the identity links."""
        with self._memory.lock:
            return list(self._memory.links.devices(user_id))

    def consent_of(self, domain_userid: str) -> Consent | None:
        """From the consent ledger."""
        return self._memory.consent_of(domain_userid)

    @contextmanager
    def everyone(self) -> Iterator[Everyone]:
        """The live read and co-read counts, the engine's lock held meanwhile."""
        memory = self._memory
        with memory.lock:  # live views: they must not change while a strategy ranks with them
            yield Everyone(memory.read_stats, memory.coreads)

    def has_state(self, group: str, version: int, entity: str) -> bool:
        """From the engine, under its lock."""
        with self._memory.lock:
            return self._memory.engine.has_state(f"{group}_v{version}", entity)

    def reader_groups(self, ids: Mapping[str, str]) -> list[GroupValues]:
        """Every evaluated group keyed by one of `ids`, with its attributes: the streaming ones, then the batch ones."""
        found: list[GroupValues] = []
        with self._memory.lock:
            engine = self._memory.engine
            for gid in engine.group_ids():
                definition = engine.definition(gid)
                entity = ids.get(definition.attribute_key.name or "")
                if entity:
                    values = engine.get_attributes(definition.name, entity, definition.version or 1)
                    found.append((definition, values, None))
        batch = self._batch
        if batch is not None:
            for group in batch.groups():
                entity = ids.get(group.attribute_key.name or "")
                if entity:
                    gid = gid_of(group)
                    (values,) = batch.read(gid, [entity], attribute_names(group))
                    found.append((cast(StreamAttributeGroup, group), values, batch.computed_at(gid, entity)))
        return found

    def recent_interventions(self, domain_userid: str) -> list[FiredIntervention]:
        """From the intervention engine's recent deliveries."""
        with self._memory.lock:
            return list(self._memory.interventions.recent.get(domain_userid, ()))

    def settle(self) -> None:
        """Waits for the event log's group commit."""
        self._log.flush()

    def reader_events(self, domain_userid: str, limit: int) -> list[CanonicalEvent]:
        """From the event log, once what is pending is committed."""
        self._log.flush()  # those just applied included
        return self._log.reader_events(domain_userid, limit)

    def reader_bad_events(self, domain_userid: str, limit: int) -> list[BadEventRow]:
        """From the bad events' raw payloads."""
        return self._log.reader_bad_events(domain_userid, limit)
