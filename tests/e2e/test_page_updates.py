"""A page event sends the page only what changed: every update costs the one backend core a websocket message.

A navigation takes five updates (the new location and cookies, `is_hydrated` off, the reader's
panel, the script that marks the view as tracked on the page, `is_hydrated` on). The live
"reading now" push reaches the reader's own tab too, when their visit changes the story's count:
the visit already showed that count, so the push must send nothing. A story read sends its
"✓ Read" mark, not every story the reader has read.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reflex.testing import AppHarness

from media_demo import routes
from media_demo.newsroom import get_corpus
from media_demo.state.privacy import PrivacyState
from media_demo.state.read_marks import SINCE_LIMIT
from media_demo.state.reader import CLIENT_CONTEXT_SCRIPT, ReaderState
from tests.benchmarks.loadtest import page_patterns
from tests.benchmarks.reflex_socket import FrontendContract, ReflexTab, var_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SLUG = get_corpus().in_category("sport")[-2].slug  # an old story the other tests do not open
NAVIGATION_UPDATES = 5
QUIET_SECONDS = 1.5  # long enough for the audience push, which waits for the visit's state lock


READER_STATE = ReaderState.get_full_name()


async def consented_tab(app: AppHarness, contract: FrontendContract) -> ReflexTab:
    """A simulated tab on the front page whose reader accepted everything (so their reads count)."""
    assert app.backend is not None
    host, port = app.backend.servers[0].sockets[0].getsockname()[:2]
    tab = ReflexTab(
        f"http://{host}:{port}", contract, scripts={CLIENT_CONTEXT_SCRIPT: lambda: ["", 60]}, patterns=page_patterns()
    )
    await tab.open("/")
    decided = var_key(ReaderState.consent_decided)
    await tab.send(
        f"{PrivacyState.get_full_name()}.accept_all",
        until=lambda update: bool((update.get("delta") or {}).get(READER_STATE, {}).get(decided)),
    )
    return tab


def test_a_story_visit_sends_five_updates_and_no_push_for_an_unchanged_count(app: AppHarness) -> None:
    contract = FrontendContract.compile(PROJECT_ROOT)
    others_here = var_key(ReaderState.others_here)
    story = routes.article_url(SLUG)

    async def visit() -> tuple[int, list[dict], dict]:
        # Only readers who consented are counted on a story: their visit changes its audience.
        theirs = await consented_tab(app, contract)
        await theirs.navigate(story)  # already on the story: the second reader's visit changes its count
        mine = await consented_tab(app, contract)
        seen: list[dict] = []
        on_event = mine._on_event

        def record(name: str, update: dict) -> None:
            seen.append(update)
            on_event(name, update)

        assert mine.socket is not None
        mine.socket.on_event = record
        before = mine.counters.updates
        await mine.navigate(story)
        await asyncio.sleep(QUIET_SECONDS)
        for tab in (mine, theirs):
            await tab.close()
        return mine.counters.updates - before, seen, theirs.state.get(READER_STATE, {})

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API may hold an event loop in this one
        updates, seen, theirs = thread.submit(asyncio.run, visit()).result(timeout=120)

    assert theirs.get(others_here) == 1  # the push reached the other reader, whose count changed
    assert updates == NAVIGATION_UPDATES, [
        (list(u.get("delta") or {}), [e.get("name") for e in u.get("events") or ()]) for u in seen
    ]
    deltas = [u.get("delta") or {} for u in seen]
    assert [d[READER_STATE][others_here] for d in deltas if others_here in d.get(READER_STATE, {})] == [1]


def test_a_read_sends_the_new_read_mark_not_every_story_read(app: AppHarness) -> None:
    """Each story read adds one slug to the short `read_since`; the whole list goes only past its limit."""
    contract = FrontendContract.compile(PROJECT_ROOT)
    shown_var, since_var = var_key(ReaderState.read_slugs), var_key(ReaderState.read_since)
    stories = [a.slug for a in get_corpus().articles[: SINCE_LIMIT + 2]]  # shipped stories: never withdrawn

    async def read_all() -> list[tuple[dict, set[str]]]:
        tab = await consented_tab(app, contract)
        sent: list[dict] = []
        on_event = tab._on_event

        def record(name: str, update: dict) -> None:
            sent.append((update.get("delta") or {}).get(READER_STATE, {}))
            on_event(name, update)

        assert tab.socket is not None
        tab.socket.on_event = record
        after_each = []
        for slug in stories:
            sent.clear()
            await tab.navigate(routes.article_url(slug))
            mine = tab.state.get(READER_STATE, {})
            marked = set(mine.get(shown_var) or ()) | set(mine.get(since_var) or ())
            after_each.append(({k: v for d in sent for k, v in d.items() if k in (shown_var, since_var)}, marked))
        await tab.close()
        return after_each

    with ThreadPoolExecutor(1) as thread:
        after_each = thread.submit(asyncio.run, read_all()).result(timeout=180)

    for count, (marks_sent, marked) in enumerate(after_each, start=1):
        assert marked == set(stories[:count])  # the page marks exactly what was read, after every read
        if count <= SINCE_LIMIT:
            assert marks_sent == {since_var: stories[:count]}, (count, marks_sent)
        elif count == SINCE_LIMIT + 1:
            assert marks_sent == {shown_var: stories[:count], since_var: []}, (count, marks_sent)
        else:
            assert marks_sent == {since_var: stories[SINCE_LIMIT + 1 : count]}, (count, marks_sent)
