"""Readers who read this also read: co-read counts between articles, kept as reads stream in.

Each reader's last `window` distinct articles are kept (oldest first). Two articles are
co-read by a reader while both are in that reader's window, and `count(a, b)` is the
number of readers co-reading them now. The counts are a function of the windows alone,
so they can always be taken back exactly:

- a new article in a window adds one to its pair with each article already there;
- the article that falls out of a full window takes one from each of its pairs;
- `forget(readers)` takes every pair of those readers' windows out, so a deleted reader
  leaves no trace in the counts (nothing is kept "anonymously": a co-read is a fact about
  one person's reading, not a popularity count);
- past `max_readers`, the reader who read least recently ages out the same way.

Memory is bounded by `max_readers * window` slugs plus the pairs they make (at most
`window * (window - 1) / 2` per reader, and never more than articles²). A read costs
`O(window)` dictionary updates: it runs under the newsroom's lock for every article view.

`also_read(a)` ranks a's neighbours by the cosine of the co-read counts,
`count(a, b) / sqrt(readers(a) * readers(b))`, so an article read by everyone is not
everyone's neighbour.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

DEFAULT_WINDOW = 20  # distinct articles remembered per reader
DEFAULT_MAX_READERS = 200_000


class AlsoRead(Protocol):
    """Co-read counts as the strategies ask them: `CoReads` where the events are applied, a client of the
    engine's in a UI worker of a cluster."""

    def also_read(self, slug: str, limit: int | None = None) -> list[tuple[str, float]]:
        """Stories read by those who read `slug`, with their co-read score, best first."""
        ...


class CoReads:
    """Co-read counts between articles from each reader's recent distinct reads (see the module's docstring)."""

    def __init__(self, window: int = DEFAULT_WINDOW, max_readers: int = DEFAULT_MAX_READERS) -> None:
        if window < 2:
            raise ValueError(f"window: must be >= 2, got {window}")
        if max_readers < 1:
            raise ValueError(f"max_readers: must be >= 1, got {max_readers}")
        self.window = window
        self.max_readers = max_readers
        # reader -> their window's slugs (oldest first; dict order), least recently active reader first
        self._windows: OrderedDict[str, dict[str, None]] = OrderedDict()
        self._pairs: dict[str, dict[str, int]] = {}  # slug -> co-read slug -> readers co-reading both
        self._readers: dict[str, int] = {}  # slug -> readers whose window holds it
        self._changed: set[str] = set()  # readers whose window changed since `take_changed`

    # --- updates --------------------------------------------------------------------------------------------------

    def observe(self, slug: str, reader_id: str) -> None:
        """Record that `reader_id` read `slug` (a re-read only moves it to the window's newest end)."""
        windows = self._windows
        held = windows.get(reader_id)
        if held is None:
            held = windows[reader_id] = {}
        else:
            windows.move_to_end(reader_id)
        self._changed.add(reader_id)
        if slug in held:
            del held[slug]
            held[slug] = None
            return
        for other in held:
            self._add(slug, other, 1)
        self._readers[slug] = self._readers.get(slug, 0) + 1
        held[slug] = None
        if len(held) > self.window:
            self._drop(next(iter(held)), held)
        if len(windows) > self.max_readers:
            oldest = next(iter(windows))
            self._forget_one(oldest)

    def _add(self, a: str, b: str, delta: int) -> None:
        for x, y in ((a, b), (b, a)):
            row = self._pairs.setdefault(x, {})
            count = row.get(y, 0) + delta
            if count > 0:
                row[y] = count
            else:
                row.pop(y, None)
                if not row:
                    del self._pairs[x]

    def _drop(self, slug: str, held: dict[str, None]) -> None:
        """Take `slug` out of one reader's window, and its pairs with the rest of it out of the counts."""
        del held[slug]
        for other in held:
            self._add(slug, other, -1)
        left = self._readers[slug] - 1
        if left:
            self._readers[slug] = left
        else:
            del self._readers[slug]

    def _forget_one(self, reader_id: str) -> None:
        held = self._windows.pop(reader_id, None)
        if held is None:
            return
        while held:
            self._drop(next(reversed(held)), held)
        self._changed.add(reader_id)

    def forget(self, reader_ids: Iterable[str]) -> None:
        """Take these readers' co-reads out of the counts, exactly, and keep nothing of theirs."""
        for reader in set(reader_ids):
            self._forget_one(reader)

    # --- queries --------------------------------------------------------------------------------------------------

    def readers(self, slug: str) -> int:
        """How many readers hold `slug` in their window."""
        return self._readers.get(slug, 0)

    def count(self, a: str, b: str) -> int:
        """How many readers co-read `a` and `b` (both in their window)."""
        return self._pairs.get(a, {}).get(b, 0)

    def also_read(self, slug: str, limit: int | None = None) -> list[tuple[str, float]]:
        """Up to `limit` (all when None) (slug, cosine) pairs of what `slug`'s readers also read, best first.

        Ties go to the larger count, then to the slug's alphabetical order (deterministic).
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        row = self._pairs.get(slug)
        if not row:
            return []
        own = self._readers[slug]
        scored = [(other, count / math.sqrt(own * self._readers[other]), count) for other, count in row.items()]
        scored.sort(key=lambda item: (-item[1], -item[2], item[0]))
        return [(other, score) for other, score, _count in scored[:limit]]

    def __len__(self) -> int:
        """How many readers are held."""
        return len(self._windows)

    # --- checkpoints ----------------------------------------------------------------------------------------------

    def take_changed(self) -> set[str]:
        """The readers whose window changed since the last call: what a checkpoint must rewrite (see `entry`)."""
        changed, self._changed = self._changed, set()
        return changed

    def entry(self, reader_id: str) -> list[str] | None:
        """What a checkpoint keeps for one reader: their window, oldest first (None: gone)."""
        held = self._windows.get(reader_id)
        return list(held) if held else None

    def restore(self, reader_id: str, slugs: Iterable[str]) -> None:
        """Put back one `entry` (the reader's reads in the same order give the same window and counts)."""
        for slug in slugs:
            self.observe(slug, reader_id)

    def dump(self) -> dict[str, list[str]]:
        """JSON-ready state: each reader's window, oldest first (readers sorted)."""
        return {reader: list(held) for reader, held in sorted(self._windows.items())}
