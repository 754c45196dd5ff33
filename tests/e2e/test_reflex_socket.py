"""The load test's simulated tab sends what the real page sends (`tests/benchmarks/reflex_socket.py`).

The browser loads the front page, accepts the consent banner and opens a story; the simulated
tab does the same against the same backend. Both sequences of socket.io frames sent are reduced
to their shape (event names, payload and router-data keys, paths; the CONNECT packet's hashes and
state schema as they are) and must be equal: a Reflex upgrade that changes the protocol fails here
before it silently changes what `make loadtest` measures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect
from reflex.testing import AppHarness

from media_demo.state.privacy import PrivacyState
from media_demo.state.reader import CLIENT_CONTEXT_SCRIPT, ReaderState
from tests.benchmarks.loadtest import page_patterns
from tests.benchmarks.reflex_socket import EventSocket, FrontendContract, ReflexTab, var_key
from tests.e2e.conftest import ConsoleErrors, accept_all, open_reader

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONNECT, EVENT = "40/_event,", "42/_event,"


def _event_shape(event: dict[str, Any]) -> tuple[Any, ...]:
    payload = event.get("payload") or {}
    router = event.get("router_data") or {}
    return (
        event["name"],
        tuple(sorted(payload)),
        tuple(sorted(payload.get("vars") or {})),  # which cookies went along (their values differ)
        tuple(sorted(router)),
        router.get("pathname"),
        router.get("asPath"),
    )


def shapes(frames: list[str]) -> list[tuple[Any, ...]]:
    """What each CONNECT and EVENT frame sent to the /_event namespace carries, values aside."""
    found: list[tuple[Any, ...]] = []
    for text in frames:
        if text.startswith(CONNECT):
            auth = json.loads(text[len(CONNECT) :])
            boot = auth["event"]
            hashes = tuple((boot.get("payload") or {}).get("hashes") or ())
            found.append(("CONNECT", tuple(sorted(auth)), auth.get("state_schema"), hashes, _event_shape(boot)))
        elif text.startswith(EVENT):
            name, event = json.loads(text[len(EVENT) :])
            found.append((name, _event_shape(event)))
    return found


def browse(tab: Page, errors: ConsoleErrors) -> tuple[list[str], list[str], str]:
    """In `tab`, a new reader's journey: the front page, "Accept all", a story. Returns the socket.io frames the
    page sent, the websockets it opened and the story's path."""
    frames: list[str] = []
    sockets: list[str] = []

    def watch(socket: WebSocket) -> None:
        if "/_event" in socket.url:
            sockets.append(socket.url)
            socket.on("framesent", lambda payload: frames.append(str(payload)))

    tab.on("websocket", watch)
    tab.goto("/")
    accept_all(tab)
    story = tab.locator("a[href^='/article/']").first
    path = story.get_attribute("href")
    assert path is not None
    story.click()
    tab.wait_for_url(f"**{path}")
    expect(tab.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()
    assert not errors
    return frames, sockets, path


@pytest.fixture
def new_reader(app: AppHarness, browser: Browser) -> Iterator[Callable[[], tuple[Page, ConsoleErrors]]]:
    """Opens another new reader's tab (`open_reader`), as the `page` fixture does; closed after the test."""
    contexts: list[BrowserContext] = []

    def open_tab() -> tuple[Page, ConsoleErrors]:
        context, tab, errors = open_reader(browser, app.frontend_url)
        contexts.append(context)
        return tab, errors

    yield open_tab
    for context in contexts:
        context.close()


def test_the_simulated_tab_sends_the_frames_the_browser_sends(
    page: tuple[Page, ConsoleErrors],
    new_reader: Callable[[], tuple[Page, ConsoleErrors]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tab, errors = page
    browser_frames, sockets, path = browse(tab, errors)
    # A page whose websocket reconnected (a busy machine: CI runs the load tests beside this one) sends its
    # hydrate and on_load again, which is right but not comparable: the journey again, in a new reader's tab.
    for _ in range(2):
        if len(sockets) == 1:
            break
        tab, errors = new_reader()
        browser_frames, sockets, path = browse(tab, errors)
    assert len(sockets) == 1, f"the page's websocket reconnected in each of three journeys: {sockets}"

    url = urlsplit(sockets[0])
    contract = FrontendContract.compile(PROJECT_ROOT)
    tab_frames: list[str] = []
    send_text = EventSocket._send_text

    def record(socket: EventSocket, text: str) -> None:
        tab_frames.append(text)
        send_text(socket, text)

    monkeypatch.setattr(EventSocket, "_send_text", record)
    reader_state = ReaderState.get_full_name()
    decided = var_key(ReaderState.consent_decided)
    panel_var = var_key(ReaderState.panel_id)
    origin = tab.evaluate("window.location.origin")

    async def simulate() -> None:
        simulated = ReflexTab(
            f"http://{url.netloc}",
            contract,
            scripts={CLIENT_CONTEXT_SCRIPT: lambda: ["", 60]},
            patterns=page_patterns(),
            echoes={(reader_state, panel_var): (f"{reader_state}.panel_seen", "panel_id")},
            origin=origin,
        )
        await simulated.open("/")
        await simulated.send(
            f"{PrivacyState.get_full_name()}.accept_all",
            until=lambda update: bool((update.get("delta") or {}).get(reader_state, {}).get(decided)),
        )
        await simulated.navigate(path)
        assert simulated.counters.unexpected_events == {}
        await simulated.close()

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps an event loop running in this one
        thread.submit(asyncio.run, simulate()).result(timeout=120)
    seen = f"{reader_state}.panel_seen"

    def without_panel_reports(frames: list[tuple]) -> list[tuple]:
        return [f for f in frames if not (f[0] == "event" and f[1][0] == seen)]

    sent, simulated_sent = shapes(browser_frames), shapes(tab_frames)
    # The panel watcher reports when the panel is on screen, which the browser decides from layout and
    # timing: both report panels (the same event shape), each frame else is the same, in the same order.
    browser_reports = [f for f in sent if f[0] == "event" and f[1][0] == seen]
    tab_reports = [f for f in simulated_sent if f[0] == "event" and f[1][0] == seen]
    assert browser_reports and tab_reports
    # The tab reports every panel it is sent; the browser those it shows on screen in time (argument, router keys).
    assert {f[1][1:4] for f in browser_reports} <= {f[1][1:4] for f in tab_reports}
    assert without_panel_reports(simulated_sent) == without_panel_reports(sent)
    sent = without_panel_reports(sent)
    assert sent[0][0] == "CONNECT" and sent[0][3] == tuple(contract.initial_state_hashes)
    # the client-context answer, the banner's click, then the navigation: cookies and the page's on_load
    assert [frame[1][0] for frame in sent[1:]] == [
        f"{reader_state}.client_context",
        f"{PrivacyState.get_full_name()}.accept_all",
        contract.update_vars_event,
        contract.on_load_event,
    ]
