"""Passage splitting and retrieval: the right story ranks first, boosts reorder, junk is dropped."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from media_demo.articles import Article, Corpus, load_corpus
from media_demo.assistant.passages import PassageIndex, passages_of, split_sentences, strip_markdown
from media_demo.settings import ARTICLES_DIR


def article(slug: str, category: str, body: str, title: str = "A title", tags: tuple[str, ...] = ("news",)) -> Article:
    return Article(slug, title, "An excerpt.", category, "A. Writer", dt.date(2026, 1, 1), 1, tags, body)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(ARTICLES_DIR)


@pytest.fixture(scope="module")
def index(corpus: Corpus) -> PassageIndex:
    return PassageIndex.for_corpus(corpus)


def test_markdown_is_stripped() -> None:
    assert strip_markdown("## A *bold* [link](http://x) and `code`\n> quoted") == "A bold link and code quoted"


def test_sentences_are_spans_and_quotes_stay_whole() -> None:
    text = '"It split. We saw it," she said. Then 600 metres across. Done.'
    assert split_sentences(text) == ['"It split. We saw it," she said.', "Then 600 metres across.", "Done."]


def test_paragraphs_become_passages_short_ones_merged_headings_dropped() -> None:
    long = " ".join(["word"] * 45) + "."
    body = f"{long}\n\n## A heading\n\nShort one.\n\n{long}\n\nTail."
    passages = passages_of(article("s", "science", body))
    assert [p.position for p in passages] == [0, 1]
    assert passages[0].text == long
    assert passages[1].text == f"Short one. {long} Tail."  # the short paragraph joins the next; the tail the last
    assert all("heading" not in p.text for p in passages)


def test_every_passage_of_the_shipped_stories_is_text_of_its_story(corpus: Corpus, index: PassageIndex) -> None:
    for passage in index.passages:
        story = corpus.get(passage.slug)
        assert story is not None
        assert passage.text.split(". ")[0] in strip_markdown(story.body)


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("phage therapy for urinary infections", "phage-therapy-trial-urinary-infections"),
        ("tinyzip", "compression-library-flaw-volunteer-patch"),
        ("nurses napping on night shifts", "night-shift-nurses-napping-study"),
        ("Keira Osei goals", "keira-osei-nears-scoring-record"),
    ],
)
def test_retrieval_ranks_the_right_story_first(index: PassageIndex, query: str, slug: str) -> None:
    assert index.stories(query, k=3)[0][0] == slug
    assert index.search(query, k=1)[0].passage.slug == slug


def test_no_shared_vocabulary_or_junk_returns_nothing(index: PassageIndex) -> None:
    assert index.search("zzyzx quux", k=5) == []
    assert index.stories("What will the weather be like in Paris this weekend?", k=5) == []


def test_boost_reorders_relevant_stories_but_never_makes_junk_relevant(corpus: Corpus, index: PassageIndex) -> None:
    plain = [slug for slug, _ in index.stories("batteries", k=5)]
    assert plain[0] == "sodium-battery-cathodes-stop-cracking"  # science
    boosted = [slug for slug, _ in index.stories("batteries", k=5, boost={"technology": 3.0})]
    assert boosted[0] != plain[0]
    everything = {slug for slug, _ in index.stories("batteries", k=100)}
    assert (
        set(boosted) <= everything == {slug for slug, _ in index.stories("batteries", k=100, boost={"technology": 3.0})}
    )
    assert (story := corpus.get(boosted[0])) is not None and story.category == "technology"
    assert index.stories("zzyzx", k=5, boost={"science": 100.0}) == []


def test_within_keeps_only_named_stories(index: PassageIndex) -> None:
    hits = index.search("comet", k=10, within={"comet-water-vapour-beyond-jupiter"})
    assert hits and {h.passage.slug for h in hits} == {"comet-water-vapour-beyond-jupiter"}


def test_search_is_best_first(index: PassageIndex) -> None:
    scores = [hit.score for hit in index.search("comet", k=10)]
    assert scores == sorted(scores, reverse=True)


def test_validation_names_the_argument(index: PassageIndex) -> None:
    with pytest.raises(ValueError, match=r"^k:"):
        index.search("comet", k=-1)
    with pytest.raises(ValueError, match=r"^boost:"):
        index.search("comet", boost={"science": 0.0})
    with pytest.raises(ValueError, match=r"^articles:"):
        PassageIndex.from_articles([])
    with pytest.raises(ValueError, match=r"^floor:"):
        PassageIndex.from_articles([article("a", "science", "Some words here.")], floor=1.5)
    with pytest.raises(ValueError, match=r"^min_share:"):
        PassageIndex.from_articles([article("a", "science", "Some words here.")], min_share=-0.1)
    with pytest.raises(ValueError, match=r"^min_words:"):
        passages_of(article("a", "science", "Words."), min_words=0)
    with pytest.raises(KeyError, match="unknown story"):
        index.of("no-such-story")


NEW_STORY_BODY = (
    "Volunteers at the Harrowgate lighthouse have restored its clockwork fog bell, silent since 1961. "
    "The bell's escapement was rebuilt from drawings kept in the county archive, and the keepers' log "
    "records every winding. " * 6
)


def test_a_story_added_is_found_by_its_own_words_and_a_removed_one_never(corpus: Corpus) -> None:
    index = PassageIndex.for_corpus(corpus)
    assert index.stories("clockwork fog bell escapement", k=3) == []
    story = article("lighthouse-fog-bell", "culture", NEW_STORY_BODY, title="The lighthouse fog bell rings again")
    index.add(story)
    # Words no shipped story uses are in the refitted model, so the new story is found by them.
    assert index.stories("clockwork fog bell escapement", k=3)[0][0] == "lighthouse-fog-bell"
    assert "lighthouse-fog-bell" in index and index.of("lighthouse-fog-bell")
    before = [slug for slug, _ in index.stories("comet", k=5)]
    index.remove("lighthouse-fog-bell")
    assert "lighthouse-fog-bell" not in index
    assert index.stories("clockwork fog bell escapement", k=3) == []
    assert all(hit.passage.slug != "lighthouse-fog-bell" for hit in index.search("lighthouse bell", k=50))
    assert [slug for slug, _ in index.stories("comet", k=5)] == before
    index.remove("lighthouse-fog-bell")  # again: nothing to do


def test_adding_a_new_version_replaces_the_story_in_place(corpus: Corpus) -> None:
    index = PassageIndex.for_corpus(corpus)
    first = corpus.articles[0]
    order = index.slugs
    index.add(dataclasses.replace(first, body=NEW_STORY_BODY))
    assert index.slugs == order  # same stories, same archive order
    assert "escapement" in " ".join(p.text for p in index.of(first.slug))
    assert index.stories("clockwork fog bell escapement", k=1)[0][0] == first.slug


def test_the_last_story_cannot_be_removed() -> None:
    index = PassageIndex.from_articles([article("only", "science", NEW_STORY_BODY)])
    with pytest.raises(ValueError, match=r"^remove: 'only' is the only story"):
        index.remove("only")
    assert index.of("only")


def test_changes_match_a_fresh_build(corpus: Corpus) -> None:
    """Adding then removing gives the same scores as an index built without the story: nothing stale is left."""
    fresh = PassageIndex.for_corpus(corpus)
    changed = PassageIndex.for_corpus(corpus)
    changed.add(article("lighthouse-fog-bell", "culture", NEW_STORY_BODY))
    changed.remove("lighthouse-fog-bell")
    for query in ("comet", "batteries", "nurses night shift"):
        assert changed.stories(query, k=10) == fresh.stories(query, k=10)
