"""What the pages show a reader: their attributes and profile, picks, segment, layout, what is trending.

Reads of the engine's state through `EngineReads` (this process's memory, or an engine
service over HTTP), plus `visit`, the one call a page view makes: track it, then read back
what the page shows. Everything here blocks (the memory's lock, the log's commit, the remote
API): the UI calls each in a worker thread, once per handler. The live inspector's change
feed (`watch_reader`) is here too: it is fed as events are applied.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from media_demo import routes
from media_demo.articles import Corpus
from media_demo.definitions import AUDIENCE_GROUP, READER_GROUP
from media_demo.personalise import ReaderContext, SessionFacts, contextual_picks, segment_for
from media_demo.personalise.layout import HomeLayout, home_layout
from media_demo.personalise.segments import SegmentMatch
from media_demo.recommend import ArticleIndex, ReaderProfile, Recommendation, recommend
from media_demo.recommend.search import SearchResults, search
from media_demo.recommend.strategies import Shown, StrategyInputs, serve
from media_demo.recommend.strategy import DEFAULT_RECENCY_WINDOW, popular
from media_demo.services.engine_reads import EngineReads, EngineUnavailableError, GroupValues
from media_demo.services.experiments import Decision, Experiments
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL, Consent
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.storage.event_log import BadEventRow
from media_demo.tracking import NewsroomTracker, Page, PanelLog, Reader

logger = logging.getLogger(__name__)
DEFAULT_COUNT = 3
DEFAULT_STRATEGY = "current"  # what the panel serves outside experiments (as impressions log it)
CONTEXTUAL_STRATEGY = "contextual"  # the cold start of a reader without history
NO_CONSENT_YET = "no behavioural consent yet: the reader has not made a choice"
CONSENT_DECLINED = "behavioural consent not given"
NO_HISTORY = "no reading history yet"
ENGINE_DOWN = "the reading service is unavailable for a moment: these are the most-read stories"


@dataclass(frozen=True)
class ShownPanel:
    """A recommendations panel as shown to one reader: what its impression, exposure and clicks log."""

    log: PanelLog
    items: tuple[tuple[str, int, float], ...]  # (slug, position, propensity)
    unit_kind: str | None = None  # experiment panels: which id was hashed (`user_id` or `domain_userid`)
    reads_before: int = 0  # the reader's article reads when it was shown (the experiment's CUPED covariate)

    def item(self, slug: str) -> tuple[str, int, float] | None:
        """The panel's entry for `slug`, if it showed that story."""
        return next((entry for entry in self.items if entry[0] == slug), None)


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
    # The panel as logged: each pick with its position and the probability its policy showed it there,
    # which strategy (and experiment variant) chose it, and the decision when an experiment did.
    shown: tuple[Shown, ...] = ()
    panel: PanelLog | None = None
    decision: Decision | None = None
    unavailable: bool = False  # the engine could not be asked: nothing about the reader is known

    def shown_panel(self) -> ShownPanel | None:
        """The panel to log when the reader sees it (None when it is empty)."""
        if self.panel is None or not self.shown:
            return None
        items = tuple((s.recommendation.article.slug, s.position, s.propensity) for s in self.shown)
        unit = self.decision.unit_kind if self.decision is not None else None
        return ShownPanel(self.panel, items, unit, self.profile.article_read_count)


@dataclass(frozen=True)
class Visit:
    """What one page view leaves the page to show: the reader's view, what is trending, who else is here."""

    view: ReaderView
    trending: list[tuple[str, int]]
    readers_here: int  # distinct readers of this story in the last few minutes, this one included (0 off stories)


