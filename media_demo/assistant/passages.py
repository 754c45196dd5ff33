"""Passage-level retrieval over the stories: the assistant answers from paragraphs, not whole articles.

A question is usually answered by one paragraph, and citing the paragraph's own sentences
is what keeps the built-in answer extractive. Each passage is indexed with its story's
title and tags too (the title twice), so a question that names a story finds all of it.

Scores are cosines under one TF-IDF model, the recommender's sparse `ArticleIndex` over
each passage's indexed words (plurals folded, stop words and question words dropped), so a
question costs the postings of its words and the index holds a 100,000-story archive. Two
floors drop weak matches: the cosine, and the share of the
question's words that one sentence holds together. A question no passage clears has
nothing in the archive to answer it.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from media_demo.articles import Article, Corpus
from media_demo.recommend.index import ArticleIndex

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
    if "[" in text:  # each pattern only where its marks occur: the searches are slow on long plain text
        text = _LINK.sub(r"\1", text)
    if "*" in text or "_" in text or "`" in text:
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


# Each word's indexed form ("" for a stop word), remembered: an archive has far fewer distinct words than words.
_INDEXED: dict[str, str] = {}
_INDEXED_LIMIT = 1_000_000  # distinct words remembered (past this, the new ones are folded for each text)


def _form(word: str) -> str:
    return "" if word in _STOP_WORDS or (stem := _stem(word)) in _STOP_WORDS else stem


def terms(text: str) -> list[str]:
    """The indexed words of `text`: lower case, no accents or stop words, plurals folded."""
    text = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'")).encode("ascii", "ignore").decode()
    words = _WORD.findall(text)
    known = _INDEXED
    try:
        return [form for form in map(known.__getitem__, words) if form]  # every word seen before: the usual case
    except KeyError:
        new = {word: _form(word) for word in set(words).difference(known)}
        if len(known) + len(new) <= _INDEXED_LIMIT:
            known.update(new)
            return [form for form in map(known.__getitem__, words) if form]
        return [form for w in words if (form := new[w] if w in new else known[w])]


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


def _indexed_text(article: Article, passage: Passage) -> str:
    """What the model reads of a passage: its story's title (twice) and tags, then its text, as indexed words."""
    context = " ".join([article.title] * TITLE_REPEATS + [t.replace("-", " ") for t in article.tags])
    return " ".join(terms(f"{context} {passage.text}"))


def _passage_id(slug: str, position: int) -> str:
    return f"{slug}#{position}"


def _position_of(passage_id: str) -> tuple[str, int]:
    slug, _, position = passage_id.rpartition("#")
    return slug, int(position)


