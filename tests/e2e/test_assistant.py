"""Ask the Current in a real browser: picks with reasons, history on and off, a cited catch-up,
the intervention that opens the panel, and no request leaving the machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from reflex.testing import AppHarness

from media_demo.definitions import ASSISTANT_OFFER_READS
from media_demo.newsroom import get_corpus
from media_demo.state.assistant import SUMMARISE
from tests.e2e.conftest import TIMEOUT_MS, ConsoleErrors, accept_all
from tests.e2e.test_live_recommendations import open_section, read_article_from_listing

SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
ANSWER = "[data-testid=assistant-message][data-role=assistant]"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


class Offline:
    """Every request the page makes, refused unless it stays on this machine (the assistant needs no network)."""

    def __init__(self, context: BrowserContext) -> None:
        self.refused: list[str] = []
        context.route("**/*", self.handle)

    def handle(self, route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOOPBACK or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()


@pytest.fixture
def reader(app: AppHarness, browser: Browser) -> Iterator[tuple[Page, ConsoleErrors, Offline]]:
    context = browser.new_context(base_url=app.frontend_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    offline = Offline(context)
    tab = context.new_page()
    errors = ConsoleErrors()
    tab.on("console", errors.record)
    tab.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    yield tab, errors, offline
    context.close()


def ask(tab: Page, question: str) -> tuple[str, list[str]]:
    """Ask in the open panel; returns the finished answer's text and the slugs it cites."""
    before = tab.locator(ANSWER).count()
    tab.get_by_test_id("assistant-input").fill(question)
    tab.get_by_test_id("assistant-send").click()
    expect(tab.locator(ANSWER)).to_have_count(before + 1)
    answer = tab.locator(ANSWER).last
    expect(answer).to_have_attribute("data-writing", "false")  # finished: its sources are shown
    # The panel follows the conversation: the question just asked is on screen, its answer below it.
    expect(tab.locator("[data-testid=assistant-message][data-role=reader]").last).to_be_in_viewport()
    expect(answer).to_be_in_viewport()
    slugs = answer.get_by_test_id("assistant-source").evaluate_all("els => els.map(e => e.dataset.slug)")
    return answer.inner_text(), slugs


def shoot(tab: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(Path(SCREENSHOTS) / f"assistant-{name}.png"))


