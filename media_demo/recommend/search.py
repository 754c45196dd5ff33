"""Searching the archive: TF-IDF over titles and bodies, boosted by titles and tags, personalised with consent.

The index's `query` scores every published story's title and body against the query
(the same TF-IDF model as "More like this"). A word of the query in the headline or a
tag names the story's subject, so it adds to the score; and for a reader who allows
it, stories of the sections they read most rise a little, never above a clearly better
match (the boost is at most `AFFINITY_WEIGHT`, a tenth of a perfect match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from media_demo.articles import Article, Corpus
from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.profile import ReaderProfile

MAX_QUERY_CHARS = 200
CANDIDATES = 200  # the index's best matches, ranked again here
TITLE_WEIGHT = 0.25  # the share of the query's words in the headline
TAG_WEIGHT = 0.15  # per tag the query names
AFFINITY_WEIGHT = 0.1  # the reader's share of reading in the story's section
WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    {"a", "an", "and", "are", "for", "in", "is", "of", "on", "or", "the", "to", "with", "what", "how", "why", "who"}
)


@dataclass(frozen=True)
class SearchHit:
    """One story found, its score and the line that shows why."""

    article: Article
    score: float
    snippet: str


@dataclass(frozen=True)
class SearchResults:
    """What a search found: the hits shown (best first), how many matched, whether the reader's taste ranked them."""

    query: str
    hits: list[SearchHit]
    total: int
    personalised: bool


def clean_query(text: str) -> str:
    """The query as searched: spaces collapsed, at most `MAX_QUERY_CHARS` characters."""
    return " ".join(text.split())[:MAX_QUERY_CHARS]


def words(text: str) -> list[str]:
    """The query's meaningful words, lowercased."""
    return [w for w in WORD.findall(text.lower()) if w not in STOP_WORDS]


def snippet(article: Article, query_words: list[str], limit: int = 220) -> str:
    """The body's first sentence that holds a word of the query (else the excerpt), cut at a word."""
    wanted = set(query_words)
    for sentence in re.split(r"(?<=[.!?])\s+", " ".join(article.body.split())):
        if wanted & set(WORD.findall(sentence.lower())):
            if len(sentence) <= limit:
                return sentence.lstrip("#*> ")
            return sentence[:limit].rsplit(" ", 1)[0].lstrip("#*> ") + "…"
    return article.excerpt


def search(
    query: str,
    corpus: Corpus,
    index: ArticleIndex,
    profile: ReaderProfile | None = None,
    limit: int = 20,
) -> SearchResults:
    """Stories matching `query`, best first: `limit` of them, from every published story.

    `profile` is the reader's, given only when they allow behavioural use: their sections
    then nudge the ranking. A query of no meaningful words finds nothing.
    """
    if limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    text = clean_query(query)
    query_words = words(text)
    if not query_words:
        return SearchResults(text, [], 0, False)
    scores: dict[str, float] = {}
    for slug, score in index.query(text, CANDIDATES):
        if corpus.get(slug) is not None:
            scores[slug] = score
    wanted = set(query_words)
    affinity = _affinity(profile) if profile is not None else {}
    ranked = []
    for slug, base in scores.items():
        article = corpus.get(slug)
        if article is None:
            continue
        title_words = set(WORD.findall(article.title.lower()))
        tag_words = set(WORD.findall(" ".join(article.tags)))
        score = base + TITLE_WEIGHT * len(wanted & title_words) / len(wanted) + TAG_WEIGHT * len(wanted & tag_words)
        score += AFFINITY_WEIGHT * affinity.get(article.category, 0.0)
        ranked.append((score, article))
    ranked.sort(key=lambda pair: (-pair[0], pair[1].slug))
    hits = [SearchHit(article, score, snippet(article, query_words)) for score, article in ranked[:limit]]
    return SearchResults(text, hits, len(ranked), bool(affinity))


def _affinity(profile: ReaderProfile) -> dict[str, float]:
    """Each section's share of the reader's reading (empty without any)."""
    counts = {category: n for category, n in profile.category_reads.items() if n > 0}
    total = sum(counts.values())
    return {category: count / total for category, count in counts.items()} if total else {}
