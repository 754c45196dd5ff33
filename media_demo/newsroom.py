"""The newsroom: corpus, similarity index, attribute engine and tracker, wired once.

Plain Python (no Reflex): the Reflex states, the HTTP API, the tests and the
benchmarks all use this one object, so there is one way events flow in and
one way recommendations come out.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
from snowplow_signals import RuleIntervention, StreamAttributeGroup

from media_demo import routes, side_state
from media_demo.accounts import Accounts
from media_demo.articles import Corpus, load_corpus
from media_demo.definitions import (
    ARTICLE_EVENT,
    ARTICLE_VENDOR,
    AUDIENCE_GROUP,
    ENGAGEMENT_GROUP,
    IMPRESSION_CAPS,
    READER_GROUP,
    app_groups,
    app_interventions,
)
from media_demo.personalise import ReaderContext, SessionFacts, contextual_picks, describe_context, segment_for
from media_demo.personalise.layout import HomeLayout, home_layout
from media_demo.personalise.segments import SegmentMatch
from media_demo.recommend import ArticleIndex, ReaderProfile, ReadStats, Recommendation, recommend, strategy_name
from media_demo.recommend.strategy import interests
from media_demo.services.backfill import GroupBackfill
from media_demo.settings import Settings, get_settings
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.consent import BEHAVIOURAL, CONSENT_EVENT, CONTEXTUAL, Consent, ConsentLedger, anonymised
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.identity import IdentityLinks
from media_demo.signals.engine.interventions import FiredIntervention, InterventionBus, InterventionEngine
from media_demo.signals.engine.plans import group_id
from media_demo.signals.engine.timestamps import iso_seconds
from media_demo.signals.http.auth import resolve_api_token, resolve_cookie_secret
from media_demo.signals.ingest.enrich import enrich_or_bad
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.signals.remote import RemoteAttributes
from media_demo.signals.storage.checkpoints import Checkpoints, fingerprint
from media_demo.signals.storage.event_log import EventLog
from media_demo.signals.storage.registry import DefinitionRegistry
from media_demo.tracking import InProcessEmitter, NewsroomTracker, Page, Reader, http_emitter

logger = logging.getLogger(__name__)
DEFAULT_COUNT = 3
# A backfill reads the log without the lock, pass after pass, until a pass finds at most this many
# new events; only the events after that (those collected during the last pass) are applied under the lock.
BACKFILL_EVENTS_UNDER_LOCK = 2_000
BACKFILL_PASSES = 20  # then the rest is applied under the lock however many it is


@dataclass(frozen=True)
class ReaderView:
    """One reader as the pages see them: attributes, picks, segment and front-page layout.

    `personalised` says whether their reading history shaped it; when not, `reason` says why.
    """

    attributes: dict[str, Any]
    recommendations: list[Recommendation]
    segment: SegmentMatch
    layout: HomeLayout
    personalised: bool = False
    reason: str | None = None
    profile: ReaderProfile = field(default_factory=ReaderProfile)  # what the picks, segment and layout were built on
    consent: Consent | None = None  # the reader's choice when the view was made (None: not made yet)


@dataclass(frozen=True)
class Visit:
    """What one page view leaves the page to show: the reader's view, what is trending, who else is here."""

    view: ReaderView
    trending: list[tuple[str, int]]
    readers_here: int  # distinct readers of this story in the last few minutes, this one included (0 off stories)


@dataclass(frozen=True)
class PrivacySummary:
    """What is held about one reader, in the privacy page's terms."""

    consent: Consent | None
    articles_read: int
    categories_read: list[str]
    account_email: str
    linked_devices: int


NO_CONSENT_YET = "no behavioural consent yet: the reader has not made a choice"
CONSENT_DECLINED = "behavioural consent not given"
NO_HISTORY = "no reading history yet"


