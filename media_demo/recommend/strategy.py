"""Which articles to recommend to one reader, and why.

The strategy follows the Snowplow media demo and improves on it:

1. the reader's top categories (up to two, at least one read each) fill the
   first slots with the unread article of that category closest to what the
   reader has been reading ("More in Technology"), among the category's newest
   `recency_window` stories (older ones still come through similarity and search);
2. the remaining slots go to the articles most similar to the last article
   read, by TF-IDF cosine similarity ("Because you read ...");
3. a reader with no history, or with everything nearby already read, gets the
   most-read articles across all readers ("Popular with readers").

Never an article already read, never the same article twice. The work per answer is
bounded at archive scale: the category candidates are scored in one pass (their dot
products with the mean of the recent reads' vectors), and the similar articles come from
the last read's kept neighbours (a scan of the archive only if the reader has read every
one of them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from media_demo.articles import Article, Corpus
from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.popularity import Popularity
from media_demo.recommend.profile import ReaderProfile

DEFAULT_COUNT = 3  # recommendations per answer, unless the caller asks for another number
TOP_CATEGORIES = 2
RECENT_READS_FOR_TASTE = 5
# "More in <Section>" chooses among a section's newest stories only: the archive's older ones
# cost time on every answer and seldom win the slot (they still come as similar stories).
DEFAULT_RECENCY_WINDOW = 100
POPULAR_REASON = "Popular with readers"


def interests(profile: ReaderProfile) -> list[str]:
    """The reader's top categories (up to `TOP_CATEGORIES`, at least one read each), the strategy's first slots."""
    return profile.categories_by_affinity(TOP_CATEGORIES)


@dataclass(frozen=True)
class Recommendation:
    """One recommended article and the human reason for it."""

    article: Article
    reason: str
    kind: str  # "category" | "similar" | "popular"

    def as_json(self) -> dict[str, str]:
        """One entry of `/api/recommended-articles`: what a page needs to show the article, and why."""
        a = self.article
        return {"slug": a.slug, "title": a.title, "category": a.category, "excerpt": a.excerpt, "reason": self.reason}


def taste_scores(candidates: Sequence[str], recent: Sequence[str], index: ArticleIndex) -> np.ndarray:
    """Mean similarity of each candidate to the reader's most recent reads (0 for anything not indexed).

    One pass over the candidates' vectors: by linearity, the mean of the similarities is the
    similarity to the mean of the recent reads' vectors.
    """
    known = [slug for slug in recent if slug in index]
    if not known:
        return np.zeros(len(candidates))
    return index.similarity_to(candidates, [(slug, 1.0 / len(known)) for slug in known])


def prepare(corpus: Corpus, index: ArticleIndex, recency_window: int = DEFAULT_RECENCY_WINDOW) -> None:
    """Compact each section's window for `taste_scores` now (a few milliseconds each at archive scale), so that
    no reader's first recommendation pays for it. The newsroom calls it at start, in the background."""
    newest = corpus.latest(1)
    if not newest or newest[0].slug not in index:
        return
    for category in corpus.categories:
        window = corpus.latest(recency_window, category)
        taste_scores([a.slug for a in window], [newest[0].slug], index)


def recommend(
    profile: ReaderProfile,
    corpus: Corpus,
    index: ArticleIndex,
    stats: Popularity,
    count: int = DEFAULT_COUNT,
    recency_window: int = DEFAULT_RECENCY_WINDOW,
) -> list[Recommendation]:
    """Up to `count` recommendations for one reader, best first."""
    if count < 1:
        raise ValueError(f"count: must be >= 1, got {count}")
    if recency_window < 1:
        raise ValueError(f"recency_window: must be >= 1, got {recency_window}")
    read = profile.read
    chosen: list[Recommendation] = []
    taken: set[str] = set()

    def add(article: Article, reason: str, kind: str) -> None:
        chosen.append(Recommendation(article, reason, kind))
        taken.add(article.slug)

    def available(slug: str) -> bool:
        return slug not in read and slug not in taken and slug in corpus

    recent = list(profile.articles_read)[-RECENT_READS_FOR_TASTE:]
    for category in interests(profile):
        if len(chosen) >= count:
            break
        # The whole window is scored (the same for every reader, so the index keeps it compacted), then
        # the stories the reader may not get are masked out.
        window = corpus.latest(recency_window, category)
        allowed = np.array([available(a.slug) for a in window], dtype=bool)
        if allowed.any():
            scores = np.where(allowed, taste_scores([a.slug for a in window], recent, index), -np.inf)
            # argmax keeps the first of equal scores: the window is newest first.
            best = window[int(np.argmax(scores))]
            add(best, f"More in {best.category_label}", "category")

    last = corpus.get(profile.last_read) if profile.last_read else None
    if last is not None and last.slug in index and len(chosen) < count:
        reason = f"Because you read “{last.title}”"
        kept = index.similar(last.slug, index.neighbours)
        walked = _add_similar(kept, count, chosen, available, corpus, add, reason)
        if not walked and len(kept) == index.neighbours and len(index) - 1 > len(kept):
            # The reader has read (or was given) every kept neighbour: the rest of the ranking, exactly.
            rest = index.similar(last.slug, len(index))[len(kept) :]
            _add_similar(rest, count, chosen, available, corpus, add, reason)

    return chosen + popular(corpus, stats, count - len(chosen), exclude=read | taken)


def _add_similar(
    neighbours: Sequence[tuple[str, float]],
    count: int,
    chosen: list[Recommendation],
    available: Callable[[str], bool],
    corpus: Corpus,
    add: Callable[[Article, str, str], None],
    reason: str,
) -> bool:
    """Walk `neighbours` best first into the free slots; True once done (slots full, or a score of 0 reached)."""
    for slug, score in neighbours:
        if len(chosen) >= count or score <= 0.0:
            return True  # nothing in common is no reason to say "because you read"
        if available(slug) and (article := corpus.get(slug)) is not None:
            add(article, reason, "similar")
    return len(chosen) >= count


def popular(corpus: Corpus, stats: Popularity, count: int, exclude: Collection[str] = ()) -> list[Recommendation]:
    """Up to `count` of the most-read articles, none in `exclude`: the fallback of every strategy."""
    if count < 1:
        return []
    picks: list[Recommendation] = []
    for slug, _readers in stats.most_read(exclude=frozenset(exclude)):
        if len(picks) >= count:
            break
        if (article := corpus.get(slug)) is not None:
            picks.append(Recommendation(article, POPULAR_REASON, "popular"))
    return picks


def strategy_name(recommendations: Sequence[Recommendation]) -> str:
    """A label for the API's metadata: personalised, popular, or empty."""
    if not recommendations:
        return "empty"
    if all(r.kind == "popular" for r in recommendations):
        return "popular"
    return "personalised"
