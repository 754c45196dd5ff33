"""The personalised front page: section order, the featured story's variant, the teasers.

Sections follow the reader's reads (their affinity), then the corpus order;
a reader with no reads gets the default page. The featured story is the
newest one the reader has not read; its kicker, description and cover vary
by segment: hand-written for the current lead story, a template per segment
for any other, and the default (its excerpt and cover) for new visitors.

The variant covers are drawn at build time (`make covers`, by
`media_demo.personalise.variant_cover_art`); which exist is read once per process.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from media_demo.articles import Article, Corpus, section_label
from media_demo.articles.cover_urls import VARIANT_COVERS_DIR, has_variant_cover, variant_cover_url
from media_demo.personalise.context import ReaderContext, campaign_topic
from media_demo.personalise.segments import SegmentMatch
from media_demo.recommend.profile import ReaderProfile

TEASERS = 3
VARIANT_SEGMENTS = ("casual_browser", "topic_loyalist", "deep_reader", "returning_reader")
DEFAULT = "default"


@dataclass(frozen=True)
class FeaturedVariant:
    """How the featured story is presented to this reader."""

    headline_kicker: str
    description: str
    cover_path: str  # URL path of the segment's own cover; "" for the story's own (wherever it is kept)
    variant: str = DEFAULT  # the segment the texts were written for, or "default"
    hand_written: bool = False


@dataclass(frozen=True)
class HomeLayout:
    """The front page for one reader; `notes` say why, for the inspector."""

    section_order: list[str]
    featured_slug: str
    featured_variant: FeaturedVariant
    teaser_order: list[str]
    notes: list[str] = field(default_factory=list)


# (slug, variant) -> (kicker, description): original texts for the current lead story. The topic
# loyalist's texts are kept apart for a reader of the story's own section ("topic_loyalist:same").
HAND_WRITTEN: dict[tuple[str, str], tuple[str, str]] = {
    ("conservatoire-degree-video-game-music", "casual_browser"): (
        "A two-minute read",
        "Scores that change the moment a player opens a door: a music college will now teach sixteen "
        "students a year to write them, and a full orchestra will record the results.",
    ),
    ("conservatoire-degree-video-game-music", "topic_loyalist"): (
        "A change from {topic}",
        "Step outside {topic} for two minutes: Harling's conservatoire is opening a degree in composing for "
        "video games, with counterpoint and orchestration taught beside adaptive scoring.",
    ),
    ("conservatoire-degree-video-game-music", "topic_loyalist:same"): (
        "New in Culture",
        "The newest story in your section: Harling's conservatoire backs game music with a three-year degree, "
        "four full scholarships and a student suite in every Ashbridge Philharmonic game concert from 2028.",
    ),
    ("conservatoire-degree-video-game-music", "deep_reader"): (
        "The full picture",
        "Classical craft in year one, interactive scoring from year two, and a faculty divided over whether "
        "games will empty concert halls or fill them: inside Harling's new degree.",
    ),
    ("conservatoire-degree-video-game-music", "returning_reader"): (
        "Welcome back",
        "Leading the front page today: a specialist music college will admit its first video game composers "
        "next September, and applications open in January.",
    ),
}
# The same variants for any other story, built from its own fields.
TEMPLATES: dict[str, tuple[str, str]] = {
    "casual_browser": ("A {minutes}-minute read", "{excerpt}"),
    "topic_loyalist": ("A change from {topic}", "Step outside {topic} for a moment: {excerpt}"),
    "topic_loyalist:same": ("New in {topic}", "{excerpt}"),
    "deep_reader": ("In depth: {category}", "{excerpt} {author} reports."),
    "returning_reader": ("Welcome back", "Leading the front page today: {excerpt}"),
}


def featured_variant(article: Article, segment: SegmentMatch, covers_dir: Path = VARIANT_COVERS_DIR) -> FeaturedVariant:
    """The featured story's kicker, description and cover for this segment."""
    if segment.name not in VARIANT_SEGMENTS:
        return FeaturedVariant(article.category_label, article.excerpt, "")
    key = segment.name
    if segment.topic is not None and segment.topic == article.category:
        key = f"{key}:same"
    hand = HAND_WRITTEN.get((article.slug, key))
    kicker, description = hand or TEMPLATES[key]
    values = {
        "topic": section_label(segment.topic or article.category),
        "minutes": article.reading_minutes,
        "excerpt": article.excerpt,
        "category": article.category_label,
        "author": article.author,
    }
    has_cover = has_variant_cover(article.slug, segment.name, covers_dir)
    return FeaturedVariant(
        headline_kicker=kicker.format(**values),
        description=description.format(**values),
        cover_path=variant_cover_url(article.slug, segment.name) if has_cover else "",
        variant=segment.name,
        hand_written=hand is not None,
    )


def _teasers(corpus: Corpus, sections: Sequence[str], skip: Collection[str]) -> list[str]:
    """The newest unread story of each read section in turn, then the newest unread of all (corpus order)."""
    queues = [[a.slug for a in corpus.in_category(c) if a.slug not in skip] for c in sections]
    teasers: list[str] = []
    while len(teasers) < TEASERS and any(queues):
        for queue in queues:
            if queue and len(teasers) < TEASERS:
                slug = queue.pop(0)
                if slug not in teasers:
                    teasers.append(slug)
    for article in corpus:
        if len(teasers) >= TEASERS:
            break
        if article.slug not in skip and article.slug not in teasers:
            teasers.append(article.slug)
    return teasers


def home_layout(
    profile: ReaderProfile,
    segment: SegmentMatch,
    context: ReaderContext | None,
    corpus: Corpus,
    covers_dir: Path = VARIANT_COVERS_DIR,
    beside: Collection[str] = (),
) -> HomeLayout:
    """The front page for one reader.

    A link naming a section (newsletter or campaign `utm_*`) puts that section
    first for this visit, even for a new reader: it is what they came for.
    `beside` are the stories the page shows next to the layout (the reader's
    recommendations): the teasers leave them out, so no story is offered twice.
    """
    if not len(corpus):
        raise ValueError("corpus: at least one article is needed")
    notes: list[str] = []
    affinity = profile.categories_by_affinity() if profile.has_history else []
    affinity = [c for c in affinity if c in corpus.categories]
    if affinity:
        counts = ", ".join(f"{section_label(c)} {profile.category_reads[c]}" for c in affinity)
        notes.append(f"Sections by your reads: {counts}")
    sections = affinity + [c for c in corpus.categories if c not in affinity]
    topic = campaign_topic(context, corpus) if context is not None else None
    if topic is not None and topic[0] == "category":
        sections = [topic[1]] + [c for c in sections if c != topic[1]]
        notes.append(f"{section_label(topic[1])} first: the link you followed was about it")

    read = profile.read
    featured = next((a for a in corpus if a.slug not in read), corpus.articles[0])
    if featured is not corpus.articles[0]:
        notes.append("Featured: the newest story you have not read")
    variant = featured_variant(featured, segment, covers_dir)
    notes.append(f"Featured text: {variant.variant}{' (hand-written)' if variant.hand_written else ''}")

    skip = read | {featured.slug} | set(beside)
    return HomeLayout(sections, featured.slug, variant, _teasers(corpus, affinity, skip), notes)
