"""Consent, deletion and identity in the real app: what a reader chooses is what the newsroom keeps."""

from __future__ import annotations

import logging
import re
import time
import types
import uuid
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.manager.token import BaseStateToken
from reflex.testing import AppHarness

from media_demo.definitions import READER_GROUP
from media_demo.newsroom import get_corpus, get_newsroom
from media_demo.settings import get_settings
from media_demo.signals.engine.consent import BEHAVIOURAL, CONSENT_EVENT, CONTEXTUAL, NECESSARY
from tests.e2e.conftest import PROJECT_ROOT, TIMEOUT_MS, ConsoleErrors, accept_all, cookie
from tests.e2e.test_live_recommendations import PANEL_SETTLED, open_section, read_article_from_listing

SECTION = "Health"
SLUGS = [a.slug for a in get_corpus().in_category(SECTION.lower())[:4]]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_tab(context: BrowserContext, path: str) -> Page:
    """Open `path` in a new tab and wait until its first visit is tracked (the panel has loaded).

    A new tab has fresh page state, so a loaded panel proves this visit's answer arrived.
    """
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(path)
    tab.wait_for_selector(PANEL_SETTLED)
    return tab


def has_profile(domain_userid: str) -> bool:
    engine = get_newsroom().memory.engine
    gid = engine.resolve(READER_GROUP)
    assert gid is not None
    return engine.has_state(gid, domain_userid)


def go_home(tab: Page) -> None:
    """Back to the front page through the navigation bar (client-side: no reload)."""
    tab.get_by_test_id("nav-link").filter(has_text="Home").click()
    tab.wait_for_url(re.compile(r"/$"))
    expect(tab.get_by_test_id("latest")).to_be_visible()


def open_privacy(tab: Page) -> None:
    tab.get_by_test_id("footer-privacy").click()
    tab.wait_for_url("**/privacy")
    expect(tab.get_by_test_id("privacy-status")).to_be_visible()


