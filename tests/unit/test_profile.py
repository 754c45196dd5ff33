"""The reader's profile: the one view of a reader that the recommender, the segments and the layout share."""

from __future__ import annotations

from typing import Any

import pytest

from media_demo.articles import Corpus
from media_demo.definitions import ARTICLE_SCHEMA, READER_GROUP, category_read_count, reader_profile_group
from media_demo.personalise.layout import home_layout
from media_demo.personalise.segments import segment_for
from media_demo.recommend import ArticleIndex, ReaderProfile, ReadStats, interests, recommend
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.consent import CONSENT_SCHEMA, ConsentLedger, anonymised
from media_demo.signals.engine.events import CanonicalEvent
from tests.factories import page_view, self_describing
from tests.unit.test_context import ARTICLES, make_article

CATEGORIES = ("culture", "science", "sport", "technology")
APP = "daily-current"


def profile(reads: dict[str, int], recency: tuple[str, ...] = ()) -> ReaderProfile:
    return ReaderProfile(
        article_read_count=sum(reads.values()),
        category_reads={c: reads.get(c, 0) for c in CATEGORIES},
        categories_by_recency=recency,
    )


# ----------------------------------------------------------------- has_history


def test_a_reader_with_nothing_read_has_no_history() -> None:
    assert not ReaderProfile().has_history
    assert not ReaderProfile(page_view_count=5, category_reads=dict.fromkeys(CATEGORIES, 0)).has_history


@pytest.mark.parametrize(
    "evidence",
    [
        {"article_read_count": 1},  # the count alone (the recommender's old profile missed this)
        {"articles_read": ("comet-tail",)},
        {"last_read": "comet-tail"},  # the last read alone (the segments' old facts missed this)
    ],
    ids=["count", "list", "last_read"],
)
def test_any_one_read_attribute_is_history(evidence: dict[str, Any]) -> None:
    assert ReaderProfile(**evidence).has_history


def test_the_read_set_holds_the_list_and_the_last_read() -> None:
    reader = ReaderProfile(articles_read=("opera-tour", "comet-tail"), last_read="chip-plant")
    assert reader.read == {"opera-tour", "comet-tail", "chip-plant"}
    assert ReaderProfile().read == frozenset()


# ----------------------------------------------------------------- category order


def test_categories_go_most_read_first_and_unread_ones_are_left_out() -> None:
    reader = profile({"science": 1, "sport": 3, "culture": 2}, recency=("sport", "culture", "science"))
    assert reader.categories_by_affinity() == ["sport", "culture", "science"]
    assert reader.categories_by_affinity(2) == ["sport", "culture"]
    assert reader.top_category == "sport"


def test_a_tie_goes_to_the_category_read_most_recently() -> None:
    # categories_by_recency runs from the oldest to the most recently read.
    assert profile({"sport": 2, "science": 2}, ("sport", "science")).categories_by_affinity() == ["science", "sport"]
    assert profile({"sport": 2, "science": 2}, ("science", "sport")).categories_by_affinity() == ["sport", "science"]


def test_a_tie_with_no_recency_goes_by_name_and_recency_beats_no_recency() -> None:
    unordered = ReaderProfile(category_reads={"technology": 1, "sport": 0, "culture": 1})  # not in name order
    assert unordered.categories_by_affinity() == ["culture", "technology"]
    assert profile({"technology": 1, "culture": 1}, ("technology",)).categories_by_affinity() == [
        "technology",
        "culture",
    ]


def test_recency_never_outranks_more_reads() -> None:
    reader = profile({"sport": 3, "science": 1}, recency=("sport", "science"))
    assert reader.categories_by_affinity() == ["sport", "science"]
    assert reader.top_category_share == 0.75


def test_the_recommenders_interests_are_the_first_two_categories() -> None:
    reader = profile({"culture": 1, "science": 2, "sport": 2, "technology": 3}, ("culture", "sport", "science"))
    assert interests(reader) == ["technology", "science"]
    assert interests(ReaderProfile()) == []


# ----------------------------------------------------------------- from the engine's attributes


def article_read(slug: str, category: str, reader: str, at: float) -> CanonicalEvent:
    data = {"slug": slug, "title": slug.replace("-", " "), "category": category}
    return self_describing(ARTICLE_SCHEMA, data, user=reader, timestamp=at, app_id=APP)


def reads_of(reader: str) -> list[CanonicalEvent]:
    return [
        page_view(reader, timestamp=1.0, app_id=APP),
        article_read("comet-tail", "science", reader, 2.0),
        article_read("marathon-record", "sport", reader, 3.0),
        article_read("soil-fungi", "science", reader, 4.0),
    ]


