"""Searching the archive: relevance, titles and tags, personalisation only with a profile, withdrawn stories never."""

from __future__ import annotations

import dataclasses

import pytest

from media_demo.articles import Corpus
from media_demo.newsroom import get_corpus, get_index
from media_demo.recommend import ArticleIndex, ReaderProfile
from media_demo.recommend.search import MAX_QUERY_CHARS, clean_query, search, snippet, words


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(list(get_corpus()))  # its own: one test withdraws a story


@pytest.fixture(scope="module")
def index() -> ArticleIndex:
    return get_index()


def test_a_story_is_found_by_the_words_of_its_headline(corpus: Corpus, index: ArticleIndex) -> None:
    for article in list(corpus)[:10]:
        found = search(article.title, corpus, index)
        assert found.hits[0].article.slug == article.slug, article.title
        assert found.total >= 1 and not found.personalised


def test_results_are_ranked_and_match_the_query(corpus: Corpus, index: ArticleIndex) -> None:
    found = search("battery storage", corpus, index, limit=5)
    scores = [hit.score for hit in found.hits]
    assert scores == sorted(scores, reverse=True)
    assert "batter" in f"{found.hits[0].article.title} {found.hits[0].article.body}".lower()
    assert len(found.hits) <= 5 <= found.total


def test_the_snippet_shows_the_query_in_context(corpus: Corpus, index: ArticleIndex) -> None:
    hit = search("comet", corpus, index).hits[0]
    assert "comet" in hit.snippet.lower()
    article = corpus.articles[0]
    assert snippet(article, ["zzzunfound"]) == article.excerpt


def test_nothing_meaningful_finds_nothing(corpus: Corpus, index: ArticleIndex) -> None:
    for query in ("", "   ", "the and of", "?!"):
        assert search(query, corpus, index).hits == []
    assert search("qwertyuiopasdf", corpus, index).total == 0


def test_the_readers_sections_nudge_the_ranking_only_with_a_profile(corpus: Corpus, index: ArticleIndex) -> None:
    neutral = search("new plans announced this year", corpus, index, limit=50)
    categories = {hit.article.category for hit in neutral.hits}
    assert len(categories) > 1
    # A reader of only the section ranked lowest gets it higher.
    last = neutral.hits[-1].article.category
    profile = ReaderProfile(category_reads={last: 10}, categories_by_recency=(last,))
    personal = search("new plans announced this year", corpus, index, profile, limit=50)
    assert personal.personalised
    rank = [h.article.category for h in neutral.hits].index(last)
    assert [h.article.category for h in personal.hits].index(last) <= rank
    assert personal.hits[0].score >= neutral.hits[0].score


def test_a_withdrawn_story_is_never_found(corpus: Corpus, index: ArticleIndex) -> None:
    article = corpus.articles[3]
    assert search(article.title, corpus, index).hits[0].article.slug == article.slug
    corpus.unpublish(article.slug)
    try:
        assert article.slug not in {h.article.slug for h in search(article.title, corpus, index).hits}
    finally:
        corpus.publish(dataclasses.replace(article))


def test_the_query_is_cleaned_and_bounded() -> None:
    assert clean_query("  solar\n  farms ") == "solar farms"
    assert len(clean_query("x" * 1000)) == MAX_QUERY_CHARS
    assert words("What is the Solar-farm?") == ["solar", "farm"]
    with pytest.raises(ValueError, match="limit"):
        search("solar", Corpus([]), get_index(), limit=0)
