"""The personalised front page: section order, the featured story's variant, the teasers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from media_demo.articles import Corpus
from media_demo.articles.cover_urls import COVERS_DIR, VARIANT_COVERS_DIR, cover_path, variant_name
from media_demo.newsroom import get_corpus
from media_demo.personalise.context import ReaderContext
from media_demo.personalise.layout import HAND_WRITTEN, VARIANT_SEGMENTS, FeaturedVariant, HomeLayout, home_layout
from media_demo.personalise.segments import SessionFacts, segment_for
from media_demo.personalise.variant_cover_art import write_variant_covers
from media_demo.recommend import ReaderProfile
from tests.unit.test_context import ARTICLES, make_article

CATEGORIES = ("culture", "science", "sport", "technology")
Reader = tuple[ReaderProfile, SessionFacts]  # who they are, and this visit
NOW = dt.datetime(2026, 11, 22, 14, 0, tzinfo=dt.UTC)
# Newest first: chip-plant (technology), opera-tour (culture), comet-tail (science), marathon-record (sport),
# battery-recycling, grid-battery-farm (technology), cricket-debut (sport), film-festival, soil-fungi.


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(make_article(*row) for row in ARTICLES)


@pytest.fixture
def no_covers(tmp_path: Path) -> Path:
    """A variant-cover folder with nothing in it: every variant falls back to the story's own cover."""
    return tmp_path


def reader(
    read: tuple[str, ...] = (),
    reads: dict[str, int] | None = None,
    session_index: int = 1,
    days_away: float | None = None,
) -> Reader:
    reads = reads or {}
    profile = ReaderProfile(
        page_view_count=sum(reads.values()),
        article_read_count=sum(reads.values()),
        articles_read=read,
        category_reads={c: reads.get(c, 0) for c in CATEGORIES},
        categories_by_recency=tuple(c for c in CATEGORIES if reads.get(c)),
    )
    return profile, SessionFacts(session_index, days_away)


def layout_for(facts: Reader, corpus: Corpus, covers: Path, context: ReaderContext | None = None) -> HomeLayout:
    return home_layout(facts[0], segment_for(*facts), context, corpus, covers)


def test_a_new_visitor_gets_the_default_page(corpus: Corpus, no_covers: Path) -> None:
    chip = corpus.get("chip-plant")
    assert chip is not None
    assert layout_for(reader(), corpus, no_covers) == HomeLayout(
        section_order=["culture", "science", "sport", "technology"],
        featured_slug="chip-plant",
        featured_variant=FeaturedVariant("Technology", chip.excerpt, ""),
        teaser_order=["opera-tour", "comet-tail", "marathon-record"],
        notes=["Featured text: default"],
    )


def test_sections_follow_the_readers_reads_then_the_corpus_order(corpus: Corpus, no_covers: Path) -> None:
    facts = reader(("soil-fungi", "cricket-debut"), {"science": 3, "sport": 1})
    layout = layout_for(facts, corpus, no_covers)
    assert layout.section_order == ["science", "sport", "culture", "technology"]
    # Round robin over the read sections' newest unread stories, then the newest unread of all.
    assert layout.teaser_order == ["comet-tail", "marathon-record", "opera-tour"]
    assert layout.notes[0] == "Sections by your reads: Science 3, Sport 1"


def test_a_sport_loyalist(corpus: Corpus, no_covers: Path) -> None:
    facts = reader(("marathon-record", "cricket-debut", "comet-tail"), {"sport": 2, "science": 1})
    assert segment_for(*facts).topic == "sport"
    chip = corpus.get("chip-plant")
    assert chip is not None
    assert layout_for(facts, corpus, no_covers) == HomeLayout(
        section_order=["sport", "science", "culture", "technology"],
        featured_slug="chip-plant",
        featured_variant=FeaturedVariant(
            "A change from Sport",
            f"Step outside Sport for a moment: {chip.excerpt}",
            "",  # no cover of its own for this segment: the story's
            variant="topic_loyalist",
        ),
        # No unread sport is left; science's is soil-fungi; then the newest unread.
        teaser_order=["soil-fungi", "opera-tour", "battery-recycling"],
        notes=["Sections by your reads: Sport 2, Science 1", "Featured text: topic_loyalist"],
    )


def test_a_loyalist_of_the_featured_storys_own_section(corpus: Corpus, no_covers: Path) -> None:
    facts = reader(("battery-recycling", "grid-battery-farm"), {"technology": 3})
    variant = layout_for(facts, corpus, no_covers).featured_variant
    chip = corpus.get("chip-plant")
    assert chip is not None
    assert (variant.headline_kicker, variant.description) == ("New in Technology", chip.excerpt)


def test_the_featured_story_is_the_newest_one_not_read(corpus: Corpus, no_covers: Path) -> None:
    facts = reader(("chip-plant", "battery-recycling", "grid-battery-farm"), {"technology": 3})
    layout = layout_for(facts, corpus, no_covers)
    assert layout.featured_slug == "opera-tour"
    assert layout.featured_variant.headline_kicker == "A change from Technology"
    assert "Featured: the newest story you have not read" in layout.notes
    assert "chip-plant" not in layout.teaser_order and "opera-tour" not in layout.teaser_order


def test_the_teasers_leave_out_the_stories_recommended_beside_them(corpus: Corpus, no_covers: Path) -> None:
    facts = reader(("marathon-record", "cricket-debut", "comet-tail"), {"sport": 2, "science": 1})
    layout = home_layout(facts[0], segment_for(*facts), None, corpus, no_covers, beside=["soil-fungi", "opera-tour"])
    assert "soil-fungi" not in layout.teaser_order and "opera-tour" not in layout.teaser_order
    assert len(layout.teaser_order) == 3 and "battery-recycling" in layout.teaser_order