def test_a_profile_from_the_engines_attributes() -> None:
    engine = AttributeEngine([reader_profile_group(CATEGORIES)])
    for event in reads_of("u1"):
        engine.ingest(event)
    reader = ReaderProfile.from_attributes(engine.get_attributes(READER_GROUP, "u1"), CATEGORIES)
    assert reader == ReaderProfile(
        page_view_count=1,
        article_read_count=3,
        articles_read=("comet-tail", "marathon-record", "soil-fungi"),
        last_read="soil-fungi",
        category_reads={"culture": 0, "science": 2, "sport": 1, "technology": 0},
        categories_by_recency=("sport", "science"),
    )
    assert reader.has_history
    assert reader.categories_by_affinity() == ["science", "sport"]


def test_missing_or_empty_attributes_read_as_nothing_read() -> None:
    """What a remote Signals API may answer for an unknown reader: nulls, or nothing at all."""
    nulls = {
        "page_view_count": None,
        "article_read_count": None,
        "articles_read": None,
        "article_last_read": "",
        "categories_read": None,
        category_read_count("sport"): None,
    }
    for attributes in (nulls, {}):
        reader = ReaderProfile.from_attributes(attributes, CATEGORIES)
        assert reader == ReaderProfile(category_reads=dict.fromkeys(CATEGORIES, 0))
        assert not reader.has_history
        assert reader.categories_by_affinity() == [] and reader.top_category is None


# ----------------------------------------------------------------- readers without consent


def consent(reader: str, kind: str) -> CanonicalEvent:
    data = {"eventType": kind, "consentScopes": [], "basisForProcessing": "consent"}
    return self_describing(CONSENT_SCHEMA, data, user=reader, timestamp=0.5, app_id=APP)


def profiles_after(events: list[CanonicalEvent], readers: tuple[str, ...]) -> dict[str, ReaderProfile]:
    """Events admitted as the newsroom admits them: anonymised unless the reader consented to profiling."""
    ledger = ConsentLedger(own_app_id=APP)
    engine = AttributeEngine([reader_profile_group(CATEGORIES)])
    for event in events:
        ledger.observe(event)
        engine.ingest(event if ledger.may_profile(event) else anonymised(event))
    return {r: ReaderProfile.from_attributes(engine.get_attributes(READER_GROUP, r), CATEGORIES) for r in readers}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(make_article(*row) for row in ARTICLES)


def test_a_reader_without_consent_has_an_empty_profile_and_gets_the_first_visit_page(corpus: Corpus) -> None:
    events = [
        consent("agreed", "allow_all"),
        *reads_of("agreed"),
        *reads_of("undecided"),  # no choice made yet
        consent("declined", "deny_all"),
        *reads_of("declined"),
    ]
    profiles = profiles_after(events, ("agreed", "undecided", "declined"))
    assert profiles["agreed"].has_history
    assert profiles["agreed"].categories_by_affinity() == ["science", "sport"]
    for name in ("undecided", "declined"):
        reader = profiles[name]
        assert reader == ReaderProfile(category_reads=dict.fromkeys(CATEGORIES, 0)), name
        assert not reader.has_history and reader.read == frozenset()
        assert segment_for(reader).name == "new_visitor"
        layout = home_layout(reader, segment_for(reader), None, corpus)
        assert layout.section_order == sorted(CATEGORIES) and layout.featured_variant.variant == "default"
        picks = recommend(reader, corpus, ArticleIndex.for_corpus(corpus), ReadStats())
        assert all(r.kind == "popular" for r in picks)


# ----------------------------------------------------------------- one profile, one answer


def test_the_recommender_and_the_layout_skip_the_same_read_stories(corpus: Corpus) -> None:
    """A reader known only by their last read: both treat them as having history and skip that story."""
    reader = ReaderProfile(
        last_read="chip-plant", category_reads={"technology": 1}, categories_by_recency=("technology",)
    )
    stats = ReadStats()
    stats.observe("chip-plant", "someone", 1.0)
    picks = recommend(reader, corpus, ArticleIndex.for_corpus(corpus), stats)
    assert picks and "chip-plant" not in {r.article.slug for r in picks}
    layout = home_layout(reader, segment_for(reader), None, corpus)
    assert layout.featured_slug != "chip-plant" and "chip-plant" not in layout.teaser_order
    assert layout.section_order[0] == "technology"
