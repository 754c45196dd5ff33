"""The newsroom: builds the app's parts once, wires them, and closes them.

Plain Python (no Reflex). What it builds: the corpus and similarity index, the
attribute engine and the other in-memory views of the events (`Memory`), the event
log, checkpoints, accounts, the tracker, and the services that do the work:
`Ingest` (events in, durability, backfills), `Privacy` (consent, deletion) and
`ReaderViews` (what the pages show a reader), `Publishing` (stories created, replaced and
withdrawn at run time, with the indexes following). The Reflex states, the HTTP API, the
tests and the benchmarks use those services; the HTTP routes of
`media_demo.signals.http` use the newsroom itself as their `SignalsBackend`, each
member delegating to the service it belongs to.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import cache, wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from snowplow_signals import BatchAttributeGroup, ExternalBatchAttributeGroup, RuleIntervention, StreamAttributeGroup
from sqlalchemy import Engine

from media_demo.accounts import Accounts
from media_demo.articles import Corpus, load_corpus
from media_demo.articles.store import StoryStore, open_corpus
from media_demo.assistant.builtin import BuiltInGenerator
from media_demo.assistant.choice import build_generator
from media_demo.assistant.passages import PassageIndex
from media_demo.definitions import (
    app_groups,
    app_interventions,
    crm_subscription_group,
    reader_context_service,
    reading_history_group,
)
from media_demo.experiments.attributes import experiment_groups
from media_demo.experiments.catalogue import load_catalogue
from media_demo.experiments.definitions import Experiment
from media_demo.features.definitions import reader_features_group
from media_demo.features.frames import stories_frame
from media_demo.mail.links import MailLinks
from media_demo.mail.smtp import MailSender, OutboxSender, SmtpConfig, SmtpSender
from media_demo.mail.store import SubscriptionStore
from media_demo.recommend import ArticleIndex
from media_demo.recommend.strategy import prepare
from media_demo.services.agentic_contexts import AgenticContexts
from media_demo.services.assistant import AssistantService
from media_demo.services.batch import Batch, gid_of
from media_demo.services.digests import Digests, DigestScheduler, DigestSettings
from media_demo.services.engine_feed import EngineFeed
from media_demo.services.engine_reads import EngineReads, LocalReads
from media_demo.services.experiments import EngineOutcomes, Experiments, Outcomes
from media_demo.services.features import FEATURES_TABLE, ReaderFeatures
from media_demo.services.feed_poller import FeedPoller
from media_demo.services.ingest import Ingest
from media_demo.services.memory import Memory
from media_demo.services.privacy import EngineEraser, Eraser, Privacy
from media_demo.services.publishing import ArticleIndexFollower, PassageIndexFollower, Publishing, StoryFollower
from media_demo.services.reader_views import ReaderViews
from media_demo.services.remote_reads import RemoteEraser, RemoteOutcomes, RemoteReads
from media_demo.settings import Settings, get_settings
from media_demo.signals.batch.compute import ComputableGroup
from media_demo.signals.batch.datasets import DatasetPreview, DatasetRequest, DatasetRun, DatasetRuns, preview_group
from media_demo.signals.batch.events import EventExport
from media_demo.signals.batch.external import read_external
from media_demo.signals.engine.event_logs import Window
from media_demo.signals.engine.interventions import InterventionBus
from media_demo.signals.engine.plans import group_id
from media_demo.signals.http.auth import resolve_api_token, resolve_cookie_secret
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.signals.storage.batch_values import BatchValues
from media_demo.signals.storage.checkpoints import Checkpoints
from media_demo.signals.storage.database import SHARED_PRAGMAS, open_database
from media_demo.signals.storage.event_log import EventLog
from media_demo.signals.storage.registry import DefinitionRegistry
from media_demo.tracking import CollectorEmitter, InProcessEmitter, NewsroomTracker, http_emitter

logger = logging.getLogger(__name__)

WARM_STORIES = 2_000  # the newest stories whose neighbours are found at start, before any reader asks


class Newspaper:
    """What the pages and the readers' API use, wherever the attribute engine is: the stories and their
    indexes, accounts, the tracker, the services that read the engine (`reads`), the assistant, publishing.

    `Newsroom` holds the engine in this process; `RemoteNewsroom` (a UI worker of a cluster) reads an
    engine service over HTTP. `_open_paper` builds the part they share, once the engine's side is there.
    """

    settings: Settings
    corpus: Corpus
    index: ArticleIndex
    api_token: str
    cookie_secret: str
    accounts: Accounts
    bus: InterventionBus
    tracker: NewsroomTracker
    reads: EngineReads
    experiments: Experiments
    views: ReaderViews
    privacy: Privacy
    passages: PassageIndex
    assistant: AssistantService
    stories: StoryStore
    publishing: Publishing
    subscriptions: SubscriptionStore
    digests: Digests

    def _open_paper(
        self, catalogue: Sequence[Experiment], reads: EngineReads, outcomes: Outcomes, eraser: Eraser, database: Engine
    ) -> None:
        """The services over `reads`, the assistant, and publishing into `database` (the indexes follow it)."""
        settings = self.settings
        self.reads = reads
        self.experiments = Experiments(catalogue, reads, outcomes)
        self.views = ReaderViews(
            reads, self.corpus, self.index, self.tracker, self.experiments, settings.recency_window
        )
        self.privacy = Privacy(reads, self.views, self.accounts, self.tracker, eraser)
        self.passages = passages = PassageIndex.for_corpus(self.corpus)
        builtin = BuiltInGenerator(self.corpus, passages)
        self.assistant = AssistantService(
            self.corpus,
            self.views,
            self.tracker,
            reads.consent_of,
            build_generator(settings, builtin, passages),
            builtin,
        )
        # Publishing: the stories live in the database; the sections are those of the start.
        self.stories = StoryStore(database)
        # The indexes follow publishing at once; their refits (new words, a tenth new) run in the background.
        self.index_follower = ArticleIndexFollower(self.index, self.corpus)
        self.passage_follower = PassageIndexFollower(self.passages)
        self.publishing = Publishing(
            self.stories, self.corpus, self.corpus.categories, [self.index_follower, self.passage_follower]
        )
        self.publishing.refresh_covers()
        # Stories other processes publish into the same database (a cluster's engine and workers) shown here too.
        self.story_follower = StoryFollower(self.stories, self.publishing)
        self.story_follower.start()
        self.privacy.on_forget(self.views.forget_watchers)
        self.privacy.on_forget(self.assistant.forget)
        # The e-mail digest: sent by whichever process claims a reader's period first (each runs the scheduler).
        self.digests = Digests(
            self.subscriptions,
            self.accounts,
            self.views,
            reads,
            self.tracker,
            MailLinks(self.cookie_secret),
            mail_sender(settings),
            DigestSettings(
                site_url=settings.site_url,
                api_url=settings.public_api_url,
                sender=settings.digest_from,
                app_id=settings.snowplow_app_id,
                hour=settings.digest_hour,
                weekday=settings.digest_weekday,
                timezone=settings.digest_timezone,
            ),
        )
        self.digest_scheduler = DigestScheduler(self.digests)
        if settings.digest_schedule:
            self.digest_scheduler.start()

    def _start_warming(self) -> None:
        """The newest stories' neighbours found ahead of their readers (milliseconds each at archive scale)."""
        threading.Thread(target=self._warm_index, name="article-index-warm", daemon=True).start()

    def _warm_index(self) -> None:
        try:
            prepare(self.corpus, self.index, self.settings.recency_window)
            self.index.warm(a.slug for a in self.corpus.latest(WARM_STORIES))
        except Exception:  # a story withdrawn meanwhile, say: its readers find the rest on demand
            logger.exception("warming the article index failed")

    def event_counts(self) -> dict[str, int]:
        """How many good and bad events the engine's log holds (the health check's numbers; blocking)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop background work."""
        raise NotImplementedError


