"""CoReads: co-read counts from each reader's recent distinct reads, taken back exactly on deletion."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_demo.recommend import CoReads


def brute_force(windows: dict[str, list[str]]) -> Counter[tuple[str, str]]:
    """Co-read counts computed from scratch: one per reader per pair of distinct articles in their window."""
    counts: Counter[tuple[str, str]] = Counter()
    for slugs in windows.values():
        for a, b in itertools.permutations(set(slugs), 2):
            counts[a, b] += 1
    return counts


def counts_of(co: CoReads, slugs: list[str]) -> Counter[tuple[str, str]]:
    return Counter({(a, b): co.count(a, b) for a in slugs for b in slugs if a != b and co.count(a, b)})


def test_readers_who_read_this_also_read_that() -> None:
    co = CoReads()
    for reader, slugs in {"r1": ["a", "b", "c"], "r2": ["a", "b"], "r3": ["a", "d"]}.items():
        for slug in slugs:
            co.observe(slug, reader)
    assert co.count("a", "b") == co.count("b", "a") == 2
    assert co.count("a", "c") == 1 and co.count("b", "d") == 0
    assert co.readers("a") == 3
    neighbours = co.also_read("a")
    assert [slug for slug, _ in neighbours] == ["b", "c", "d"]  # b: 2/sqrt(3*2); c, d: 1/sqrt(3), by count then name
    assert neighbours[0][1] == pytest.approx(2 / math.sqrt(6))
    assert co.also_read("a", limit=1) == neighbours[:1]
    assert co.also_read("unknown") == []


def test_a_reread_counts_once_and_moves_to_the_newest_end() -> None:
    co = CoReads(window=2)
    for slug in ["a", "b", "a", "c"]:  # the re-read of a makes b the oldest, so c pushes b out
        co.observe(slug, "r1")
    assert co.entry("r1") == ["a", "c"]
    assert co.count("a", "c") == 1 and co.count("a", "b") == 0 and co.readers("b") == 0


def test_the_window_keeps_only_the_last_distinct_reads() -> None:
    co = CoReads(window=3)
    for slug in "abcde":
        co.observe(slug, "r1")
    assert co.entry("r1") == ["c", "d", "e"]
    assert counts_of(co, list("abcde")) == brute_force({"r1": ["c", "d", "e"]})


def test_forget_takes_a_reader_out_of_every_count() -> None:
    co = CoReads()
    for slug in "abc":
        co.observe(slug, "gone")
    for slug in "ab":
        co.observe(slug, "stays")
    co.take_changed()
    co.forget(["gone", "never-seen"])
    assert co.count("a", "b") == 1 and co.count("a", "c") == 0 and co.readers("c") == 0
    assert co.also_read("c") == [] and co.entry("gone") is None
    assert co.take_changed() == {"gone"}  # the checkpoint deletes its row
    co.forget(["stays"])
    assert len(co) == 0 and co.also_read("a") == [] and co._pairs == {} and co._readers == {}


def test_past_max_readers_the_least_recently_active_reader_ages_out() -> None:
    co = CoReads(max_readers=2)
    for reader, slugs in [("r1", "ab"), ("r2", "ab"), ("r1", "c"), ("r3", "ab")]:
        for slug in slugs:
            co.observe(slug, reader)
    assert len(co) == 2 and co.entry("r2") is None  # r1 read after r2
    assert co.count("a", "b") == 2 and co.count("a", "c") == 1


def test_restore_from_entries_gives_the_same_counts() -> None:
    co = CoReads(window=4)
    rng = random.Random(5)
    for _ in range(300):
        co.observe(rng.choice("abcdefgh"), rng.choice(["r1", "r2", "r3", "r4"]))
    again = CoReads(window=4)
    for reader in co.take_changed():
        entry = co.entry(reader)
        assert entry is not None
        again.restore(reader, entry)
    assert again.dump() == co.dump()
    assert counts_of(again, list("abcdefgh")) == counts_of(co, list("abcdefgh"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3", "r4"]), st.sampled_from(list("abcdef"))), max_size=60),
    st.sets(st.sampled_from(["r1", "r2", "r3", "r4"])),
)
def test_counts_always_equal_a_recount_of_the_windows(reads: list[tuple[str, str]], deleted: set[str]) -> None:
    co = CoReads(window=3)
    for reader, slug in reads:
        co.observe(slug, reader)
    co.forget(deleted)
    windows = co.dump()
    assert not deleted & set(windows)
    assert counts_of(co, list("abcdef")) == brute_force(windows)
    for slug in "abcdef":
        assert co.readers(slug) == sum(slug in w for w in windows.values())


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        CoReads(window=1)
    with pytest.raises(ValueError, match="max_readers"):
        CoReads(max_readers=0)
    with pytest.raises(ValueError, match="limit"):
        CoReads().also_read("a", limit=-1)
