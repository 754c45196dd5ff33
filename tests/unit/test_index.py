"""TF-IDF similarity between articles: ranking, scores, bounds and errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from media_demo.articles import Corpus, load_corpus
from media_demo.recommend import ArticleIndex

ROOT = Path(__file__).resolve().parents[2]

SOLAR = (
    "Solar panels fitted to the roofs of every primary school in the valley have cut the council's "
    "electricity bills by a third, and pupils now track the output of the panels on classroom screens "
    "while engineers plan batteries to store the surplus for winter evenings."
)
# The same story with a handful of words changed.
SOLAR_NEAR_COPY = (
    "Solar panels fitted to the roofs of every secondary school in the county have cut the council's "
    "electricity bills by a quarter, and pupils now track the output of the panels on classroom screens "
    "while engineers plan batteries to store the surplus for winter nights."
)
DOCUMENTS = {
    "solar": SOLAR,
    "cricket": "The county cricket side chased two hundred runs on the final afternoon, the captain "
    "hitting a century before rain stopped play at the pavilion end.",
    "opera": "A touring opera company staged a chamber production in village halls, with a soprano "
    "and string quartet performing to sold-out audiences across the region.",
    "solar-near-copy": SOLAR_NEAR_COPY,
    "bread": "Bakers report that sourdough loaves made with heritage wheat flour rise slowly, and "
    "customers queue early at the market stall for the crusty rye.",
    "comet": "Amateur astronomers tracked a bright comet through telescopes as its tail of dust and "
    "gas lengthened near the sun.",
}


@pytest.fixture(scope="module")
def index() -> ArticleIndex:
    return ArticleIndex.from_texts(list(DOCUMENTS), list(DOCUMENTS.values()))


def test_document_is_most_similar_to_its_near_copy(index: ArticleIndex) -> None:
    assert index.similar("solar", 1)[0][0] == "solar-near-copy"
    assert index.similar("solar-near-copy", 1)[0][0] == "solar"
    assert index.ranked("solar")[0] == "solar-near-copy"


def test_near_copy_scores_far_above_unrelated_documents(index: ArticleIndex) -> None:
    near = index.similarity("solar", "solar-near-copy")
    assert near > 0.5
    for other in ("cricket", "opera", "bread", "comet"):
        assert index.similarity("solar", other) < near / 2


def test_scores_are_in_unit_interval_and_sorted_best_first(index: ArticleIndex) -> None:
    for id_ in index.ids:
        results = index.similar(id_, len(index))
        scores = [score for _, score in results]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert [other for other, _ in results] == index.ranked(id_)


def test_similar_excludes_the_document_itself(index: ArticleIndex) -> None:
    for id_ in index.ids:
        others = [other for other, _ in index.similar(id_, len(index))]
        assert id_ not in others
        assert sorted(others) == sorted(set(index.ids) - {id_})


def test_similarity_is_symmetric(index: ArticleIndex) -> None:
    for a, b in itertools.combinations(index.ids, 2):
        assert index.similarity(a, b) == pytest.approx(index.similarity(b, a))


def test_self_similarity_is_one(index: ArticleIndex) -> None:
    for id_ in index.ids:
        assert index.similarity(id_, id_) == pytest.approx(1.0)


def test_similar_scores_match_similarity(index: ArticleIndex) -> None:
    for other, score in index.similar("comet", 3):
        assert score == pytest.approx(index.similarity("comet", other))


def test_len_and_membership(index: ArticleIndex) -> None:
    assert len(index) == len(DOCUMENTS)
    assert "opera" in index
    assert "ballet" not in index


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_similar_returns_exactly_k_when_enough_documents(index: ArticleIndex, k: int) -> None:
    assert len(index.similar("bread", k)) == k


def test_similar_with_k_beyond_corpus_returns_every_other_document(index: ArticleIndex) -> None:
    assert len(index.similar("bread", 100)) == len(DOCUMENTS) - 1


def test_similar_defaults_to_five(index: ArticleIndex) -> None:
    assert len(index.similar("bread")) == 5


def test_negative_k_is_rejected(index: ArticleIndex) -> None:
    with pytest.raises(ValueError, match="k: must be >= 0"):
        index.similar("bread", -1)


def test_unknown_id_raises_key_error(index: ArticleIndex) -> None:
    with pytest.raises(KeyError, match="ballet"):
        index.similar("ballet")
    with pytest.raises(KeyError, match="ballet"):
        index.similarity("solar", "ballet")
    with pytest.raises(KeyError, match="ballet"):
        index.similarity("ballet", "solar")
    with pytest.raises(KeyError, match="ballet"):
        index.ranked("ballet")


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        ArticleIndex.from_texts(["a", "b"], [SOLAR])


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        ArticleIndex.from_texts(["a", "a"], [SOLAR, SOLAR_NEAR_COPY])


def test_empty_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one document"):
        ArticleIndex.from_texts([], [])


# ---------------------------------------------------------------- the real corpus


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(ROOT / "data" / "articles")


@pytest.fixture(scope="module")
def corpus_index(corpus: Corpus) -> ArticleIndex:
    return ArticleIndex.for_corpus(corpus)


def test_corpus_index_covers_every_article(corpus: Corpus, corpus_index: ArticleIndex) -> None:
    assert set(corpus_index.ids) == {a.slug for a in corpus}


def test_every_corpus_article_has_a_related_article(corpus: Corpus, corpus_index: ArticleIndex) -> None:
    for article in corpus:
        [(other, score)] = corpus_index.similar(article.slug, 1)
        assert other != article.slug
        assert other in corpus
        assert score > 0.0, article.slug
