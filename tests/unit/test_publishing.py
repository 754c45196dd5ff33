"""The publishing service: create, replace, withdraw; validation naming the field; store, corpus and indexes follow."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from pathlib import Path

import orjson
import pytest

from media_demo.articles import Article, Corpus, CorpusError, load_corpus
from media_demo.articles.store import StoryStore
from media_demo.assistant.passages import PassageIndex
from media_demo.recommend import ArticleIndex
from media_demo.services.publishing import (
    ArticleIndexFollower,
    BackgroundRefit,
    PassageIndexFollower,
    Publishing,
    StoryExistsError,
    StoryFollower,
    UnknownStoryError,
)
from media_demo.settings import ARTICLES_DIR, PROJECT_ROOT
from media_demo.signals.storage.database import open_database
from tests.factories import SMALL_CORPUS, articles_folder, story_fields

SLUG = "harrowgate-fog-bell-rings-again"
SECTIONS = "culture, health, science, sport, technology"
WHERE = "request body"


class Recorder:
    """An index follower that remembers what it was told, and whether the corpus showed the story then."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.told: list[tuple[str, str, bool]] = []

    def add(self, article: Article) -> None:
        self.told.append(("add", article.slug, article.slug in self.corpus))

    def remove(self, slug: str) -> None:
        self.told.append(("remove", slug, slug in self.corpus))


class Newsdesk:
    """A publishing service over a small store, with the indexes a newsroom keeps and a ticking clock."""

    def __init__(self, tmp_path: Path, shipped: frozenset[str] = frozenset(SMALL_CORPUS)) -> None:
        folder = articles_folder(tmp_path / "articles")
        self.engine = open_database(f"sqlite:///{tmp_path / 'events.db'}")
        self.store = StoryStore(self.engine)
        self.corpus = self.store.import_corpus(folder)
        self.passages = PassageIndex.for_corpus(self.corpus)
        self.passage_follower = PassageIndexFollower(self.passages)
        self.recorder = Recorder(self.corpus)
        start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
        self.ticks = (start + dt.timedelta(minutes=i) for i in itertools.count())
        self.drawn: list[str] = []
        self.service = Publishing(
            self.store,
            self.corpus,
            self.corpus.categories,
            [self.passage_follower, self.recorder],
            shipped_cover=lambda slug: slug in shipped,
            draw=self.draw,
            clock=lambda: next(self.ticks),
        )

    def draw(self, article: Article) -> str:
        self.drawn.append(article.slug)
        return f"<svg data-slug='{article.slug}' data-category='{article.category}'/>"


@pytest.fixture
def desk(tmp_path: Path) -> Newsdesk:
    return Newsdesk(tmp_path)


def problems_of(error: pytest.ExceptionInfo[CorpusError]) -> list[str]:
    return error.value.problems


def test_create_stores_shows_indexes_and_draws_a_cover(desk: Newsdesk) -> None:
    article = desk.service.create(story_fields(), WHERE)
    assert article.updated == dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    assert desk.corpus.get(SLUG) == article and desk.corpus.latest(1)[0] == article  # newest published date
    assert desk.store.get(SLUG) == article and desk.store.source(SLUG) == "api"
    # Its words the fit never saw count once the background refit is done (milliseconds at this size).
    assert desk.passage_follower.refit.wait_idle(10) and desk.passage_follower.refit.refits == 1
    assert desk.passages.stories("clockwork fog bell escapement", k=1)[0][0] == SLUG
    # Indexed before the corpus showed it: no page can name a story an index does not know.
    assert desk.recorder.told == [("add", SLUG, False)]
    cover = desk.service.cover(SLUG)
    assert cover is not None and "data-slug='harrowgate-fog-bell-rings-again'" in cover.svg


def test_create_refuses_a_published_slug_but_reuses_a_withdrawn_one(desk: Newsdesk) -> None:
    desk.service.create(story_fields(), WHERE)
    with pytest.raises(StoryExistsError, match="already has the slug 'harrowgate-fog-bell-rings-again'"):
        desk.service.create(story_fields(title="Another bell"), WHERE)
    desk.service.unpublish(SLUG)
    again = desk.service.create(story_fields(title="The bell, again"), WHERE)
    assert desk.corpus.get(SLUG) == again and desk.corpus.withdrawn(SLUG) is None


