"""The real app (AppHarness: Reflex backend + dev frontend) driven by headless Chromium."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright
from reflex.testing import AppHarness
from reflex_base.config import get_config

from media_demo.newsroom import get_newsroom
from media_demo.settings import get_settings
from tests.mailserver import SmtpServer, smtp_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
E2E_EXPERIMENTS = Path(__file__).resolve().parent / "experiments"  # one experiment, for phones only
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Vite compiles each route the first time it is visited: be patient, not flaky.
TIMEOUT_MS = 60_000
expect.set_options(timeout=30_000)  # assertions wait too, not only actions


def missing_tool(message: str) -> NoReturn:
    """A tool a browser test needs is not installed: skip locally, fail in CI (REQUIRE_BROWSER=1)."""
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing_tool(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def mail() -> Iterator[SmtpServer]:
    """The SMTP server the browser tests' app sends its mails to (a real one, in this process)."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def app(browser: Browser, mail: SmtpServer) -> Iterator[AppHarness]:
    """The whole app, started once for the session (about 30-60 s), with the browser tests' experiment."""
    os.environ["EXPERIMENTS_DIR"] = str(E2E_EXPERIMENTS)  # read when the app builds its newsroom, below
    os.environ["SMTP_URL"] = mail.url()
    get_settings.cache_clear()
    with AppHarness.create(root=PROJECT_ROOT) as harness:
        assert harness.frontend_url is not None
        _public_addresses(harness.frontend_url, get_config().api_url)
        yield harness


def _public_addresses(site_url: str, api_url: str) -> None:
    """Give the app the addresses the harness chose (free ports, known only once it runs), as SITE_URL and
    PUBLIC_API_URL would in a deployment: mails link there, and the click redirect may only go there."""
    site_url, api_url = site_url.rstrip("/"), api_url.rstrip("/")  # the harness gives "http://host:port/"
    room = get_newsroom()
    room.settings = room.settings.model_copy(update={"site_url": site_url, "public_api_url": api_url})
    room.digests.settings = dataclasses.replace(room.digests.settings, site_url=site_url, api_url=api_url)


class ConsoleErrors(list):
    """Console errors and uncaught page errors seen by one page."""

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.append(f"console: {message.text}")


def open_reader(browser: Browser, base_url: str) -> tuple[BrowserContext, Page, ConsoleErrors]:
    """A fresh reader's tab, its console errors recorded: a new browser context has no cookies, so a new
    domain_userid. The caller closes the context."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors = ConsoleErrors()
    tab.on("console", errors.record)
    tab.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return context, tab, errors


@pytest.fixture
def page(app: AppHarness, browser: Browser) -> Iterator[tuple[Page, ConsoleErrors]]:
    """A fresh reader (`open_reader`)."""
    context, tab, errors = open_reader(browser, app.frontend_url)
    yield tab, errors
    context.close()


def accept_all(tab: Page) -> None:
    """Answer the consent banner with "Accept all", as a reader who wants personalisation would.

    The banner shows once the tab's first visit is tracked; waiting for it to go
    means the choice is applied, so the next page view already builds a profile.
    """
    banner = tab.get_by_test_id("consent-banner")
    banner.get_by_test_id("consent-accept-all").click()
    expect(banner).to_have_count(0)


def cookie(tab: Page, name: str) -> str | None:
    """The value of one of the app's cookies in this tab's browser context (None when absent)."""
    return next((c["value"] for c in tab.context.cookies() if c["name"] == name), None)
