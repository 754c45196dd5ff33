"""Feeds: Atom and RSS entries as story fields, skipped entries with their reasons, and the poller."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_demo.articles import article_from_fields
from media_demo.articles.feeds import (
    FeedError,
    cut_excerpt,
    fetch_feed,
    markdown_from_html,
    plain_text,
    read_feed,
    reading_minutes,
    slug_from_title,
)
from media_demo.services.feed_poller import FeedPoller
from tests.unit.test_publishing import Newsdesk

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
ATOM = (FEEDS / "harbour-gazette.atom").read_bytes()
RSS = (FEEDS / "valley-wire.rss").read_bytes()
SECTIONS = ("culture", "health", "science", "sport", "technology")
MILL = "tide-mill-restorers-grind-the-first-flour-in-ninety-years"
SEAGRASS = "seagrass-meadow-in-the-estuary-doubles-in-five-years-divers-find"
CLINIC = "clinic-trials-evening-appointments-for-shift-workers"
QUARRY = "upper-valley-quarry-plans-go-to-a-public-inquiry"


def test_atom_entries_become_story_fields() -> None:
    mill, seagrass, ferry = read_feed(ATOM, SECTIONS)
    assert mill.slug == MILL and mill.fields is not None
    fields = mill.fields
    assert fields["title"] == "Tide-mill restorers grind the first flour in ninety years"
    assert fields["category"] == "culture"  # the tag "Culture" names a section
    assert fields["tags"] == ["local-heritage", "mills"]
    assert fields["author"] == "Isolde Marchetti" and fields["published"] == "2026-11-19"
    assert fields["excerpt"] == (
        "Volunteers at Saltmarsh Quay have turned the tide-mill wheel by the ebb for the first time since 1936, "
        "and the stones ground a sack of wholemeal."
    )
    body = fields["body"]
    assert body.startswith("At six on Tuesday morning,") and "\n\n## A sack of wholemeal\n\n" in body
    assert "<" not in body and "&" not in body
    assert fields["reading_minutes"] == math.ceil(len(body.split()) / 200) == 2
    article = article_from_fields(fields, body, "test")  # what the API will accept
    assert article.slug == MILL
    assert seagrass.fields is not None and seagrass.fields["category"] == "science"
    assert seagrass.fields["author"] == "Gazette Newsdesk"  # the feed's author, the entry naming none
    assert "renewal & will ask" in seagrass.fields["body"]  # an entity decoded once, not twice
    assert ferry.fields is None and ferry.problems == (
        "feed entry 'Ferry timetable changes for the winter': body has 31 words, at least 150 are needed",
    )


def test_rss_entries_become_story_fields_and_one_without_a_section_is_skipped_naming_the_field() -> None:
    clinic, quarry = read_feed(RSS, SECTIONS)
    assert clinic.fields is not None and clinic.slug == CLINIC
    assert clinic.fields["category"] == "health" and clinic.fields["tags"] == ["clinics", "work"]
    assert clinic.fields["author"] == "Bram Okonkwo" and clinic.fields["published"] == "2026-11-18"
    assert "cannot reach a doctor" in clinic.fields["excerpt"] and "<b>" not in clinic.fields["excerpt"]
    assert "a Saturday morning \\<clinic> for the same group" in clinic.fields["body"]  # text, never a tag
    assert quarry.fields is None
    assert quarry.problems == (
        "feed entry 'Upper valley quarry plans go to a public inquiry': field 'category': no tag names one of "
        "the newsroom's sections (culture, health, science, sport, technology) and no default category is set",
    )


def test_a_default_category_places_entries_without_a_section_tag() -> None:
    _clinic, quarry = read_feed(RSS, SECTIONS, default_category="culture")
    assert quarry.fields is not None and quarry.fields["category"] == "culture"
    assert quarry.fields["tags"] == ["planning", "quarries"]
    _clinic, quarry = read_feed(RSS, SECTIONS, default_category="weather")
    assert quarry.fields is None and "field 'category': the default 'weather' is not one of" in quarry.problems[0]


def test_what_is_not_a_feed_is_refused() -> None:
    for junk in (b"", b"not a feed at all", b"<html><body><p>A page</p></body></html>"):
        with pytest.raises(FeedError, match="not an Atom or RSS feed"):
            read_feed(junk, SECTIONS)


def test_fetching_reads_paths_and_file_urls_and_refuses_other_schemes(tmp_path: Path) -> None:
    assert fetch_feed(str(FEEDS / "valley-wire.rss")) == RSS
    assert fetch_feed((FEEDS / "harbour-gazette.atom").as_uri()) == ATOM
    with pytest.raises(FeedError, match="cannot be read"):
        fetch_feed(str(tmp_path / "missing.xml"))
    with pytest.raises(FeedError, match="http"):
        fetch_feed("ftp://example.org/feed.xml")


def test_html_becomes_markdown_without_html() -> None:
    html = (
        "<h3>Heading</h3><p>One &amp; <em>two</em>.</p><script>alert(1)</script>"
        "<p>Line<br><br>Next paragraph &lt;b&gt;bold?&lt;/b&gt;</p><ul><li>first</li><li>second</li></ul>"
        "<iframe src='x'>hidden</iframe>tail text"
    )
    assert markdown_from_html(html) == (
        "## Heading\n\nOne & two.\n\nLine\n\nNext paragraph \\<b>bold?\\</b>\n\n- first\n\n- second\n\ntail text"
    )
    assert plain_text("<p>A <b>bold</b>\n claim.</p><p>More.</p>") == "A bold claim. More."


def test_slugs_from_titles() -> None:
    assert slug_from_title("Ça va? The bell's back!") == "ca-va-the-bells-back"
    assert slug_from_title("  --Tide-mill: 90 years!--  ") == "tide-mill-90-years"
    long = slug_from_title("word " * 40)
    assert len(long) <= 80 and not long.endswith("-") and long.startswith("word-word")


def test_reading_minutes_round_up() -> None:
    assert [reading_minutes("w " * n) for n in (0, 1, 200, 201, 401)] == [1, 1, 1, 2, 3]


@given(st.text(alphabet=st.sampled_from("abc de\u00e9 .,"), max_size=600))
def test_excerpts_fit_and_are_cut_at_a_word(text: str) -> None:
    excerpt = cut_excerpt(text)
    assert len(excerpt) <= 280
    flat = " ".join(text.split())
    if len(flat) <= 280:
        assert excerpt == flat
    else:
        assert excerpt.endswith("…")
        kept = excerpt[:-1]
        assert flat.startswith(kept)
        rest = flat[len(kept) :]
        # Cut at a space (then trailing punctuation dropped), unless the first 280 characters hold no space at all.
        assert rest[:1] in (" ", ",", ";", ":", "-") or " " not in flat[:280]


# --- the poller -----------------------------------------------------------------------------------------------------


def test_a_poll_publishes_new_entries_then_leaves_them_unless_they_change(tmp_path: Path) -> None:
    desk = Newsdesk(tmp_path)
    documents = {"http://gazette.example/feed": ATOM, "http://valleywire.example/rss": RSS}
    poller = FeedPoller(desk.service, list(documents), 900.0, fetch=documents.__getitem__)
    first = poller.poll()
    assert first[:2] == [f"published: {MILL}", f"published: {SEAGRASS}"]
    assert first[2].startswith("skipped: feed entry 'Ferry timetable changes for the winter': body has 31 words")
    assert first[3] == f"published: {CLINIC}" and first[4].startswith("skipped: ") and "field 'category'" in first[4]
    assert (
        MILL in desk.corpus and MILL in desk.passages and desk.store.source(MILL) == "feed:http://gazette.example/feed"
    )
    assert poller.poll()[:2] == [f"unchanged: {MILL}", f"unchanged: {SEAGRASS}"]
    documents["http://gazette.example/feed"] = ATOM.replace(b"a sack of wholemeal", b"two sacks of wholemeal")
    assert poller.poll()[0] == f"updated: {MILL}"
    desk.service.unpublish(MILL)
    documents["http://gazette.example/feed"] = ATOM.replace(b"a sack of wholemeal", b"three sacks of wholemeal")
    assert poller.poll()[0] == f"skipped (withdrawn by an editor): {MILL}"
    assert MILL not in desk.corpus


def test_a_feed_that_cannot_be_read_is_reported_and_the_others_still_polled(tmp_path: Path) -> None:
    desk = Newsdesk(tmp_path)

    def fetch(url: str) -> bytes:
        if "broken" in url:
            raise FeedError(f"{url}: cannot be read (connection refused)")
        return RSS

    lines = FeedPoller(
        desk.service, ["http://broken.example/feed", "http://valleywire.example/rss"], 60, fetch=fetch
    ).poll()
    assert lines[0] == "failed: http://broken.example/feed: cannot be read (connection refused)"
    assert lines[1] == f"published: {CLINIC}"


def test_the_thread_polls_at_start_and_stops_on_close(tmp_path: Path) -> None:
    desk = Newsdesk(tmp_path)
    fetched = threading.Event()

    def fetch(_url: str) -> bytes:
        fetched.set()
        return RSS

    poller = FeedPoller(desk.service, ["http://valleywire.example/rss"], 3600.0, fetch=fetch)
    poller.start()
    assert fetched.wait(timeout=30)
    poller.close()
    assert not poller.running
    with pytest.raises(RuntimeError, match="already running"):
        poller.start()
    with pytest.raises(ValueError, match=r"^interval:"):
        FeedPoller(desk.service, [], 0)
