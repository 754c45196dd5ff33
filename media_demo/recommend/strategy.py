"""Which articles to recommend to one reader, and why.

The strategy follows the Snowplow media demo and improves on it:

1. the reader's top categories (up to two, at least one read each) fill the
   first slots with the unread article of that category closest to what the
   reader has been reading ("More in Technology");
2. the remaining slots go to the articles most similar to the last article
   read, by TF-IDF cosine similarity ("Because you read ...");
3. a reader with no history, or with everything nearby already read, gets the
   most-read articles across all readers ("Popular with readers").

Never an article already read, never the same article twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from media_demo.articles import Article, Corpus
from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.popularity import ReadStats
from media_demo.recommend.profile import ReaderProfile

DEFAULT_COUNT = 3  # recommendations per answer, unless the caller asks for another number
TOP_CATEGORIES = 2
RECENT_READS_FOR_TASTE = 5
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


def _taste_score(candidate: str, recent: Sequence[str], index: ArticleIndex) -> float:
    """Mean similarity of a candidate to the reader's most recent reads."""
    known = [slug for slug in recent if slug in index]
    if not known or candidate not in index:
        return 0.0
    return sum(index.similarity(candidate, slug) for slug in known) / len(known)


def recommend(
    profile: ReaderProfile,
    corpus: Corpus,
    index: ArticleIndex,
    stats: ReadStats,
    count: int = DEFAULT_COUNT,
) -> list[Recommendation]:
    """Up to `count` recommendations for one reader, best first."""
    if count < 1:
        raise ValueError(f"count: must be >= 1, got {count}")
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
        candidates = [a for a in corpus.in_category(category) if available(a.slug)]
        if candidates:
            # max() keeps the first of equal scores: corpus order is newest first.
            best = max(candidates, key=lambda a: _taste_score(a.slug, recent, index))
            add(best, f"More in {best.category_label}", "category")

    last = corpus.get(profile.last_read) if profile.last_read else None
    if last is not None and last.slug in index:
        for slug, score in index.similar(last.slug, len(index)):
            if len(chosen) >= count or score <= 0.0:
                break  # nothing in common is no reason to say "because you read"
            if available(slug) and (article := corpus.get(slug)) is not None:
                add(article, f"Because you read “{last.title}”", "similar")

    return chosen + popular(corpus, stats, count - len(chosen), exclude=read | taken)


def popular(corpus: Corpus, stats: ReadStats, count: int, exclude: Collection[str] = ()) -> list[Recommendation]:
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
