"""Publishing at run time: a story created, replaced or withdrawn reaches the database, every page and every index.

One publisher at a time (a lock): the story is validated (the loader's checks, and its
category must be one of the newsroom's sections), stamped with the time it reached the
newsroom, written to the story store, given a cover when none was shipped, and then shown.
The derived indexes (the recommender's TF-IDF, the assistant's passages) follow in an order
that keeps every reader's request answerable: a new story enters the indexes before the
corpus shows it, and a withdrawn one leaves the corpus before it leaves the indexes, so an
index always knows every story a page can name.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from media_demo.articles import Article, Corpus, CorpusError, article_from_fields
from media_demo.articles.cover_urls import has_shipped_cover
from media_demo.articles.store import API_SOURCE, StoredCover, StoryStore, cover_key
from media_demo.assistant.passages import PassageIndex
from media_demo.recommend import ArticleIndex

logger = logging.getLogger(__name__)

Status = Literal["created", "updated", "unchanged", "withdrawn"]


class PublishingError(Exception):
    """A change the newsroom refuses for what the story is, not for its fields (those raise `CorpusError`)."""

    def __init__(self, slug: str, message: str) -> None:
        self.slug = slug
        super().__init__(message)


class StoryExistsError(PublishingError):
    """Creating a story whose slug a published story already has."""


class UnknownStoryError(PublishingError, LookupError):
    """Withdrawing a story the newsroom never had."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What publishing a story did: `created` (it was not published), `updated`, `unchanged` (it said the
    same already: nothing written), or `withdrawn` (an editor withdrew it and this source may not revive it)."""

    article: Article
    status: Status


class IndexFollower(Protocol):
    """An index kept on the published stories: told of each story published and withdrawn."""

    def add(self, article: Article) -> None:
        """Index a new story or a new version of one."""

    def remove(self, slug: str) -> None:
        """Stop returning a story."""


REFIT_GAP_FACTOR = 10.0  # after a refit of d seconds, the next waits until 10 d later: refits take <= 1/11 of a core
FAILED_REFIT_PAUSE_SECONDS = 60.0  # after a refit that raised, at least this long before the next try


class BackgroundRefit:
    """An index's refit, run off the publishing thread when one is due.

    One at a time; a request while one runs (or waits) is folded into it, and a refit still due
    when one ends is run again. Each waits until `REFIT_GAP_FACTOR` times the previous refit's
    duration has passed since that one ended: on the shipped stories a refit takes milliseconds
    and follows at once, at 100,000 stories about a minute and at most one every ten.
    """

    def __init__(self, name: str, refit: Callable[[], None], due: Callable[[], bool]) -> None:
        self._name, self._refit, self._due = name, refit, due
        self._lock = threading.Lock()
        self._busy = False  # a refit is waiting or running
        self._next_start = 0.0  # time.monotonic() before which no refit starts
        self._idle = threading.Event()
        self._idle.set()
        self.refits = 0  # refits finished, for logs and tests
        self.failures = 0  # refits that raised

    def request(self) -> None:
        """Start a refit if one is due (after the gap), unless one is already waiting or running."""
        if not self._due():
            return
        with self._lock:
            if self._busy:
                return
            self._busy = True
            self._idle.clear()
            delay = max(0.0, self._next_start - time.monotonic())
        timer = threading.Timer(delay, self._run)
        timer.name, timer.daemon = self._name, True
        timer.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no refit is waiting or running (True), or `timeout` seconds (False)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        start = time.monotonic()
        pause = 0.0
        try:
            self._refit()
            self.refits += 1
            logger.info("%s: refitted in %.2f s", self._name, time.monotonic() - start)
        except Exception:  # a failed refit leaves the working index in place; the next waits a while
            self.failures += 1
            pause = FAILED_REFIT_PAUSE_SECONDS
            logger.exception("%s: refit failed (next try in %.0f s at the earliest)", self._name, pause)
        finally:
            end = time.monotonic()
            with self._lock:
                self._busy = False
                self._next_start = end + max(REFIT_GAP_FACTOR * (end - start), pause)
            self.request()  # stories published during the refit may have made another due
            with self._lock:
                if not self._busy:
                    self._idle.set()


class ArticleIndexFollower:
    """Keeps the recommender's TF-IDF index on the published stories.

    A publish or an update is `index.add` (the story vectorised with the fitted vocabulary,
    milliseconds at 100,000 stories), an unpublish `index.remove`. A refit on the live stories
    follows in the background (`BackgroundRefit`) once a tenth of the stories are new or a new
    story brought words the fit never saw (until then those words do not count); readers and
    publishers carry on with the old model meanwhile.
    """

    def __init__(self, index: ArticleIndex, corpus: Corpus) -> None:
        self._index, self._corpus = index, corpus
        self.refit = BackgroundRefit(
            "article-index-refit", self._refresh, lambda: index.needs_refresh or index.unseen_since_fit > 0
        )

    def add(self, article: Article) -> None:
        """Index the story (or its new version) now; ask for a refit if one is due."""
        self._index.add(article.slug, article.text)
        self.refit.request()

    def remove(self, slug: str) -> None:
        """Never recommend the story again."""
        if slug in self._index:
            self._index.remove(slug)

    def _refresh(self) -> None:
        # The stories of the last fit are in the corpus (those added since, the index keeps).
        self._index.refresh(lambda slug: article.text if (article := self._corpus.get(slug)) else "")


class PassageIndexFollower:
    """Keeps the assistant's passages on the published stories: `add`/`remove` at once, refits in the background."""

    def __init__(self, passages: PassageIndex) -> None:
        self._passages = passages
        self.refit = BackgroundRefit("passage-index-refit", passages.refresh, lambda: passages.needs_refresh)

    def add(self, article: Article) -> None:
        """Index the story's passages now; ask for a refit if one is due."""
        self._passages.add(article)
        self.refit.request()

    def remove(self, slug: str) -> None:
        """Never cite the story again."""
        self._passages.remove(slug)