def test_rejecting_keeps_reading_anonymous_until_personalisation_is_turned_on(
    page: tuple[Page, ConsoleErrors],
) -> None:
    tab, errors = page
    tab.goto("/")
    banner = tab.get_by_test_id("consent-banner")
    expect(banner).to_be_visible()
    expect(banner.get_by_test_id("consent-contextual")).to_be_checked()
    expect(banner.get_by_test_id("consent-behavioural")).not_to_be_checked()
    expect(banner.get_by_test_id("consent-privacy-link")).to_have_attribute("href", "/privacy")
    banner.get_by_test_id("consent-reject-all").click()
    expect(banner).to_have_count(0)
    reader = cookie(tab, "dc_duid")
    assert reader and UUID.match(reader)
    consent = get_newsroom().privacy.consent_of(reader)
    assert consent is not None and consent.event_type == "deny_all" and consent.scopes == {NECESSARY}

    # Three stories of one section, each opened in its own tab.
    for slug in SLUGS[:3]:
        story = new_tab(tab.context, f"/article/{slug}")
        expect(story.get_by_test_id("consent-note")).to_be_visible()  # the visit was answered
        expect(story.locator("[data-testid=article] [data-testid=read-indicator]")).to_have_count(0)
        story.close()
    home = new_tab(tab.context, "/")
    panel = home.get_by_test_id("recommendations")
    expect(home.get_by_test_id("consent-note")).to_contain_text(
        "Turn on personalisation to get picks from your reading"
    )
    expect(panel).not_to_contain_text("More in")
    expect(panel).not_to_contain_text("Because you read")
    expect(home.get_by_test_id("read-indicator")).to_have_count(0)
    expect(home.get_by_test_id("consent-banner")).to_have_count(0)  # asked once, in any tab
    room = get_newsroom()
    room.log.flush()
    assert not has_profile(reader)
    # What the log keeps under their id is the record of their choice and nothing else.
    assert {e.atomic.get("event_name") for e in room.log.reader_events(reader, 1000)} == {CONSENT_EVENT}

    # Personalisation on, from the note's link (the page never reloads from here on).
    home.evaluate("window.__sameDocument = true")
    home.get_by_test_id("consent-note-link").click()
    home.wait_for_url("**/privacy")
    expect(home.get_by_test_id("privacy-status")).to_contain_text("You rejected all optional uses")
    behavioural = home.get_by_test_id("privacy-behavioural")
    expect(behavioural).not_to_be_checked()
    expect(home.get_by_test_id("privacy-contextual")).not_to_be_checked()
    expect(home.get_by_test_id("privacy-profile")).to_contain_text("Personalisation is off")
    behavioural.click()
    expect(behavioural).to_be_checked()
    home.get_by_test_id("privacy-save").click()
    expect(home.get_by_test_id("privacy-notice")).to_contain_text("your picks will follow what you read")
    expect(home.get_by_test_id("privacy-status")).to_contain_text("You chose which uses to allow")
    consent = room.privacy.consent_of(reader)
    assert consent is not None and consent.scopes == {NECESSARY, BEHAVIOURAL}

    open_section(home, SECTION)
    read_article_from_listing(home, SLUGS[3], SECTION)  # its read mark: now it counts
    go_home(home)
    title = get_corpus().get(SLUGS[3]).title
    expect(home.get_by_test_id("recommendations")).to_contain_text(f"Because you read “{title}”")
    expect(home.get_by_test_id("consent-note")).to_have_count(0)
    assert has_profile(reader)
    open_privacy(home)
    expect(home.get_by_test_id("privacy-profile")).to_contain_text("1 story read, in Health")

    # And off again: the profile goes at once, the panel forgets it.
    behavioural = home.get_by_test_id("privacy-behavioural")
    expect(behavioural).to_be_checked()
    behavioural.click()
    expect(behavioural).not_to_be_checked()
    home.get_by_test_id("privacy-save").click()
    expect(home.get_by_test_id("privacy-notice")).to_contain_text("your reading profile has been deleted")
    expect(home.get_by_test_id("privacy-profile")).to_contain_text("Personalisation is off")
    assert not has_profile(reader)
    consent = room.privacy.consent_of(reader)
    assert consent is not None and not consent.allows(BEHAVIOURAL)
    go_home(home)
    expect(home.get_by_test_id("consent-note")).to_be_visible()
    panel = home.get_by_test_id("recommendations")
    expect(panel).not_to_contain_text("Because you read")
    expect(panel).not_to_contain_text("More in")
    expect(home.get_by_test_id("read-indicator")).to_have_count(0)
    assert home.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert errors == []


# ----------------------------------------------------------------- deletion


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    """The objects `obj` refers to, each with a short label for the path shown on failure."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield "<key>", key
            yield f"[{key!r:.40}]", value
    elif isinstance(obj, list | tuple | set | frozenset | deque):
        for i, item in enumerate(obj):
            yield f"[{i}]", item
    else:
        for name, value in getattr(obj, "__dict__", {}).items():
            yield f".{name}", value
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                    yield f".{name}", getattr(obj, name)


SKIPPED = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    weakref.ref,
)
# Not walked: the runtime's machinery, where the newsroom keeps no reader data. The event loop would lead
# into Reflex's own per-tab state (not the newsroom's), and SQLAlchemy's objects compute lazy attributes
# when read (the rows themselves are checked in the database files). The corpus and index are skipped too.
SKIPPED_MODULES = ("asyncio", "threading", "concurrent", "sqlalchemy", "reflex", "socketio", "engineio")


def find_in_memory(root: Any, needles: Iterable[str], skip: Iterable[Any] = ()) -> list[str]:
    """Paths from `root` to every string or bytes value containing one of `needles`."""
    needles = [n for n in needles if n]
    seen = {id(o) for o in skip}
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(root, "newsroom")]
    while stack:
        obj, path = stack.pop()
        if isinstance(obj, str):  # every place a string is held counts, even one shared object
            if any(n in obj for n in needles):
                found.append(f"{path} = {obj[:120]!r}")
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, bytes | bytearray | memoryview):
            raw = bytes(obj)
            if any(n.encode() in raw for n in needles):
                found.append(f"{path} (bytes)")
            continue
        if obj is None or isinstance(obj, (int, float, complex, *SKIPPED)):
            continue
        if type(obj).__module__.split(".")[0] in SKIPPED_MODULES:
            continue
        for label, child in _children(obj):
            stack.append((child, path + label))
    return found


def database_bytes() -> bytes:
    """The event log's SQLite file with its WAL and shared-memory files, as raw bytes."""
    db = Path(get_settings().media_demo_db)
    return b"".join(
        p.read_bytes() for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()
    )