class Newsroom:
    """Everything the app needs at run time, built once per process.

    The HTTP routes of `media_demo.signals.http` use it as their `SignalsBackend`.
    """

    def __init__(self, settings: Settings, corpus: Corpus | None = None, index: ArticleIndex | None = None) -> None:
        self.settings = settings
        self.corpus = corpus or load_corpus(settings.articles_dir)
        self.index = index or ArticleIndex.for_corpus(self.corpus)
        self.registry = SchemaRegistry.from_folder(settings.schemas_dir)
        self.engine = AttributeEngine(app_groups(self.corpus.categories))
        # Remote mode: the reader's attributes come from that Signals API and the events go to its collector
        # (`settings.collector_url`). Built first, so a missing token fails before any thread or file is opened.
        self.remote: RemoteAttributes | None = None
        if settings.signals_api_url:
            self.remote = RemoteAttributes(settings.signals_api_url, settings.signals_api_token, self.engine.groups)
        self.read_stats = ReadStats()
        self._lock = threading.RLock()
        self.log = EventLog(settings.database_url, flush_interval=settings.flush_interval_seconds)
        # Signals-compatible API (/api/v1/): definitions published through it come back into the engine
        # before the replay, so their attributes are rebuilt from every logged event.
        self.signals_registry = DefinitionRegistry(self.log.engine)
        self.signals_registry.install(self.engine)
        self.api_token = resolve_api_token(settings)
        self.cookie_secret = resolve_cookie_secret(settings)
        self.accounts = Accounts(self.log.engine)
        # Consent and identity: who may be profiled, and which devices are one signed-in reader.
        # Both are rebuilt from the log (consent and sign-in are events) and checkpointed.
        self.consent = ConsentLedger(settings.consent_policies, settings.snowplow_app_id)
        self.links = IdentityLinks()
        # Interventions: evaluated after each event, delivered to open pages and SSE subscribers.
        self.bus = InterventionBus()
        self.interventions = InterventionEngine(self.engine, suppress=self._suppressed)
        for rule in app_interventions(self.corpus.categories):
            self.interventions.publish(rule)
        self._install_published_interventions()
        self._restoring = False
        self._dirty: dict[str, set[str]] = {}
        self._forget_listeners: list[Callable[[frozenset[str], frozenset[str]], None]] = []
        self._checkpointing = threading.Lock()
        self._unsaved_rows: dict[tuple[str, str], bytes | None] = {}  # side-state rows a failed checkpoint held
        self._backfills: dict[str, GroupBackfill] = {}  # by group id: the groups being backfilled
        self.checkpoints = Checkpoints(self.log.engine)
        self.replayed = self._restore()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="checkpointer", daemon=True)
        self._checkpointer.start()
        if settings.collector_url:
            emitter: Any = http_emitter(settings.collector_url)
        else:
            emitter = InProcessEmitter(self.collect)
        self.tracker = NewsroomTracker(emitter, app_id=settings.snowplow_app_id)

    def _restore(self) -> int:
        """Rebuild memory from the last checkpoint plus the log's tail; returns the events replayed."""
        restored = self.checkpoints.load(self.engine, other_prefix=side_state.PREFIX)
        after_seq = 0
        if restored is not None:
            after_seq, raw, rows = restored
            extra = orjson.loads(raw)
            side = (self.read_stats, self.interventions, self.consent, self.links)
            side_state.restore_rows(rows, *side)
            if isinstance(extra, dict) and "read_stats" in extra:  # written before entries were kept one by one
                side_state.restore_legacy(extra, *side)
        replayed = 0
        self._restoring = True  # replayed events update interventions' state but deliver nothing
        try:
            for event in self.log.events(after_seq=after_seq):
                self._apply(event)
                replayed += 1
        finally:
            self._restoring = False
        return replayed

    def checkpoint(self) -> None:
        """Write the state changed since the last checkpoint (and where it stands) to SQLite.

        One at a time; what a failed write held is written by the next one.
        """
        with self._checkpointing:
            with self._lock:
                dirty, self._dirty = self._dirty, {}
                states = {gid: list(self.engine.dump_states(gid, entities)) for gid, entities in dirty.items()}
                rows, removed = side_state.changed_rows(self.read_stats, self.interventions, self.consent, self.links)
                ticket, last_seq = self.log.position()
                # A group being backfilled is left out: a restart from this checkpoint must not take its
                # partial state for the whole (the definitions then differ, so the log is replayed).
                prints = fingerprint(
                    g for g in self.engine.groups if group_id(g.name, g.version or 1) not in self._backfills
                )
            pending = self._unsaved_rows
            pending.update(dict.fromkeys(removed))
            pending.update(((group, entity), raw) for group, entity, raw in rows)
            try:
                self.log.wait_durable(ticket)  # never record a position the log has not reached
                self.checkpoints.save(
                    states,
                    last_seq,
                    prints,
                    b"{}",
                    [(group, entity, raw) for (group, entity), raw in pending.items() if raw is not None],
                    [key for key, raw in pending.items() if raw is None],
                )
            except BaseException:
                with self._lock:  # the next checkpoint writes these entities' states again
                    for gid, entities in dirty.items():
                        self._dirty.setdefault(gid, set()).update(entities)
                raise
            pending.clear()

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self.settings.checkpoint_interval_seconds):
            if self._dirty:
                try:
                    self.checkpoint()
                except Exception:  # keep serving: the log alone is enough to recover
                    logger.exception("checkpoint failed")

    def _admit(self, event: CanonicalEvent) -> CanonicalEvent:
        """The event as it may be kept: anonymised when its reader has not consented to profiling.

        Enforced here, below every route in (collector, in-process tracker, replay), so no
        code path can profile a newsroom reader without consent.
        """
        return event if self.consent.may_profile(event) else anonymised(event)

    def _apply(self, event: CanonicalEvent) -> CanonicalEvent:
        """Update every in-memory view of the events (attributes, read counts, consent, identity links).

        Returns the event as admitted (anonymised without consent): what the log keeps.
        """
        event = self._admit(event)
        choice = self.consent.observe(event)
        self.links.observe(event)
        changed = self.engine.ingest(event)
        for gid, entity in changed:
            self._dirty.setdefault(gid, set()).add(entity)
        fired = self.interventions.evaluate(event, changed)
        if fired and not self._restoring:
            self.bus.publish(fired)
        if event.key == (ARTICLE_VENDOR, ARTICLE_EVENT) and event.event_data:
            reader = event.atomic.get("domain_userid") or None  # None: a read that counts for no one
            self.read_stats.observe(event.event_data["slug"], reader, event.timestamp)
        if choice is not None:
            before, after = choice
            if before is not None and before.allows(BEHAVIOURAL) and not after.allows(BEHAVIOURAL):
                self._drop_profile(event.atomic["domain_userid"])
        self._reader_changed(event)
        return event

    def _drop_profile(self, domain_userid: str) -> None:
        """Consent withdrawn: the reader's behavioural profile goes at once, their consent record stays.

        Their stored events go too (all but the consent events), so no backfill or
        restart can rebuild the profile; the device is unlinked from any account.
        """
        sessions: set[str] = set()
        if not self._restoring:
            sessions = self.log.reader_sessions([domain_userid])
            self.log.delete_events(domain_userid, keep_event_names=(CONSENT_EVENT,))
        self.links.forget(domain_userids=[domain_userid])
        # The withdrawal being applied is logged right after: what it built goes as well.
        self._forget_state({domain_userid} | sessions, readers={domain_userid}, through_seq=self.log.position()[1] + 1)

    def _forget_state(self, entities: set[str], readers: set[str], through_seq: int) -> None:
        """Drop the in-memory state of these entities (and their checkpointed rows), as built by
        the events up to `through_seq` (the backfills running erase it there in their states)."""
        self.engine.forget(entities)
        for backfill in self._backfills.values():
            backfill.forget(entities, through_seq)
        self.interventions.forget(entities)
        self.read_stats.forget(readers)
        for changed in self._dirty.values():
            changed -= entities
        for key in [key for key in self._unsaved_rows if key[1] in entities]:
            del self._unsaved_rows[key]
        if not self._restoring:
            self.checkpoints.forget(entities)

    def consent_of(self, domain_userid: str) -> Consent | None:
        """The reader's current consent choice; None until they make one."""
        with self._lock:
            return self.consent.get(domain_userid)

    def forget_reader(self, domain_userids: Iterable[str] = (), user_id: str | None = None) -> dict[str, int]:
        """Delete a reader: their events, profiles, consent, identity links, account and sessions.

        With a `user_id`, every device linked to it goes too. Article popularity keeps
        their reads as anonymous counts. Afterwards SQLite holds no copy of their ids
        (secure delete, WAL truncated) and memory no state keyed by them.
        Returns what was deleted, by kind.
        """
        with self._lock:
            devices = set(domain_userids)
            users = {user_id} if user_id else set()
            if user_id:
                devices.update(self.links.devices(user_id))
            sessions = self.log.reader_sessions(devices)
            deleted = self.log.forget(devices, users)
            entities = devices | sessions | users
            profiles = sum(1 for gid in self.engine.group_ids() for e in entities if self.engine.has_state(gid, e))
            self._forget_state(entities, readers=devices, through_seq=self.log.position()[1])
            self.consent.forget(devices)
            self.links.forget(user_ids=users, domain_userids=devices)
            accounts = int(self.accounts.delete(user_id) > 0) if user_id else 0
            if self._reader_watchers:
                for device in devices:
                    self._reader_watchers.pop(device, None)
        self.checkpoint()  # rewrite the checkpoint's extra state without them
        self.log.scrub()
        for callback in tuple(self._forget_listeners):
            try:
                callback(frozenset(devices), frozenset(users))
            except Exception:  # one listener's failure must not undo or hide the deletion
                logger.exception("a listener for forgotten readers failed")
        return {**deleted, "profiles": profiles, "devices": len(devices), "accounts": accounts}

    def on_forget(self, callback: Callable[[frozenset[str], frozenset[str]], None]) -> Callable[[], None]:
        """Call `callback(domain_userids, user_ids)` after each deletion; returns the unsubscribe function.

        For what the newsroom does not hold itself (the UI's per-tab state). The callback runs in
        the deleting thread: it must only hand the ids over, never block.
        """
        self._forget_listeners.append(callback)
        return lambda: self._forget_listeners.remove(callback) if callback in self._forget_listeners else None

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

    def _install_published_interventions(self) -> None:
        for rule in self.signals_registry.definitions("intervention"):
            try:
                self.interventions.publish(rule)  # type: ignore[arg-type]
            except ValueError as exc:
                logger.error("intervention %r cannot be evaluated: %s", getattr(rule, "name", "?"), exc)

    def collect(self, payload: Mapping[str, Any]) -> int:
        """Accept one tracker payload: enrich, apply if good, log either way.

        Returns the event-log ticket; `self.log.wait_durable(ticket)` blocks
        until it is committed, which is when it may be acknowledged.
        """
        result = enrich_or_bad(payload, self.registry)
        with self._lock:
            if isinstance(result, CanonicalEvent):
                result = self._apply(result)
            return self.log.append(result)

    def profile(
        self, domain_userid: str, attributes: dict[str, Any] | None = None, user_id: str | None = None
    ) -> ReaderProfile:
        """One reader's profile, from `attributes` when the caller already read them."""
        attrs = self.attributes(domain_userid, user_id) if attributes is None else attributes
        return ReaderProfile.from_attributes(attrs, self.corpus.categories)

    def attributes(self, domain_userid: str, user_id: str | None = None) -> dict[str, Any]:
        """All of one reader's attributes, as the Signals API would return them (from it, in remote mode).

        A signed-in reader (`user_id`) gets the merge over every device linked to their
        account, this one included: what they read anywhere counts once, everywhere.
        """
        if self.remote is not None:
            return self.remote.get(READER_GROUP, 1, domain_userid)
        with self._lock:
            if user_id:  # in link order, so every device sees the same merge (ties included)
                devices = [*self.links.devices(user_id), domain_userid]
                return self.engine.merged_attributes(READER_GROUP, devices)
            return self.engine.get_attributes(READER_GROUP, domain_userid)

    def recommendations(
        self, domain_userid: str, count: int = 3, attributes: dict[str, Any] | None = None, user_id: str | None = None
    ) -> list[Recommendation]:
        profile = self.profile(domain_userid, attributes, user_id)
        with self._lock:
            return recommend(profile, self.corpus, self.index, self.read_stats, count)

    def recommendations_document(self, domain_userid: str, count: int = 3) -> dict[str, Any]:
        """The `/api/recommended-articles` answer for one reader."""
        profile = self.profile(domain_userid)
        with self._lock:
            picks = recommend(profile, self.corpus, self.index, self.read_stats, count)
        return _document(domain_userid, profile, picks, strategy_name(picks))

    def readers_now(self, path: str) -> int:
        """Distinct readers who opened the page at `path` in the last few minutes (real, from the engine)."""
        with self._lock:
            return self.engine.get_attributes(AUDIENCE_GROUP, path)["readers_now"]

    def trending(self, limit: int, now: float | None = None) -> list[tuple[str, int]]:
        """What is trending: articles ranked by readers decayed by recency (a day's half-life),
        each with its real count of distinct readers."""
        with self._lock:
            ranked = self.read_stats.trending(limit, time.time() if now is None else now)
            return [(slug, self.read_stats.readers(slug)) for slug, _score in ranked]

    def publish(self, group: StreamAttributeGroup) -> bool:
        """Have the engine evaluate `group`; True when it is new or changed (and needs a backfill)."""
        with self._lock:  # `collect` iterates the engine's groups
            changed = self.engine.publish(group)
            running = self._backfills.get(group_id(group.name, group.version or 1))
            if changed and running is not None:
                running.cancel()  # it was building the previous definition's state
            return changed

    def publish_intervention(self, rule: RuleIntervention) -> None:
        """Evaluate `rule` from the next event on (ValueError if it reads unknown attributes)."""
        with self._lock:
            self.interventions.publish(rule)

    def evaluated_groups(self) -> list[StreamAttributeGroup]:
        """Every group version the engine evaluates (`SignalsBackend`)."""
        return self.engine.groups

    @property
    def groups_generation(self) -> int:
        """Moves whenever the set of evaluated groups changes (`SignalsBackend`)."""
        return self.engine.generation

    def read_attributes(
        self, group: str, version: int, entities: Sequence[str], attributes: Sequence[str], *, stitched: bool = False
    ) -> list[dict[str, Any]]:
        """A group's attributes per entity; `stitched`: per user, merged over their devices (`SignalsBackend`)."""
        with self._lock:  # reads must not interleave with `collect` updating the same states
            if stitched:
                return [
                    self.engine.merged_attributes(group, self.links.devices(e), version, attributes) for e in entities
                ]
            return [self.engine.get_attributes(group, e, version, attributes) for e in entities]

    def backfill(self, group: StreamAttributeGroup) -> int:
        """Compute a newly published group over the whole event log; returns the events replayed.

        The stored events are streamed, in seq order, through the group's evaluators in an
        engine of its own (`GroupBackfill`), without the lock: pages and the collector go on
        meanwhile, their events updating the group live. Then, under the lock (nothing can be
        collected), the events logged since the last one read are applied, and the state built
        is swapped in for the live one. Every logged event is in it exactly once: each is
        applied once, in seq order, from the one log; what live ingestion built meanwhile is
        dropped. A reset, or a new definition of the group published meanwhile, cancels it.
        """
        gid = group_id(group.name, group.version or 1)
        with self._lock:
            job = GroupBackfill(self.engine.definition(gid))
            if (previous := self._backfills.get(gid)) is not None:
                previous.cancel()
            self._backfills[gid] = job
        try:
            for _ in range(BACKFILL_PASSES):
                self.log.flush()
                if job.catch_up(self.log.entries(after_seq=job.position)) <= BACKFILL_EVENTS_UNDER_LOCK:
                    break
            with self._lock:
                if job.cancelled:
                    return job.replayed
                self.log.flush()  # every event collected so far is committed, and none can be until the swap
                job.catch_up(self.log.entries(after_seq=job.position))
                job.finish()
                self._dirty.setdefault(gid, set()).update(self.engine.adopt_states(gid, job.engine))
        finally:
            with self._lock:
                if self._backfills.get(gid) is job:
                    del self._backfills[gid]
        return job.replayed

    def close(self) -> None:
        """Stop background work, write a final checkpoint, commit the log."""
        self._stop.set()
        self._checkpointer.join()
        self.checkpoint()
        self.log.close()

    def reset(self) -> None:
        """Forget every event: the log, the attributes and the read counts (`/micro/reset`, for tests).

        The engine is rebuilt with the groups it evaluates now, published ones included.
        """
        with self._lock:
            for backfill in self._backfills.values():
                backfill.cancel()  # built from the events being deleted
            self._backfills = {}
            self.log.reset()
            self.checkpoints.clear()
            self.engine = AttributeEngine(self.engine.groups)
            definitions = self.interventions.definitions
            self.interventions = InterventionEngine(self.engine, suppress=self._suppressed)
            for rule in definitions:
                self.interventions.publish(rule)
            self.read_stats = ReadStats()
            self.consent = ConsentLedger(self.settings.consent_policies, self.settings.snowplow_app_id)
            self.links = IdentityLinks()
            self._dirty = {}
            self._unsaved_rows = {}

    def visit(
        self,
        reader: Reader,
        page: Page,
        article_slug: str = "",
        context: ReaderContext | None = None,
        days_since_last_visit: float | None = None,
        trending: int = 5,
    ) -> Visit:
        """Track one page view (and the article view on a story), then read back what the page shows.

        Blocking (the newsroom's lock, the group commit): UI handlers call it in a worker
        thread, once per page. It returns when the events are committed, so nothing the
        reader then sees can be lost by a crash.
        """
        self.tracker.page_view(reader, page)
        article = self.corpus.get(article_slug) if article_slug else None
        if article is not None:
            self.tracker.article_view(reader, page, article)
        view = self.reader_view(
            reader.domain_userid, context, reader.session.index, days_since_last_visit, user_id=reader.user_id
        )
        here = self.readers_now(routes.article_url(article.slug)) if article is not None else 0
        visit = Visit(view, self.trending(trending), here)
        self.log.flush()
        return visit

    def reader_view(
        self,
        domain_userid: str,
        context: ReaderContext | None = None,
        session_index: int = 1,
        days_since_last_visit: float | None = None,
        count: int = DEFAULT_COUNT,
        user_id: str | None = None,
    ) -> ReaderView:
        """Everything a page shows about one reader, from one read of their attributes.

        A reader with history gets the strategy's picks; one without gets the contextual
        cold start when there is a context (and they have not turned contextual use off),
        else the most-read stories. Without behavioural consent the reader has no history
        to use: the view is the one of a first visit, and says why.
        """
        consent = self.consent_of(domain_userid)
        if consent is not None and not consent.allows(CONTEXTUAL):
            context = None
        attributes = self.attributes(domain_userid, user_id)
        profile = self.profile(domain_userid, attributes)
        personalised = profile.has_history
        with self._lock:
            if context is not None and not personalised:
                picks = contextual_picks(context, self.corpus, self.index, self.read_stats, count)
            else:
                picks = recommend(profile, self.corpus, self.index, self.read_stats, count)
        segment = segment_for(profile, SessionFacts(session_index, days_since_last_visit))
        layout = home_layout(profile, segment, context, self.corpus)
        reason = None if personalised else self._why_not(consent)
        return ReaderView(attributes, picks, segment, layout, personalised, reason, profile, consent)

    def refresh(
        self, domain_userid: str, context: ReaderContext | None, session_index: int, user_id: str | None, trending: int
    ) -> tuple[ReaderView, list[tuple[str, int]]]:
        """The reader's view and what is trending, re-read after a change made outside `visit` (blocking:
        one call in a worker thread; in remote mode it waits for the Signals API)."""
        view = self.reader_view(domain_userid, context, session_index, user_id=user_id)
        return view, self.trending(trending)

    def privacy_summary(self, domain_userid: str, user_id: str | None) -> PrivacySummary:
        """What the privacy page shows a reader about what is held on them (blocking: one call in a worker
        thread; in remote mode the attributes come from the Signals API)."""
        attributes = self.attributes(domain_userid, user_id)
        account = self.accounts.get(user_id) if user_id else None
        with self._lock:
            devices = len(self.links.devices(user_id)) if user_id else 0
        return PrivacySummary(
            consent=self.consent_of(domain_userid),
            articles_read=int(attributes.get("article_read_count") or 0),
            categories_read=[str(c) for c in attributes.get("categories_read") or ()],
            account_email=account.email if account is not None else "",
            linked_devices=devices,
        )

    def _why_not(self, consent: Consent | None) -> str:
        """Why a reader's answer was not personalised."""
        if consent is None:
            return NO_CONSENT_YET
        return NO_HISTORY if consent.allows(BEHAVIOURAL) else CONSENT_DECLINED

    def contextual_document(self, domain_userid: str, context: ReaderContext, count: int = 3) -> dict[str, Any]:
        """The `/api/recommended-articles` answer given the request's context.

        A reader with history gets the strategy's picks; one without gets the contextual
        cold start (referrer, campaign, device, hour) instead of the plain most-read list.
        Both add the reader's segment and what the context said.
        """
        view = self.reader_view(domain_userid, context, count=count)
        profile = view.profile
        picks = view.recommendations
        cold = not profile.has_history
        strategy = "contextual" if cold and any(r.kind != "popular" for r in picks) else strategy_name(picks)
        document = _document(domain_userid, profile, picks, strategy)
        document["metadata"]["personalised"] = view.personalised
        document["metadata"]["reason"] = view.reason
        document["metadata"]["segment"] = view.segment.name
        document["metadata"]["context"] = describe_context(context, self.corpus, picks if cold else [])
        return document

    # The live inspector ("Your data"): one reader's groups and interventions, and a change feed.

    _reader_watchers: dict[str, list[Callable[[], None]]] | None = None

    def watch_reader(self, domain_userid: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after each new event of `domain_userid` is applied; returns the unsubscribe function.

        The callback runs in the thread that applied the event, under the newsroom's lock: it must
        only hand the news over (e.g. `loop.call_soon_threadsafe(flag.set)`), never block. Events
        replayed at start notify no one.
        """
        with self._lock:
            if self._reader_watchers is None:
                self._reader_watchers = {}
            watchers = self._reader_watchers
            watchers.setdefault(domain_userid, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                callbacks = watchers.get(domain_userid, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    watchers.pop(domain_userid, None)

        return unwatch

    def _reader_changed(self, event: CanonicalEvent) -> None:
        reader = event.atomic.get("domain_userid")
        if self._restoring or not reader or not self._reader_watchers:
            return
        for callback in tuple(self._reader_watchers.get(reader, ())):
            try:
                callback()
            except Exception:  # a watcher whose loop has gone must not break ingestion
                logger.exception("reader change callback failed")

    def reader_groups(self, ids: Mapping[str, str]) -> list[tuple[StreamAttributeGroup, dict[str, Any]]]:
        """Each evaluated group keyed by one of `ids` ({key name: id}), with that entity's attributes."""
        with self._lock:
            found = []
            for gid in self.engine.group_ids():
                definition = self.engine.definition(gid)
                entity = ids.get(definition.attribute_key.name or "")
                if entity:
                    attributes = self.engine.get_attributes(definition.name, entity, definition.version or 1)
                    found.append((definition, attributes))
            return found

    def reader_interventions(self, domain_userid: str) -> list[FiredIntervention]:
        """The interventions recently fired for one reader, oldest first."""
        with self._lock:
            return list(self.interventions.recent.get(domain_userid, ()))


def _document(domain_userid: str, profile: ReaderProfile, picks: list[Recommendation], strategy: str) -> dict[str, Any]:
    """The JSON of `/api/recommended-articles`."""
    return {
        "recommendations": [r.as_json() for r in picks],
        "metadata": {
            "domain_userid": domain_userid,
            "interests": interests(profile),
            "last_read": profile.last_read,
            "strategy": strategy,
            "generated_at": iso_seconds(time.time()),
        },
    }


@cache
def get_corpus() -> Corpus:
    """The published articles, loaded and validated once per process."""
    return load_corpus(get_settings().articles_dir)


@cache
def get_index() -> ArticleIndex:
    """The TF-IDF index of the published articles."""
    return ArticleIndex.for_corpus(get_corpus())


@cache
def get_newsroom() -> Newsroom:
    """This process's newsroom, built on first use from the environment.

    One per process by design: with several Reflex workers, each holds its
    own engine over the same event log; point them at one shared Signals API
    (remote mode) rather than relying on this object being shared.
    """
    room = Newsroom(get_settings(), get_corpus(), get_index())
    # The corpus, index and restored state live as long as the process: keep the
    # garbage collector from re-scanning them (long full collections stall requests).
    gc.freeze()
    return room