class ReaderViews:
    """Readers as the pages and the API see them."""

    def __init__(
        self,
        reads: EngineReads,
        corpus: Corpus,
        index: ArticleIndex,
        tracker: NewsroomTracker,
        experiments: Experiments | None = None,
        recency_window: int = DEFAULT_RECENCY_WINDOW,
    ) -> None:
        self._recency_window = recency_window  # "More in <Section>" looks at each section's newest this many
        self._reads, self.corpus, self._index, self._tracker = reads, corpus, index, tracker
        self._experiments = experiments
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        self._watch_lock = threading.Lock()

    @property
    def index(self) -> ArticleIndex:
        """The TF-IDF index the recommendations come from (publishing adds to it and removes from it in place)."""
        return self._index

    # --- one reader -----------------------------------------------------------------------------------------------

    def attributes(self, domain_userid: str, user_id: str | None = None) -> dict[str, Any]:
        """All of one reader's attributes, as the Signals API would return them (from it, in remote mode).

        A signed-in reader (`user_id`) gets the merge over every device linked to their
        account, this one included: what they read anywhere counts once, everywhere.
        """
        return self._reads.reader_attributes(READER_GROUP, 1, domain_userid, user_id)

    def profile(
        self, domain_userid: str, attributes: dict[str, Any] | None = None, user_id: str | None = None
    ) -> ReaderProfile:
        """One reader's profile, from `attributes` when the caller already read them."""
        attrs = self.attributes(domain_userid, user_id) if attributes is None else attributes
        return ReaderProfile.from_attributes(attrs, self.corpus.categories)

    def picks(self, profile: ReaderProfile, count: int = DEFAULT_COUNT) -> list[Recommendation]:
        """The strategy's picks for a profile."""
        with self._reads.everyone() as everyone:
            return recommend(profile, self.corpus, self._index, everyone.popularity, count, self._recency_window)

    def most_read(self, count: int = DEFAULT_COUNT) -> list[Recommendation]:
        """Everyone's most-read stories (what a reader without a usable history is shown)."""
        with self._reads.everyone() as everyone:
            return popular(self.corpus, everyone.popularity, count)

    def recommendations(
        self,
        domain_userid: str,
        count: int = DEFAULT_COUNT,
        attributes: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> list[Recommendation]:
        """The strategy's picks for one reader (from `attributes` when the caller already read them)."""
        return self.picks(self.profile(domain_userid, attributes, user_id), count)

    def reader_view(
        self,
        domain_userid: str,
        context: ReaderContext | None = None,
        session_index: int = 1,
        days_since_last_visit: float | None = None,
        count: int = DEFAULT_COUNT,
        user_id: str | None = None,
        reading: str = "",
    ) -> ReaderView:
        """Everything a page shows about one reader, from one read of their attributes.

        A reader with history gets the strategy's picks; one without gets the contextual
        cold start when there is a context (and they have not turned contextual use off),
        else the most-read stories. Without behavioural consent the reader has no history
        to use: the view is the one of a first visit, and says why. `reading` is the story on
        screen: never recommended beside itself, even to a reader whose reads are not kept.
        """
        try:
            consent = self._reads.consent_of(domain_userid)
        except EngineUnavailableError as exc:
            logger.debug("reader view without the engine: %s", exc)
            return self._without_engine(count, reading)
        if consent is not None and not consent.allows(CONTEXTUAL):
            context = None
        attributes = self.attributes(domain_userid, user_id)
        profile = self.profile(domain_userid, attributes)
        personalised = profile.has_history
        segment = segment_for(profile, SessionFacts(session_index, days_since_last_visit))
        decision = None
        on_screen = frozenset({reading} if reading else ())
        if context is not None and not personalised:
            with self._reads.everyone() as everyone:
                picks = contextual_picks(context, self.corpus, self._index, everyone.popularity, count, read=on_screen)
            shown = tuple(Shown(r, i, 1.0) for i, r in enumerate(picks, start=1))
            panel = PanelLog(str(uuid.uuid4()), CONTEXTUAL_STRATEGY)
        elif not personalised:  # what `recommend` answers without history: the most-read stories
            with self._reads.everyone() as everyone:
                picks = popular(self.corpus, everyone.popularity, count, exclude=on_screen)
            shown = tuple(Shown(r, i, 1.0) for i, r in enumerate(picks, start=1))
            panel = PanelLog(str(uuid.uuid4()), DEFAULT_STRATEGY)
        else:
            decision, shown = self._serve(domain_userid, user_id, profile, segment.name, context, consent, count)
            panel = PanelLog(
                str(uuid.uuid4()),
                decision.strategy.name if decision else DEFAULT_STRATEGY,
                decision.experiment.name if decision else None,
                decision.assignment.variant if decision else None,
            )
        layout = home_layout(
            profile, segment, context, self.corpus, beside=[s.recommendation.article.slug for s in shown]
        )
        reason = None if personalised else _why_not(consent)
        picks = [s.recommendation for s in shown]
        return ReaderView(
            attributes, picks, segment, layout, personalised, reason, profile, consent, shown, panel, decision
        )

    def _without_engine(self, count: int, reading: str) -> ReaderView:
        """What a page shows while the engine service cannot be asked: the most-read stories of the last
        snapshot this process saw, the default layout, and why."""
        profile = ReaderProfile()
        segment = segment_for(profile, SessionFacts(1, None))
        with self._reads.everyone() as everyone:
            picks = popular(self.corpus, everyone.popularity, count, exclude=frozenset({reading} if reading else ()))
        shown = tuple(Shown(r, i, 1.0) for i, r in enumerate(picks, start=1))
        attributes: dict[str, Any] = {"articles_read": []}  # what the page reads of them: nothing known
        layout = home_layout(profile, segment, None, self.corpus, beside=[r.article.slug for r in picks])
        panel = PanelLog(str(uuid.uuid4()), DEFAULT_STRATEGY)
        return ReaderView(
            attributes, picks, segment, layout, False, ENGINE_DOWN, profile, None, shown, panel, unavailable=True
        )

    def _serve(
        self,
        domain_userid: str,
        user_id: str | None,
        profile: ReaderProfile,
        segment: str,
        context: ReaderContext | None,
        consent: Consent | None,
        count: int,
    ) -> tuple[Decision | None, tuple[Shown, ...]]:
        """The panel of a reader with history (or of one with no context): the running experiment's
        variant when the reader is in it, else the default strategy, each pick with its propensity."""
        behavioural = consent is not None and consent.allows(BEHAVIOURAL)
        decision = None
        if self._experiments is not None and profile.has_history:
            device = context.device if context is not None else "Unknown"
            decision = self._experiments.decide(domain_userid, user_id, segment, device, behavioural)
        with self._reads.everyone() as everyone:
            if decision is None:
                picks = recommend(profile, self.corpus, self._index, everyone.popularity, count, self._recency_window)
                return None, tuple(Shown(r, i, 1.0) for i, r in enumerate(picks, start=1))
            inputs = StrategyInputs(
                self.corpus,
                self._index,
                everyone.popularity,
                everyone.coreads,
                time.time(),
                self._recency_window,
            )
            shown = serve(decision.strategy, profile, inputs, count, decision.exploration, random.Random())
            return decision, tuple(shown)

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

        Blocking (the lock, the group commit, in remote mode the Signals API): UI handlers call it
        in a worker thread, once per page. It returns when the events are committed, so nothing
        the reader then sees can be lost by a crash.
        """
        self._tracker.page_view(reader, page)
        article = self.corpus.get(article_slug) if article_slug else None
        if article is not None:
            self._tracker.article_view(reader, page, article)
        view = self.reader_view(
            reader.domain_userid,
            context,
            reader.session.index,
            days_since_last_visit,
            user_id=reader.user_id,
            reading=article.slug if article is not None else "",
        )
        here = self.readers_now(routes.article_url(article.slug)) if article is not None else 0
        visit = Visit(view, self.trending(trending), here)
        self._reads.settle()
        return visit

    def search(self, reader: Reader, page: Page, query: str, limit: int = 20) -> SearchResults:
        """Search the published stories for this reader and track Snowplow's `site_search` (blocking).

        Ranked by their sections too only when they allow behavioural use; an empty query is
        neither searched nor tracked.
        """
        consent = self._reads.consent_of(reader.domain_userid)
        personal = consent is not None and consent.allows(BEHAVIOURAL)
        profile = self.profile(reader.domain_userid, user_id=reader.user_id) if personal else None
        results = search(query, self.corpus, self._index, profile, limit)
        if results.query:
            self._tracker.site_search(reader, page, results.query, results.total, len(results.hits))
            self._reads.settle()
        return results

    def panel_seen(self, reader: Reader, page: Page, panel: ShownPanel) -> None:
        """Log that the reader saw `panel`: the experiment's exposure (when one decided it), then the impression.

        Called when the browser reports the panel on screen, not when it was built: a panel
        below the fold that nobody scrolled to exposes no one. It does not wait for the group
        commit: nothing on the page depends on it and the browser is told nothing back, so the
        events join the next commit (the next page's, or within the log's flush interval)
        instead of forcing one of their own (a commit costs ~0.3-0.5 ms of CPU, a tenth of a page event or more).
        """
        log = panel.log
        experiment = self._experiments.get(log.experiment) if self._experiments and log.experiment else None
        if experiment is not None and log.variant and panel.unit_kind:
            assert self._experiments is not None
            returning = self._experiments.returning(experiment, reader.domain_userid, reader.session.index)
            self._tracker.experiment_exposure(
                reader,
                page,
                experiment.name,
                log.variant,
                panel.unit_kind,
                returning=returning,
                reads_before=panel.reads_before,
            )
        self._tracker.recommendation_impression(reader, page, log, panel.items)

    def panel_clicked(self, reader: Reader, page: Page, panel: ShownPanel, slug: str) -> bool:
        """Log a click on `slug` of `panel`, with its position and propensity; False if the panel never showed it.

        Like `panel_seen`, it does not wait for the commit: the story the link opens is a page
        view whose commit includes it.
        """
        item = panel.item(slug)
        if item is None:
            return False
        self._tracker.recommendation_click(reader, page, panel.log, slug, item[1], item[2])
        return True

    def refresh(
        self,
        domain_userid: str,
        context: ReaderContext | None,
        session_index: int,
        user_id: str | None,
        trending: int,
        reading: str = "",
    ) -> tuple[ReaderView, list[tuple[str, int]]]:
        """The reader's view and what is trending, re-read after a change made outside `visit`."""
        view = self.reader_view(domain_userid, context, session_index, user_id=user_id, reading=reading)
        return view, self.trending(trending)

    # --- everyone -------------------------------------------------------------------------------------------------

    def readers_now(self, path: str) -> int:
        """Distinct readers who opened the page at `path` in the last few minutes (real, from the engine)."""
        return int(self._reads.entity_attributes(AUDIENCE_GROUP, 1, path, ["readers_now"])["readers_now"] or 0)

    def trending(self, limit: int) -> list[tuple[str, int]]:
        """What is trending: articles ranked by readers decayed by recency (a day's half-life),
        each with its real count of distinct readers."""
        with self._reads.everyone() as everyone:
            stats = everyone.popularity
            return [(slug, stats.readers(slug)) for slug in stats.ranking(limit)]

    # --- the live inspector ("Your data"): one reader's groups, events and interventions, and a change feed ----------

    def reader_groups(self, ids: Mapping[str, str]) -> list[GroupValues]:
        """Each evaluated group keyed by one of `ids` ({key name: id}), with that entity's attributes (and, for a
        batch group, when they were computed)."""
        device = ids.get("domain_userid", "")
        hidden = self._experiments.unexposed_groups(device) if self._experiments is not None else set()
        return [found for found in self._reads.reader_groups(ids) if found[0].name not in hidden]

    def reader_interventions(self, domain_userid: str) -> list[FiredIntervention]:
        """The interventions recently fired for one reader, oldest first."""
        return self._reads.recent_interventions(domain_userid)

    def reader_events(self, domain_userid: str, limit: int) -> list[CanonicalEvent]:
        """One reader's most recent events, newest first, those just applied included (it waits for the log)."""
        return self._reads.reader_events(domain_userid, limit)

    def reader_bad_events(self, domain_userid: str, limit: int) -> list[BadEventRow]:
        """The most recent rejected payloads that name this reader, newest first."""
        return self._reads.reader_bad_events(domain_userid, limit)

    def watch_reader(self, domain_userid: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after each new event of `domain_userid` is applied; returns the unsubscribe function.

        The callback runs in the thread that applied the event, under the engine's lock: it must
        only hand the news over (e.g. `loop.call_soon_threadsafe(flag.set)`), never block. Events
        replayed at start notify no one.
        """
        with self._watch_lock:
            self._watchers.setdefault(domain_userid, []).append(callback)

        def unwatch() -> None:
            with self._watch_lock:
                callbacks = self._watchers.get(domain_userid, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._watchers.pop(domain_userid, None)

        return unwatch

    def event_applied(self, event: CanonicalEvent) -> None:
        """`Ingest` applied a live event: tell whoever watches its reader."""
        reader = event.atomic.get("domain_userid")
        if reader and self._watchers:
            self.readers_changed([reader])

    def readers_changed(self, readers: list[str]) -> None:
        """New events of these readers were applied (here, or by the engine service): tell their watchers."""
        with self._watch_lock:
            callbacks = [c for reader in readers for c in self._watchers.get(reader, ())]
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a watcher whose loop has gone must not break ingestion
                logger.exception("reader change callback failed")

    def everyone_changed(self) -> None:
        """Attributes of many readers changed at once (a batch run): tell every watcher."""
        with self._watch_lock:
            callbacks = [c for callbacks in self._watchers.values() for c in callbacks]
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a watcher whose loop has gone must not break the run
                logger.exception("reader change callback failed")

    def forget_watchers(self, domain_userids: frozenset[str], _user_ids: frozenset[str] = frozenset()) -> None:
        """Deleted readers: no watcher stays keyed by their ids (`Privacy.on_forget`)."""
        with self._watch_lock:
            for device in domain_userids:
                self._watchers.pop(device, None)


def _why_not(consent: Consent | None) -> str:
    """Why a reader's answer was not personalised."""
    if consent is None:
        return NO_CONSENT_YET
    return NO_HISTORY if consent.allows(BEHAVIOURAL) else CONSENT_DECLINED
