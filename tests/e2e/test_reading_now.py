"""'N reading now' is real: a second reader on the same story appears live for the first."""

from __future__ import annotations

from playwright.sync_api import Browser, expect
from reflex.testing import AppHarness

from media_demo.newsroom import get_corpus
from tests.e2e.conftest import accept_all

SLUG = get_corpus().in_category("science")[-1].slug  # an old story the other tests do not open


def test_a_second_reader_shows_up_live_and_nothing_is_shown_for_none(app: AppHarness, browser: Browser) -> None:
    first = browser.new_context(base_url=app.frontend_url)
    second = browser.new_context(base_url=app.frontend_url)
    try:
        mine = first.new_page()
        mine.set_default_timeout(60_000)
        # Only readers who consented are counted: an anonymous page view has no reader to count.
        mine.goto("/")
        accept_all(mine)
        mine.goto(f"/article/{SLUG}")
        expect(mine.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()
        expect(mine.get_by_test_id("reading-now")).to_have_count(0)  # alone: no fake number
        mine.evaluate("window.__sameDocument = true")

        theirs = second.new_page()
        theirs.set_default_timeout(60_000)
        theirs.goto("/")
        accept_all(theirs)
        theirs.goto(f"/article/{SLUG}")
        expect(theirs.get_by_test_id("reading-now")).to_have_text("1 other reader on this story now")
        expect(mine.get_by_test_id("reading-now")).to_have_text("1 other reader on this story now")
        assert mine.evaluate("window.__sameDocument === true")  # pushed, not reloaded
    finally:
        first.close()
        second.close()
