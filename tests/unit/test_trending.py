"""Trending: distinct readers weighted by how recently each last read the story (half-life decay)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_demo.recommend import ReadStats

HOUR = 3600.0
NOW = 1_800_000_000.0


def ago(hours: float) -> float:
    return NOW - hours * HOUR


def test_a_read_now_counts_one_and_halves_every_half_life() -> None:
    stats = ReadStats()
    stats.observe("now", "a", NOW)
    stats.observe("one-day", "a", ago(24))
    stats.observe("two-days", "a", ago(48))
    stats.observe("six-hours", "a", ago(6))
    scores = dict(stats.trending(None, NOW))
    assert scores["now"] == 1.0
    assert scores["one-day"] == 0.5
    assert scores["two-days"] == 0.25
    assert scores["six-hours"] == pytest.approx(2**-0.25)  # 0.8409


def test_scores_sum_over_distinct_readers() -> None:
    stats = ReadStats()
    for reader, hours in [("a", 0), ("b", 24), ("c", 48)]:
        stats.observe("story", reader, ago(hours))
    assert stats.trending(None, NOW) == [("story", 1.0 + 0.5 + 0.25)]


def test_each_reader_counts_once_at_their_latest_read() -> None:
    stats = ReadStats()
    stats.observe("story", "a", ago(48))
    stats.observe("story", "a", ago(0))  # read again today: counts as today's reader, once
    stats.observe("story", "a", ago(24))  # an older event arriving late changes nothing
    assert stats.trending(None, NOW) == [("story", 1.0)]
    assert stats.readers("story") == 1


def test_fresh_interest_beats_a_bigger_stale_crowd() -> None:
    stats = ReadStats()
    for reader in ("a", "b", "c"):
        stats.observe("old-news", reader, ago(72))  # 3 x 0.125 = 0.375
    stats.observe("breaking", "d", ago(1))  # 0.5 ** (1/24) = 0.9715
    assert [slug for slug, _ in stats.most_read()] == ["old-news", "breaking"]
    ranked = stats.trending(None, NOW)
    assert [slug for slug, _ in ranked] == ["breaking", "old-news"]
    assert ranked[1][1] == 0.375


def test_half_life_is_a_parameter() -> None:
    stats = ReadStats()
    stats.observe("story", "a", ago(12))
    assert stats.trending(None, NOW, half_life_hours=12) == [("story", 0.5)]
    assert stats.trending(None, NOW, half_life_hours=6) == [("story", 0.25)]


@pytest.mark.parametrize("half_life", [0, -1])
def test_half_life_must_be_positive(half_life: float) -> None:
    with pytest.raises(ValueError, match="half_life_hours: must be > 0"):
        ReadStats().trending(3, NOW, half_life_hours=half_life)


def test_reads_stamped_after_now_count_as_now() -> None:
    stats = ReadStats()
    stats.observe("story", "a", NOW + 5 * HOUR)  # a device clock running ahead
    assert stats.trending(None, NOW) == [("story", 1.0)]


def test_ties_go_to_the_most_recently_read_then_the_slug() -> None:
    stats = ReadStats()
    stats.observe("two-halves", "a", ago(24))
    stats.observe("two-halves", "b", ago(24))  # 0.5 + 0.5 = 1.0, last read a day ago
    stats.observe("one-fresh", "c", ago(0))  # 1.0, last read now
    stats.observe("b-slug", "d", ago(0))
    assert [slug for slug, _ in stats.trending(None, NOW)] == ["b-slug", "one-fresh", "two-halves"]


def test_limit_and_exclude() -> None:
    stats = ReadStats()
    for n, slug in enumerate(["a", "b", "c", "d"]):
        stats.observe(slug, "reader", ago(n))
    assert [s for s, _ in stats.trending(2, NOW)] == ["a", "b"]
    assert [s for s, _ in stats.trending(2, NOW, exclude={"a", "c"})] == ["b", "d"]
    assert stats.trending(0, NOW) == []
    assert ReadStats().trending(5, NOW) == []


def test_dump_and_load_keep_each_readers_time() -> None:
    stats = ReadStats()
    stats.observe("story", "a", ago(24))
    stats.observe("story", "b", ago(0))
    stats.observe("other", "a", ago(48))
    doc = stats.dump()
    assert doc == {"story": {"a": ago(24), "b": ago(0)}, "other": {"a": ago(48)}}
    again = ReadStats.load(doc)
    assert again.dump() == doc
    assert again.trending(None, NOW) == stats.trending(None, NOW) == [("story", 1.5), ("other", 0.25)]
    assert again.most_read() == stats.most_read()


def test_load_reads_the_old_format_giving_every_reader_the_last_read_time() -> None:
    old = {"story": [["a", "b"], ago(24)], "other": [["c"], ago(0)]}
    stats = ReadStats.load(old)
    assert stats.readers("story") == 2
    assert stats.most_read() == [("story", 2), ("other", 1)]
    assert stats.trending(None, NOW) == [("other", 1.0), ("story", 1.0)]  # a tie: "other" was read last
    assert stats.dump() == {"story": {"a": ago(24), "b": ago(24)}, "other": {"c": ago(0)}}


reads = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2", "s3"]),
        st.sampled_from(["r1", "r2", "r3", "r4"]),
        st.floats(min_value=NOW - 30 * 24 * HOUR, max_value=NOW + HOUR),
    ),
    max_size=30,
)


@given(reads, st.floats(min_value=0.0, max_value=96.0))
def test_scores_are_positive_at_most_the_readers_and_only_fall_as_time_passes(
    events: list[tuple[str, str, float]], later_hours: float
) -> None:
    stats = ReadStats()
    for slug, reader, at in events:
        stats.observe(slug, reader, at)
    now = dict(stats.trending(None, NOW))
    later = dict(stats.trending(None, NOW + later_hours * HOUR))
    assert set(now) == set(later) == {slug for slug, _, _ in events}
    for slug, score in now.items():
        assert 0.0 < score <= stats.readers(slug) + 1e-9
        assert later[slug] <= score + 1e-9
    again = dict(ReadStats.load(stats.dump()).trending(None, NOW))
    assert again == pytest.approx(now, rel=1e-9, abs=1e-12)


def fresh_sum(stats: ReadStats, now: float, half_life_hours: float = 24.0) -> dict[str, float]:
    """Every score summed afresh over the readers' latest reads: what the running sums must equal."""
    latest = stats.dump()
    return {
        slug: math.fsum(0.5 ** (max(0.0, now - at) / (half_life_hours * HOUR)) for at in readers.values())
        for slug, readers in latest.items()
    }


