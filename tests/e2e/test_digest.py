"""The e-mail digest in Chromium: subscribe on /account, confirm from the mail the SMTP server received,
get a digest that opens with the section the reader reads most, click a story in it and land on that
story, the click counted in their profile; then leave with the mail's unsubscribe link, no sign-in."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, expect
from reflex.testing import AppHarness
from reflex_base.config import get_config
from snowplow_signals import SignalsSandbox

from media_demo.newsroom import get_corpus, get_newsroom
from tests.e2e.conftest import TIMEOUT_MS, accept_all
from tests.e2e.test_privacy import sign_up
from tests.mailserver import SmtpServer, html_links, html_of, text_of, wait


def test_subscribe_confirm_receive_click_and_unsubscribe(app: AppHarness, browser: Browser, mail: SmtpServer) -> None:
    room = get_newsroom()
    api_url = get_config().api_url
    email = f"digest-{uuid.uuid4().hex[:8]}@example.org"
    context = browser.new_context(base_url=app.frontend_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto("/")
        accept_all(tab)
        sign_up(tab, "Dora", email, "a-long-password")
        corpus = get_corpus()
        read = corpus.in_category("science")[:2] + corpus.in_category("culture")[:1]
        for story in read:
            tab.goto(f"/article/{story.slug}")
            # This story's own mark: the page may still show the previous story until its visit is tracked.
            expect(
                tab.locator(f"[data-testid=article][data-slug='{story.slug}'] [data-testid=read-indicator]")
            ).to_be_visible()

        tab.goto("/account")
        card = tab.get_by_test_id("digest-card")
        card.get_by_test_id("digest-daily").check()
        card.get_by_test_id("digest-subscribe").click()
        expect(card.get_by_test_id("digest-notice")).to_contain_text("we sent you an e-mail")
        expect(card.get_by_test_id("digest-status")).to_have_attribute("data-status", "pending")

        wait(lambda: len(mail.mailbox.to(email)) == 1)
        [confirmation] = mail.mailbox.to(email)
        [confirm] = html_links(confirmation)
        assert urlsplit(confirm).netloc == urlsplit(app.frontend_url).netloc
        tab.goto(confirm)
        tab.get_by_test_id("email-link-button").click()
        expect(tab.get_by_test_id("email-link-done")).to_contain_text("subscribed to the daily digest")

        account = room.accounts.authenticate(email, "a-long-password")
        assert account is not None
        sent = httpx.post(
            f"{api_url}/api/digests/send",
            json={"user_ids": [account.user_id]},
            headers={"Authorization": f"Bearer {room.api_token}"},
            timeout=30,
        )
        assert sent.status_code == 200 and sent.json()["sent"] == [account.user_id], sent.text
        wait(lambda: len(mail.mailbox.to(email)) == 2)
        digest = mail.mailbox.to(email)[1]
        html = html_of(digest)
        headings = re.findall(r'<div class="heading"[^>]*>([^<]+)</div>', html)
        assert headings[0] == "Science", f"the digest opens with the reader's most-read section: {headings}"
        assert not any(f"/article/{s.slug}" in text_of(digest) for s in read)

        first = next(link for link in html_links(digest) if "/r/tp2?" in link)
        tab.goto(first)  # the collector records the click and redirects to the story
        tab.wait_for_url(re.compile(r"/article/"))
        slug = tab.url.rsplit("/", 1)[1]
        story = corpus.get(slug)
        assert story is not None and story.category == "science"
        expect(tab.locator("[data-testid=article]")).to_have_attribute("data-slug", slug)
        expect(tab.get_by_test_id("masthead-account")).to_have_text("Dora")  # still this browser's own session

        signals = SignalsSandbox(api_url=api_url, sandbox_token=room.api_token)
        names = ["digests_received", "email_clicks", "favourite_email_section"]
        engagement = signals.get_group_attributes("email_engagement", 1, names, "user_id", account.user_id)
        assert {name: engagement[name] for name in names} == {
            "digests_received": 1,
            "email_clicks": 1,
            "favourite_email_section": "science",
        }

        # The visible unsubscribe link works in a browser signed in to nothing.
        unsubscribe = next(link for link in html_links(digest) if "/email/unsubscribe?" in link)
        stranger = browser.new_context(base_url=app.frontend_url).new_page()
        stranger.goto(unsubscribe)
        stranger.get_by_test_id("email-link-button").click()
        expect(stranger.get_by_test_id("email-link-done")).to_contain_text("unsubscribed")
        stranger.context.close()
        tab.goto("/account")
        expect(tab.get_by_test_id("digest-status")).to_have_attribute("data-status", "unsubscribed")
        assert errors == []
    finally:
        context.close()
