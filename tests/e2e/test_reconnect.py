"""A dropped connection is not another read.

Reflex reruns a page's on_load when its websocket reconnects, as on a reload; the page
tells the server whether it already had this view tracked. A reload still counts, as a
page view does in Snowplow.
"""

from __future__ import annotations

import time

from playwright.sync_api import Page, WebSocket, expect

from media_demo.newsroom import get_newsroom
from tests.e2e.conftest import ConsoleErrors, accept_all, cookie
from tests.e2e.test_privacy import SLUGS

READ_MARK = "[data-testid=article] [data-testid=read-indicator]"


def articles_read(domain_userid: str) -> int:
    return int(get_newsroom().views.attributes(domain_userid)["article_read_count"] or 0)


def test_a_reconnect_does_not_count_as_reading_the_story_again(page: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = page
    answers: list[str] = []  # the page's answers to "was this view tracked?"

    def watch(socket: WebSocket) -> None:
        if "/_event" in socket.url:
            socket.on("framesent", lambda frame: answers.append(str(frame)) if "same_url_visit" in str(frame) else None)

    tab.on("websocket", watch)
    tab.goto(f"/article/{SLUGS[0]}")
    accept_all(tab)
    tab.reload()  # a reload is a page view: with consent now, it is the first read of the profile
    expect(tab.locator(READ_MARK)).to_be_visible()
    reader = cookie(tab, "dc_duid")
    assert reader and articles_read(reader) == 1
    answers.clear()  # the reload asked too (same URL), and was told "not yet"

    tab.context.set_offline(True)  # the socket drops; back online, the page reconnects on its own
    tab.wait_for_timeout(2000)
    tab.context.set_offline(False)
    deadline = time.monotonic() + 30
    while not answers and time.monotonic() < deadline:
        tab.wait_for_timeout(200)
    assert answers, "the page never reconnected"
    assert '"tracked":true' in answers[-1].replace(" ", "")

    tab.goto(f"/article/{SLUGS[1]}")  # same tab (token): handled after the reconnect's check
    expect(tab.locator(READ_MARK)).to_be_visible()
    assert articles_read(reader) == 2  # the reconnect added nothing
    # Going offline also drops the dev server's own socket (Vite's hot reload): not the app's errors.
    assert not [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e and "[vite]" not in e]