@given(reads, st.floats(min_value=-48.0, max_value=96.0))
def test_running_sums_equal_a_fresh_sum_over_the_latest_reads(
    events: list[tuple[str, str, float]], hours_from_now: float
) -> None:
    stats = ReadStats()
    for slug, reader, at in events:
        stats.observe(slug, reader, at)
    now = NOW + hours_from_now * HOUR
    assert dict(stats.trending(None, now)) == pytest.approx(fresh_sum(stats, now), rel=1e-9, abs=1e-12)
    assert dict(stats.trending(None, now, half_life_hours=6)) == pytest.approx(
        fresh_sum(stats, now, 6), rel=1e-9, abs=1e-12
    )


def test_years_of_reads_neither_overflow_nor_lose_the_recent_ones() -> None:
    stats = ReadStats()
    years = [NOW - 3 * 365 * 24 * HOUR, NOW - 2 * 365 * 24 * HOUR, NOW - 24 * HOUR, NOW]
    for n, at in enumerate(years):  # each more than 512 half-lives after the first: the origin moves
        stats.observe("story", f"reader-{n}", at)
    stats.observe("story", "reader-0", NOW - 48 * HOUR)  # reader-0 again: their three-year-old read is replaced
    assert dict(stats.trending(None, NOW)) == pytest.approx({"story": 1.0 + 0.5 + 0.25}, rel=1e-12)


def test_an_article_read_again_does_not_count_twice_however_often() -> None:
    stats = ReadStats()
    for hour in range(1000):  # a loyal reader, every hour for six weeks
        stats.observe("story", "loyal", ago(1000 - hour))
    assert dict(stats.trending(None, NOW)) == pytest.approx({"story": 0.5 ** (1 / 24)}, rel=1e-9)


def test_anonymous_reads_each_count_once_and_are_kept_per_hour_not_per_read() -> None:
    stats = ReadStats()
    for minute in range(600):  # 600 anonymous reads over ten hours
        stats.observe("story", None, ago(10) + minute * 60)
    stats.observe("story", "a", ago(1))
    assert stats.readers("story") == 601
    entries = stats.dump()["story"]
    assert len(entries) == 1 + 10  # the reader, and one entry per hour
    expected = 0.5 ** (1 / 24) + math.fsum(0.5 ** ((NOW - (ago(10) + m * 60)) / (24 * HOUR)) for m in range(600))
    assert dict(stats.trending(None, NOW)) == pytest.approx({"story": expected}, rel=1e-9)
    again = ReadStats.load(stats.dump())
    assert again.dump() == stats.dump()
    assert dict(again.trending(None, NOW)) == pytest.approx({"story": expected}, rel=1e-9)
    assert again.most_read() == stats.most_read() == [("story", 601)]


