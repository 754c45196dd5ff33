"""Passage-level retrieval over the stories: the assistant answers from paragraphs, not whole articles.

A question is usually answered by one paragraph, and citing the paragraph's own sentences
is what keeps the built-in answer extractive. Each passage is indexed with its story's
title and tags too (the title twice), so a question that names a story finds all of it.

Scores are cosines under one TF-IDF model: the passages form a sparse matrix and a query
is one sparse matrix-vector product, so the cost grows with the archive's words, never
with the square of its passages. Two floors drop weak matches: the cosine, and the share of the
question's words that one sentence holds together. A question no passage clears has
nothing in the archive to answer it.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from media_demo.articles import Article, Corpus

MIN_PASSAGE_WORDS = 40  # a shorter paragraph (a one-line quote) joins the next one
DEFAULT_FLOOR = 0.05  # cosine under which a passage is not evidence of anything
# The share of the question's weight (its words by IDF; a word the archive never uses weighs the most)
# that one sentence of the passage, with the story's title, must hold: a passage that matches one
# word here and another there is not about the question.
DEFAULT_MIN_SHARE = 0.4
TITLE_REPEATS = 2  # how many times the title is indexed with each passage

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|`+)(?=\S)(.+?)(?<=\S)\1")
_QUOTE_OR_BULLET = re.compile(r"^\s{0,3}(?:>\s?|[-*+]\s+|\d+\.\s+)", re.MULTILINE)
# A sentence ends at . ! ? (perhaps inside a closing quote or bracket) before a capital, digit or opening quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"'\u201d\u2019)]*)\s+(?=[\"'\u201c\u2018(£$]?[A-Z0-9])")
# Extra words that carry no topic in a reader's question ("tell me about ...").
_QUESTION_WORDS = frozenset(
    {
        "tell",
        "know",
        "say",
        "said",
        "says",
        "story",
        "stories",
        "article",
        "articles",
        "news",
        "latest",
        "happen",
        "happens",
        "happened",
        "does",
        "did",
        "doing",
        "like",
        "going",
        "getting",
        "today",
        "new",
    }
)
_STOP_WORDS = ENGLISH_STOP_WORDS | _QUESTION_WORDS


def strip_markdown(text: str) -> str:
    """Plain text of a Markdown fragment: no heading marks, emphasis, links, quotes or bullets; single spaces."""
    text = _HEADING.sub("", text)
    text = _QUOTE_OR_BULLET.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """The sentences of plain text, each exactly as written (so each is a span of the story).

    A quotation of several sentences stays one sentence: a full stop inside open quotes
    does not end it, so a cited span never opens a quote it does not close.
    """
    text = " ".join(text.split())
    if not text:
        return []
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end(1)
        if _open_quote(text[start:end]):
            continue
        sentences.append(text[start:end].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def _open_quote(span: str) -> bool:
    """Whether `span` leaves a double quotation open (straight quotes counted, curly ones paired)."""
    return span.count('"') % 2 == 1 or span.count("\u201c") > span.count("\u201d")


def _stem(word: str) -> str:
    """A light plural and possessive fold ("comets" and "comet's" are "comet"): enough for a newsroom's words."""
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("shes", "ches", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The indexed words of `text`: lower case, no accents or stop words, plurals folded."""
    text = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'")).encode("ascii", "ignore").decode()
    return [_stem(w) for w in _WORD.findall(text) if w not in _STOP_WORDS and _stem(w) not in _STOP_WORDS]


def analyse(text: str) -> list[str]:
    """Words and adjacent word pairs: the features of the TF-IDF model."""
    words = terms(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass(frozen=True, slots=True)
class Passage:
    """One paragraph (or a few short ones) of a story, as plain text; `position` counts from 0."""

    slug: str
    title: str
    position: int
    text: str

    @property
    def sentences(self) -> list[str]:
        """The passage's sentences, as written."""
        return split_sentences(self.text)


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    """A passage and its cosine with the query (times any category boost)."""

    passage: Passage
    score: float


def passages_of(article: Article, min_words: int = MIN_PASSAGE_WORDS) -> list[Passage]:
    """A story's passages: its paragraphs in order, headings dropped, a short one joined to the next."""
    if min_words < 1:
        raise ValueError(f"min_words: must be >= 1, got {min_words}")
    paragraphs = [
        strip_markdown(block) for block in re.split(r"\n\s*\n", article.body) if not _HEADING.match(block.strip())
    ]
    merged: list[str] = []
    pending = ""
    for paragraph in filter(None, paragraphs):
        pending = f"{pending} {paragraph}".strip()
        if len(pending.split()) >= min_words:
            merged.append(pending)
            pending = ""
    if pending:  # a short last paragraph joins the one before it
        if merged:
            merged[-1] = f"{merged[-1]} {pending}"
        else:
            merged.append(pending)
    return [Passage(article.slug, article.title, i, text) for i, text in enumerate(merged)]


def _features(document: str | tuple[str, ...]) -> list[str]:
    """The model's analyser: a passage's features computed once (a tuple), or a query's words and pairs (text)."""
    return list(document) if isinstance(document, tuple) else analyse(document)


@dataclass(frozen=True, slots=True)
class _Story:
    """One story's share of the index, computed once: adding a story refits the model, it re-reads no other story."""

    slug: str
    category: str
    passages: tuple[Passage, ...]
    features: tuple[tuple[str, ...], ...]  # per passage: the words and pairs of title, tags and text
    units: tuple[tuple[frozenset[str], ...], ...]  # per passage, per sentence: its words with the title's

    @classmethod
    def of(cls, article: Article) -> _Story:
        context = " ".join([article.title] * TITLE_REPEATS + [t.replace("-", " ") for t in article.tags])
        passages = tuple(passages_of(article))
        title = frozenset(terms(article.title))
        return cls(
            article.slug,
            article.category,
            passages,
            tuple(tuple(analyse(f"{context} {p.text}")) for p in passages),
            tuple(tuple(frozenset(terms(sentence)) | title for sentence in p.sentences) for p in passages),
        )


class _Fitted:
    """The index at one moment: the model fitted on some stories, swapped whole when one is added or removed."""

    def __init__(self, stories: Mapping[str, _Story]) -> None:
        self.stories = dict(stories)
        self.passages: tuple[Passage, ...] = tuple(p for s in self.stories.values() for p in s.passages)
        if not self.passages:
            raise ValueError("articles: at least one article is needed")
        self.units = [unit for s in self.stories.values() for unit in s.units]
        self.vectorizer = TfidfVectorizer(analyzer=_features, sublinear_tf=True)
        features = [f for s in self.stories.values() for f in s.features]
        self.matrix: sparse.csr_matrix = self.vectorizer.fit_transform(features).tocsr()  # rows are L2-normalised
        vocabulary: Mapping[str, int] = self.vectorizer.vocabulary_
        idf = self.vectorizer.idf_
        self.idf = {term: float(idf[j]) for term, j in vocabulary.items() if " " not in term}
        self.unknown_weight = max(self.idf.values(), default=1.0)
        self.categories = {s.slug: s.category for s in self.stories.values()}
        self.slugs = np.array([p.slug for p in self.passages], dtype=object)
        self.by_slug = {s.slug: list(s.passages) for s in self.stories.values() if s.passages}


class PassageIndex:
    """TF-IDF over every passage of the archive, searched by cosine with a relevance floor.

    Stories are added and removed while the site runs (`add`, `remove`): each change refits
    the model on every story's features, kept from when the story was split, and swaps the
    new state in whole, so a search never sees half a change. Refitting is counting, not
    reading: on the shipped corpus (66 stories, 390 passages) building from text takes about
    0.35 s, a change about 0.07 s (see `tests/unit/test_assistant_passages.py`).
    """

    def __init__(
        self, articles: Iterable[Article], floor: float = DEFAULT_FLOOR, min_share: float = DEFAULT_MIN_SHARE
    ) -> None:
        if not (math.isfinite(floor) and 0.0 <= floor < 1.0):
            raise ValueError(f"floor: must be in [0, 1), got {floor!r}")
        if not (math.isfinite(min_share) and 0.0 <= min_share <= 1.0):
            raise ValueError(f"min_share: must be in [0, 1], got {min_share!r}")
        stories: dict[str, _Story] = {}
        for article in articles:
            if article.slug in stories:
                raise ValueError(f"articles: story {article.slug!r} is given twice")
            stories[article.slug] = _Story.of(article)
        self.floor = floor
        self.min_share = min_share
        self._state = _Fitted(stories)
        self._writing = threading.Lock()

    @classmethod
    def from_articles(
        cls, articles: Iterable[Article], floor: float = DEFAULT_FLOOR, min_share: float = DEFAULT_MIN_SHARE
    ) -> PassageIndex:
        """Split every article into passages and fit the model on them."""
        return cls(articles, floor, min_share)

    @classmethod
    def for_corpus(
        cls, corpus: Corpus, floor: float = DEFAULT_FLOOR, min_share: float = DEFAULT_MIN_SHARE
    ) -> PassageIndex:
        """The index of a whole corpus."""
        return cls.from_articles(corpus, floor, min_share)

    # --- changes --------------------------------------------------------------------------------------------------

    def add(self, article: Article) -> None:
        """Index a new story, or a new version of one (which keeps its place in the archive order)."""
        story = _Story.of(article)  # the reading, outside the lock
        with self._writing:
            self._state = _Fitted({**self._state.stories, article.slug: story})

    def remove(self, slug: str) -> None:
        """Stop finding a story (nothing happens for one not indexed); the last story cannot go."""
        with self._writing:
            stories = self._state.stories
            if slug not in stories:
                return
            if len(stories) == 1:
                raise ValueError(f"remove: {slug!r} is the only story indexed; an index needs at least one")
            self._state = _Fitted({s: story for s, story in stories.items() if s != slug})

    # --- reading --------------------------------------------------------------------------------------------------

    @property
    def passages(self) -> tuple[Passage, ...]:
        """Every passage indexed, story by story."""
        return self._state.passages

    def __len__(self) -> int:
        return len(self._state.passages)

    def __contains__(self, slug: object) -> bool:
        return slug in self._state.by_slug

    @property
    def slugs(self) -> tuple[str, ...]:
        """The stories indexed, in the order they were given."""
        return tuple(self._state.by_slug)

    def of(self, slug: str) -> list[Passage]:
        """The passages of one story, in order."""
        try:
            return list(self._state.by_slug[slug])
        except KeyError:
            raise KeyError(f"unknown story {slug!r}") from None

    def vector(self, text: str) -> sparse.csr_matrix:
        """`text` under the fitted model (one L2-normalised row; all zeros when no word is known)."""
        return self._state.vectorizer.transform([text])

    def similarities(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The cosine of `query` with each of `texts` under the same model (to pick a passage's best sentences)."""
        if not texts:
            return np.zeros(0)
        vectorizer = self._state.vectorizer
        return np.asarray((vectorizer.transform(list(texts)) @ vectorizer.transform([query]).T).todense()).ravel()

    @staticmethod
    def _weights(state: _Fitted, query: str) -> dict[str, float]:
        """The question's distinct words, each weighed by its IDF (a word the archive never uses: the highest)."""
        return {word: state.idf.get(word, state.unknown_weight) for word in dict.fromkeys(terms(query))}

    @staticmethod
    def _share(state: _Fitted, weights: Mapping[str, float], i: int) -> float:
        """The largest share of the question's weight that one sentence of passage `i` holds."""
        total = sum(weights.values())
        if total <= 0.0:
            return 0.0
        return max(
            (sum(w for word, w in weights.items() if word in unit) / total for unit in state.units[i]), default=0
        )

    def _scores(
        self, state: _Fitted, query: str, boost: Mapping[str, float] | None, within: set[str] | None
    ) -> np.ndarray:
        scores = np.asarray((state.matrix @ state.vectorizer.transform([query]).T).todense()).ravel()
        # The floors judge the match itself: a boost reorders relevant passages, it never makes one relevant.
        scores = np.where(scores >= self.floor, scores, 0.0)
        if self.min_share > 0.0:
            weights = self._weights(state, query)
            for i in np.flatnonzero(scores):
                if self._share(state, weights, int(i)) < self.min_share:
                    scores[i] = 0.0
        if boost:
            for category, factor in boost.items():
                if not (math.isfinite(factor) and factor > 0.0):
                    raise ValueError(f"boost: factor for {category!r} must be a positive number, got {factor!r}")
            factors = np.array([boost.get(state.categories[p.slug], 1.0) for p in state.passages])
            scores = scores * factors
        if within is not None:
            scores = np.where(np.isin(state.slugs, list(within)), scores, 0.0)
        return scores

    def search(
        self,
        query: str,
        k: int = 5,
        boost: Mapping[str, float] | None = None,
        within: set[str] | None = None,
    ) -> list[ScoredPassage]:
        """Up to `k` passages matching `query`, best first, none under the floor.

        `boost` multiplies the scores of passages in the named categories (the reader's
        interests, when they allow it); `within` keeps only passages of those stories.
        Ties keep archive order, so the same query always gives the same list.
        """
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        state = self._state
        scores = self._scores(state, query, boost, within)
        order = np.argsort(-scores, kind="stable")[:k]
        return [ScoredPassage(state.passages[i], float(scores[i])) for i in order if self._relevant(scores[i])]

    @staticmethod
    def _relevant(score: float) -> bool:
        """Whether a (floored) score counts as evidence: the floor already set weaker ones to zero."""
        return score > 0.0

    def stories(
        self,
        query: str,
        k: int = 5,
        boost: Mapping[str, float] | None = None,
        within: set[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Up to `k` stories matching `query`, best first: a story scores its best passage plus a little of its second.

        The second passage counts (a quarter) so that a story about the topic throughout
        outranks one with a single passing paragraph; only stories whose best passage
        clears the floor are listed.
        """
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        state = self._state
        scores = self._scores(state, query, boost, within)
        best: dict[str, list[float]] = {}
        for i in np.flatnonzero(scores > 0.0):
            best.setdefault(state.passages[i].slug, []).append(float(scores[i]))
        ranked = []
        for slug, values in best.items():
            values.sort(reverse=True)
            if self._relevant(values[0]):
                ranked.append((slug, values[0] + 0.25 * (values[1] if len(values) > 1 else 0.0)))
        position = {slug: i for i, slug in enumerate(state.by_slug)}
        ranked.sort(key=lambda item: (-item[1], position[item[0]]))
        return ranked[:k]