class Newsroom(Newspaper):
    """The one-process newsroom: the engine, its event log and the pages together (`make run`, the engine
    service); the HTTP routes' `SignalsBackend`."""

    def __init__(self, settings: Settings, corpus: Corpus | None = None, index: ArticleIndex | None = None) -> None:
        self.settings = settings
        # The stories of the database, after importing the new and changed files: one live corpus that
        # pages, recommender and assistant read and publishing changes (`get_corpus` passes this process's).
        self.corpus = corpus if corpus is not None else open_corpus(settings.database_url, settings.articles_dir)
        self.index = index or ArticleIndex.for_corpus(self.corpus)
        self.registry = SchemaRegistry.from_folder(settings.schemas_dir)
        # Experiments are checked before anything starts: a bad definition stops the app, naming file and field.
        experiments = load_catalogue(settings.experiments_dir)
        groups = app_groups(self.corpus.categories) + [g for e in experiments for g in experiment_groups(e)]
        self.memory = Memory(groups, settings.consent_policies, settings.snowplow_app_id)
        self.log = EventLog(settings.database_url, flush_interval=settings.flush_interval_seconds)
        # Signals-compatible API (/api/v1/): definitions published through it come back into the engine
        # before the replay, so their attributes are rebuilt from every logged event.
        self.signals_registry = DefinitionRegistry(self.log.engine)
        self.signals_registry.install(self.memory.engine)
        # The Service the assistant's tool reads (as the tutorial's agent does), served like a published one.
        self.signals_registry.put("service", reader_context_service(self.corpus.categories))
        self.api_token = resolve_api_token(settings)
        self.cookie_secret = resolve_cookie_secret(settings)
        self.accounts = Accounts(self.log.engine)
        self.subscriptions = SubscriptionStore(self.log.engine)
        # Batch attributes: the app's own batch groups and those published, computed over the log's Parquet export.
        scratch = batch_folder(settings)
        self.batch = Batch(
            BatchValues(self.log.engine),
            EventExport(scratch / "events"),
            self.log,
            settings.sources_dir,
            settings.batch_interval_seconds,
            read_external=read_external,
            roots={FEATURES_TABLE[0]: scratch},  # the features table is written here, by each run
        )
        self.batch.add(reading_history_group(), builtin=True)
        self.batch.add(crm_subscription_group(), builtin=True)
        self.batch.add(reader_features_group(), builtin=True)
        self.features = ReaderFeatures(
            lambda: stories_frame(self.corpus),
            scratch / FEATURES_TABLE[0] / f"{FEATURES_TABLE[1]}.parquet",
            settings.models_dir,
            dt.timedelta(hours=settings.model_retrain_hours),
        )
        self.batch.before_sync(self.features)
        for group in self.signals_registry.batch_groups():
            if group.name not in self.batch.builtin_names:
                self.batch.add(group)
        self.signals_registry.add_builtin(self.batch.builtin_names)
        # Training datasets (`submit_dataset_run_*`) over the batch engine's export, kept beside it.
        self.datasets = DatasetRuns(
            batch_folder(settings) / "datasets", self.batch.export, self.log, settings.sources_dir
        )
        self.memory.add_source(self.batch)  # rules may read batch attributes (the subscription offer: propensity)
        # Interventions: evaluated after each event, delivered to open pages and SSE subscribers.
        self.bus = InterventionBus()
        for rule in app_interventions(self.corpus.categories):
            self.memory.interventions.publish(rule)
        self._install_published_interventions()
        self.checkpoints = Checkpoints(self.log.engine)
        self.ingest = Ingest(
            self.memory, self.log, self.registry, self.checkpoints, self.bus, settings.checkpoint_interval_seconds
        )
        emitter: Any = (
            http_emitter(settings.snowplow_collector_url)
            if settings.snowplow_collector_url
            else InProcessEmitter(self.ingest.collect)
        )
        self.tracker = NewsroomTracker(emitter, app_id=settings.snowplow_app_id)
        self.eraser = EngineEraser(
            self.memory, self.ingest, self.log, self.accounts, self.subscriptions, self._forget_batch
        )
        # What the pages read of the engine: this process's memory and log.
        self._open_paper(
            experiments,
            LocalReads(self.memory, self.log, self.batch),
            EngineOutcomes(self.memory),
            self.eraser,
            self.log.engine,
        )
        self.feeds: FeedPoller | None = None
        if settings.feeds:
            self.feeds = FeedPoller(self.publishing, settings.feeds, settings.feed_poll_seconds, settings.feed_category)
        self.ingest.on_event(self.views.event_applied)
        self.batch.after_run(lambda _runs: self.views.everyone_changed())  # open inspectors show the new values
        self.ingest.on_withdrawal(self.eraser.withdraw)
        # Published event logs (agentic context): buffered per session from live events, rebuilt from the log.
        self.contexts = AgenticContexts(self.memory.contexts, self.log, self.signals_registry, self.memory.lock)
        self.ingest.on_event(self.contexts.observe)
        self.replayed = self.ingest.restore()
        self.contexts.rebuild()
        self.ingest.start()
        if settings.batch_schedule:
            self.batch.start()
        if self.feeds is not None:
            self.feeds.start()
        self._start_warming()

    def _install_published_interventions(self) -> None:
        for rule in self.signals_registry.definitions("intervention"):
            try:
                self.memory.interventions.publish(rule)  # type: ignore[arg-type]
            except ValueError as exc:
                logger.error("intervention %r cannot be evaluated: %s", getattr(rule, "name", "?"), exc)

    def event_counts(self) -> dict[str, int]:
        """How many good and bad events the log holds."""
        return self.log.counts()

    def close(self) -> None:
        """Stop background work, write a final checkpoint, commit the log."""
        self.digest_scheduler.stop()
        self.story_follower.close()
        if self.feeds is not None:
            self.feeds.close()
        self.batch.close()
        self.datasets.close()
        self.ingest.close()
        self.log.close()

    def reset(self) -> None:
        """Forget every event: the log, the attributes and the read counts (`/micro/reset`, for tests).

        The engine is rebuilt with the groups it evaluates now, published ones included.
        """
        self.ingest.reset()
        self.batch.reset()
        self.datasets.clear()

    # --- SignalsBackend: what the HTTP routes use, each from the service it belongs to --------------------------------

    def collect(self, payload: Mapping[str, Any]) -> int:
        """Enrich one tracker payload, apply it if good, log it either way; returns its event-log ticket."""
        return self.ingest.collect(payload)

    def publish(self, group: StreamAttributeGroup) -> bool:
        """Have the engine evaluate `group`; True when it is new or changed (and needs a backfill)."""
        return self.ingest.publish(group)

    def backfill(self, group: StreamAttributeGroup) -> int:
        """Compute a newly published group over the whole event log; returns the events replayed."""
        return self.ingest.backfill(group)

    def publish_intervention(self, rule: RuleIntervention) -> None:
        """Evaluate `rule` from the next event on (ValueError if it reads unknown attributes)."""
        self.ingest.publish_intervention(rule)

    def publish_batch(self, group: StreamAttributeGroup) -> str | None:
        """Compute (or sync) a batch group now, and on the schedule from then on; the run's error, if any."""
        batch_group = cast(BatchAttributeGroup | ExternalBatchAttributeGroup, group)
        previous = self.batch.group(gid_of(batch_group))
        self.batch.add(batch_group)
        runs = self.batch.run(only=[gid_of(batch_group)])
        errors = [str(run.detail["error"]) for run in runs if "error" in run.detail]
        if not errors:
            return None
        if previous is not None:  # a changed definition that fails: the one before stays, with its values
            self.batch.add(previous)
        else:
            self.batch.remove(batch_group.name, batch_group.version or 1)
        return errors[0]

    def drop_batch(self, name: str, version: int) -> None:
        """Stop computing a batch group and forget its values."""
        self.batch.remove(name, version)

    def event_logs_changed(self) -> None:
        """Serve the registry's published event logs, their buffers rebuilt from the log's newest events."""
        self.contexts.rebuild()

    def _forget_batch(self, entities: set[str]) -> int:
        """Deletion: batch rows and the export, and the rows of kept training datasets."""
        return self.batch.forget(entities) + self.datasets.forget(entities)

    def preview_attribute_group(
        self, group: ComputableGroup, key_ids: Sequence[str], app_ids: Sequence[str], window: dt.timedelta
    ) -> dict[str, list[Any]]:
        """`signals.test`: the group over the last `window` of the batch export (brought up to date first)."""
        self.batch.export.update(self.log)
        return preview_group(group, self.batch.export.scan(), time.time(), window.total_seconds(), key_ids, app_ids)

    def submit_dataset_run(self, request: DatasetRequest) -> DatasetRun:
        """Start a training dataset run."""
        return self.datasets.submit(request)

    def dataset_run(self, run_id: uuid.UUID) -> DatasetRun:
        """A dataset run's status."""
        return self.datasets.status(run_id)

    def dataset_preview(self, run_id: uuid.UUID, limit: int) -> DatasetPreview:
        """A finished dataset's first rows."""
        return self.datasets.preview(run_id, limit)

    def cancel_dataset_run(self, run_id: uuid.UUID) -> DatasetRun:
        """Stop a dataset run."""
        return self.datasets.cancel(run_id)

    def agentic_context(self, name: str, identifier: str) -> Window | None:
        """Session `identifier`'s recent entries of published event log `name`; None when it is not served."""
        return self.contexts.window(name, identifier)

    def evaluated_groups(self) -> list[StreamAttributeGroup]:
        """Every group version evaluated: the streaming engine's, then the batch engine's."""
        batch = cast(list[StreamAttributeGroup], self.batch.groups())
        return self.memory.engine.groups + batch

    @property
    def groups_generation(self) -> int:
        """Moves whenever the set of evaluated groups changes."""
        return self.memory.engine.generation

    def read_attributes(
        self, group: str, version: int, entities: Sequence[str], attributes: Sequence[str], *, stitched: bool = False
    ) -> list[dict[str, Any]]:
        """A group's attributes per entity; `stitched`: the entities are `user_id`s, each row the merge over
        the devices that user signed in on."""
        gid = group_id(group, version)
        if self.batch.is_batch(gid):
            if stitched:  # batch values cannot be merged: a signed-in reader reads their freshest device's row
                devices = [self.batch.freshest(gid, self.memory.links.devices(e)) or e for e in entities]
                return self.batch.read(gid, devices, attributes)
            return self.batch.read(gid, entities, attributes)
        memory = self.memory
        with memory.lock:  # reads must not interleave with `collect` updating the same states
            if stitched:
                return [
                    memory.engine.merged_attributes(group, memory.links.devices(e), version, attributes)
                    for e in entities
                ]
            return [memory.engine.get_attributes(group, e, version, attributes) for e in entities]


