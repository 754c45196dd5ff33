"""A tab's read marks: what the page marks is always what the reader read, and a read sends a short list."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from media_demo.state.read_marks import SINCE_LIMIT, ReadMarks, next_marks

STORIES = [f"story-{i}" for i in range(40)]


def test_a_returning_readers_new_read_leaves_the_whole_list_where_it_is() -> None:
    history = STORIES[:30]
    marks = next_marks([], history)
    assert marks == ReadMarks(history, [])  # past the limit at once: sent whole, the first time only
    marks = next_marks(marks.shown, [*history, "new"])
    assert marks == ReadMarks(history, ["new"])


def test_reads_gather_in_since_until_the_limit_then_the_whole_list_goes_again() -> None:
    shown: list[str] = []
    read: list[str] = []
    for slug in STORIES[:SINCE_LIMIT]:
        read.append(slug)
        marks = next_marks(shown, read)
        assert marks.shown == shown and marks.since == read
    read.append(STORIES[SINCE_LIMIT])
    assert next_marks(shown, read) == ReadMarks(read, [])


def test_a_read_that_disappears_sends_the_whole_list() -> None:
    shown = STORIES[:20]
    assert next_marks(shown, STORIES[1:20]) == ReadMarks(STORIES[1:20], [])  # one deleted
    assert next_marks(shown, []) == ReadMarks([], [])  # all deleted, or another reader


def test_re_reading_an_old_story_changes_nothing() -> None:
    shown = STORIES[:20]
    reordered = [*STORIES[1:20], STORIES[0]]  # the engine lists reads oldest to most recent
    assert next_marks(shown, reordered) == ReadMarks(shown, [])


@given(
    st.lists(st.sampled_from(STORIES), max_size=30, unique=True),  # as a page holds it: from `next_marks`
    st.lists(st.lists(st.sampled_from(STORIES), max_size=40), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=SINCE_LIMIT),
)
def test_the_page_always_marks_exactly_what_was_read(shown: list[str], reads: list[list[str]], limit: int) -> None:
    for read in reads:
        marks = next_marks(shown, read, limit)
        assert set(marks.shown) | set(marks.since) == set(read)
        assert not set(marks.shown) & set(marks.since)
        assert len(marks.since) <= limit
        assert len(marks.shown) == len(set(marks.shown))
        shown = marks.shown
