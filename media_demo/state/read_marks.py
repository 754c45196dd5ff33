"""A tab's "✓ Read" marks, sent to the page as they change rather than whole.

Reflex sends a changed list var whole. A returning reader has read dozens of
stories, and each story they read would send all of them again. The page keeps two
lists instead: `shown`, everything they had read when the tab last got the whole
list, and `since`, what they read after that — short, so the per-page update is
too. When `since` passes `SINCE_LIMIT`, or when a read disappears (data deleted,
another account), the whole list is sent once more and `since` starts again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

SINCE_LIMIT = 16


class ReadMarks(NamedTuple):
    """The two lists the page marks from: a story is read when it is in either."""

    shown: list[str]
    since: list[str]


def next_marks(shown: Sequence[str], read: Sequence[str], limit: int = SINCE_LIMIT) -> ReadMarks:
    """The marks for `read` (every story the reader has read) on a page that holds `shown`.

    `shown` stays as it is (nothing to send) while it is still all read and at most
    `limit` stories were read besides; otherwise `read` replaces it whole. Order is
    the reader's reading order, so an unchanged set gives unchanged lists.
    """
    kept = set(shown)
    since = [slug for slug in dict.fromkeys(read) if slug not in kept]
    if len(since) <= limit and kept.issubset(read):
        return ReadMarks(list(shown), since)
    return ReadMarks(list(dict.fromkeys(read)), [])
