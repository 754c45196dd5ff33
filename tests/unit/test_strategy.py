"""The recommendation strategy and the read counts behind "Popular with readers"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from media_demo.articles import Article, Corpus, load_corpus
from media_demo.recommend import ArticleIndex, ReaderProfile, ReadStats, Recommendation, recommend, strategy_name
from media_demo.recommend.strategy import DEFAULT_RECENCY_WINDOW, prepare

ROOT = Path(__file__).resolve().parents[2]

# slug, category, published, title, body. The three battery stories share vocabulary with
# each other (and the chip plant a little); the rest share nothing with them.
ARTICLES = [
    (
        "grid-battery-farm",
        "technology",
        dt.date(2026, 9, 1),
        "Grid battery farm opens in the valley",
        "A lithium battery farm now stores wind power for the regional grid, with thousands of battery cells "
        "charging overnight.",
    ),
    (
        "battery-recycling",
        "technology",
        dt.date(2026, 9, 5),
        "Recycling plant recovers lithium from old batteries",
        "The plant shreds spent battery cells and recovers lithium and cobalt for new battery makers.",
    ),
    (
        "chip-plant",
        "technology",
        dt.date(2026, 9, 20),
        "Chip factory breaks ground",
        "Work began on a semiconductor plant that will etch chips on silicon wafers and draw power from the "
        "national network.",
    ),
    (
        "sodium-battery-cathodes",
        "science",
        dt.date(2026, 9, 10),
        "Sodium battery cathodes stop cracking",
        "Chemists grew cathode crystals that survive thousands of charging cycles, a step towards cheap sodium "
        "battery cells for grid storage.",
    ),
    (
        "comet-tail",
        "science",
        dt.date(2026, 9, 15),
        "Comet tail lengthens near the sun",
        "Amateur astronomers followed the comet through telescopes as dust and gas streamed behind it.",
    ),
    (
        "soil-fungi",
        "science",
        dt.date(2026, 8, 1),
        "Soil fungi help wheat through drought",
        "Farmers who kept fungi in their fields saw wheat roots reach deeper water during the dry summer.",
    ),
    (
        "marathon-record",
        "sport",
        dt.date(2026, 9, 12),
        "Marathon course record falls",
        "Runners set off in cool weather and the winner beat the course record by forty seconds.",
    ),
    (
        "cricket-debut",
        "sport",
        dt.date(2026, 8, 20),
        "Teenage spinner takes five wickets on debut",
        "The county cricket side handed a debut to a leg spinner who took five wickets before tea.",
    ),
    (
        "opera-tour",
        "culture",
        dt.date(2026, 9, 18),
        "Chamber opera tours village halls",
        "A soprano and string quartet performed in village halls to sold-out audiences.",
    ),
    (
        "film-festival",
        "culture",
        dt.date(2026, 8, 10),
        "Short film festival fills the harbour cinema",
        "Directors screened short films in the harbour cinema across a crowded weekend.",
    ),
]
BATTERY_FARM_TITLE = "Grid battery farm opens in the valley"
BECAUSE_BATTERY_FARM = f"Because you read “{BATTERY_FARM_TITLE}”"
POPULAR = "Popular with readers"


def make_article(slug: str, category: str, published: dt.date, title: str, body: str) -> Article:
    return Article(
        slug=slug,
        title=title,
        excerpt=body[:80],
        category=category,
        author="Test Author",
        published=published,
        reading_minutes=1,
        tags=(category,),
        body=body,
    )


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(make_article(*row) for row in ARTICLES)


@pytest.fixture(scope="module")
def index(corpus: Corpus) -> ArticleIndex:
    return ArticleIndex.for_corpus(corpus)


@pytest.fixture
def stats() -> ReadStats:
    return ReadStats()


def reader(
    read: Sequence[str],
    categories: dict[str, int] | None = None,
    by_recency: Sequence[str] = (),
    last_read: str | None = None,
) -> ReaderProfile:
    """A profile that read `read` in order; `last_read` defaults to the last of them."""
    return ReaderProfile(
        articles_read=tuple(read),
        last_read=last_read if last_read is not None else (read[-1] if read else None),
        category_reads=categories or {},
        categories_by_recency=tuple(by_recency),
    )


def slugs(recs: Iterable[Recommendation]) -> list[str]:
    return [r.article.slug for r in recs]


def summary(recs: Iterable[Recommendation]) -> list[tuple[str, str, str]]:
    return [(r.article.slug, r.kind, r.reason) for r in recs]


def observe_readers(stats: ReadStats, slug: str, readers: int, at: float = 100.0) -> None:
    for n in range(readers):
        stats.observe(slug, f"reader-{n}", at)


BATTERY_READER = reader(["grid-battery-farm"], {"technology": 1}, ["technology"])


# ----------------------------------------------------------------- personalised


def test_category_item_first_then_similar_to_last_read(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    recs = recommend(BATTERY_READER, corpus, index, stats)
    assert summary(recs) == [
        ("battery-recycling", "category", "More in Technology"),
        ("sodium-battery-cathodes", "similar", BECAUSE_BATTERY_FARM),
        ("chip-plant", "similar", BECAUSE_BATTERY_FARM),
    ]


def test_similar_items_follow_similarity_order(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    recs = recommend(BATTERY_READER, corpus, index, stats, count=len(corpus))
    related = [
        r.article.slug
        for r in recs
        if r.kind == "similar" and index.similarity("grid-battery-farm", r.article.slug) > 0
    ]
    expected = [
        s
        for s in index.ranked("grid-battery-farm")
        if s != "battery-recycling" and index.similarity("grid-battery-farm", s) > 0
    ]
    assert related == expected == ["sodium-battery-cathodes", "chip-plant"]


def test_category_pick_prefers_the_article_closest_to_recent_reads(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    # chip-plant is the newest technology article, battery-recycling the closest to the battery farm.
    assert corpus.in_category("technology")[0].slug == "chip-plant"
    recs = recommend(BATTERY_READER, corpus, index, stats, count=1)
    assert summary(recs) == [("battery-recycling", "category", "More in Technology")]


def test_category_pick_without_any_similarity_is_the_newest(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    profile = reader(["marathon-record"], {"culture": 1}, ["culture"])
    recs = recommend(profile, corpus, index, stats, count=1)
    assert summary(recs) == [("opera-tour", "category", "More in Culture")]


def test_at_most_two_top_categories(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    profile = reader(
        ["opera-tour", "comet-tail", "grid-battery-farm"],
        {"technology": 3, "science": 2, "culture": 1},
        ["culture", "science", "technology"],
    )
    recs = recommend(profile, corpus, index, stats)
    # A third category slot would have been "More in Culture".
    assert summary(recs) == [
        ("battery-recycling", "category", "More in Technology"),
        ("sodium-battery-cathodes", "category", "More in Science"),
        ("chip-plant", "similar", BECAUSE_BATTERY_FARM),
    ]


@pytest.mark.parametrize(
    ("by_recency", "expected"),
    [
        (["science", "sport"], ["More in Sport", "More in Science"]),
        (["sport", "science"], ["More in Science", "More in Sport"]),
    ],
)
def test_category_ties_go_to_the_most_recently_read(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats, by_recency: list[str], expected: list[str]
) -> None:
    profile = reader(["comet-tail", "marathon-record"], {"science": 1, "sport": 1}, by_recency)
    recs = recommend(profile, corpus, index, stats, count=2)
    assert [r.reason for r in recs] == expected


def test_more_reads_beat_recency(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    profile = reader(["comet-tail", "soil-fungi", "marathon-record"], {"science": 2, "sport": 1}, ["science", "sport"])
    recs = recommend(profile, corpus, index, stats, count=2)
    assert [r.reason for r in recs] == ["More in Science", "More in Sport"]


def test_categories_with_zero_reads_are_ignored(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    profile = reader(["grid-battery-farm"], {"technology": 1, "sport": 0, "culture": 0}, ["technology"])
    recs = recommend(profile, corpus, index, stats)
    assert [r.kind for r in recs].count("category") == 1
    assert recs[0].reason == "More in Technology"


def test_never_recommends_an_already_read_article(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    read = ["grid-battery-farm", "sodium-battery-cathodes", "battery-recycling", "opera-tour"]
    for slug in read:
        observe_readers(stats, slug, 5)  # the most popular articles, all already read
    observe_readers(stats, "film-festival", 1)
    profile = reader(read, {"technology": 2, "science": 1, "culture": 1}, ["culture", "science", "technology"])
    recs = recommend(profile, corpus, index, stats, count=len(corpus))
    assert recs
    assert not set(slugs(recs)) & set(read)


def test_last_read_alone_counts_as_read(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    # chip-plant is the newest technology article: the category slot would pick it if unread.
    profile = ReaderProfile(last_read="chip-plant", category_reads={"technology": 1})
    recs = recommend(profile, corpus, index, stats, count=len(corpus))
    assert "chip-plant" not in slugs(recs)
    assert summary(recs[:1]) == [("battery-recycling", "category", "More in Technology")]


def test_no_duplicates_even_when_asking_for_everything(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    for slug in ("battery-recycling", "sodium-battery-cathodes", "opera-tour"):
        observe_readers(stats, slug, 3)
    recs = recommend(BATTERY_READER, corpus, index, stats, count=100)
    assert len(recs) == len(set(slugs(recs)))
    assert len(recs) >= 3


def test_default_count_is_three(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    assert len(recommend(BATTERY_READER, corpus, index, stats)) == 3


@pytest.mark.parametrize("count", [1, 2, 3])
def test_count_limits_the_list(corpus: Corpus, index: ArticleIndex, stats: ReadStats, count: int) -> None:
    assert len(recommend(BATTERY_READER, corpus, index, stats, count=count)) == count


def test_a_larger_count_is_filled_from_popular(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    for slug in index.ids:
        observe_readers(stats, slug, 1)
    recs = recommend(BATTERY_READER, corpus, index, stats, count=5)
    assert len(recs) == 5
    assert recs[-1].kind == "popular"
    assert len({r.article.slug for r in recs}) == 5


@pytest.mark.parametrize("count", [0, -1])
def test_count_below_one_is_rejected(corpus: Corpus, index: ArticleIndex, stats: ReadStats, count: int) -> None:
    with pytest.raises(ValueError, match="count: must be >= 1"):
        recommend(BATTERY_READER, corpus, index, stats, count=count)


# -------------------------------------------------------------- popular / cold start


def test_cold_start_gets_most_read_by_distinct_readers(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    observe_readers(stats, "opera-tour", 3)
    observe_readers(stats, "comet-tail", 2)
    for _ in range(10):  # one enthusiastic reader refreshing the page
        stats.observe("cricket-debut", "fan", 500.0)
    recs = recommend(ReaderProfile(), corpus, index, stats)
    assert summary(recs) == [
        ("opera-tour", "popular", POPULAR),
        ("comet-tail", "popular", POPULAR),
        ("cricket-debut", "popular", POPULAR),
    ]
    assert strategy_name(recs) == "popular"


def test_cold_start_with_nothing_read_is_empty(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    recs = recommend(ReaderProfile(), corpus, index, stats)
    assert recs == []
    assert strategy_name(recs) == "empty"


def test_popular_backfills_when_last_read_is_not_in_the_corpus(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    observe_readers(stats, "battery-recycling", 4)  # taken by the category slot
    observe_readers(stats, "film-festival", 3)
    observe_readers(stats, "grid-battery-farm", 2)  # already read
    observe_readers(stats, "marathon-record", 1)
    profile = reader(
        ["grid-battery-farm", "retired-article"], {"technology": 1}, ["technology"], last_read="retired-article"
    )
    recs = recommend(profile, corpus, index, stats)
    assert summary(recs) == [
        ("battery-recycling", "category", "More in Technology"),
        ("film-festival", "popular", POPULAR),
        ("marathon-record", "popular", POPULAR),
    ]
    assert strategy_name(recs) == "personalised"


def test_popular_backfills_when_there_is_no_last_read(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    observe_readers(stats, "opera-tour", 2)
    profile = ReaderProfile(
        articles_read=("comet-tail",),
        last_read=None,
        category_reads={"science": 1},
        categories_by_recency=("science",),
    )
    recs = recommend(profile, corpus, index, stats)
    assert summary(recs) == [
        ("sodium-battery-cathodes", "category", "More in Science"),
        ("opera-tour", "popular", POPULAR),
    ]


def test_popular_backfills_when_everything_nearby_is_read(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    # Every article sharing any vocabulary with the battery farm has been read; what is left has
    # similarity 0, so "Because you read" would be false: the module promises popular articles.
    nearby = ["battery-recycling", "sodium-battery-cathodes", "chip-plant", "grid-battery-farm"]
    unread = [s for s in index.ids if s not in nearby]
    assert all(index.similarity("grid-battery-farm", s) == 0.0 for s in unread)
    observe_readers(stats, "opera-tour", 2)
    recs = recommend(reader(nearby), corpus, index, stats)
    assert summary(recs) == [("opera-tour", "popular", POPULAR)]


def test_popular_skips_articles_no_longer_in_the_corpus(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    # Replayed events can name articles since removed; they must not crowd out real ones.
    for n in range(len(corpus)):
        observe_readers(stats, f"retired-article-{n}", 2)
    observe_readers(stats, "opera-tour", 1)
    recs = recommend(ReaderProfile(), corpus, index, stats)
    assert summary(recs) == [("opera-tour", "popular", POPULAR)]


# --------------------------------------------------------------- strategy_name etc.


def test_strategy_name_is_personalised_when_anything_is_not_popular(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    recs = recommend(BATTERY_READER, corpus, index, stats)
    assert strategy_name(recs) == "personalised"
    assert strategy_name([recs[0], Recommendation(recs[1].article, POPULAR, "popular")]) == "personalised"
    assert strategy_name([Recommendation(recs[1].article, POPULAR, "popular")]) == "popular"
    assert strategy_name([]) == "empty"


def test_recommendation_as_json(corpus: Corpus) -> None:
    article = corpus.get("opera-tour")
    assert article is not None
    assert Recommendation(article, POPULAR, "popular").as_json() == {
        "slug": "opera-tour",
        "title": "Chamber opera tours village halls",
        "category": "culture",
        "excerpt": article.excerpt,
        "reason": POPULAR,
    }


# --------------------------------------------------------------------- ReadStats


def test_read_stats_counts_each_reader_once(stats: ReadStats) -> None:
    stats.observe("a", "alice", 1.0)
    stats.observe("a", "alice", 2.0)
    stats.observe("a", "bob", 3.0)
    stats.observe("b", "alice", 4.0)
    assert stats.readers("a") == 2
    assert stats.readers("b") == 1
    assert stats.readers("never-read") == 0


def test_read_stats_orders_by_readers_then_recency(stats: ReadStats) -> None:
    stats.observe("old-pair", "r1", 10.0)
    stats.observe("old-pair", "r2", 11.0)
    stats.observe("new-single", "r1", 50.0)
    stats.observe("newer-single", "r2", 60.0)
    stats.observe("top", "r1", 1.0)
    stats.observe("top", "r2", 1.0)
    stats.observe("top", "r3", 1.0)
    assert stats.most_read(10) == [("top", 3), ("old-pair", 2), ("newer-single", 1), ("new-single", 1)]


def test_read_stats_keeps_the_latest_read_time(stats: ReadStats) -> None:
    stats.observe("a", "r1", 100.0)
    stats.observe("b", "r2", 50.0)
    stats.observe("a", "r3", 10.0)  # arrives late: must not make "a" look older
    stats.observe("b", "r4", 60.0)
    assert stats.most_read(2) == [("a", 2), ("b", 2)]


def test_read_stats_ties_on_readers_and_time_break_by_slug(stats: ReadStats) -> None:
    for slug in ("cherry", "apple", "banana"):
        stats.observe(slug, "r1", 5.0)
    assert [slug for slug, _ in stats.most_read(3)] == ["apple", "banana", "cherry"]


def test_read_stats_limit_and_exclude(stats: ReadStats) -> None:
    for n, slug in enumerate(("a", "b", "c", "d")):
        observe_readers(stats, slug, 4 - n)
    assert stats.most_read(2) == [("a", 4), ("b", 3)]
    assert stats.most_read(0) == []
    assert stats.most_read(10, exclude={"a", "c"}) == [("b", 3), ("d", 1)]
    assert stats.most_read(1, exclude=frozenset({"a"})) == [("b", 3)]


def test_read_stats_empty(stats: ReadStats) -> None:
    assert stats.most_read(5) == []


# ------------------------------------------------------------------ archive scale: bounded work


def test_category_slot_only_considers_the_newest_stories_of_the_section(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    # Technology, newest first: chip-plant, battery-recycling, grid-battery-farm (read).
    assert summary(recommend(BATTERY_READER, corpus, index, stats, count=1, recency_window=1)) == [
        ("chip-plant", "category", "More in Technology")
    ]
    assert summary(recommend(BATTERY_READER, corpus, index, stats, count=1, recency_window=2)) == [
        ("battery-recycling", "category", "More in Technology")
    ]


def test_stories_outside_the_window_still_come_as_similar(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    recs = recommend(BATTERY_READER, corpus, index, stats, recency_window=1)
    assert summary(recs) == [
        ("chip-plant", "category", "More in Technology"),
        ("sodium-battery-cathodes", "similar", BECAUSE_BATTERY_FARM),
        ("battery-recycling", "similar", BECAUSE_BATTERY_FARM),  # older than the window of one
    ]


def test_the_window_counts_read_stories_too(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    profile = reader(["chip-plant"], {"technology": 1}, ["technology"])
    recs = recommend(profile, corpus, index, stats, count=1, recency_window=1)
    assert [r.kind for r in recs] != ["category"]


def test_a_window_below_one_is_rejected(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    with pytest.raises(ValueError, match="recency_window: must be >= 1"):
        recommend(BATTERY_READER, corpus, index, stats, recency_window=0)


def test_the_default_window_keeps_the_shipped_corpus_answers() -> None:
    shipped = load_corpus(ROOT / "data" / "articles")
    shipped_index = ArticleIndex.for_corpus(shipped)
    largest_section = max(len(shipped.in_category(c)) for c in shipped.categories)
    assert largest_section <= DEFAULT_RECENCY_WINDOW
    articles = list(shipped)
    for start in range(0, len(articles), 7):
        read = [a.slug for a in articles[start : start + 4]]
        counts: dict[str, int] = {}
        for slug in read:
            category = next(a.category for a in articles if a.slug == slug)
            counts[category] = counts.get(category, 0) + 1
        profile = reader(read, counts, list(dict.fromkeys(reversed([a.category for a in articles[start : start + 4]]))))
        everything = recommend(profile, shipped, shipped_index, ReadStats(), count=5, recency_window=len(shipped))
        assert recommend(profile, shipped, shipped_index, ReadStats(), count=5) == everything


def test_similar_slots_go_past_the_kept_neighbours_when_all_were_read(corpus: Corpus, stats: ReadStats) -> None:
    # Keep only two neighbours per story; the reader has read both of the battery farm's.
    narrow = ArticleIndex.from_texts([a.slug for a in corpus], [a.text for a in corpus], neighbours=2)
    first_two = [slug for slug, _ in narrow.similar("grid-battery-farm", 2)]
    profile = reader([*first_two, "grid-battery-farm"])
    recs = recommend(profile, corpus, narrow, stats, count=1)
    expected = next(s for s in narrow.ranked("grid-battery-farm") if s not in first_two)
    assert narrow.similarity("grid-battery-farm", expected) > 0
    assert summary(recs) == [(expected, "similar", BECAUSE_BATTERY_FARM)]


def test_prepare_compacts_each_sections_window_and_changes_no_answer(corpus: Corpus) -> None:
    prepared, cold = ArticleIndex.for_corpus(corpus), ArticleIndex.for_corpus(corpus)
    prepare(corpus, prepared, recency_window=5)
    windows = {tuple(a.slug for a in corpus.latest(5, c)) for c in corpus.categories}
    assert windows <= set(prepared._state.blocks)  # what the first reader of each section would have built
    profile = ReaderProfile(
        article_read_count=2,
        articles_read=tuple(a.slug for a in corpus.articles[:2]),
        last_read=corpus.articles[1].slug,
        category_reads={corpus.articles[0].category: 2},
        categories_by_recency=(corpus.articles[0].category,),
    )
    picks = [r.article.slug for r in recommend(profile, corpus, prepared, ReadStats(), 3, recency_window=5)]
    assert picks == [r.article.slug for r in recommend(profile, corpus, cold, ReadStats(), 3, recency_window=5)]
