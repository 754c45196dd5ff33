"""Real read counts across all readers: what "Trending now" and cold start show."""

from __future__ import annotations

from collections import defaultdict


class ReadStats:
    """Distinct readers per article, updated as article views stream in.

    Counting distinct readers (not raw views) keeps one enthusiastic reader
    who refreshes a page from making it "trending".
    """

    def __init__(self) -> None:
        self._readers: dict[str, set[str]] = defaultdict(set)
        self._last_read: dict[str, float] = {}

    def observe(self, slug: str, reader_id: str, timestamp: float) -> None:
        """Record that `reader_id` read `slug` at `timestamp` (epoch seconds)."""
        self._readers[slug].add(reader_id)
        if timestamp > self._last_read.get(slug, float("-inf")):
            self._last_read[slug] = timestamp

    def dump(self) -> dict:
        """JSON-ready state, for the newsroom's checkpoint."""
        return {slug: [sorted(ids), self._last_read[slug]] for slug, ids in self._readers.items()}

    @classmethod
    def load(cls, doc: dict) -> ReadStats:
        stats = cls()
        for slug, (ids, last) in doc.items():
            stats._readers[slug] = set(ids)
            stats._last_read[slug] = last
        return stats

    def readers(self, slug: str) -> int:
        """How many distinct readers have read `slug`."""
        return len(self._readers.get(slug, ()))

    def most_read(
        self, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> list[tuple[str, int]]:
        """Up to `limit` (slug, readers) pairs (all when None), most readers first, then most recently read."""
        ranked = sorted(
            ((slug, len(ids)) for slug, ids in self._readers.items() if slug not in exclude),
            key=lambda item: (-item[1], -self._last_read[item[0]], item[0]),
        )
        return ranked if limit is None else ranked[:limit]