def tab_states(app: AppHarness) -> dict[str, bytes]:
    """Every tab state Reflex holds, each state of its tree as the state manager would store it."""
    manager = app.app_instance.state_manager if app.app_instance is not None else None
    assert isinstance(manager, StateManagerMemory), f"tab states are kept by {type(manager).__name__}"
    stored: dict[str, bytes] = {}
    for token, root in list(manager.states.items()):
        tree, parts = [root], []
        while tree:
            state = tree.pop()
            parts.append(BaseStateToken.serialize(state))
            tree.extend(state.substates.values())
        stored[token] = b"".join(parts)
    return stored


class LogRecords(logging.Handler):
    """Every log line written in this process while attached (the test runs the backend in process)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.exc_text or ''}")


def files_under(folder: Path) -> bytes:
    """Every file below `folder` (e.g. a disk state manager's `.states/`), as raw bytes."""
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file()) if folder.exists() else b""


def sign_up(tab: Page, name: str, email: str, password: str) -> None:
    """Create an account from the masthead's "Sign in" link; lands back home, signed in."""
    tab.get_by_test_id("masthead-signin").click()
    tab.wait_for_url("**/account")
    tab.get_by_test_id("signup-display_name").fill(name)
    tab.get_by_test_id("signup-email").fill(email)
    tab.get_by_test_id("signup-password").fill(password)
    tab.get_by_test_id("signup-submit").click()
    tab.wait_for_url(re.compile(r"/$"))
    expect(tab.get_by_test_id("masthead-account")).to_have_text(name)