def test_everything_read_features_the_newest(corpus: Corpus, no_covers: Path) -> None:
    facts = reader(tuple(a.slug for a in corpus), {"technology": 3, "science": 2, "sport": 2, "culture": 2})
    layout = layout_for(facts, corpus, no_covers)
    assert layout.featured_slug == "chip-plant"
    assert layout.teaser_order == []


@pytest.mark.parametrize(
    ("facts", "kicker", "description"),
    [
        (reader(("soil-fungi",), {"science": 1}), "A 2-minute read", "{excerpt}"),
        (
            reader(tuple(f"old-{n}" for n in range(8)), {"science": 3, "sport": 3, "culture": 2}),
            "In depth: Technology",
            "{excerpt} Test Author reports.",
        ),
        (
            reader(("soil-fungi",), {"science": 1}, session_index=3, days_away=2),
            "Welcome back",
            "Leading the front page today: {excerpt}",
        ),
    ],
    ids=["casual_browser", "deep_reader", "returning_reader"],
)
def test_templates_for_a_story_without_hand_written_variants(
    corpus: Corpus, no_covers: Path, facts: Reader, kicker: str, description: str
) -> None:
    chip = corpus.get("chip-plant")
    assert chip is not None
    variant = layout_for(facts, corpus, no_covers).featured_variant
    assert variant.variant == segment_for(*facts).name
    assert not variant.hand_written
    assert (variant.headline_kicker, variant.description) == (kicker, description.format(excerpt=chip.excerpt))


def test_a_newsletter_link_naming_a_section_puts_it_first_even_for_a_new_reader(
    corpus: Corpus, no_covers: Path
) -> None:
    context = ReaderContext.from_request(query="utm_medium=email&utm_campaign=sport-weekly", clock=lambda: NOW)
    layout = layout_for(reader(), corpus, no_covers, context)
    assert layout.section_order == ["sport", "culture", "science", "technology"]
    assert layout.featured_slug == "chip-plant" and layout.featured_variant.variant == "default"
    assert layout.notes[0] == "Sport first: the link you followed was about it"
    tagged = ReaderContext.from_request(query="utm_campaign=space-telescopes", clock=lambda: NOW)
    assert layout_for(reader(), corpus, no_covers, tagged).section_order == list(CATEGORIES)


def test_an_empty_corpus_is_rejected(no_covers: Path) -> None:
    with pytest.raises(ValueError, match="corpus"):
        layout_for(reader(), Corpus([]), no_covers)


# ----------------------------------------------------------------- the real lead story


LEAD = "conservatoire-degree-video-game-music"


@pytest.fixture(scope="module")
def real_corpus() -> Corpus:
    return get_corpus()


def test_the_lead_story_has_hand_written_variants_and_covers_for_every_segment(real_corpus: Corpus) -> None:
    assert real_corpus.articles[0].slug == LEAD
    kickers, descriptions = set(), set()
    for name in VARIANT_SEGMENTS:
        facts = {
            "casual_browser": reader((), {"sport": 1}),
            "topic_loyalist": reader((), {"sport": 3}),
            "deep_reader": reader(tuple(f"old-{n}" for n in range(9)), {"sport": 3, "science": 3, "culture": 3}),
            "returning_reader": reader((), {"sport": 1}, session_index=2, days_away=1),
        }[name]
        segment = segment_for(*facts)
        assert segment.name == name
        variant = home_layout(facts[0], segment, None, real_corpus).featured_variant
        assert variant.hand_written
        assert variant.cover_path == f"/covers/variants/{LEAD}--{name.replace('_', '-')}.svg"
        assert cover_path(variant_name(LEAD, name), VARIANT_COVERS_DIR).is_file()
        kickers.add(variant.headline_kicker)
        descriptions.add(variant.description)
    assert len(kickers) == len(descriptions) == len(VARIANT_SEGMENTS)


def test_a_loyalist_is_told_their_own_topic(real_corpus: Corpus) -> None:
    sport_fan = reader((), {"sport": 3})
    sport = home_layout(sport_fan[0], segment_for(*sport_fan), None, real_corpus)
    assert sport.featured_variant.headline_kicker == "A change from Sport"
    assert sport.featured_variant.description.startswith("Step outside Sport for two minutes:")
    culture_fan = reader((), {"culture": 3})
    culture = home_layout(culture_fan[0], segment_for(*culture_fan), None, real_corpus)
    assert culture.featured_variant.headline_kicker == "New in Culture"  # the lead story is a culture story


def test_hand_written_texts_are_one_or_two_sentences() -> None:
    for kicker, description in HAND_WRITTEN.values():
        assert kicker and len(kicker) <= 40
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", description)) <= 2, description


def test_committed_variant_covers_are_current_and_differ_from_the_default(real_corpus: Corpus, tmp_path: Path) -> None:
    lead = real_corpus.get(LEAD)
    assert lead is not None
    fresh = write_variant_covers(lead, tmp_path)
    assert [p.name for p in fresh] == [f"{variant_name(LEAD, name)}.svg" for name in VARIANT_SEGMENTS]

    def background(svg: str) -> str:
        return re.findall(r'stop-color="(#[0-9a-f]{6})"', svg)[0]

    default = background((COVERS_DIR / f"{LEAD}.svg").read_text())
    for path in fresh:
        committed = (VARIANT_COVERS_DIR / path.name).read_text()
        assert committed == path.read_text(), f"{path.name} is stale: run make covers"
        assert background(committed) != default