def test_forgetting_a_reader_keeps_their_read_anonymously() -> None:
    stats = ReadStats()
    stats.observe("story", "a", ago(2))
    stats.observe("story", "b", ago(1))
    stats.take_changed()
    before = dict(stats.trending(None, NOW))
    stats.forget(["a"])
    assert stats.latest("story", "a") is None and stats.readers("story") == 2
    assert dict(stats.trending(None, NOW)) == pytest.approx(before, rel=1e-9)
    changed = stats.take_changed()
    assert ("story", "a") in changed and stats.entry("story", "a") is None  # its row goes
    (bucket,) = [key for slug, key in changed if key.startswith("anonymous@")]
    assert stats.entry("story", bucket) == [1, pytest.approx(2 ** ((ago(2) % HOUR) / (24 * HOUR))), ago(2)]


def test_reads_kept_under_the_old_per_read_anonymous_keys_are_folded_into_hours() -> None:
    old = {"story": {"anonymous:1f0c": ago(3), "anonymous:9e1a": ago(3) + 1, "a": ago(1)}}
    stats = ReadStats.load(old)
    assert stats.readers("story") == 3
    assert sorted(stats.dump()["story"]) == ["a", f"anonymous@{int(ago(3) // HOUR)}"]


def test_ranking_is_trendings_order_kept_until_the_next_read() -> None:
    stats = ReadStats()
    assert stats.ranking() == []
    for n in range(5):
        stats.observe("old-crowd", f"r{n}", ago(30))
    stats.observe("fresh", "a", ago(1))
    stats.observe("fresh", "b", ago(2))
    assert stats.ranking() == [s for s, _ in stats.trending(None, NOW)] == ["old-crowd", "fresh"]
    assert [s for s, _ in stats.trending(None, NOW + 48 * HOUR)] == stats.ranking()  # the order holds later
    assert stats.ranking(1) == ["old-crowd"]
    for n in range(4):
        stats.observe("fresh", f"c{n}", NOW)
    assert stats.ranking() == ["fresh", "old-crowd"]  # a read changes it at once
    stats.observe("breaking", "z", NOW + 60)  # stamped a minute ahead (a device's clock)
    assert stats.ranking() == [s for s, _ in stats.trending(None, NOW + 60)] == ["fresh", "old-crowd", "breaking"]
    stats.forget([f"c{n}" for n in range(4)])  # still counted, anonymously: the order stays
    assert stats.ranking() == ["fresh", "old-crowd", "breaking"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3"])),
            st.integers(min_value=-72, max_value=3).map(lambda hours: NOW + hours * HOUR / 2),
        ),
        max_size=40,
    ),
    st.lists(st.sampled_from(["r1", "r2", "r3"]), max_size=2),
)
def test_ranking_is_trendings_order_at_the_newest_read_whatever_the_reads(
    reads: list[tuple[str, str | None, float]], forgotten: list[str]
) -> None:
    """Ties included (the same moment, the same readers): the kept ranking is `trending`'s order at the newest read."""
    stats, newest = ReadStats(), -math.inf
    for slug, reader, at in reads:
        stats.observe(slug, reader, at)
        newest = max(newest, at)
        assert stats.ranking() == [s for s, _ in stats.trending(None, newest)]
    stats.forget(forgotten)
    assert stats.ranking() == [s for s, _ in stats.trending(None, newest)]


def test_ranking_breaks_ties_by_the_latest_read_and_treats_last_bit_differences_as_ties() -> None:
    stats = ReadStats()
    stats.observe("a", "r1", NOW - 24 * HOUR)
    stats.observe("a", "r2", NOW - 24 * HOUR)
    stats.observe("b", "r3", NOW)  # as much as a's two readers a half-life ago: read later, so first
    assert stats.ranking() == ["b", "a"] == [s for s, _ in stats.trending(None, NOW)]

    stats = ReadStats()
    stats.observe("z", "r0", NOW - 36 * HOUR)
    stats.observe("a", "r1", NOW - 36 * HOUR)
    stats.observe("a", "r1", NOW - 30 * HOUR)  # a re-read: its running sum ends a last bit below b's
    stats.observe("b", "r2", NOW - 30 * HOUR)
    assert stats.ranking() == ["a", "b", "z"] == [s for s, _ in stats.trending(None, NOW - 30 * HOUR)]
