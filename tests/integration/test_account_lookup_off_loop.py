"""A signed-in reader's account is looked up off the event loop, in each handler's one worker-thread call.

The account store is a database: a slow read (a busy disk, a locked file, a
remote PostgreSQL later) must hold up only the tab that waits for it, never
every open page. Each handler that acts as the reader runs here beside a
ticking coroutine while every account lookup takes `SLOW_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import media_demo.media_demo  # noqa: F401  (registers every state of the app, as the backend does)
from media_demo.accounts import Account
from media_demo.newsroom import Newsroom
from media_demo.state import account as account_state
from media_demo.state import offer as offer_state
from media_demo.state import privacy as privacy_state
from media_demo.state import reader as reader_state
from media_demo.state.account import AccountState
from media_demo.state.offer import OfferState
from media_demo.state.privacy import PrivacyState
from media_demo.state.reader import ReaderState
from tests.loop_watch import assert_loop_kept_running, loop_stall, run_apart, tab

SLOW_SECONDS = 2.0  # a stall bar of 1 s: a loaded 2-core runner has stalled the loop 0.6 s with nothing blocking
NAME = "Ada Reader"


@pytest.fixture
def lookups(newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The app's states use `newsroom`, whose account lookups are slow; yields the threads they ran on."""
    threads: list[str] = []
    look_up = newsroom.accounts.session_account

    def slow_session_account(token: str | None) -> Account | None:
        threads.append(threading.current_thread().name)
        time.sleep(SLOW_SECONDS)  # blocks its thread, as a slow database read would
        return look_up(token)

    monkeypatch.setattr(newsroom.accounts, "session_account", slow_session_account)
    for module in (reader_state, privacy_state, offer_state, account_state):
        monkeypatch.setattr(module, "get_newsroom", lambda: newsroom)
    yield threads


async def signed_in(newsroom: Newsroom, state: Any) -> ReaderState:
    """Sign the tab of `state` in to a new account, as the sign-in form leaves it."""
    account = newsroom.accounts.create(f"{time.monotonic_ns()}@example.org", "a long enough password", NAME)
    reader = await state.get_state(ReaderState)
    reader.account_token = newsroom.accounts.open_session(account.user_id)
    return reader


HANDLERS: dict[str, tuple[type, str, Callable[[Any, Newsroom], Awaitable[object]]]] = {
    "a page visit": (ReaderState, "/", lambda s, room: ReaderState.visit.fn(s, "Front page")),
    "an article visit": (
        ReaderState,
        "/article/x",
        lambda s, room: ReaderState.visit.fn(s, "Story", room.corpus.articles[0].slug),
    ),
    "a panel refresh": (ReaderState, "/", lambda s, room: s._refresh_view()),
    "the privacy page": (PrivacyState, "/privacy", lambda s, room: PrivacyState.open.fn(s)),
    "a consent choice": (PrivacyState, "/", lambda s, room: PrivacyState.accept_all.fn(s)),
    "the account page": (AccountState, "/account", lambda s, room: AccountState.open.fn(s)),
    "an offer click": (OfferState, "/", lambda s, room: OfferState.accept.fn(s)),
}


@pytest.mark.parametrize("handler", list(HANDLERS))
def test_a_slow_account_lookup_does_not_stall_the_event_loop(
    handler: str, newsroom: Newsroom, lookups: list[str]
) -> None:
    cls, path, run = HANDLERS[handler]
    loop_thread: list[str] = []

    async def scenario() -> None:
        loop_thread.append(threading.current_thread().name)
        state = await tab(cls, path)
        reader = await signed_in(newsroom, state)
        if cls is OfferState:
            state.name, state.intervention_id = "welcome_back", "i-1"
        _result, took, stall = await loop_stall(run(state, newsroom))
        assert_loop_kept_running(took, stall, SLOW_SECONDS, "the account lookup")
        assert reader.account_name == NAME, "the handler did not act as the signed-in reader"

    run_apart(scenario())
    assert lookups, "no account was looked up"
    assert loop_thread and loop_thread[0] not in lookups, "an account lookup ran on the event loop's thread"


def test_a_tab_whose_session_ended_elsewhere_is_shown_signed_out(newsroom: Newsroom, lookups: list[str]) -> None:
    async def scenario() -> None:
        state = await tab(ReaderState, "/")
        reader = await signed_in(newsroom, state)
        await ReaderState.visit.fn(reader, "Front page")
        assert reader.account_name == NAME
        newsroom.accounts.close_session(reader.account_token)  # signed out on another device
        await ReaderState.visit.fn(reader, "Front page")  # the same URL: a reconnect or a reload, the page tells
        await ReaderState.same_url_visit.fn(reader, True)  # a reconnect: no new view, the tab is brought up to date
        assert reader.account_name == ""
        assert reader._user_id == ""

    run_apart(scenario())
