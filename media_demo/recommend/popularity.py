"""Real read counts across all readers: what "Trending now" and cold start show."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

SECONDS_PER_HOUR = 3600.0
DEFAULT_HALF_LIFE_HOURS = 24.0
# Weights are 2 ** (hours from the origin / half-life); past this exponent the origin moves (no overflow).
MAX_EXPONENT = 512.0
# Scores equal to this many decimals are a tie (running sums differ from a fresh sum in the last bits).
SCORE_DECIMALS = 9
# Reads that belong to no one are kept per story and hour, under this prefix and the hour's number.
ANONYMOUS = "anonymous@"


def anonymous_key(hour: int) -> str:
    """The key of one story's anonymous reads in one hour (hours since the epoch)."""
    return f"{ANONYMOUS}{hour}"


def _is_anonymous(key: str) -> bool:
    return key.startswith(ANONYMOUS)


class Popularity(Protocol):
    """What the pages and the recommender read of everyone's reading: `ReadStats` in the process that
    applies the events, a `PopularitySnapshot` of the engine's in a UI worker of a cluster."""

    def readers(self, slug: str) -> int:
        """Distinct readers of `slug`."""
        ...

    def most_read(
        self, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> list[tuple[str, int]]:
        """(slug, readers), most readers first, then most recently read."""
        ...

    def ranking(self, limit: int | None = None) -> list[str]:
        """Stories in trending order."""
        ...


class ReadStats:
    """Distinct readers per article, with when each last read it, updated as article views stream in.

    Counting distinct readers (not raw views) keeps one enthusiastic reader
    who refreshes a page from making it "trending". Keeping each reader's
    latest read time lets `trending` forget yesterday's crowd.

    Trending is kept incrementally, so asking costs the same after a million reads
    as after ten: each article holds the sum of its readers' weights
    2 ** ((latest read - origin) / half-life). Every score decays by the same factor
    as time passes, so the decay is applied only when a score is read.

    A read with no reader (no consent, or a deleted reader's) cannot be told apart
    from another, so each counts as one reader; they are kept per story and hour
    as a count, their summed weight within the hour and the hour's latest read.
    Memory grows with readers and hours, never with anonymous page views.
    """

    def __init__(self) -> None:
        self._reads: dict[str, dict[str, float]] = defaultdict(dict)  # slug -> reader -> latest read
        self._anonymous: dict[str, dict[int, Bucket]] = defaultdict(dict)  # slug -> hour -> bucket
        self._anonymous_count: dict[str, int] = {}  # slug -> anonymous reads
        self._last_read: dict[str, float] = {}  # slug -> latest read by anyone
        self._newest = float("-inf")  # the latest read of any story
        self._ranked: list[str] | None = None  # `ranking()`, until the next change
        self._weight: dict[str, float] = {}  # slug -> sum of its readers' weights, relative to `_origin`
        self._origin: float | None = None
        self._changed: set[tuple[str, str]] = set()  # (slug, reader or bucket key) changed since `take_changed`
        self.version = 0  # moves with every change a reader of the counts could see (`snapshot`)

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

    def _seen(self, slug: str, timestamp: float) -> None:
        self._ranked = None
        self.version += 1
        if timestamp > self._last_read.get(slug, float("-inf")):
            self._last_read[slug] = timestamp
            self._newest = max(self._newest, timestamp)

    def observe(self, slug: str, reader_id: str | None, timestamp: float) -> None:
        """Record that `reader_id` (None: no one) read `slug` at `timestamp` (epoch seconds)."""
        if reader_id is None:
            hour = int(timestamp // SECONDS_PER_HOUR)
            start = hour * SECONDS_PER_HOUR
            weight = 2.0 ** ((timestamp - start) / (DEFAULT_HALF_LIFE_HOURS * SECONDS_PER_HOUR))
            self._add_bucket(slug, hour, Bucket(1, weight, timestamp))
            return
        readers = self._reads[slug]
        before = readers.get(reader_id)
        if before is None or timestamp > before:
            readers[reader_id] = timestamp
            added = self._term(timestamp)  # first: it may move the origin, rescaling every sum
            removed = self._term(before) if before is not None else 0.0
            self._weight[slug] = self._weight.get(slug, 0.0) + added - removed
            self._changed.add((slug, reader_id))
        self._seen(slug, timestamp)

    def _add_bucket(self, slug: str, hour: int, reads: Bucket) -> None:
        """Merge `reads` into the story's bucket for `hour`."""
        buckets = self._anonymous[slug]
        had = buckets.get(hour)
        buckets[hour] = reads if had is None else had.merged(reads)
        self._anonymous_count[slug] = self._anonymous_count.get(slug, 0) + reads.count
        scale = self._term(hour * SECONDS_PER_HOUR)  # first: it may move the origin
        self._weight[slug] = self._weight.get(slug, 0.0) + reads.weight * scale
        self._changed.add((slug, anonymous_key(hour)))
        self._seen(slug, reads.latest)

    def forget(self, reader_ids: Iterable[str]) -> None:
        """Keep these readers' reads in the counts, anonymously: they link to no one any more."""
        gone = set(reader_ids)
        for slug, readers in self._reads.items():
            for reader in gone.intersection(readers):
                at = readers.pop(reader)
                self._weight[slug] -= self._term(at)
                self._changed.add((slug, reader))
                self.observe(slug, None, at)

    def take_changed(self) -> set[tuple[str, str]]:
        """The (slug, key) pairs changed since the last call: what a checkpoint must rewrite.

        A key is a reader id, or an `anonymous_key` for one hour's anonymous reads; see `entry`.
        """
        changed, self._changed = self._changed, set()
        return changed

    def latest(self, slug: str, reader_id: str) -> float | None:
        """When `reader_id` last read `slug`; None if they have not (or no longer count under that id)."""
        return self._reads.get(slug, {}).get(reader_id)

    def entry(self, slug: str, key: str) -> float | list[float] | None:
        """What a checkpoint keeps for one key of `take_changed` (None: gone); `restore` puts it back.

        A reader's latest read time, or an hour's anonymous reads as `[count, weight, latest]`.
        """
        if _is_anonymous(key):
            bucket = self._anonymous.get(slug, {}).get(int(key.removeprefix(ANONYMOUS)))
            return None if bucket is None else [bucket.count, bucket.weight, bucket.latest]
        return self.latest(slug, key)

    def restore(self, slug: str, key: str, value: float | list[float]) -> None:
        """Put back one `entry` (also a read kept under the old per-read anonymous keys)."""
        if isinstance(value, list):
            count, weight, latest = value
            self._add_bucket(slug, int(key.removeprefix(ANONYMOUS)), Bucket(int(count), weight, latest))
        elif key.startswith("anonymous:"):  # before anonymous reads were kept per hour
            self.observe(slug, None, float(value))
        else:
            self.observe(slug, key, float(value))

    def dump(self) -> dict:
        """JSON-ready state: `{slug: {reader: latest read, anonymous_key(hour): [count, weight, latest]}}`."""
        doc: dict[str, dict] = {}
        for slug in sorted(self._reads.keys() | self._anonymous.keys()):
            entries: dict = dict(sorted(self._reads.get(slug, {}).items()))
            for hour, bucket in sorted(self._anonymous.get(slug, {}).items()):
                entries[anonymous_key(hour)] = [bucket.count, bucket.weight, bucket.latest]
            if entries:
                doc[slug] = entries
        return doc

    @classmethod
    def load(cls, doc: dict) -> ReadStats:
        """Rebuild from `dump()`, or from the older `{slug: [reader ids, last read]}` format.

        The old format kept no per-reader times: each reader is given the article's
        last read time, which can only make old reads look more recent than they were.
        """
        stats = cls()
        for slug, value in doc.items():
            if isinstance(value, dict):
                for key, kept in value.items():
                    stats.restore(slug, key, kept)
            else:
                ids, last = value
                for reader in ids:
                    stats.restore(slug, reader, float(last))
        stats.take_changed()
        return stats

    def readers(self, slug: str) -> int:
        """How many distinct readers have read `slug` (each anonymous read counts as one)."""
        return len(self._reads.get(slug, ())) + self._anonymous_count.get(slug, 0)

    def _slugs(self) -> Iterable[str]:
        return self._last_read.keys()

    def most_read(
        self, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> list[tuple[str, int]]:
        """Up to `limit` (slug, readers) pairs (all when None), most readers first, then most recently read."""
        ranked = sorted(
            ((slug, count) for slug in self._slugs() if slug not in exclude and (count := self.readers(slug))),
            key=lambda item: (-item[1], -self._last_read[item[0]], item[0]),
        )
        return ranked if limit is None else ranked[:limit]

    def ranking(self, limit: int | None = None) -> list[str]:
        """Up to `limit` stories (all when None) in trending order: the order of `trending` at any time from now on.

        Every score decays by the same factor as time passes, so the order no longer
        changes until the next read; it is the order at the newest read (where a read
        stamped "in the future" by a device's clock counts as just now). Kept until the
        next read, so a page asks the running sums once per read, not once per page.
        """
        if self._ranked is None:
            self._ranked = [slug for slug, _score in self.trending(None, self._newest)]
        return self._ranked[:limit]

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
        is summed over its readers with `math.fsum`, anonymous reads then counting
        as read at their hour's latest read.
        """
        if half_life_hours <= 0:
            raise ValueError(f"half_life_hours: must be > 0, got {half_life_hours}")
        half_life = half_life_hours * SECONDS_PER_HOUR
        decay = 2.0 ** ((self._origin - now) / half_life) if self._origin is not None else 0.0
        running = half_life_hours == DEFAULT_HALF_LIFE_HOURS
        scored = []
        for slug in self._slugs():
            if slug in exclude or not self.readers(slug):
                continue
            if running and self._last_read[slug] <= now:
                score = max(0.0, self._weight[slug] * decay)
            else:
                terms = [0.5 ** (max(0.0, now - at) / half_life) for at in self._reads.get(slug, {}).values()]
                terms += [
                    bucket.count * 0.5 ** (max(0.0, now - bucket.latest) / half_life)
                    for bucket in self._anonymous.get(slug, {}).values()
                ]
                score = math.fsum(terms)
            scored.append((slug, score))
        scored.sort(key=lambda item: (-round(item[1], SCORE_DECIMALS), -self._last_read[item[0]], item[0]))
        return scored if limit is None else scored[:limit]

    def snapshot(self) -> PopularitySnapshot:
        """The counts and orders as they are now, frozen: what the engine serves to a cluster's UI workers."""
        ranked = self.most_read()
        return PopularitySnapshot(self.version, tuple(ranked), tuple(self.ranking()), dict(ranked))


@dataclass(frozen=True)
class PopularitySnapshot:
    """`ReadStats`' answers at one moment (`version`), read without the engine's lock or its readers' ids.

    Holds only what the pages ask: each story's count of readers and the two orders, never who read what.
    """

    version: int = 0
    ordered: tuple[tuple[str, int], ...] = ()  # most read first (`ReadStats.most_read`)
    trend: tuple[str, ...] = ()  # trending order (`ReadStats.ranking`)
    counts: dict[str, int] = field(default_factory=dict)

    def readers(self, slug: str) -> int:
        """Distinct readers of `slug` when the snapshot was taken."""
        return self.counts.get(slug, 0)

    def most_read(
        self, limit: int | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> list[tuple[str, int]]:
        """(slug, readers), most readers first, then most recently read."""
        kept = [item for item in self.ordered if item[0] not in exclude] if exclude else list(self.ordered)
        return kept if limit is None else kept[:limit]

    def ranking(self, limit: int | None = None) -> list[str]:
        """Stories in trending order."""
        return list(self.trend[:limit])

    def as_json(self) -> dict[str, Any]:
        """The engine's `GET /api/engine/popularity` body."""
        return {"version": self.version, "most_read": [list(item) for item in self.ordered], "trending": self.trend}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PopularitySnapshot:
        """Back from `as_json` (ValueError when the shape is wrong: a remote answer is checked, not trusted)."""
        try:
            ordered = tuple((str(slug), int(count)) for slug, count in doc["most_read"])
            trend = tuple(str(slug) for slug in _sequence(doc["trending"]))
            return cls(int(doc["version"]), ordered, trend, dict(ordered))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a popularity snapshot: {exc}") from exc


def _sequence(value: Any) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


class Bucket:
    """One story's anonymous reads in one hour: how many, their summed weight within the hour, the latest."""

    __slots__ = ("count", "latest", "weight")

    def __init__(self, count: int, weight: float, latest: float) -> None:
        self.count = count
        self.weight = weight  # sum of 2 ** ((read - hour start) / default half-life)
        self.latest = latest

    def merged(self, other: Bucket) -> Bucket:
        """Both buckets' reads together."""
        return Bucket(self.count + other.count, self.weight + other.weight, max(self.latest, other.latest))