def test_delete_my_data_leaves_no_trace_of_the_reader(
    app: AppHarness, browser: Browser, capfd: pytest.CaptureFixture[str]
) -> None:
    logged = LogRecords()
    logging.getLogger().addHandler(logged)
    other = browser.new_context(base_url=app.frontend_url)
    mine = browser.new_context(base_url=app.frontend_url, viewport={"width": 1280, "height": 900})
    try:
        # Another reader, who must survive the deletion (so the byte check can fail).
        theirs = new_tab(other, "/")
        accept_all(theirs)
        theirs.goto(f"/article/{SLUGS[0]}")
        expect(theirs.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()
        bystander = cookie(theirs, "dc_duid")
        assert bystander

        tab = new_tab(mine, "/")
        errors = ConsoleErrors()
        tab.on("console", errors.record)
        accept_all(tab)
        open_section(tab, SECTION)
        read_article_from_listing(tab, SLUGS[1], SECTION)
        email, password = f"reader-{uuid.uuid4().hex[:12]}@example.org", "correct horse battery"
        sign_up(tab, "Grace", email, password)
        open_section(tab, SECTION)
        read_article_from_listing(tab, SLUGS[2], SECTION)  # signed in: this device is now linked
        reader, token = cookie(tab, "dc_duid"), cookie(tab, "dc_account")
        account = get_newsroom().accounts.authenticate(email, password)
        assert reader and token and account is not None
        user_id = account.user_id
        assert get_newsroom().privacy.linked_devices(user_id) == [reader]

        # They talk to the assistant: their question (its words are kept, with consent) must go too.
        marker = f"zq{uuid.uuid4().hex[:10]}"
        tab.get_by_test_id("assistant-open").click()
        tab.get_by_test_id("assistant-input").fill(f"Catch me up on {marker}")
        tab.get_by_test_id("assistant-send").click()
        answer = tab.locator("[data-testid=assistant-message][data-role=assistant]").last
        expect(answer).to_contain_text("nothing", ignore_case=True)  # the archive has nothing on a made-up word
        deadline = time.monotonic() + 10  # the check below can fail: the question is in the log once committed
        while marker.encode() not in database_bytes():
            assert time.monotonic() < deadline, "the question never reached the database"
            time.sleep(0.1)
        tab.get_by_test_id("assistant-close").click()

        # A second tab of theirs stays open on a story while they delete from the first.
        second = new_tab(mine, f"/article/{SLUGS[3]}")
        held = tab_states(app)
        assert sum(reader.encode() in raw for raw in held.values()) >= 2  # both tabs name them (the check works)

        open_privacy(tab)
        expect(tab.get_by_test_id("privacy-account")).to_contain_text(email)
        expect(tab.get_by_test_id("privacy-account")).to_contain_text("1 device linked")
        expect(tab.get_by_test_id("privacy-profile")).to_contain_text(
            "3 stories read"
        )  # two here, one in the second tab
        tab.get_by_test_id("privacy-delete").click()
        dialog = tab.get_by_test_id("privacy-delete-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_test_id("privacy-delete-cancel").click()  # changing one's mind is safe
        expect(dialog).to_have_count(0)
        assert get_newsroom().accounts.get(user_id) is not None
        tab.get_by_test_id("privacy-delete").click()
        tab.get_by_test_id("privacy-delete-confirm").click()
        receipt = tab.get_by_test_id("privacy-deleted")
        expect(receipt).to_contain_text("Your data has been deleted")
        counts = {
            line.get_attribute("data-kind"): int(line.get_attribute("data-count") or 0)
            for line in tab.get_by_test_id("deleted-count").all()
        }
        assert counts["events"] >= 6 and counts["profiles"] >= 1 and counts["devices"] == 1 and counts["accounts"] == 1
        expect(tab.get_by_test_id("masthead-signin")).to_have_count(0)  # nobody, until the next page
        expect(tab.get_by_test_id("consent-banner")).to_have_count(0)

        # The browser forgot them.
        for name, old in (("dc_duid", reader), ("dc_account", token)):
            tab.wait_for_function(
                "([name, old]) => !document.cookie.split('; ').includes(`${name}=${old}`)", arg=[name, old]
            )
            assert cookie(tab, name) in (None, ""), name
        # The database files forgot them; the other reader is still there.
        raw = database_bytes()
        assert bystander.encode() in raw
        for needle in (reader, user_id, email, marker):
            assert needle.encode() not in raw, f"{needle} is still in the database files"
        # The newsroom's memory forgot them.
        room = get_newsroom()
        leftovers = find_in_memory(room, [reader, user_id, email, marker], skip=[room.corpus, room.index])
        assert leftovers == [], leftovers
        assert bystander and find_in_memory(room, [bystander], skip=[room.corpus, room.index])  # the walk works
        # Reflex's tab states forgot them, the open second tab's too (its cookies are emptied by a push);
        # the bystander's tab still names the bystander.
        needles = [n.encode() for n in (reader, user_id, email, token, marker)]
        deadline = time.monotonic() + 10
        while (held := tab_states(app)) and any(n in raw for raw in held.values() for n in needles):
            assert time.monotonic() < deadline, [t for t, raw in held.items() if any(n in raw for n in needles)]
            time.sleep(0.2)
        assert any(bystander.encode() in raw for raw in held.values())
        second.wait_for_function("() => !document.cookie.includes('dc_duid=' + '" + reader + "')")
        assert not any(n in files_under(PROJECT_ROOT / ".states") for n in needles)
        # Nothing the app or Reflex wrote to its log or its console names them.
        written = "\n".join(logged.lines) + "".join(capfd.readouterr())
        assert not [n for n in (reader, user_id, email, token) if n in written]

        # The next page: a brand-new reader, asked again.
        tab.goto("/")
        expect(tab.get_by_test_id("consent-banner")).to_be_visible()
        expect(tab.get_by_test_id("masthead-signin")).to_be_visible()
        fresh = cookie(tab, "dc_duid")
        assert fresh and fresh != reader
        assert errors == []
    finally:
        logging.getLogger().removeHandler(logged)
        other.close()
        mine.close()


# ----------------------------------------------------------------- identity


def test_a_forged_reader_cookie_gets_a_new_reader(
    page: tuple[Page, ConsoleErrors], app: AppHarness, browser: Browser
) -> None:
    tab, errors = page
    tab.goto("/")
    banner = tab.get_by_test_id("consent-banner")
    banner.get_by_test_id("consent-behavioural").check()
    banner.get_by_test_id("consent-contextual").uncheck()
    banner.get_by_test_id("consent-save").click()
    expect(banner).to_have_count(0)
    victim = cookie(tab, "dc_duid")
    assert victim
    consent = get_newsroom().privacy.consent_of(victim)
    assert consent is not None and consent.scopes == {NECESSARY, BEHAVIOURAL} and not consent.allows(CONTEXTUAL)
    tab.goto(f"/article/{SLUGS[0]}")
    expect(tab.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()
    assert has_profile(victim)

    forger = browser.new_context(base_url=app.frontend_url)
    try:
        assert app.frontend_url is not None
        forger.add_cookies(
            [
                {"name": "dc_duid", "value": victim, "url": app.frontend_url},
                {"name": "dc_duid_sig", "value": "0" * 32, "url": app.frontend_url},
            ]
        )
        theirs = forger.new_page()
        theirs.set_default_timeout(TIMEOUT_MS)
        theirs.goto("/inspector")
        shown = theirs.get_by_test_id("inspector-reader")
        expect(shown).to_have_text(UUID)
        assert shown.inner_text() != victim
        expect(theirs.get_by_test_id("consent-banner")).to_be_visible()  # the victim's choice is not theirs
        expect(
            theirs.locator(
                "[data-testid=attribute-group][data-group=reader_profile] [data-testid=attribute]"
                "[data-name=article_read_count] [data-testid=attribute-value]"
            )
        ).to_have_text("0")
        expect(theirs.get_by_test_id("inspector")).not_to_contain_text(SLUGS[0])
        assert cookie(theirs, "dc_duid") not in (None, "", victim)
    finally:
        forger.close()
    assert errors == []


def test_the_privacy_page_asks_with_its_own_choices_and_no_banner_over_them(page: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = page
    tab.goto("/privacy")
    expect(tab.get_by_test_id("privacy-status")).to_contain_text("You haven't chosen yet")
    expect(tab.get_by_test_id("consent-banner")).to_be_hidden()  # the page's own choices ask instead
    behavioural = tab.get_by_test_id("privacy-behavioural")
    behavioural.click()
    expect(behavioural).to_be_checked()
    tab.get_by_test_id("privacy-save").click()
    expect(tab.get_by_test_id("privacy-status")).not_to_contain_text("You haven't chosen yet")
    reader = cookie(tab, "dc_duid")
    consent = get_newsroom().privacy.consent_of(reader or "")
    assert consent is not None and BEHAVIOURAL in consent.scopes
    tab.goto("/")
    expect(tab.get_by_test_id("latest")).to_be_visible()
    expect(tab.get_by_test_id("consent-banner")).to_have_count(0)  # chosen once, not asked again
    assert errors == []