class RemoteNewsroom(Newspaper):
    """A UI worker of a cluster: the pages over an engine service that owns the events (remote mode).

    Nothing here writes the event log or holds an attribute engine. Events go to the engine's
    collector (`CollectorEmitter`: a tracking call returns once the event is applied), readers'
    attributes come through the Signals API with the official SDK, the rest through the engine's
    own routes (`RemoteReads`), and what happens in the engine (interventions, deletions, events
    applied) through its feed (`EngineFeed`). The stories and accounts are in the shared database.
    """

    def __init__(self, settings: Settings, corpus: Corpus | None = None, index: ArticleIndex | None = None) -> None:
        if not settings.signals_api_url:
            raise ValueError("RemoteNewsroom needs SIGNALS_API_URL: the engine service's address")
        if not settings.signals_api_token:
            raise ValueError("SIGNALS_API_URL is set but SIGNALS_API_TOKEN is not: remote mode needs the API's token")
        self.settings = settings
        self.corpus = corpus if corpus is not None else open_corpus(settings.database_url, settings.articles_dir)
        self.index = index or ArticleIndex.for_corpus(self.corpus)
        experiments = load_catalogue(settings.experiments_dir)
        groups = app_groups(self.corpus.categories) + [g for e in experiments for g in experiment_groups(e)]
        self.api_token = settings.signals_api_token.strip()
        self.cookie_secret = resolve_cookie_secret(settings)
        self.database = open_database(settings.database_url, SHARED_PRAGMAS)
        self.accounts = Accounts(self.database)
        self.subscriptions = SubscriptionStore(self.database)
        self.bus = InterventionBus()
        self.emitter = CollectorEmitter(settings.collector_url or settings.signals_api_url)
        self.tracker = NewsroomTracker(self.emitter, app_id=settings.snowplow_app_id)
        self.remote = RemoteReads(settings.signals_api_url, self.api_token, groups)
        self._open_paper(
            experiments,
            self.remote,
            RemoteOutcomes(self.remote.client),
            RemoteEraser(self.remote.client),
            self.database,
        )
        self.feed = EngineFeed(
            self.remote.client,
            on_intervention=lambda fired: self.bus.publish([fired]),
            on_forgotten=self.privacy.forgotten,
            on_applied=self.views.readers_changed,
        )
        self.feed.start()
        self._start_warming()

    def event_counts(self) -> dict[str, int]:
        """The engine's counts, from its health check."""
        return self.remote.client.event_counts()

    def close(self) -> None:
        """Stop following the engine; send what an outage kept back."""
        self.digest_scheduler.stop()
        self.story_follower.close()
        self.feed.close()
        self.emitter.close()
        self.remote.close()
        self.database.dispose()


