"""One reader as their `reader_profile` attributes describe them, read once per page.

The recommender (`media_demo.recommend.strategy`), the segments and the front-page
layout (`media_demo.personalise`) all read this one object, so they agree on what
"has history" means and on the order of the reader's sections.

It lives in `recommend/` because that is the lower of the two floors:
`media_demo.personalise` already imports `media_demo.recommend` (contextual picks
are `Recommendation`s), so a profile in `personalise/` would make the recommender
import `personalise` back, a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from media_demo.definitions import category_read_count


@dataclass(frozen=True)
class ReaderProfile:
    """What one reader has read, from their `reader_profile` attributes (as `Newsroom.attributes` returns them)."""

    page_view_count: int = 0
    article_read_count: int = 0
    articles_read: tuple[str, ...] = ()  # oldest to most recently read
    last_read: str | None = None
    category_reads: Mapping[str, int] = field(default_factory=dict)
    categories_by_recency: tuple[str, ...] = ()  # oldest to most recently read

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], categories: Iterable[str]) -> ReaderProfile:
        """The profile of one reader's attributes; a missing or empty attribute counts as nothing read."""
        return cls(
            page_view_count=int(attributes.get("page_view_count") or 0),
            article_read_count=int(attributes.get("article_read_count") or 0),
            articles_read=tuple(attributes.get("articles_read") or ()),
            last_read=attributes.get("article_last_read") or None,
            category_reads={c: int(attributes.get(category_read_count(c)) or 0) for c in categories},
            categories_by_recency=tuple(attributes.get("categories_read") or ()),
        )

    @property
    def has_history(self) -> bool:
        """Whether the reader has read anything: any one of the read attributes says so."""
        return self.article_read_count > 0 or bool(self.articles_read) or bool(self.last_read)

    @property
    def read(self) -> frozenset[str]:
        """Every article the reader has read (never recommend or feature one of these)."""
        return frozenset(self.articles_read) | ({self.last_read} if self.last_read else frozenset())

    @property
    def distinct_articles_read(self) -> int:
        """How many different articles the reader has read (a segment's fact: re-reads do not count)."""
        return len(set(self.articles_read))

    def categories_by_affinity(self, limit: int | None = None) -> list[str]:
        """Categories with at least one read, most read first; ties go to the most recently read, then by name."""
        recency = {c: i for i, c in enumerate(self.categories_by_recency)}
        read = [c for c, n in self.category_reads.items() if n > 0]
        ranked = sorted(read, key=lambda c: (-self.category_reads[c], -recency.get(c, -1), c))
        return ranked if limit is None else ranked[:limit]

    @property
    def top_category(self) -> str | None:
        """The category the reader reads most (`categories_by_affinity`'s first); None before any read."""
        ranked = self.categories_by_affinity(1)
        return ranked[0] if ranked else None

    @property
    def top_category_share(self) -> float:
        """The top category's share of all reads (0 with none)."""
        top = self.top_category
        total = max(self.article_read_count, sum(self.category_reads.values()))
        return self.category_reads[top] / total if top and total else 0.0
