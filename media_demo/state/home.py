"""The front page as arranged for this reader: featured story, teasers and section order."""

from __future__ import annotations

import dataclasses
import functools

import reflex as rx

from media_demo.articles import Article, Corpus, section_label
from media_demo.newsroom import get_corpus, get_shipped_corpus
from media_demo.personalise.layout import TEASERS, HomeLayout
from media_demo.personalise.segments import NEW_VISITOR, SEGMENTS_BY_NAME, SegmentMatch
from media_demo.state.cards import StoryCard, assign_changed, card_of

PER_SECTION = 6


@dataclasses.dataclass
class SectionTab:
    """One tab of "Latest": a section and its newest stories."""

    key: str = ""
    label: str = ""
    stories: list[StoryCard] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, corpus: Corpus, category: str) -> SectionTab:
        """The tab of one section: its newest stories, enough that `PER_SECTION` remain once the page leaves
        out the lead and the teasers it shows above (a tab's list is shared by every reader, so the page does)."""
        latest = corpus.latest(PER_SECTION + 1 + TEASERS, category)
        return cls(category, section_label(category), [card_of(a) for a in latest])


@functools.lru_cache(maxsize=256)
def section_tab(version: int, category: str) -> SectionTab:
    """`SectionTab.of`, once per version of the live corpus and section (a publish moves the version)."""
    return SectionTab.of(get_corpus(), category)


def breaking_story(corpus: Corpus) -> Article | None:
    """The newest story an editor flagged as breaking: it leads the front page for every reader."""
    return _breaking_in(corpus, corpus.version)


@functools.lru_cache(maxsize=4)
def _breaking_in(corpus: Corpus, version: int) -> Article | None:
    """`breaking_story`, looked for once per version of the corpus, not on every front page."""
    return next((a for a in corpus.articles if a.breaking), None)


def default_layout_cards() -> tuple[StoryCard, list[StoryCard], list[SectionTab]]:
    """The front page before anything is known about the reader (also what the page compiles with)."""
    corpus = get_shipped_corpus()
    featured, *rest = corpus.articles
    tabs = [SectionTab.of(corpus, c) for c in corpus.categories]
    return StoryCard.of(featured), [StoryCard.of(a) for a in rest[:TEASERS]], tabs


_FEATURED, _TEASERS, _TABS = default_layout_cards()


class HomeState(rx.State):
    """What the front page shows this reader; a new reader sees the default layout."""

    featured: StoryCard = _FEATURED
    teasers: list[StoryCard] = _TEASERS
    # Every section's tab, shared by every reader (sent again only when a story is published or withdrawn), and
    # this reader's order of them: re-arranging the front page as the reader reads sends the order, a few
    # dozen bytes, not the tabs' ~40 KB of cards again.
    section_tabs: dict[str, SectionTab] = {tab.key: tab for tab in _TABS}
    section_order: list[str] = [tab.key for tab in _TABS]
    latest: list[StoryCard] = [
        StoryCard.of(a) for a in get_shipped_corpus().articles[1 + TEASERS : 1 + TEASERS + PER_SECTION]
    ]
    active_tab: str = "all"
    above: list[str] = [_FEATURED.slug, *(card.slug for card in _TEASERS)]  # left out of "Latest": shown already
    segment: str = NEW_VISITOR
    segment_label: str = SEGMENTS_BY_NAME[NEW_VISITOR].label
    personalised: bool = False
    breaking: bool = False
    _arranged: tuple[HomeLayout, SegmentMatch] | None = None

    def arrange(self, layout: HomeLayout, segment: SegmentMatch) -> None:
        """Apply the layout the personalisation module chose for this reader (only what changed is sent).

        A story flagged as breaking leads instead of the chosen one; stories unpublished since the
        layout was chosen are left out, and "Latest" is always the live corpus's newest.
        """
        self._arranged = (layout, segment)
        corpus = get_corpus()
        if (urgent := breaking_story(corpus)) is not None:
            featured = card_of(urgent, "Breaking")
            article = urgent
        else:
            article = corpus.get(layout.featured_slug) or corpus.articles[0]
            variant = layout.featured_variant
            featured = card_of(article, variant.headline_kicker, variant.description, variant.cover_path)
        chosen = [a for slug in layout.teaser_order if (a := corpus.get(slug)) is not None and a != article]
        if len(chosen) < TEASERS:
            shown = {article.slug, *(a.slug for a in chosen)}
            chosen += [a for a in corpus if a.slug not in shown][: TEASERS - len(chosen)]
        teasers = [card_of(a) for a in chosen[:TEASERS]]
        personalised = segment.name != NEW_VISITOR or layout.section_order != list(corpus.categories)
        above = [featured.slug, *(card.slug for card in teasers)]
        assign_changed(
            self,
            above=above,
            featured=featured,
            teasers=teasers,
            section_tabs={c: section_tab(corpus.version, c) for c in corpus.categories},
            section_order=[c for c in layout.section_order if c in corpus.categories],
            segment=segment.name,
            segment_label=segment.label,
            personalised=personalised,
            active_tab=layout.section_order[0] if personalised else "all",
            latest=[card_of(a) for a in corpus.latest(PER_SECTION + len(above)) if a.slug not in above][:PER_SECTION],
            breaking=urgent is not None,
        )

    def stories_changed(self) -> None:
        """A story was published, changed or withdrawn: arrange this tab's front page again, as last chosen."""
        if self._arranged is not None:
            self.arrange(*self._arranged)

    @rx.event
    def choose_tab(self, value: str):
        self.active_tab = value