def batch_folder(settings: Settings) -> Path:
    """This database's scratch folder for the batch engine: one per database, so an export never mixes two logs."""
    url = settings.database_url or f"sqlite:///{settings.media_demo_db}"
    return settings.batch_dir / hashlib.sha256(url.encode()).hexdigest()[:16]


def mail_sender(settings: Settings) -> MailSender:
    """SMTP when `SMTP_URL` is set (a malformed one stops the start, saying why), else the outbox folder."""
    if settings.smtp_url:
        return SmtpSender(SmtpConfig.from_url(settings.smtp_url))
    return OutboxSender(settings.outbox_dir)


T = TypeVar("T")


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`functools.cache` for a process-wide object that two threads may ask for first at the same moment.

    A bare cache lets both build it (two live corpora creating the same tables, two newsrooms with two
    writers on one log); here the second waits for the first and gets the same object. `cache_clear`
    stays available.
    """
    lock = threading.RLock()
    cached = cache(build)

    @wraps(build)
    def get() -> T:
        with lock:
            return cached()

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


@once
def get_corpus() -> Corpus:
    """This process's live corpus: the stories of the database, after the articles folder's new and changed
    files are imported (a malformed one stops the start, naming file and field). Pages and the newsroom share
    it, so a story published through the API reaches both."""
    settings = get_settings()
    return open_corpus(settings.database_url, settings.articles_dir)


@once
def get_shipped_corpus() -> Corpus:
    """The Markdown corpus of the articles folder alone, validated: what the pages are compiled with.

    Compiling the frontend (`reflex export`, a test harness) needs the sections and a default
    front page, never the database: an export must not open, create or change one.
    """
    return load_corpus(get_settings().articles_dir)


@once
def get_index() -> ArticleIndex:
    """The TF-IDF index of the published articles."""
    return ArticleIndex.for_corpus(get_corpus())


@once
def get_newsroom() -> Newspaper:
    """This process's newsroom, built on first use from the environment: the whole engine in this process,
    or, with `SIGNALS_API_URL` set (remote mode: every UI worker of a cluster), pages over that engine service.
    """
    settings = get_settings()
    newspaper = RemoteNewsroom if settings.signals_api_url else Newsroom
    room = newspaper(settings, get_corpus(), get_index())
    # The corpus, index and restored state live as long as the process: keep the
    # garbage collector from re-scanning them (long full collections stall requests).
    gc.freeze()
    return room
