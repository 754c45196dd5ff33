"""A reader reads three technology stories; the home page has changed when they return."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from media_demo.newsroom import get_corpus
from tests.e2e.conftest import ConsoleErrors, accept_all

PANEL_SETTLED = "[data-testid=recommendations-empty], [data-testid=recommendation]"


def open_section(tab: Page, name: str) -> None:
    """Go to a section front through the navigation bar (client-side, no reload)."""
    tab.get_by_test_id("nav-link").filter(has_text=name).click()
    tab.wait_for_url(f"**/category/{name.lower()}")
    expect(tab.get_by_test_id("section-heading")).to_have_text(name)


def read_article_from_listing(tab: Page, slug: str, section: str) -> None:
    """Open a story from a card, wait until the visit is tracked, then go back."""
    tab.locator(f"[data-testid=article-card][data-slug='{slug}'] .card-title-link").first.click()
    tab.wait_for_url(f"**/article/{slug}")
    # The story's own read mark appears once the server has tracked the article view.
    # This story's own mark: a stale render of the previous story must not pass for it.
    expect(tab.locator(f"[data-testid=article][data-slug='{slug}'] [data-testid=read-indicator]")).to_be_visible()
    tab.go_back()
    tab.wait_for_url(f"**/category/{section.lower()}")
    expect(tab.get_by_test_id("section-heading")).to_have_text(section)


def test_recommendations_update_live_without_a_reload(page: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = page
    tab.goto("/")
    tab.wait_for_selector(PANEL_SETTLED)
    cold = tab.locator("[data-testid=recommendation]")
    if cold.count():  # other readers exist: the cold start is popular articles
        assert set(cold.evaluate_all("els => els.map(e => e.dataset.kind)")) == {"popular"}
    else:
        expect(tab.get_by_test_id("recommendations-empty")).to_be_visible()
    accept_all(tab)  # reading builds a profile only with the reader's consent
    expect(tab.get_by_test_id("consent-note")).to_have_count(0)
    tab.evaluate("window.__sameDocument = true")  # survives only if nothing reloads the page

    open_section(tab, "Technology")
    slugs = tab.locator("[data-testid=article-card][data-category=technology]").evaluate_all(
        "els => els.map(e => e.dataset.slug)"
    )[:3]
    assert len(slugs) == 3
    for slug in slugs:
        read_article_from_listing(tab, slug, "Technology")

    for slug in slugs:
        expect(
            tab.locator(f"[data-testid=article-card][data-slug='{slug}'] [data-testid=read-indicator]")
        ).to_be_visible()

    tab.go_back()
    tab.wait_for_url(re.compile(r"/$"))
    expect(tab.get_by_test_id("latest")).to_be_visible()
    recommendations = tab.get_by_test_id("recommendation")
    expect(recommendations).to_have_count(3)
    first = recommendations.first
    expect(first).to_have_attribute("data-category", "technology")
    expect(first).to_contain_text("More in Technology")
    last_title = get_corpus().get(slugs[-1]).title
    expect(tab.get_by_test_id("recommendations")).to_contain_text(f"Because you read “{last_title}”")
    shown = recommendations.evaluate_all("els => els.map(e => e.dataset.slug)")
    assert not set(shown) & set(slugs), "an article already read was recommended"
    assert len(set(shown)) == 3

    # The front page opens "Latest" on the reader's section, without the stories it already shows above.
    expect(tab.get_by_role("tab", name="Technology")).to_have_attribute("aria-selected", "true")
    expect(tab.get_by_role("tab").nth(1)).to_have_accessible_name("Technology")  # first after "All sections"
    visible = "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.slug)"
    above = tab.locator("[data-testid=featured] [data-testid=article-card]").evaluate_all(visible)
    latest = tab.locator("[data-testid=latest] [data-testid=article-card]").evaluate_all(visible)
    assert len(above) == 4 and len(latest) == 6, (above, latest)
    assert not set(above) & set(latest), f"the front page shows {set(above) & set(latest)} twice"
    teasers = tab.locator("[data-testid=featured] .lead-secondary [data-testid=article-card]").evaluate_all(visible)
    assert len(teasers) == 3 and not set(teasers) & set(shown), "a teaser is also recommended beside it"

    assert tab.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert errors == []


def test_unknown_article_and_section_show_a_friendly_404(page: tuple[Page, ConsoleErrors]) -> None:
    tab, _errors = page
    for path in ["/article/no-such-story", "/category/astrology"]:
        tab.goto(path)
        expect(tab.get_by_test_id("not-found")).to_contain_text("We couldn't find that page")
    tab.get_by_role("link", name="Back to the front page").click()
    tab.wait_for_url(re.compile(r"/$"))
    expect(tab.get_by_test_id("article-card").first).to_be_visible()