def test_a_category_outside_the_sections_names_the_field_and_lists_them(desk: Newsdesk) -> None:
    with pytest.raises(CorpusError) as caught:
        desk.service.create(story_fields(category="business"), WHERE)
    assert problems_of(caught) == [
        f"request body: field 'category' must be one of the newsroom's sections ({SECTIONS}), got 'business'"
    ]
    assert SLUG not in desk.corpus and desk.store.get(SLUG) is None and desk.recorder.told == []


def test_every_problem_is_listed_each_naming_its_field(desk: Newsdesk) -> None:
    fields = story_fields(
        slug="Not A Slug", reading_minutes="two", tags="heritage", breaking="yes", body="Too short.", colour="red"
    )
    with pytest.raises(CorpusError) as caught:
        desk.service.create(fields, WHERE)
    problems = problems_of(caught)
    for field in ("slug", "reading_minutes", "tags", "breaking", "colour"):
        assert any(p.startswith(f"request body: field '{field}'") or f"field '{field}'" in p for p in problems), field
    assert "request body: body has 2 words, at least 150 are needed" in problems
    assert all(p.startswith("request body: ") for p in problems)


def test_missing_fields_and_a_slug_unlike_the_address_are_named(desk: Newsdesk) -> None:
    fields = story_fields()
    del fields["author"]
    with pytest.raises(CorpusError, match=r"request body: missing field 'author'"):
        desk.service.put(SLUG, fields, WHERE)
    with pytest.raises(CorpusError, match=r"field 'slug' is 'harrowgate-fog-bell-rings-again' but the address names"):
        desk.service.put("another-slug", story_fields(), WHERE)
    with pytest.raises(CorpusError, match=r"request body: must be an object of story fields, got list"):
        desk.service.put(SLUG, [1, 2], WHERE)  # type: ignore[arg-type]


def test_put_creates_then_replaces_and_an_identical_put_changes_nothing(desk: Newsdesk) -> None:
    fields = story_fields()
    del fields["slug"]  # the address names it
    first, created = desk.service.put(SLUG, fields, WHERE)
    assert created and first.slug == SLUG
    second, created = desk.service.put(SLUG, {**fields, "title": "The fog bell rings again"}, WHERE)
    assert not created and second.title == "The fog bell rings again" and second.updated > first.updated  # type: ignore[operator]
    assert desk.corpus.get(SLUG) == second and desk.store.get(SLUG) == second
    outcome = desk.service.submit(SLUG, {**fields, "title": "The fog bell rings again"}, WHERE)
    assert outcome.status == "unchanged" and outcome.article == second  # `updated` kept: nothing written
    assert desk.store.get(SLUG) == second
    assert [kind for kind, _, _ in desk.recorder.told] == ["add", "add"]


def test_replacing_a_shipped_story_keeps_its_shipped_cover(desk: Newsdesk) -> None:
    shipped = desk.corpus.get(SMALL_CORPUS[0])
    assert shipped is not None
    fields = {
        "slug": shipped.slug,
        "title": "Corrected: " + shipped.title,
        "excerpt": shipped.excerpt,
        "category": shipped.category,
        "author": shipped.author,
        "published": shipped.published.isoformat(),
        "reading_minutes": shipped.reading_minutes,
        "tags": list(shipped.tags),
        "body": shipped.body,
    }
    article, created = desk.service.put(shipped.slug, fields, WHERE)
    assert not created and article.title.startswith("Corrected:")
    assert desk.drawn == [] and desk.service.cover(shipped.slug) is None


