"""A/B experiments in the browser: two phone readers in different variants, their panels seen and clicked,
and the editors' dashboard showing it within seconds, with plots; readers get the dashboard's 403.

The browser tests' app runs tests/e2e/experiments/ (phones only), so the desktop readers of the other
browser tests keep today's strategy.
"""

from __future__ import annotations

import os
import re
import uuid

from playwright.sync_api import Browser, BrowserContext, Page, expect
from reflex.testing import AppHarness

from media_demo.accounts import EDITOR
from media_demo.experiments.assignment import assign
from media_demo.newsroom import get_corpus, get_newsroom
from media_demo.tracking import new_domain_userid
from media_demo.tracking.identity import SIGNATURE_COOKIE, USER_COOKIE, sign_domain_userid
from tests.e2e.conftest import TIMEOUT_MS, ConsoleErrors, accept_all
from tests.e2e.test_live_recommendations import open_section, read_article_from_listing
from tests.e2e.test_privacy import go_home, sign_up

EXPERIMENT = "recommendations-mobile"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
SECTION = "Science"


def reader_in(variant: str) -> str:
    """A new reader id that the experiment puts in `variant` (assignment is a pure hash: no table to seed)."""
    experiment = get_newsroom().experiments.get(EXPERIMENT)
    assert experiment is not None
    while True:
        candidate = new_domain_userid()
        placed = assign(experiment, candidate)
        if placed is not None and placed.variant == variant:
            return candidate


