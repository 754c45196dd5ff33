"""One reader, two devices: signing in on both makes their reading one history, counted once."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, Page, expect
from reflex.testing import AppHarness

from media_demo.newsroom import get_corpus, get_newsroom
from media_demo.signals.engine.consent import BEHAVIOURAL
from tests.e2e.conftest import TIMEOUT_MS, ConsoleErrors, accept_all, cookie
from tests.e2e.test_live_recommendations import open_section, read_article_from_listing
from tests.e2e.test_privacy import go_home, sign_up

SECTION = "Business"
SLUGS = [a.slug for a in get_corpus().in_category(SECTION.lower())[:3]]


def device(browser: Browser, app: AppHarness) -> tuple[Page, ConsoleErrors]:
    """A new browser (no cookies) that has said yes to personalisation."""
    context = browser.new_context(base_url=app.frontend_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors = ConsoleErrors()
    tab.on("console", errors.record)
    tab.goto("/")
    accept_all(tab)
    return tab, errors


def sign_in(tab: Page, email: str, password: str) -> None:
    tab.get_by_test_id("signin-email").fill(email)
    tab.get_by_test_id("signin-password").fill(password)
    tab.get_by_test_id("signin-submit").click()


def read_marks(tab: Page) -> set[str]:
    """Slugs of the section-front cards that carry a read mark."""
    marked = tab.locator("[data-testid=article-card]:has([data-testid=read-indicator])")
    return set(marked.evaluate_all("els => els.map(e => e.dataset.slug)"))


def assert_recommendations_skip(tab: Page, read: list[str]) -> None:
    """The front page's panel follows the merged history: the last story read on either device, none read."""
    go_home(tab)
    title = get_corpus().get(read[-1]).title
    panel = tab.get_by_test_id("recommendations")
    expect(panel).to_contain_text(f"Because you read “{title}”")
    shown = tab.get_by_test_id("recommendation").evaluate_all("els => els.map(e => e.dataset.slug)")
    assert shown and not set(shown) & set(read), f"already read, still recommended: {set(shown) & set(read)}"


def test_two_devices_signed_in_to_one_account_share_one_history(app: AppHarness, browser: Browser) -> None:
    laptop, laptop_errors = device(browser, app)
    phone, phone_errors = device(browser, app)
    try:
        email, password = f"reader-{uuid.uuid4().hex[:12]}@example.org", "a long enough secret"
        sign_up(laptop, "Ada", email, password)
        open_section(laptop, SECTION)
        for slug in SLUGS[:2]:
            read_article_from_listing(laptop, slug, SECTION)

        # The phone: wrong password and a taken email are refused in words, then the real sign-in.
        phone.get_by_test_id("masthead-signin").click()
        phone.wait_for_url("**/account")
        sign_in(phone, email, "not the password")
        expect(phone.get_by_test_id("signin-error")).to_have_text("Wrong email or password.")
        sign_in(phone, "nobody-" + email, password)
        expect(phone.get_by_test_id("signin-error")).to_have_text("Wrong email or password.")
        phone.get_by_test_id("signup-email").fill(email)
        phone.get_by_test_id("signup-password").fill(password)
        phone.get_by_test_id("signup-submit").click()
        expect(phone.get_by_test_id("signup-error")).to_have_text("An account with this email already exists.")
        sign_in(phone, email.upper(), password)  # emails are not case-sensitive
        phone.wait_for_url(re.compile(r"/$"))
        expect(phone.get_by_test_id("masthead-account")).to_have_text("Ada")

        open_section(phone, SECTION)
        expect(
            phone.locator(f"[data-testid=article-card][data-slug='{SLUGS[1]}'] [data-testid=read-indicator]")
        ).to_be_visible()
        assert read_marks(phone) == set(SLUGS[:2])  # read on the laptop, marked on the phone
        read_article_from_listing(phone, SLUGS[2], SECTION)

        open_section(laptop, SECTION)  # a new page view on the laptop: it learns of the phone's read
        expect(
            laptop.locator(f"[data-testid=article-card][data-slug='{SLUGS[2]}'] [data-testid=read-indicator]")
        ).to_be_visible()
        assert read_marks(laptop) == set(SLUGS)

        for tab in (laptop, phone):
            assert_recommendations_skip(tab, SLUGS)

        room = get_newsroom()
        account = room.accounts.authenticate(email, password)
        assert account is not None
        devices = [cookie(laptop, "dc_duid"), cookie(phone, "dc_duid")]
        assert all(devices) and sorted(room.memory.links.devices(account.user_id)) == sorted(devices)
        for duid in devices:
            merged = room.views.attributes(duid, account.user_id)
            assert merged["article_read_count"] == 3, merged
            assert sorted(merged["articles_read"]) == sorted(SLUGS)

        # Signing out: a fresh anonymous id for the laptop, its consent kept, the account no longer shown.
        before = cookie(laptop, "dc_duid")
        laptop.get_by_test_id("masthead-signout").click()
        expect(laptop.get_by_test_id("masthead-signin")).to_be_visible()
        after = cookie(laptop, "dc_duid")
        assert after and after != before
        assert cookie(laptop, "dc_account") in (None, "")
        expect(laptop.get_by_test_id("consent-banner")).to_have_count(0)
        consent = room.privacy.consent_of(after)
        assert consent is not None and consent.allows(BEHAVIOURAL)
        expect(laptop.get_by_test_id("read-indicator")).to_have_count(0)  # the account's reads are not this reader's
        assert laptop_errors == [] and phone_errors == []
    finally:
        laptop.context.close()
        phone.context.close()
