"""Your data: a reader sees their own attributes and events, updated live from any tab, and nobody else's."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

from playwright.sync_api import Browser, Locator, Page, expect
from reflex.testing import AppHarness

from media_demo.newsroom import get_corpus, get_newsroom
from tests.e2e.conftest import TIMEOUT_MS, ConsoleErrors, accept_all, cookie
from tests.e2e.test_live_recommendations import open_section, read_article_from_listing

SECTION = "Sport"
SLUGS = [a.slug for a in get_corpus().in_category(SECTION.lower())[:3]]  # three in one visit: an offer fires


def attribute(tab: Page, name: str, group: str = "reader_profile") -> Locator:
    return tab.locator(
        f"[data-testid=attribute-group][data-group={group}] [data-testid=attribute][data-name={name}]"
        " [data-testid=attribute-value]"
    )


def read(tab: Page, slug: str) -> None:
    tab.goto(f"/article/{slug}")
    expect(tab.locator(f"[data-testid=article][data-slug='{slug}'] [data-testid=read-indicator]")).to_be_visible()


def event_ids(tab: Page) -> set[str]:
    return set(tab.get_by_test_id("event-row").evaluate_all("els => els.map(e => e.dataset.eventId)"))


def backend_url(app: AppHarness) -> str:
    assert app.backend is not None and app.backend.servers
    host, port = app.backend.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


def send_bad_pixel(app: AppHarness, domain_userid: str) -> None:
    """A tracker request from this reader that fails validation: the collector keeps it as a bad event."""
    query = urllib.parse.urlencode({"e": "pv", "eid": "not-a-uuid", "duid": domain_userid, "url": "http://x/bad-page"})
    with urllib.request.urlopen(f"{backend_url(app)}/i?{query}", timeout=10) as response:
        assert response.status == 200


def test_the_inspector_shows_the_readers_own_data_live(
    page: tuple[Page, ConsoleErrors], app: AppHarness, browser: Browser
) -> None:
    tab, errors = page
    first, second, third = SLUGS

    tab.goto("/")
    accept_all(tab)
    read(tab, first)
    tab.get_by_test_id("footer-inspector").click()  # client-side, like every link
    tab.wait_for_url("**/inspector")
    expect(attribute(tab, "article_read_count")).to_have_text("1")
    expect(attribute(tab, "articles_read")).to_have_text(first)
    # Profile, engagement, assistant and search by reader, a session, and two batch groups (reading history,
    # features); the CRM's subscription group is by account, so not shown to a reader who is not signed in.
    expect(tab.get_by_test_id("attribute-group")).to_have_count(7)
    expect(tab.locator("[data-testid=attribute-group][data-group=reader_search]")).to_be_visible()
    expect(tab.locator("[data-testid=attribute-group][data-group=reader_session]")).to_contain_text("v1")
    expect(tab.get_by_test_id("inspector-segment")).not_to_be_empty()
    reader = tab.get_by_test_id("inspector-reader").inner_text()
    assert reader == cookie(tab, "dc_duid")
    tab.evaluate("window.__sameDocument = true")  # survives only if nothing reloads the page

    # The same tab: another story, then back to the inspector.
    open_section(tab, SECTION)
    read_article_from_listing(tab, second, SECTION)
    tab.go_back()
    tab.wait_for_url("**/inspector")
    expect(attribute(tab, "article_read_count")).to_have_text("2")
    expect(attribute(tab, "articles_read")).to_have_text(f"{first}, {second}")

    # A bad event of this reader, then a story read in a second tab: the open inspector updates by itself.
    send_bad_pixel(app, reader)
    other_tab = tab.context.new_page()
    other_tab.set_default_timeout(TIMEOUT_MS)
    read(other_tab, third)
    expect(attribute(tab, "article_read_count")).to_have_text("3", timeout=15_000)
    expect(tab.get_by_test_id("inspector-live")).to_be_visible()
    newest_read = tab.locator("[data-testid=event-row][data-name=article_detail]").first
    expect(newest_read).to_contain_text(f"slug: {third}")
    expect(newest_read).to_contain_text(f"/article/{third}")
    bad = tab.locator("[data-testid=event-row][data-status=bad]")
    expect(bad).to_have_count(1)
    expect(bad).to_contain_text("field 'eid' (event_id) must be a UUID, got 'not-a-uuid'")
    expect(bad).to_contain_text("/bad-page")
    # Three sport stories in one visit fire the sport newsletter offer: it is listed with its reason.
    offer = tab.locator("[data-testid=intervention-row][data-name=topic_newsletter]")
    expect(offer).to_have_count(1)
    expect(offer).to_contain_text(re.compile(r"sport_reads: 3"))
    assert tab.evaluate("window.__sameDocument === true"), "the inspector reloaded"
    mine = event_ids(tab)
    assert len(mine) >= 6  # three page views and three article views at least

    # Another reader (another browser) sees only their own data, whatever the URL says.
    stranger = browser.new_context(base_url=app.frontend_url)
    try:
        theirs = stranger.new_page()
        theirs.set_default_timeout(TIMEOUT_MS)
        theirs.goto(f"/inspector?domain_userid={reader}")
        expect(attribute(theirs, "article_read_count")).to_have_text("0")
        expect(attribute(theirs, "articles_read")).to_have_text("—")
        accept_all(theirs)  # until then their page view is anonymous: no event of theirs to list
        expect(theirs.get_by_test_id("event-row").first).to_be_visible()  # their own consent event
        assert theirs.get_by_test_id("inspector-reader").inner_text() != reader
        assert not event_ids(theirs) & mine
        expect(theirs.locator("[data-testid=event-row][data-status=bad]")).to_have_count(0)
        expect(theirs.get_by_test_id("intervention-row")).to_have_count(0)
    finally:
        stranger.close()
    assert errors == []


def test_batch_attributes_show_when_they_were_computed_and_update_after_a_run(
    page: tuple[Page, ConsoleErrors], app: AppHarness
) -> None:
    tab, errors = page
    tab.goto("/")
    accept_all(tab)
    read(tab, SLUGS[0])
    tab.goto("/inspector")
    history = tab.locator("[data-testid=attribute-group][data-group=reading_history]")
    expect(history).to_have_attribute("data-kind", "batch")
    expect(history.get_by_test_id("group-freshness")).to_have_text("Batch · not computed for you yet")
    expect(attribute(tab, "stories_read", "reading_history")).to_have_text("0")

    # The newsroom runs its batch groups (on its schedule, or on demand as here): the open page follows.
    request = urllib.request.Request(
        f"{backend_url(app)}/api/batch/run",
        data=b'{"groups": ["reading_history_v1"]}',
        headers={"Authorization": f"Bearer {get_newsroom().api_token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    expect(attribute(tab, "stories_read", "reading_history")).to_have_text("1", timeout=15_000)
    expect(attribute(tab, "favourite_section", "reading_history")).to_have_text(SECTION.lower())
    expect(history.get_by_test_id("group-freshness")).to_contain_text("Batch · computed")
    expect(tab.locator("[data-testid=attribute-group][data-group=reader_profile] .insp-freshness")).to_have_text(
        "Streaming · live"
    )
    assert errors == []