def test_a_reader_asks_what_to_read_next_and_turning_history_off_changes_the_answer(
    reader: tuple[Page, ConsoleErrors, Offline],
) -> None:
    tab, errors, offline = reader
    tab.goto("/")
    accept_all(tab)
    open_section(tab, "Science")
    science = tab.locator("[data-testid=article-card][data-category=science]").evaluate_all(
        "els => [...new Set(els.map(e => e.dataset.slug))]"
    )
    for slug in science[:2]:
        read_article_from_listing(tab, slug, "Science")

    tab.get_by_test_id("assistant-open").click()
    panel = tab.get_by_test_id("assistant-panel")
    expect(panel).to_be_visible()
    expect(tab.get_by_test_id("assistant-input")).to_be_focused()
    with_history, picks = ask(tab, "What should I read next, and why?")
    assert picks and not set(picks) & set(science[:2])  # picks, none already read
    beside = tab.get_by_test_id("recommendation").evaluate_all("els => els.map(e => e.dataset.slug)")
    assert picks == beside, "the assistant's picks are not the ones the panel shows"
    assert "science" in with_history.lower()  # the reasons name what they read
    for slug in picks:
        expect(panel.locator(f"[data-testid=assistant-source][data-slug='{slug}']")).to_have_attribute(
            "href", f"/article/{slug}"
        )
    shoot(tab, "desktop")

    about, _ = ask(tab, "What do you know about me?")
    assert "2" in about and "science" in about.lower()

    toggle = tab.get_by_test_id("assistant-history-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "false")
    expect(tab.get_by_test_id("assistant-history-note")).to_contain_text("off")
    without_history, _ = ask(tab, "What should I read next, and why?")
    assert without_history != with_history
    assert "history" in without_history.lower()

    tab.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    expect(tab.get_by_test_id("assistant-open")).to_be_visible()

    # "Summarise this article" is offered on a story only, and follows the reader's links without a reload.
    summarise = tab.get_by_test_id("assistant-starter").filter(has_text=SUMMARISE)
    tab.get_by_test_id("assistant-open").click()
    tab.get_by_test_id("assistant-clear").click()
    expect(tab.get_by_test_id("assistant-starter").first).to_be_visible()
    expect(summarise).to_have_count(0)  # the section page
    tab.keyboard.press("Escape")
    tab.locator(f"[data-testid=article-card][data-slug='{science[2]}'] .card-title-link").first.click()
    tab.wait_for_url(f"**/article/{science[2]}")
    tab.get_by_test_id("assistant-open").click()
    expect(summarise).to_have_count(1)
    assert offline.refused == [] and errors == []


def test_catch_up_cites_the_stories_of_the_topic_oldest_first(reader: tuple[Page, ConsoleErrors, Offline]) -> None:
    tab, errors, offline = reader
    corpus = get_corpus()
    story = corpus.latest(1, "science")[0]
    tab.goto(f"/article/{story.slug}")
    tab.get_by_test_id("consent-reject-all").click()  # the assistant works without any history too
    expect(tab.get_by_test_id("consent-banner")).to_have_count(0)
    tab.get_by_test_id("assistant-open").click()
    expect(tab.get_by_test_id("assistant-history-note")).to_contain_text("not allowed personalisation")
    text, cited = ask(tab, f"Catch me up on {story.title}")
    assert story.slug in cited and f"{story.title}:" in text  # its paragraph opens with its headline
    dates = [a.published for slug in cited if (a := corpus.get(slug)) is not None]
    assert dates == sorted(dates)  # oldest to newest
    _summary, cited = ask(tab, "Summarise this article")
    assert cited == [story.slug]
    assert offline.refused == [] and errors == []


def test_a_deep_dive_into_one_section_makes_the_assistant_offer_a_catch_up(
    reader: tuple[Page, ConsoleErrors, Offline],
) -> None:
    tab, errors, offline = reader
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.goto("/")
    accept_all(tab)
    stories = get_corpus().in_category("health")[:ASSISTANT_OFFER_READS]
    for story in stories[:-1]:
        tab.goto(f"/article/{story.slug}")
        expect(
            tab.locator(f"[data-testid=article][data-slug='{story.slug}'] [data-testid=read-indicator]")
        ).to_be_visible()
    expect(tab.get_by_test_id("assistant-panel")).to_have_count(0)  # not before the last of the run
    tab.goto(f"/article/{stories[-1].slug}")  # the intervention fires and opens the panel with its offer
    panel = tab.get_by_test_id("assistant-panel")
    expect(panel).to_be_visible()
    offer = panel.locator(ANSWER).last
    expect(offer).to_contain_text("catch-up")
    shoot(tab, "phone-offer")
    panel.get_by_test_id("assistant-offer-accept").click()
    expect(panel.locator("[data-testid=assistant-message][data-role=reader]").last).to_contain_text("Catch me up")
    expect(panel.locator(ANSWER).last.get_by_test_id("assistant-source").first).to_be_visible()
    shoot(tab, "phone-answer")
    assert offline.refused == [] and errors == []


def test_on_a_phone_the_launcher_leaves_the_end_of_the_page_readable(
    reader: tuple[Page, ConsoleErrors, Offline],
) -> None:
    tab, errors, _offline = reader
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.goto("/")
    tab.get_by_test_id("consent-reject-all").click()
    expect(tab.get_by_test_id("consent-banner")).to_have_count(0)
    expect(tab.get_by_test_id("assistant-open")).to_be_visible()
    tab.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    link = tab.get_by_test_id("footer-inspector")
    expect(link).to_be_in_viewport()
    # What the reader would tap at the link's centre is the link, not the launcher floating over it.
    hit = link.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }"
    )
    assert hit, "the assistant's launcher covers the footer's links"
    assert errors == []
