"""Issue 14's "done": a story published through the API while readers have the site open.

With the app running: an API call publishes a story; an open front page shows it in
"Latest" without a reload; it opens at its address; a reader of a related story gets it
recommended; unpublishing takes it off every page, the open story page says so, and its
address answers 410.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from playwright.sync_api import Browser, Page, expect
from reflex.testing import AppHarness

from media_demo.articles import Article
from media_demo.newsroom import get_newsroom
from tests.e2e.conftest import TIMEOUT_MS, ConsoleErrors, accept_all
from tests.e2e.test_inspector import backend_url
from tests.e2e.test_live_recommendations import PANEL_SETTLED

RELATED = "fenwick-valley-grid-battery-farm-opens"


def related_story() -> Article:
    """A shipped technology story the new one is written close to (so it is its nearest neighbour)."""
    corpus = get_newsroom().corpus
    article = corpus.get(RELATED) or corpus.in_category("technology")[0]
    return article


def story_close_to(article: Article, slug: str) -> dict[str, object]:
    """A new story on the same subject as `article`: its paragraphs in another order, with a follow-up line."""
    paragraphs = [p for p in article.body.split("\n\n") if p.strip()]
    body = "\n\n".join([*reversed(paragraphs), "Engineers on the site said a second phase would follow next year."])
    return {
        "slug": slug,
        "title": f"Follow-up: {article.title}",
        "excerpt": "What happened next, a season after the first report.",
        "category": article.category,
        "author": "Test Desk",
        "published": dt.date.today().isoformat(),  # the newest story: first in "Latest"
        "reading_minutes": article.reading_minutes,
        "tags": list(article.tags),
        "body": body,
    }


def latest_slugs(tab: Page) -> list[str]:
    return tab.locator("[data-testid=latest] [data-testid=article-card]").evaluate_all(
        "els => els.map(e => e.dataset.slug)"
    )


def test_a_story_published_through_the_api_goes_live_and_comes_off_again(
    page: tuple[Page, ConsoleErrors], app: AppHarness, browser: Browser
) -> None:
    home, errors = page
    api = backend_url(app)
    auth = {"Authorization": f"Bearer {get_newsroom().api_token}"}
    slug = f"follow-up-{uuid.uuid4().hex[:8]}"
    related = related_story()

    home.goto("/")
    home.wait_for_selector(PANEL_SETTLED)
    accept_all(home)
    home.evaluate("window.__sameDocument = true")  # survives only if nothing reloads the page
    assert slug not in latest_slugs(home)

    published = httpx.post(f"{api}/api/articles", json=story_close_to(related, slug), headers=auth, timeout=30)
    assert published.status_code == 201, published.text
    try:
        # The open front page shows it in "Latest", pushed: no reload.
        expect(
            home.locator(f"[data-testid=latest] [data-testid=article-card][data-slug='{slug}']").first
        ).to_be_visible()
        assert home.evaluate("window.__sameDocument") is True

        # It opens at its address, for another reader (a full page load of the one story route).
        other = browser.new_context(base_url=app.frontend_url, viewport={"width": 390, "height": 844})
        other.set_default_timeout(TIMEOUT_MS)
        story = other.new_page()
        story.goto(f"/article/{slug}")
        expect(story.get_by_test_id("article")).to_have_attribute("data-slug", slug)
        expect(story.locator("h1.headline")).to_have_text(f"Follow-up: {related.title}")

        # A reader of the related story gets it recommended: "More like this" and their panel.
        home.goto(f"/article/{related.slug}")
        expect(home.get_by_test_id("article")).to_have_attribute("data-slug", related.slug)
        expect(home.locator(f".more-like-this [data-testid=article-card][data-slug='{slug}']")).to_be_visible()
        expect(home.locator(f"[data-testid=recommendation][data-slug='{slug}']")).to_be_visible()
    finally:
        withdrawn = httpx.delete(f"{api}/api/articles/{slug}", headers=auth, timeout=30)
    assert withdrawn.status_code == 204, withdrawn.text

    # Unpublished: the open story page says so, the panel and "More like this" drop it, its address answers 410.
    expect(story.get_by_test_id("story-gone")).to_be_visible()
    expect(story.get_by_test_id("story-gone")).to_contain_text(f"Follow-up: {related.title}")
    expect(home.locator(f"[data-testid=recommendation][data-slug='{slug}']")).to_have_count(0)
    expect(home.locator(f".more-like-this [data-testid=article-card][data-slug='{slug}']")).to_have_count(0)
    home.goto("/")
    expect(home.locator(f"[data-testid=article-card][data-slug='{slug}']")).to_have_count(0)
    assert httpx.get(f"{api}/api/articles/{slug}", timeout=30).status_code == 410
    other.close()
    assert not errors
