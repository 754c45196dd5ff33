"""What the events built in memory, behind one lock: attributes, interventions, read and co-read counts, consent,
links.

`Ingest` writes these views as events are applied; `ReaderViews` and `Privacy` read
them; each holds `lock` for every access. `reset` builds them afresh, with the same
attribute groups and intervention rules and no state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from snowplow_signals import StreamAttributeGroup

from media_demo.definitions import ENGAGEMENT_GROUP, IMPRESSION_CAPS
from media_demo.recommend import CoReads, ReadStats
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.consent import Consent, ConsentLedger, Policy
from media_demo.signals.engine.event_logs import SessionBuffers
from media_demo.signals.engine.identity import IdentityLinks
from media_demo.signals.engine.interventions import AttributeSource, InterventionEngine


class Memory:
    """The in-memory views of the events, rebuilt from the log (and checkpoints) at start."""

    def __init__(
        self, groups: Iterable[StreamAttributeGroup], consent_policies: Mapping[str, Policy], app_id: str
    ) -> None:
        self.lock = threading.RLock()
        self._consent_policies, self._app_id = consent_policies, app_id
        self._sources: list[AttributeSource] = []  # batch attributes, which rules may read too
        self.engine = AttributeEngine(groups)
        self.interventions = InterventionEngine(self.engine, suppress=self._suppressed)
        self.read_stats = ReadStats()
        self.coreads = CoReads()  # readers who read this also read (consented readers only; see `Ingest._apply`)
        # Consent and identity: who may be profiled, and which devices are one signed-in reader.
        self.consent = ConsentLedger(consent_policies, app_id)
        self.links = IdentityLinks()
        # The published event logs' recent entries per session (`AgenticContexts` feeds and rebuilds them).
        self.contexts = SessionBuffers()

    @property
    def side_state(self) -> tuple[ReadStats, InterventionEngine, ConsentLedger, IdentityLinks, CoReads]:
        """What checkpoints keep beside the attributes (`media_demo.side_state`), in its order."""
        return self.read_stats, self.interventions, self.consent, self.links, self.coreads

    def consent_of(self, domain_userid: str) -> Consent | None:
        """The reader's current consent choice; None until they make one."""
        with self.lock:
            return self.consent.get(domain_userid)

    def forget(self, entities: set[str], readers: set[str]) -> int:
        """Drop the state of these entities (`readers`: whose reads stay only as anonymous counts, and leave
        the co-read counts); returns how many (group, entity) states there were."""
        with self.lock:
            profiles = sum(1 for gid in self.engine.group_ids() for e in entities if self.engine.has_state(gid, e))
            self.engine.forget(entities)
            self.interventions.forget(entities)
            self.read_stats.forget(readers)
            self.coreads.forget(readers)
            self.contexts.forget(entities | readers)
            return profiles

    def reset(self) -> None:
        """Everything afresh, with the groups and intervention rules evaluated now."""
        with self.lock:
            self.engine = AttributeEngine(self.engine.groups)
            definitions = self.interventions.definitions
            self.interventions = InterventionEngine(self.engine, suppress=self._suppressed, sources=self._sources)
            for rule in definitions:
                self.interventions.publish(rule)
            self.read_stats = ReadStats()
            self.coreads = CoReads()
            self.consent = ConsentLedger(self._consent_policies, self._app_id)
            self.links = IdentityLinks()
            self.contexts.clear()  # (the same object: `AgenticContexts` holds it)

    def add_source(self, source: AttributeSource) -> None:
        """Let intervention rules read `source`'s groups too (publish rules that read them after this)."""
        with self.lock:
            self._sources.append(source)
            definitions = self.interventions.definitions
            self.interventions = InterventionEngine(self.engine, suppress=self._suppressed, sources=self._sources)
            for rule in definitions:
                self.interventions.publish(rule)

    def _suppressed(self, name: str, target_key: str, target_id: str) -> bool:
        """A reader who dismissed an intervention, or saw it as often as its cap allows, is left alone.

        Both facts are attributes built from the reader's own interaction events,
        so they survive restarts like everything else.
        """
        if target_key != "domain_userid":
            return False
        engagement = self.engine.get_attributes(ENGAGEMENT_GROUP, target_id)
        if name in engagement["interventions_dismissed"]:
            return True
        return engagement["intervention_impressions"].get(name, 0) >= IMPRESSION_CAPS.get(name, 1_000_000)