def phone(browser: Browser, app: AppHarness, domain_userid: str) -> tuple[BrowserContext, Page, ConsoleErrors]:
    """A phone whose browser already holds a reader id this server signed, as one it issued would."""
    assert app.frontend_url is not None
    context = browser.new_context(
        base_url=app.frontend_url, user_agent=PHONE, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    signature = sign_domain_userid(domain_userid, get_newsroom().cookie_secret)
    context.add_cookies(
        [
            {"name": USER_COOKIE, "value": domain_userid, "url": app.frontend_url},
            {"name": SIGNATURE_COOKIE, "value": signature, "url": app.frontend_url},
        ]
    )
    tab = context.new_page()
    errors = ConsoleErrors()
    tab.on("console", errors.record)
    tab.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return context, tab, errors


def see_and_click_a_recommendation(tab: Page) -> str:
    """On the front page: scroll the panel into view (its impression), then open its first story (a click)."""
    panel = tab.get_by_test_id("recommendations")
    panel.scroll_into_view_if_needed()
    first = panel.get_by_test_id("recommendation").first
    expect(first).to_be_visible()
    slug = first.get_attribute("data-slug")
    assert slug
    first.locator("a").click()
    tab.wait_for_url(f"**/article/{slug}")
    expect(tab.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()
    return slug


def variant_row(tab: Page, variant: str) -> object:
    return tab.locator(f"[data-testid=variant-row][data-variant={variant}]")


def test_two_phone_readers_in_two_variants_reach_the_editors_dashboard_within_seconds(
    app: AppHarness, browser: Browser
) -> None:
    room = get_newsroom()
    stories = [a.slug for a in get_corpus().in_category(SECTION.lower())[:2]]
    readers = {"control": reader_in("control"), "coread": reader_in("coread")}
    contexts: list[BrowserContext] = []
    try:
        # The editor: an account with the role, on a desktop browser.
        assert app.frontend_url is not None
        desk = browser.new_context(base_url=app.frontend_url, viewport={"width": 1280, "height": 900})
        contexts.append(desk)
        desk.set_default_timeout(TIMEOUT_MS)
        editor = desk.new_page()
        editor_errors = ConsoleErrors()
        editor.on("console", editor_errors.record)
        editor.goto("/")
        accept_all(editor)
        email = f"editor-{uuid.uuid4().hex[:10]}@example.org"
        sign_up(editor, "Edna", email, "a long enough secret")
        editor.goto("/account")
        expect(editor.get_by_test_id("account-signed-in")).to_be_visible()
        expect(editor.get_by_test_id("account-experiments")).to_have_count(0)  # not an editor yet: no link
        editor.goto("/experiments")
        expect(editor.get_by_test_id("experiments-forbidden")).to_contain_text("not an editor")
        room.accounts.grant(email, EDITOR)
        editor.goto("/account")  # an editor's account card leads to the dashboard
        editor.get_by_test_id("account-experiments").click()
        editor.wait_for_url("**/experiments")
        expect(editor.get_by_test_id("experiments-report")).to_be_visible()
        # Before anyone clicks, the lift cannot be drawn: the dashboard says why instead of empty axes.
        expect(editor.get_by_test_id("exp-lift-chart-empty")).to_contain_text("No lift to draw yet")
        expect(editor.get_by_test_id("exp-status")).to_have_text("running")

        # Two phone readers: each reads two stories (history), then sees the front page's panel and clicks it.
        errors: list[ConsoleErrors] = []
        for variant, domain_userid in readers.items():
            context, tab, tab_errors = phone(browser, app, domain_userid)
            contexts.append(context)
            errors.append(tab_errors)
            tab.goto("/")
            accept_all(tab)
            open_section(tab, SECTION)
            for slug in stories:
                read_article_from_listing(tab, slug, SECTION)
            go_home(tab)
            panel = tab.get_by_test_id("recommendations")
            expect(panel).to_have_attribute("data-panel-id", re.compile(r"^[0-9a-f-]{36}$"))
            see_and_click_a_recommendation(tab)
            tab.reload()  # the same reader again: the same variant (checked on the dashboard: one reader each)
            expect(tab.get_by_test_id("recommendations")).to_be_visible()
            assert domain_userid == readers[variant]

        # The dashboard, still open since before the readers came: live, without a reload.
        for variant in readers:
            row = variant_row(editor, variant)
            expect(row.get_by_test_id("variant-readers")).to_have_text("1", timeout=15_000)
            expect(row.get_by_test_id("variant-clicks")).not_to_have_text("0", timeout=15_000)
            expect(row.get_by_test_id("variant-impressions")).not_to_have_text("0")
        expect(editor.get_by_test_id("exp-verdict")).to_contain_text("Not enough data yet: 1 of the 10")
        expect(editor.get_by_test_id("exp-srm")).to_contain_text("split as configured")
        expect(editor.get_by_test_id("exp-ctr-chart").locator("svg.recharts-surface[role=application]")).to_be_visible()
        # One reader a variant is too few to estimate a lift: said in words, not drawn as empty axes.
        expect(editor.get_by_test_id("exp-lift-chart-empty")).to_be_visible()
        expect(editor.get_by_test_id("exp-ctr-chart").locator(".recharts-line")).to_have_count(2)

        if shots := os.environ.get("E2E_SCREENSHOTS"):  # for people: how the dashboard looks, wide and narrow
            editor.screenshot(path=f"{shots}/experiments-1280.png", full_page=True)
            editor.set_viewport_size({"width": 390, "height": 844})
            editor.screenshot(path=f"{shots}/experiments-390.png", full_page=True)
            contexts[1].pages[0].screenshot(path=f"{shots}/phone-reader-390.png", full_page=True)

        # The same numbers through the API with the token; a reader's browser gets a 403 page.
        report = room.experiments.report(room.experiments.get(EXPERIMENT))  # type: ignore[arg-type]
        assert {v.name: v.readers for v in report.variants} == {"control": 1, "coread": 1}
        assert all(v.clicks >= 1 and v.impressions >= 1 for v in report.variants)
        reader_tab = contexts[1].pages[0]
        reader_tab.goto("/experiments")
        expect(reader_tab.get_by_test_id("experiments-forbidden")).to_contain_text("403")
        assert editor_errors == [] and all(e == [] for e in errors), (editor_errors, errors)
    finally:
        for context in contexts:
            context.close()
