"""The search box: a reader searches from the masthead and gets ranked results, then searches again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from media_demo.newsroom import get_newsroom
from tests.e2e.conftest import ConsoleErrors, accept_all

QUERY = "comet"


def search_from_masthead(tab: Page, query: str) -> None:
    box = tab.locator(".search-form-masthead [data-testid=search-input]")
    box.fill(query)
    box.press("Enter")


def test_a_reader_searches_the_archive_from_any_page(page: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = page
    tab.goto("/")
    accept_all(tab)
    search_from_masthead(tab, QUERY)
    tab.wait_for_url(re.compile(rf"/search\?q={QUERY}$"))
    summary = tab.get_by_test_id("search-summary")
    expect(summary).to_contain_text(f"match “{QUERY}”")
    first = tab.locator("[data-testid=search-results] [data-testid=article-card]").first
    expect(first).to_be_visible()
    slug = first.get_attribute("data-slug")
    article = get_newsroom().corpus.get(slug or "")
    assert article is not None and QUERY in f"{article.title} {article.body}".lower()
    expect(first.locator(".card-excerpt")).to_contain_text(re.compile(QUERY, re.IGNORECASE))
    expect(tab).to_have_title(re.compile(rf"^{QUERY} — The Daily Current$"))

    # A search that finds nothing says so; the page's own box searches again, without a reload.
    tab.evaluate("window.__sameDocument = true")
    box = tab.locator(".search-form-page [data-testid=search-input]")
    expect(box).to_have_value(QUERY)  # the results page shows what was searched for, ready to refine
    box.fill("qwertyuiopasdf")
    box.press("Enter")
    expect(summary).to_contain_text("Nothing in the archive matches “qwertyuiopasdf”")
    expect(tab.locator("[data-testid=search-results] [data-testid=article-card]")).to_have_count(0)
    expect(box).to_have_value("qwertyuiopasdf")
    search_from_masthead(tab, "harbour")  # another search from the masthead: the page's box follows it
    expect(summary).to_contain_text("match “harbour”")
    expect(box).to_have_value("harbour")
    assert tab.evaluate("window.__sameDocument") is True
    assert not errors
