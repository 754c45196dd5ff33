"""The registry of open tabs the server pushes to: it holds open tabs only, found by reader or by page."""

from __future__ import annotations

from media_demo.state.clients import TABS_PER_READER, OpenTabs


def test_tabs_are_found_by_reader_and_by_page() -> None:
    tabs = OpenTabs()
    tabs.add("reader-a", "tab-1")
    tabs.on_page("tab-1", "/article/x")
    tabs.add("reader-a", "tab-2")
    tabs.on_page("tab-2", "/")
    tabs.on_page("tab-1", "/")  # tab-1 moved on
    assert tabs.tokens("reader-a") == ["tab-1", "tab-2"]
    assert sorted(tabs.showing("/")) == ["tab-1", "tab-2"]
    assert tabs.showing("/article/x") == []


def test_prune_drops_every_tab_that_is_no_longer_connected() -> None:
    tabs = OpenTabs()
    for n in range(3):
        tabs.add(f"reader-{n}", f"tab-{n}")
        tabs.on_page(f"tab-{n}", "/")
    assert tabs.prune({"tab-1"}) == 2
    assert len(tabs) == 1
    assert tabs.tokens("reader-0") == [] and tabs.tokens("reader-1") == ["tab-1"]
    assert tabs.showing("/") == ["tab-1"]
    assert tabs.prune(set()) == 1 and len(tabs) == 0


def test_a_reader_keeps_only_their_most_recent_tabs() -> None:
    tabs = OpenTabs()
    for n in range(TABS_PER_READER + 2):
        tabs.add("reader", f"tab-{n}")
    assert tabs.tokens("reader") == [f"tab-{n}" for n in range(2, TABS_PER_READER + 2)]


def test_forget_drops_a_deleted_readers_tabs_and_pages() -> None:
    tabs = OpenTabs()
    tabs.add("gone", "tab-1")
    tabs.on_page("tab-1", "/article/x")
    tabs.add("stays", "tab-2")
    tabs.on_page("tab-2", "/article/x")
    tabs.forget("gone")
    assert tabs.tokens("gone") == [] and tabs.showing("/article/x") == ["tab-2"]