def test_a_cover_is_redrawn_only_when_what_it_depends_on_changes(desk: Newsdesk) -> None:
    desk.service.create(story_fields(), WHERE)
    desk.service.put(SLUG, story_fields(title="New title, same drawing"), WHERE)
    assert desk.drawn == [SLUG]
    desk.service.put(SLUG, story_fields(category="health"), WHERE)
    assert desk.drawn == [SLUG, SLUG]
    cover = desk.service.cover(SLUG)
    assert cover is not None and "data-category='health'" in cover.svg


def test_unpublish_takes_the_story_off_everything_and_is_idempotent(desk: Newsdesk) -> None:
    article = desk.service.create(story_fields(), WHERE)
    gone = desk.service.unpublish(SLUG)
    assert gone == article
    assert SLUG not in desk.corpus and desk.corpus.withdrawn(SLUG) == article
    assert desk.store.withdrawn_at(SLUG) == dt.datetime(2026, 11, 20, 9, 1, tzinfo=dt.UTC)
    assert SLUG not in desk.passages and desk.passages.stories("clockwork fog bell escapement", k=3) == []
    assert desk.service.cover(SLUG) is None  # not served for a withdrawn story
    # Off the corpus before the indexes: no page names it while an index forgets it.
    assert desk.recorder.told[-1] == ("remove", SLUG, False)
    assert desk.service.unpublish(SLUG) == article and len(desk.recorder.told) == 2
    with pytest.raises(UnknownStoryError, match="no story has the slug 'never-was'"):
        desk.service.unpublish("never-was")


def test_a_shipped_story_can_be_withdrawn(desk: Newsdesk) -> None:
    slug = SMALL_CORPUS[1]
    desk.service.unpublish(slug)
    assert slug not in desk.corpus and desk.store.withdrawn_at(slug) is not None


def test_a_feed_never_revives_a_withdrawn_story_but_an_editor_does(desk: Newsdesk) -> None:
    desk.service.create(story_fields(), WHERE)
    desk.service.unpublish(SLUG)
    changed = story_fields(title="The bell rings once more")
    outcome = desk.service.submit(SLUG, changed, "feed entry", "feed:http://example.org/feed", revive=False)
    assert outcome.status == "withdrawn" and SLUG not in desk.corpus
    article, created = desk.service.put(SLUG, changed, WHERE)
    assert created and desk.corpus.get(SLUG) == article


def test_an_index_that_fails_is_logged_and_the_story_still_published(
    desk: Newsdesk, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_article: Article) -> None:
        raise RuntimeError("index on fire")

    desk.recorder.add = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="media_demo.services.publishing"):
        desk.service.create(story_fields(), WHERE)
    assert SLUG in desk.corpus and SLUG in desk.passages
    assert "could not follow the change" in caplog.text


def test_refresh_draws_the_covers_a_file_story_lacks(tmp_path: Path) -> None:
    desk = Newsdesk(tmp_path, shipped=frozenset(SMALL_CORPUS[1:]))
    assert desk.service.refresh_covers() == 1 and desk.drawn == [SMALL_CORPUS[0]]
    assert desk.service.refresh_covers() == 0  # current: nothing to draw


def test_the_real_drawing_is_an_svg(tmp_path: Path) -> None:
    folder = articles_folder(tmp_path / "articles")
    engine = open_database(f"sqlite:///{tmp_path / 'events.db'}")
    store = StoryStore(engine)
    corpus = store.import_corpus(folder)
    service = Publishing(store, corpus, corpus.categories)
    service.create(story_fields(), WHERE)
    cover = service.cover(SLUG)
    assert cover is not None and cover.svg.startswith("<svg") and len(cover.etag) == 32


