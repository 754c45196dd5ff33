"""Real read counts across all readers: what "Trending now" and cold start show."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable

SECONDS_PER_HOUR = 3600.0


def anonymous_reader() -> str:
    """A key for a read that must count without saying whose it was (no consent, or deleted)."""
    return f"anonymous:{uuid.uuid4()}"


DEFAULT_HALF_LIFE_HOURS = 24.0
# Weights are 2 ** (hours from the origin / half-life); past this exponent the origin moves (no overflow).
MAX_EXPONENT = 512.0
# Scores equal to this many decimals are a tie (running sums differ from a fresh sum in the last bits).
SCORE_DECIMALS = 9


class ReadStats:
    """Distinct readers per article, with when each last read it, updated as article views stream in.

    Counting distinct readers (not raw views) keeps one enthusiastic reader
    who refreshes a page from making it "trending". Keeping each reader's
    latest read time lets `trending` forget yesterday's crowd.

    Trending is kept incrementally, so asking costs the same after a million reads
    as after ten: each article holds the sum of its readers' weights
    2 ** ((latest read - origin) / half-life). Every score decays by the same factor
    as time passes, so the decay is applied only when a score is read.
    """

    def __init__(self) -> None:
        self._reads: dict[str, dict[str, float]] = defaultdict(dict)  # slug -> reader -> latest read
        self._last_read: dict[str, float] = {}  # slug -> latest read by anyone
        self._weight: dict[str, float] = {}  # slug -> sum of its readers' weights, relative to `_origin`
        self._origin: float | None = None
        self._changed: set[tuple[str, str]] = set()  # (slug, reader) pairs changed since `take_changed`

    def _term(self, at: float) -> float:
        """One reader's weight (default half-life), moving the origin forward first if it would overflow."""
        half_life = DEFAULT_HALF_LIFE_HOURS * SECONDS_PER_HOUR
        if self._origin is None:
            self._origin = at
        exponent = (at - self._origin) / half_life
        if exponent > MAX_EXPONENT:  # far older weights underflow to 0 on their own
            scale = 2.0 ** ((self._origin - at) / half_life)
            self._weight = {slug: weight * scale for slug, weight in self._weight.items()}
            self._origin, exponent = at, 0.0
        return 2.0**exponent

    def observe(self, slug: str, reader_id: str, timestamp: float) -> None:
        """Record that `reader_id` read `slug` at `timestamp` (epoch seconds)."""
        readers = self._reads[slug]
        before = readers.get(reader_id)
        if before is None or timestamp > before:
            readers[reader_id] = timestamp
            added = self._term(timestamp)  # first: it may move the origin, rescaling every sum
            removed = self._term(before) if before is not None else 0.0
            self._weight[slug] = self._weight.get(slug, 0.0) + added - removed
            self._changed.add((slug, reader_id))
        if timestamp > self._last_read.get(slug, float("-inf")):
            self._last_read[slug] = timestamp

    def forget(self, reader_ids: Iterable[str]) -> None:
        """Keep these readers' reads in the counts, under fresh anonymous keys that link to no one."""
        gone = set(reader_ids)
        for slug, readers in self._reads.items():
            for reader in gone.intersection(readers):
                anonymous = anonymous_reader()
                readers[anonymous] = readers.pop(reader)
                self._changed.update(((slug, reader), (slug, anonymous)))

    def take_changed(self) -> set[tuple[str, str]]:
        """The (slug, reader) pairs changed since the last call: what a checkpoint must rewrite."""
        changed, self._changed = self._changed, set()
        return changed

    def latest(self, slug: str, reader_id: str) -> float | None:
        """When `reader_id` last read `slug`; None if they have not (or no longer count under that id)."""
        return self._reads.get(slug, {}).get(reader_id)

    def dump(self) -> dict:
        """JSON-ready state, for the newsroom's checkpoint: `{slug: {reader: latest read}}`."""
        return {slug: dict(sorted(readers.items())) for slug, readers in self._reads.items()}

    @classmethod
    def load(cls, doc: dict) -> ReadStats:
        """Rebuild from `dump()`, or from the older `{slug: [reader ids, last read]}` format.

        The old format kept no per-reader times: each reader is given the article's
        last read time, which can only make old reads look more recent than they were.
        """
        stats = cls()
        for slug, value in doc.items():
            if isinstance(value, dict):
                readers = {reader: float(at) for reader, at in value.items()}
            else:
                ids, last = value
                readers = dict.fromkeys(ids, float(last))
            for reader, at in readers.items():
                stats.observe(slug, reader, at)
        return stats

    def readers(self, slug: str) -> int:
        """How many distinct readers have read `slug`."""
        return len(self._reads.get(slug, ()))

    def most_read(
        self, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> list[tuple[str, int]]:
        """Up to `limit` (slug, readers) pairs (all when None), most readers first, then most recently read."""
        ranked = sorted(
            ((slug, len(ids)) for slug, ids in self._reads.items() if ids and slug not in exclude),
            key=lambda item: (-item[1], -self._last_read[item[0]], item[0]),
        )
        return ranked if limit is None else ranked[:limit]

    def trending(
        self,
        limit: int | None,
        now: float,
        half_life_hours: float = DEFAULT_HALF_LIFE_HOURS,
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> list[tuple[str, float]]:
        """Up to `limit` (slug, score) pairs (all when None), highest score first, then most recently read.

        Each reader counts 0.5 ** (hours since their latest read of it / `half_life_hours`):
        one today is worth 1, one a half-life ago 0.5. A read stamped after `now`
        (clock skew between devices) counts as just now, never as more than 1.
        With the default half-life a score is the running sum, decayed once (cost per
        article, not per read); another half-life, or an article read "after" `now`,
        is summed over its readers with `math.fsum`.
        """
        if half_life_hours <= 0:
            raise ValueError(f"half_life_hours: must be > 0, got {half_life_hours}")
        half_life = half_life_hours * SECONDS_PER_HOUR
        decay = 2.0 ** ((self._origin - now) / half_life) if self._origin is not None else 0.0
        running = half_life_hours == DEFAULT_HALF_LIFE_HOURS
        scored = []
        for slug, readers in self._reads.items():
            if not readers or slug in exclude:
                continue
            if running and self._last_read[slug] <= now:
                score = max(0.0, self._weight[slug] * decay)
            else:
                score = math.fsum(0.5 ** (max(0.0, now - at) / half_life) for at in readers.values())
            scored.append((slug, score))
        scored.sort(key=lambda item: (-round(item[1], SCORE_DECIMALS), -self._last_read[item[0]], item[0]))
        return scored if limit is None else scored[:limit]
