"""Micro-segments: each segment and each rule against hand-computed expectations."""

from __future__ import annotations

import pytest

from media_demo.definitions import READER_GROUP, reader_profile_group
from media_demo.personalise.segments import (
    NO_MATCH,
    SEGMENTS,
    Condition,
    Segment,
    SegmentMatch,
    SessionFacts,
    all_of,
    any_of,
    segment_for,
)
from media_demo.recommend import ReaderProfile
from media_demo.signals.engine.attribute_engine import AttributeEngine
from tests.factories import article_view, page_view

CATEGORIES = ("culture", "science", "sport", "technology")


def facts(
    reads: dict[str, int] | None = None,
    *,
    distinct: int | None = None,
    recency: tuple[str, ...] = (),
    page_views: int | None = None,
    session_index: int = 1,
    days_away: float | None = None,
) -> tuple[ReaderProfile, SessionFacts]:
    """A reader with `reads` per category; `distinct` different articles (default: one per read); their visit."""
    reads = reads or {}
    total = sum(reads.values())
    distinct = total if distinct is None else distinct
    profile = ReaderProfile(
        page_view_count=total if page_views is None else page_views,
        article_read_count=total,
        articles_read=tuple(f"story-{n}" for n in range(distinct)),
        category_reads={c: reads.get(c, 0) for c in CATEGORIES},
        categories_by_recency=recency or tuple(c for c in CATEGORIES if reads.get(c)),
    )
    return profile, SessionFacts(session_index, days_away)


# --------------------------------------------------------------------------- each segment


def test_a_first_visit_with_nothing_read_is_a_new_visitor() -> None:
    assert segment_for(*facts(page_views=1)) == SegmentMatch(
        "new_visitor", "New visitor", "articles read: 0 (= 0); visit number: 1 (≤ 1)"
    )


def test_one_section_with_60_percent_of_three_reads_is_a_topic_loyalist_named_after_it() -> None:
    match = segment_for(*facts({"sport": 2, "science": 1}))
    assert match == SegmentMatch(
        "topic_loyalist",
        "Topic loyalist",
        "articles read: 3 (≥ 3); share of reads in Sport: 67% (≥ 60%)",
        topic="sport",
    )


def test_exactly_60_percent_is_enough() -> None:
    match = segment_for(*facts({"science": 3, "sport": 1, "culture": 1}))
    assert (match.name, match.topic) == ("topic_loyalist", "science")
    assert match.why.endswith("share of reads in Science: 60% (≥ 60%)")


def test_eight_different_articles_across_sections_is_a_deep_reader() -> None:
    match = segment_for(*facts({"sport": 3, "science": 3, "culture": 2}))  # top share 3/8 = 38%
    assert match == SegmentMatch("deep_reader", "Deep reader", "different articles read: 8 (≥ 8)")


def test_coming_back_after_a_day_is_a_returning_reader() -> None:
    match = segment_for(*facts({"sport": 1, "science": 1}, session_index=4, days_away=2.5))
    assert match == SegmentMatch(
        "returning_reader", "Returning reader", "visit number: 4 (≥ 2); days since the last visit: 2.5 (≥ 1)"
    )


def test_coming_back_with_nothing_read_is_a_returning_reader_not_a_new_one() -> None:
    assert segment_for(*facts(page_views=6, session_index=2, days_away=1.0)).name == "returning_reader"


def test_a_little_reading_without_a_habit_is_a_casual_browser() -> None:
    match = segment_for(*facts({"sport": 1, "culture": 1}))
    assert match == SegmentMatch("casual_browser", "Casual browser", "different articles read: 2 (< 8)")


# --------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("reads", "expected"),
    [
        ({"sport": 2}, "casual_browser"),  # 100%, but only two reads
        ({"sport": 2, "science": 2}, "casual_browser"),  # 50%
        ({"sport": 3, "science": 2}, "topic_loyalist"),  # 60% of 5
        ({"sport": 2, "science": 2, "culture": 1}, "casual_browser"),  # 40%
        ({"sport": 7}, "topic_loyalist"),
    ],
)
def test_loyalty_needs_three_reads_and_sixty_percent(reads: dict[str, int], expected: str) -> None:
    assert segment_for(*facts(reads)).name == expected


def test_same_day_second_visit_is_not_a_returning_reader() -> None:
    assert segment_for(*facts({"sport": 1}, session_index=2, days_away=0.4)).name == "casual_browser"


def test_unknown_days_away_never_counts_as_returning() -> None:
    assert segment_for(*facts({"sport": 1}, session_index=3, days_away=None)).name == "casual_browser"


def test_a_second_visit_with_nothing_read_is_not_new() -> None:
    assert segment_for(*facts(session_index=2)).name == "casual_browser"


@pytest.mark.parametrize(
    ("distinct", "expected"),
    [(7, "casual_browser"), (8, "deep_reader"), (30, "deep_reader")],
)
def test_deep_reading_counts_different_articles(distinct: int, expected: str) -> None:
    # 12 reads over four sections (25% each), of `distinct` different articles.
    reads = {"sport": 3, "science": 3, "culture": 3, "technology": 3}
    assert segment_for(*facts(reads, distinct=distinct)).name == expected


# --------------------------------------------------------------------------- priority


def test_loyalty_outranks_deep_reading() -> None:
    match = segment_for(*facts({"sport": 9, "science": 1}))
    assert (match.name, match.topic) == ("topic_loyalist", "sport")


