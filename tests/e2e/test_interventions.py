"""Three stories of one section in a visit: the newsletter offer appears in the open page, once."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleErrors, accept_all
from tests.e2e.test_live_recommendations import open_section, read_article_from_listing


def test_the_topic_newsletter_offer_is_pushed_live_and_only_once(page: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = page
    tab.goto("/")
    expect(tab.get_by_test_id("latest")).to_be_visible()
    accept_all(tab)  # without consent no session attributes exist, so no offer could fire
    open_section(tab, "Culture")
    slugs = tab.locator("[data-testid=article-card][data-category=culture]").evaluate_all(
        "els => els.map(e => e.dataset.slug)"
    )[:4]
    for slug in slugs[:2]:
        read_article_from_listing(tab, slug, "Culture")
    expect(tab.get_by_test_id("intervention")).to_have_count(0)

    read_article_from_listing(tab, slugs[2], "Culture")
    offer = tab.get_by_test_id("intervention")
    expect(offer).to_be_visible(timeout=15_000)  # pushed by the server: the page does not poll
    expect(offer).to_have_attribute("data-name", "topic_newsletter")
    expect(offer).to_contain_text("The Culture briefing")
    expect(offer).to_contain_text("3 culture stories in this visit")
    tab.get_by_test_id("intervention-dismiss").click()
    expect(offer).to_have_count(0)

    read_article_from_listing(tab, slugs[3], "Culture")  # a fourth: no second offer
    tab.wait_for_timeout(1500)
    expect(tab.get_by_test_id("intervention")).to_have_count(0)
    assert errors == []
