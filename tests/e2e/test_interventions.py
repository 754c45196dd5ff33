"""Three stories of one section in a visit: the newsletter offer appears in the open page, once; accepting it
subscribes a signed-in reader to that section's briefing (double opt-in) and asks anyone else to sign in."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect
from reflex.testing import AppHarness

from tests.e2e.conftest import TIMEOUT_MS, ConsoleErrors, accept_all
from tests.e2e.test_live_recommendations import open_section, read_article_from_listing
from tests.e2e.test_privacy import sign_up
from tests.mailserver import SmtpServer, text_of, wait


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


def _trigger_briefing_offer(tab: Page, section: str) -> None:
    open_section(tab, section)
    slugs = tab.locator(f"[data-testid=article-card][data-category={section.lower()}]").evaluate_all(
        "els => els.map(e => e.dataset.slug)"
    )[:3]
    for slug in slugs:
        read_article_from_listing(tab, slug, section)
    expect(tab.get_by_test_id("intervention")).to_have_attribute("data-name", "topic_newsletter", timeout=15_000)


def test_accepting_the_briefing_offer_subscribes_a_signed_in_reader_and_asks_others_to_sign_in(
    page: tuple[Page, ConsoleErrors], app: AppHarness, browser: Browser, mail: SmtpServer
) -> None:
    tab, errors = page
    tab.goto("/")
    accept_all(tab)
    _trigger_briefing_offer(tab, "Sport")
    tab.get_by_test_id("intervention-accept").click()
    expect(tab.get_by_test_id("intervention-thanks")).to_contain_text("Sign in or create a free account")
    tab.get_by_role("link", name="Sign in or create an account").click()
    tab.wait_for_url("**/account")
    assert errors == []

    # Another reader, signed in before the offer comes (it fires once per reader).
    context = browser.new_context(base_url=app.frontend_url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        phone = context.new_page()
        phone.goto("/")
        accept_all(phone)
        email = f"briefing-{uuid.uuid4().hex[:8]}@example.org"
        sign_up(phone, "Ravi", email, "a-long-password")
        _trigger_briefing_offer(phone, "Health")
        phone.get_by_test_id("intervention-accept").click()
        expect(phone.get_by_test_id("intervention-thanks")).to_contain_text("confirm from the e-mail we just sent you")
        wait(lambda: len(mail.mailbox.to(email)) == 1)
        assert "Health briefing" in text_of(mail.mailbox.to(email)[0])
        phone.goto("/account")
        expect(phone.get_by_test_id("digest-status")).to_have_attribute("data-status", "pending")
        expect(phone.get_by_test_id("briefing-health")).to_be_checked()
    finally:
        context.close()