def test_a_returning_loyalist_is_a_loyalist() -> None:
    assert segment_for(*facts({"culture": 3}, session_index=5, days_away=3)).name == "topic_loyalist"


def test_a_returning_deep_reader_is_a_deep_reader() -> None:
    reads = {"sport": 2, "science": 2, "culture": 2, "technology": 2}
    assert segment_for(*facts(reads, session_index=5, days_away=3)).name == "deep_reader"


def test_segments_are_listed_in_priority_order() -> None:
    assert [s.name for s in SEGMENTS] == [
        "new_visitor",
        "topic_loyalist",
        "deep_reader",
        "returning_reader",
        "casual_browser",
    ]


# --------------------------------------------------------------------------- facts


def test_top_category_ties_go_to_the_most_recently_read() -> None:
    reader, _visit = facts({"sport": 2, "science": 2}, recency=("sport", "science"))
    assert reader.top_category == "science"
    assert reader.top_category_share == 0.5
    assert facts({"sport": 2, "science": 2}, recency=("science", "sport"))[0].top_category == "sport"


def test_facts_from_the_engines_attributes() -> None:
    engine = AttributeEngine([reader_profile_group(CATEGORIES)])
    events = [
        page_view(user="u1", timestamp=1.0),
        article_view("comet-tail", "science", user="u1", timestamp=2.0),
        article_view("marathon-record", "sport", user="u1", timestamp=3.0),
        article_view("cricket-debut", "sport", user="u1", timestamp=4.0),
        article_view("marathon-record", "sport", user="u1", timestamp=5.0),  # read again
    ]
    for event in events:
        engine.ingest(event)
    attributes = engine.get_attributes(READER_GROUP, "u1")
    reader = ReaderProfile.from_attributes(attributes, CATEGORIES)
    assert reader.page_view_count == 1
    assert reader.article_read_count == 4
    assert reader.distinct_articles_read == 3
    assert reader.category_reads == {"culture": 0, "science": 1, "sport": 3, "technology": 0}
    assert reader.top_category == "sport"
    assert reader.top_category_share == 0.75
    match = segment_for(reader, SessionFacts(session_index=2, days_since_last_visit=1.5))
    assert (match.name, match.topic) == ("topic_loyalist", "sport")
    assert match.why == "articles read: 4 (≥ 3); share of reads in Sport: 75% (≥ 60%)"


def test_an_unknown_reader_has_default_facts_and_is_new() -> None:
    engine = AttributeEngine([reader_profile_group(CATEGORIES)])
    reader = ReaderProfile.from_attributes(engine.get_attributes(READER_GROUP, "nobody"), CATEGORIES)
    assert reader == ReaderProfile(category_reads=dict.fromkeys(CATEGORIES, 0))
    assert not reader.has_history
    assert reader.top_category is None and reader.top_category_share == 0.0
    assert segment_for(reader).name == "new_visitor"


# --------------------------------------------------------------------------- the rule language


def test_all_needs_every_condition_and_any_lists_only_those_that_held() -> None:
    flat = {"a": 1, "b": 5}
    both = all_of(Condition("a", ">=", 1), Condition("b", "<", 3))
    assert both.matched(flat) is None
    either = any_of(Condition("a", ">=", 1), Condition("b", "<", 3))
    assert either.matched(flat) == (Condition("a", ">=", 1),)
    assert any_of(Condition("a", ">", 1)).matched(flat) is None


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (Condition("n", "==", 3), True),
        (Condition("n", "!=", 3), False),
        (Condition("n", ">", 2), True),
        (Condition("n", "<", 3), False),
        (Condition("n", "<=", 3), True),
        (Condition("missing", ">=", 0), False),  # unknown is never "at least"
        (Condition("missing", "!=", 0), False),
        (Condition("text", ">=", 1), False),  # a mistyped rule fails closed, never raises
        (Condition("text", "present"), True),
        (Condition("empty", "present"), False),
        (Condition("missing", "present"), False),
    ],
)
def test_conditions(condition: Condition, holds: bool) -> None:
    assert condition.holds({"n": 3, "text": "sport", "empty": ""}) is holds


def test_an_unknown_operator_is_rejected_when_the_rule_is_written() -> None:
    with pytest.raises(ValueError, match="op: unknown operator '=>'"):
        Condition("n", "=>", 1)  # type: ignore[arg-type]


def test_explanations_show_the_readers_value_and_the_threshold() -> None:
    flat = {"top_category_share": 2 / 3, "top_category_label": "Sport", "custom_fact": True, "search_term": "x"}
    assert Condition("top_category_share", ">=", 0.6).explain(flat) == "share of reads in Sport: 67% (≥ 60%)"
    assert Condition("custom_fact", "==", True).explain(flat) == "custom fact: yes (= yes)"
    assert Condition("search_term", "present").explain(flat) == "search term: “x”"
    assert Condition("days_since_last_visit", ">=", 1).explain(flat) == "days since the last visit: unknown (≥ 1)"


def test_segments_are_data_a_caller_can_replace() -> None:
    night_owls = (Segment("night_owl", "Night owl", "Reads late.", all_of(Condition("page_view_count", ">", 10))),)
    assert segment_for(*facts(page_views=11), night_owls) == SegmentMatch(
        "night_owl", "Night owl", "pages viewed: 11 (> 10)"
    )
    assert segment_for(*facts(page_views=3), night_owls) == NO_MATCH