class PassageIndex:
    """TF-IDF over every passage of the archive, searched by cosine with a relevance floor.

    The model is the recommender's `ArticleIndex` (unigrams and adjacent pairs, sublinear tf,
    smooth idf, unit rows; sparse from end to end) over each passage's indexed words, so it
    holds a 100,000-story archive. A question is matched exactly against the postings of its
    words; the share-of-the-question floor is then checked on the best passages only, one
    sentence at a time.

    Stories are added and removed while the site runs (`add`, `remove`: milliseconds, no refit).
    As in `ArticleIndex`, a story's words that the last fit never saw count after the next
    `refresh` (the newsroom runs it in the background); `needs_refresh` says when one is due.
    Passages are not stored: they are split again from the story when asked for (and the
    last few kept), so the index costs little beyond its vectors.
    """

    CANDIDATES = 200  # passages taken from the exact ranking before the floors and boosts are applied

    def __init__(
        self, articles: Iterable[Article], floor: float = DEFAULT_FLOOR, min_share: float = DEFAULT_MIN_SHARE
    ) -> None:
        if not (math.isfinite(floor) and 0.0 <= floor < 1.0):
            raise ValueError(f"floor: must be in [0, 1), got {floor!r}")
        if not (math.isfinite(min_share) and 0.0 <= min_share <= 1.0):
            raise ValueError(f"min_share: must be in [0, 1], got {min_share!r}")
        stories: dict[str, Article] = {}
        counts: dict[str, int] = {}
        ids: list[str] = []
        texts: list[str] = []
        for article in articles:
            if article.slug in stories:
                raise ValueError(f"articles: story {article.slug!r} is given twice")
            passages = passages_of(article)
            if passages:
                stories[article.slug], counts[article.slug] = article, len(passages)
                ids.extend(_passage_id(article.slug, p.position) for p in passages)
                texts.extend(_indexed_text(article, p) for p in passages)
        if not ids:
            raise ValueError("articles: at least one article is needed")
        self.floor = floor
        self.min_share = min_share
        self._index = ArticleIndex.from_texts(ids, texts)
        self._stories = stories  # slug -> story, in archive order; replaced whole on a change
        self._counts = counts  # slug -> how many passages
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
        passages = passages_of(article)
        texts = [(_passage_id(article.slug, p.position), _indexed_text(article, p)) for p in passages]
        with self._writing:
            old = self._counts.get(article.slug, 0)
            if not passages:
                self._remove(article.slug)
                return
            for id_, text in texts:
                self._index.add(id_, text)
            for position in range(len(passages), old):  # the old version was longer
                self._index.remove(_passage_id(article.slug, position))
            self._stories = {**self._stories, article.slug: article}
            self._counts = {**self._counts, article.slug: len(passages)}

    def remove(self, slug: str) -> None:
        """Stop finding a story (nothing happens for one not indexed); the last story cannot go."""
        with self._writing:
            if slug in self._counts and len(self._counts) == 1:
                raise ValueError(f"remove: {slug!r} is the only story indexed; an index needs at least one")
            self._remove(slug)

    def _remove(self, slug: str) -> None:
        count = self._counts.get(slug)
        if count is None:
            return
        self._stories = {s: a for s, a in self._stories.items() if s != slug}
        self._counts = {s: n for s, n in self._counts.items() if s != slug}
        for position in range(count):
            self._index.remove(_passage_id(slug, position))

    @property
    def needs_refresh(self) -> bool:
        """Whether a refit is due: a tenth of the passages are new, or new stories brought words the fit lacks."""
        return self._index.needs_refresh or self._index.unseen_since_fit > 0

    def refresh(self) -> None:
        """Refit the model on every passage indexed now (a full build; readers carry on with the old model)."""
        stories = self._stories

        def text_of(passage_id: str) -> str:
            slug, position = _position_of(passage_id)
            return _indexed_text(stories[slug], self._passages(stories[slug])[position])

        self._index.refresh(text_of)

    # --- reading --------------------------------------------------------------------------------------------------

    @staticmethod
    @functools.lru_cache(maxsize=4_096)
    def _passages(article: Article) -> tuple[Passage, ...]:
        return tuple(passages_of(article))

    @property
    def passages(self) -> tuple[Passage, ...]:
        """Every passage indexed, story by story (split from the stories: for tests and tools, not pages)."""
        return tuple(p for article in self._stories.values() for p in self._passages(article))

    def __len__(self) -> int:
        return sum(self._counts.values())

    def __contains__(self, slug: object) -> bool:
        return slug in self._counts

    @property
    def slugs(self) -> tuple[str, ...]:
        """The stories indexed, in archive order (the order given; a new version keeps its place)."""
        return tuple(self._stories)

    def of(self, slug: str) -> list[Passage]:
        """The passages of one story, in order."""
        try:
            return list(self._passages(self._stories[slug]))
        except KeyError:
            raise KeyError(f"unknown story {slug!r}") from None

    def vector(self, text: str) -> sparse.csr_matrix:
        """`text` under the fitted model (one L2-normalised row; all zeros when no word is known)."""
        return self._index.vectors([" ".join(terms(text))])

    def similarities(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The cosine of `query` with each of `texts` under the same model (to pick a passage's best sentences)."""
        if not texts:
            return np.zeros(0)
        rows = self._index.vectors([" ".join(terms(t)) for t in texts])
        return np.asarray((rows @ self.vector(query).T).todense()).ravel()

    def _share(self, weights: Mapping[str, float], article: Article, passage: Passage) -> float:
        """The largest share of the question's weight that one sentence of the passage holds (with the title)."""
        total = sum(weights.values())
        if total <= 0.0:
            return 0.0
        title = frozenset(terms(article.title))
        return max(
            (
                sum(w for word, w in weights.items() if word in unit) / total
                for unit in (frozenset(terms(sentence)) | title for sentence in passage.sentences)
            ),
            default=0.0,
        )

    def _hits(
        self, query: str, boost: Mapping[str, float] | None, within: set[str] | None, candidates: int
    ) -> list[ScoredPassage]:
        """Passages that clear both floors, with their (boosted) scores, in no particular order."""
        if boost:
            for category, factor in boost.items():
                if not (math.isfinite(factor) and factor > 0.0):
                    raise ValueError(f"boost: factor for {category!r} must be a positive number, got {factor!r}")
        stories = self._stories
        counts = self._counts
        words = " ".join(terms(query))
        if within is not None:
            ids = [_passage_id(slug, i) for slug in within if slug in counts for i in range(counts[slug])]
            scored = list(zip(ids, self._index.query_among(words, ids).tolist(), strict=True))
        else:
            scored = self._index.query(words, candidates)
        # The floors judge the match itself: a boost reorders relevant passages, it never makes one relevant.
        scored = [(id_, score) for id_, score in scored if score >= self.floor and score > 0.0]
        if not scored:
            return []
        question = list(dict.fromkeys(terms(query)))
        weights = dict(zip(question, self._index.word_weights(question), strict=True))
        hits = []
        for id_, score in scored:
            slug, position = _position_of(id_)
            article = stories.get(slug)
            if article is None:
                continue  # removed meanwhile
            passage = self._passages(article)[position]
            if self.min_share > 0.0 and self._share(weights, article, passage) < self.min_share:
                continue
            hits.append(ScoredPassage(passage, score * (boost.get(article.category, 1.0) if boost else 1.0)))
        return hits

    def _order(self) -> dict[str, int]:
        return {slug: i for i, slug in enumerate(self._stories)}

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
        hits = self._hits(query, boost, within, max(self.CANDIDATES, 10 * k))
        order = self._order()
        hits.sort(key=lambda h: (-h.score, order.get(h.passage.slug, len(order)), h.passage.position))
        return hits[:k]

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
        best: dict[str, list[float]] = {}
        for hit in self._hits(query, boost, within, max(self.CANDIDATES, 20 * k)):
            best.setdefault(hit.passage.slug, []).append(hit.score)
        ranked = []
        for slug, values in best.items():
            values.sort(reverse=True)
            ranked.append((slug, values[0] + 0.25 * (values[1] if len(values) > 1 else 0.0)))
        order = self._order()
        ranked.sort(key=lambda item: (-item[1], order.get(item[0], len(order))))
        return ranked[:k]