def test_the_readme_example_is_a_story_the_shipped_newsroom_accepts() -> None:
    """The curl example of the README's "Publishing" must keep working as written."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    document = readme.split("--data @- <<'JSON'\n", 1)[1].split("\nJSON\n", 1)[0]
    fields = orjson.loads(document)
    sections = load_corpus(ARTICLES_DIR).categories
    engine = open_database("sqlite://")
    service = Publishing(StoryStore(engine), Corpus([]), sections)
    article = service.validate(fields, "README")
    assert article.slug == "harbour-seals-return-to-the-old-pier" and article.reading_minutes >= 1


def test_the_recommenders_index_follows_at_once_and_refits_in_the_background(tmp_path: Path) -> None:
    """A publish is `index.add` on the fitted model; the refit for its new words runs off the publishing thread."""
    desk = Newsdesk(tmp_path)
    index = ArticleIndex.for_corpus(desk.corpus)
    follower = ArticleIndexFollower(index, desk.corpus)
    service = Publishing(desk.store, desk.corpus, desk.corpus.categories, [follower], draw=desk.draw)
    service.create(story_fields(), WHERE)
    assert SLUG in index and index.similar(SLUG, 1)[0][0] == "chamber-opera-tour-village-halls"
    assert follower.refit.wait_idle(10)
    assert follower.refit.refits == 1 and index.added_since_fit == 0 and index.unseen_since_fit == 0
    assert index.query("clockwork fog bell escapement", 1)[0][0] == SLUG  # its words are in the vocabulary now
    service.unpublish(SLUG)
    assert SLUG not in index and SLUG not in {s for s, _ in index.similar(SMALL_CORPUS[3], 4)}


def test_refits_are_spaced_by_ten_times_the_last_ones_duration() -> None:
    """Stories that keep bringing new words get one refit at a time, each after a pause of 10x the last."""
    started: list[float] = []
    due = [True]

    def refit() -> None:
        started.append(time.monotonic())
        time.sleep(0.05)
        due[0] = len(started) < 3

    background = BackgroundRefit("test-refit", refit, lambda: due[0])
    for _ in range(5):
        background.request()  # folded into the one waiting or running
    assert background.wait_idle(10)
    assert background.refits == 3
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.05 + 10 * 0.05 for gap in gaps)  # the refit itself, then ten times it
    due[0] = False
    background.request()  # nothing due: nothing runs
    assert background.wait_idle(0.1) and background.refits == 3


def test_a_failing_refit_is_logged_and_not_retried_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """A refit that raises leaves the index as it was and waits a minute before trying again (no busy loop)."""
    attempts: list[float] = []
    disk_full = threading.Event()
    disk_full.set()

    def refit() -> None:
        if disk_full.is_set():
            attempts.append(time.monotonic())
            raise RuntimeError("disk full")

    background = BackgroundRefit("test-refit", refit, lambda: True)
    with caplog.at_level(logging.ERROR):
        background.request()
        time.sleep(0.3)
    assert len(attempts) == 1 and background.failures == 1 and background.refits == 0
    assert not background.wait_idle(0.01)  # the next try is waiting out its pause
    assert "test-refit: refit failed" in caplog.text
    disk_full.clear()  # the try a minute later, long after this test, succeeds quietly


def test_another_process_shows_what_one_publishes_replaces_and_withdraws(tmp_path: Path) -> None:
    """Two newsdesks on one database, as the engine and a UI worker of a cluster: B follows A's writes."""
    a, b = Newsdesk(tmp_path), Newsdesk(tmp_path)
    follower = StoryFollower(b.store, b.service)
    assert follower.poll() == 0  # the files both imported at start change nothing

    created = a.service.create(story_fields(), WHERE)
    assert SLUG not in b.corpus
    assert follower.poll() == 1
    assert b.corpus.get(SLUG) == created and b.recorder.told == [("add", SLUG, False)]  # indexed before shown
    assert b.passage_follower.refit.wait_idle(10)
    assert b.passages.stories("clockwork fog bell escapement", k=1)[0][0] == SLUG

    replaced, _ = a.service.put(SLUG, story_fields(title="The fog bell rings at noon"), WHERE)
    assert follower.poll() == 1 and b.corpus.get(SLUG) == replaced
    assert follower.poll() == 0  # a write is shown once

    a.service.unpublish(SLUG)
    assert follower.poll() == 1
    assert SLUG not in b.corpus and b.recorder.told[-1] == ("remove", SLUG, False)  # left the pages first

    # B's own writes come back to it as no-ops.
    b.service.create(story_fields(title="Back again"), WHERE)
    assert follower.poll() == 0