def utc_now() -> dt.datetime:
    """The time a story reaches the newsroom: aware, UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def draw_cover(article: Article) -> str:
    """The SVG cover of a story without a shipped one, drawn as `make covers` would draw it."""
    # Imported here: the drawing code loads only when a story needs a cover, never to serve a page.
    from media_demo.articles.cover_art import ArticleInfo, render_cover

    return render_cover(ArticleInfo.of(article))


class Publishing:
    """Create, replace and withdraw stories while the site runs (from the API, a feed, an editor's tool).

    `sections` are the categories a story may have: the newsroom's sections, fixed at
    start because the pages, the attribute definitions and the segments are built on them.
    """

    def __init__(
        self,
        store: StoryStore,
        corpus: Corpus,
        sections: Iterable[str],
        followers: Sequence[IndexFollower] = (),
        *,
        shipped_cover: Callable[[str], bool] = has_shipped_cover,
        draw: Callable[[Article], str] = draw_cover,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.sections: tuple[str, ...] = tuple(sorted(set(sections)))
        if not self.sections:
            raise ValueError("sections: the newsroom needs at least one section")
        self._store, self._corpus, self._followers = store, corpus, tuple(followers)
        self._shipped_cover, self._draw, self._clock = shipped_cover, draw, clock
        self._writing = threading.Lock()

    # --- validation -----------------------------------------------------------------------------------------------

    def validate(self, fields: Mapping[str, Any], where: str, slug: str | None = None) -> Article:
        """The story the fields describe (front-matter fields and `body`), or `CorpusError` listing every
        problem, each naming `where` and the field; `slug`, when given, is the one the address names."""
        if not isinstance(fields, Mapping):
            raise CorpusError([f"{where}: must be an object of story fields, got {type(fields).__name__}"])
        meta = dict(fields)
        if slug is not None:
            meta.setdefault("slug", slug)
        problems = []
        category = meta.get("category")
        if isinstance(category, str) and category.strip() and category.strip().lower() not in self.sections:
            problems.append(
                f"{where}: field 'category' must be one of the newsroom's sections "
                f"({', '.join(self.sections)}), got {category!r}"
            )
        body: Any = meta.get("body")  # any JSON value: the validator names what is wrong with it
        try:
            article = article_from_fields(meta, body, where, expected_slug=slug)
        except CorpusError as exc:
            raise CorpusError([*exc.problems, *problems]) from None
        if problems:
            raise CorpusError(problems)
        return article

    # --- changes --------------------------------------------------------------------------------------------------

    def create(self, fields: Mapping[str, Any], where: str, source: str = API_SOURCE) -> Article:
        """Publish a new story; `StoryExistsError` if a published story has its slug (a withdrawn one may be reused)."""
        article = self.validate(fields, where)
        with self._writing:
            if article.slug in self._corpus:
                raise StoryExistsError(article.slug, f"a published story already has the slug {article.slug!r}")
            return self._publish(article, source, previous=None).article

    def put(self, slug: str, fields: Mapping[str, Any], where: str, source: str = API_SOURCE) -> tuple[Article, bool]:
        """Publish the story at `slug`, new or replacing the published one; True when it was not published."""
        outcome = self.submit(slug, fields, where, source)
        return outcome.article, outcome.status == "created"

    def submit(
        self, slug: str, fields: Mapping[str, Any], where: str, source: str = API_SOURCE, *, revive: bool = True
    ) -> Outcome:
        """`put`, saying what it did. A story that says what the published one says is left as it is
        (nothing written, `updated` kept). `revive=False` (a feed) leaves a withdrawn story withdrawn:
        an editor's withdrawal is undone only by an editor."""
        article = self.validate(fields, where, slug)
        with self._writing:
            previous = self._corpus.get(slug)
            if previous is not None and previous.same_story(article):
                return Outcome(previous, "unchanged")
            withdrawn = self._corpus.withdrawn(slug)
            if previous is None and withdrawn is not None and not revive:
                return Outcome(withdrawn, "withdrawn")
            return self._publish(article, source, previous)

    def unpublish(self, slug: str) -> Article:
        """Withdraw a published story from every page and index (again: nothing to do); `UnknownStoryError` for a slug
        the newsroom never had. Returns the story as it was."""
        with self._writing:
            article = self._corpus.get(slug)
            if article is None:
                withdrawn = self._corpus.withdrawn(slug)
                if withdrawn is None:
                    raise UnknownStoryError(slug, f"no story has the slug {slug!r}")
                return withdrawn
            self._store.withdraw(article, self._clock())
            self._corpus.unpublish(slug)
            for follower in self._followers:
                self._tell(follower.remove, slug)
            return article

    def follow(self, slug: str) -> Status | None:
        """Show what another process wrote for `slug` (published, replaced or withdrawn), indexes first as
        `_publish` does; None when this process shows it already (its own writes come back this way too)."""
        with self._writing:
            stored = self._store.get(slug)
            if stored is None:
                return None
            if self._store.withdrawn_at(slug) is not None:
                if slug not in self._corpus:
                    return None
                self._corpus.unpublish(slug)
                for follower in self._followers:
                    self._tell(follower.remove, slug)
                return "withdrawn"
            current = self._corpus.get(slug)
            if current is not None and current.same_story(stored):
                return None
            for follower in self._followers:
                self._tell(follower.add, stored)
            self._corpus.publish(stored)
            return "created" if current is None else "updated"

    def _publish(self, article: Article, source: str, previous: Article | None) -> Outcome:
        """Store, draw, index, show (the lock is held)."""
        article = replace(article, updated=self._clock())
        self._store.save(article, source)
        self._cover(article)
        for follower in self._followers:
            self._tell(follower.add, article)
        self._corpus.publish(article)
        return Outcome(article, "created" if previous is None else "updated")

    @staticmethod
    def _tell(change: Callable[[Any], None], subject: Article | str) -> None:
        """One index follows one change; a failure is logged, never the publisher's (the story is stored)."""
        try:
            change(subject)
        except Exception:
            logger.exception("publishing: an index could not follow the change to %r", subject)

    # --- covers ---------------------------------------------------------------------------------------------------

    def cover(self, slug: str) -> StoredCover | None:
        """The cover drawn for a published story without a shipped one (None otherwise)."""
        if slug not in self._corpus:
            return None
        return self._store.cover(slug)

    def refresh_covers(self) -> int:
        """Draw the covers missing or stale (category or tags changed) for published stories without a
        shipped one, e.g. a file added without `make covers`; returns how many were drawn."""
        keys = self._store.cover_keys()
        drawn = 0
        for article in self._corpus:
            if not self._shipped_cover(article.slug) and keys.get(article.slug) != cover_key(article):
                drawn += self._cover(article)
        return drawn

    def _cover(self, article: Article) -> bool:
        """Draw and keep `article`'s cover unless it has a shipped one or its drawing is current."""
        if self._shipped_cover(article.slug):
            return False
        key = cover_key(article)
        stored = self._store.cover(article.slug)
        if stored is not None and stored.key == key:
            return False
        try:
            svg = self._draw(article)
        except Exception:  # a story without a cover is still a story: the page shows its fallback
            logger.exception("publishing: could not draw a cover for %r", article.slug)
            return False
        self._store.save_cover(article.slug, key, svg)
        return True


class StoryFollower:
    """Keeps this process's stories in step with the database's, where other processes publish too (the
    engine and the UI workers of a cluster, `make import-feed`): every `interval` seconds, the story writes
    made since the last look (`StoryStore.changes_after`) are shown through `Publishing.follow`.

    The last `LOOKBACK` writes are looked at again each time: on PostgreSQL a write can commit after a
    later one, and would otherwise be skipped; a write already shown is a no-op.
    """

    LOOKBACK = 100

    def __init__(self, store: StoryStore, publishing: Publishing, interval: float = 1.0) -> None:
        self._store, self._publishing, self._interval = store, publishing, interval
        self._seen: set[int] = set()
        self._high = max(0, store.last_change() - self.LOOKBACK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="story-follower", daemon=True)

    def start(self) -> None:
        """Follow in a daemon thread until `close`."""
        self._thread.start()

    def close(self) -> None:
        """Stop following."""
        self._stop.set()
        self._thread.join(timeout=5)

    def poll(self) -> int:
        """Show the writes not seen yet; returns how many changed what this process shows."""
        shown = 0
        for seq, slug in self._store.changes_after(max(0, self._high - self.LOOKBACK)):
            if seq in self._seen:
                continue
            self._seen.add(seq)
            self._high = max(self._high, seq)
            shown += self._publishing.follow(slug) is not None
        self._seen = {seq for seq in self._seen if seq > self._high - self.LOOKBACK}
        return shown

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception as exc:  # the database away for a moment: the next look catches up
                if not failing:  # one warning per outage, not one a second
                    logger.warning("following the stories' writes failed (%s); trying again every second", exc)
                failing = True
            else:
                failing = False
