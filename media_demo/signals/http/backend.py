"""What the HTTP routes need of the application that serves them, and nothing more.

The collector, the Signals-compatible API and the interventions stream are built
with a `Callable[[], SignalsBackend]` (called per request, so tests can supply
their own). The application (the app's `Newsroom`) implements this
Protocol; the routes never see its lock, its engine or its identity links.

Two kinds of member: lower-floor services the backend hands over, which are safe
to use from any thread on their own (the event log, the intervention bus, the
registry of published definitions), and operations on the state the backend keeps
in memory behind its own lock (collecting, reading attributes, publishing).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from snowplow_signals import RuleIntervention, StreamAttributeGroup

from media_demo.signals.batch.compute import ComputableGroup
from media_demo.signals.batch.datasets import DatasetPreview, DatasetRequest, DatasetRun
from media_demo.signals.engine.event_logs import Window
from media_demo.signals.engine.interventions import InterventionBus
from media_demo.signals.storage.event_log import EventLog
from media_demo.signals.storage.registry import DefinitionRegistry


@runtime_checkable
class SignalsBackend(Protocol):
    """An embedded Signals: events in, attributes and interventions out, definitions published over HTTP."""

    @property
    def api_token(self) -> str:
        """The bearer token the `/api/v1/` and `/micro/` routes require."""
        ...

    @property
    def log(self) -> EventLog:
        """Where collected events are kept: the collector logs bad input and waits for durability here,
        and the `/micro/` routes read it."""
        ...

    @property
    def bus(self) -> InterventionBus:
        """Fired interventions: the SSE stream subscribes to it, `POST /api/v1/interventions` publishes on it."""
        ...

    @property
    def signals_registry(self) -> DefinitionRegistry:
        """The definitions published through the API (durable), and the names of the built-in groups."""
        ...

    @property
    def groups_generation(self) -> int:
        """Changes whenever the set of evaluated attribute groups changes (never repeats in one process)."""
        ...

    def collect(self, payload: Mapping[str, Any]) -> int:
        """Enrich one tracker payload, apply it if good, log it either way; returns its event-log ticket."""
        ...

    def reset(self) -> None:
        """Forget every event and everything built from them (`/micro/reset`, for tests)."""
        ...

    def evaluated_groups(self) -> list[StreamAttributeGroup]:
        """Every attribute group version evaluated: the built-in ones and the published ones, streaming and batch
        (batch groups are typed as stream ones here: the routes read their names, keys and attributes alike)."""
        ...

    def read_attributes(
        self,
        group: str,
        version: int,
        entities: Sequence[str],
        attributes: Sequence[str],
        *,
        stitched: bool = False,
    ) -> list[dict[str, Any]]:
        """Current `attributes` of version `version` of `group`, one row per entity in order (defaults when unseen).

        `stitched`: the entities are `user_id`s reading a device-keyed group, and each row is
        the merge over the devices that user signed in on (identity stitching).
        """
        ...

    def publish(self, group: StreamAttributeGroup) -> bool:
        """Have the engine evaluate `group`; True when it is new or changed (and needs a backfill)."""
        ...

    def backfill(self, group: StreamAttributeGroup) -> int:
        """Compute a newly published group over the whole event log; returns the events replayed."""
        ...

    def publish_batch(self, group: StreamAttributeGroup) -> str | None:
        """Have the batch engine compute (or sync) a batch group now and on its schedule; the run's error, if any."""
        ...

    def drop_batch(self, name: str, version: int) -> None:
        """Stop computing a batch group and forget its values (its definition was deleted)."""
        ...

    def publish_intervention(self, rule: RuleIntervention) -> None:
        """Evaluate `rule` from the next event on (ValueError if it reads unknown attributes)."""
        ...

    def event_logs_changed(self) -> None:
        """The registry's published event logs changed: serve that set from now on (blocking: their
        buffers are rebuilt from the newest logged events)."""
        ...

    def agentic_context(self, name: str, identifier: str) -> Window | None:
        """Session `identifier`'s recent entries of published event log `name`; None when it is not served."""
        ...

    def preview_attribute_group(
        self, group: ComputableGroup, key_ids: Sequence[str], app_ids: Sequence[str], window: dt.timedelta
    ) -> dict[str, list[Any]]:
        """A group's values (published or not) over the last `window` of logged events, as columns: the key's,
        then each attribute's, for `key_ids` or up to 10 entities seen (`signals.test`; blocking; ValueError
        when the group cannot be computed)."""
        ...

    def submit_dataset_run(self, request: DatasetRequest) -> DatasetRun:
        """Start computing a training dataset in the background (ValueError: it cannot work, said now;
        `TooManyRunsError`: no room for another run)."""
        ...

    def dataset_run(self, run_id: uuid.UUID) -> DatasetRun:
        """A dataset run's status (`UnknownRunError` when there is none)."""
        ...

    def dataset_preview(self, run_id: uuid.UUID, limit: int) -> DatasetPreview:
        """The first `limit` rows of a finished dataset (`RunNotReadyError` until it succeeded)."""
        ...

    def cancel_dataset_run(self, run_id: uuid.UUID) -> DatasetRun:
        """Stop a pending dataset run (it fails as cancelled); a finished one is left as it is."""
        ...
