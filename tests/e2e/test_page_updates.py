"""A page event sends the page only what changed: every update costs the one backend core a websocket message.

A navigation takes five updates (the new location and cookies, `is_hydrated` off, the reader's
panel, the script that marks the view as tracked on the page, `is_hydrated` on). The live
"reading now" push reaches the reader's own tab too, when their visit changes the story's count:
the visit already showed that count, so the push must send nothing.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reflex.testing import AppHarness

from media_demo import routes
from media_demo.newsroom import get_corpus
from media_demo.state.privacy import PrivacyState
from media_demo.state.reader import CLIENT_CONTEXT_SCRIPT, ReaderState
from tests.benchmarks.loadtest import page_patterns
from tests.benchmarks.reflex_socket import FrontendContract, ReflexTab

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SLUG = get_corpus().in_category("sport")[-2].slug  # an old story the other tests do not open
NAVIGATION_UPDATES = 5
QUIET_SECONDS = 1.5  # long enough for the audience push, which waits for the visit's state lock


def test_a_story_visit_sends_five_updates_and_no_push_for_an_unchanged_count(app: AppHarness) -> None:
    assert app.backend is not None
    host, port = app.backend.servers[0].sockets[0].getsockname()[:2]
    contract = FrontendContract.compile(PROJECT_ROOT)
    reader_state = ReaderState.get_full_name()
    decided = ReaderState.consent_decided._js_expr.rpartition(".")[2]
    others_here = ReaderState.others_here._js_expr.rpartition(".")[2]

    story = routes.article_url(SLUG)
    patterns = page_patterns()

    async def consented_tab() -> ReflexTab:
        tab = ReflexTab(
            f"http://{host}:{port}", contract, scripts={CLIENT_CONTEXT_SCRIPT: lambda: ["", 60]}, patterns=patterns
        )
        await tab.open("/")
        # Only readers who consented are counted on a story: their visit changes its audience.
        await tab.send(
            f"{PrivacyState.get_full_name()}.accept_all",
            until=lambda update: bool((update.get("delta") or {}).get(reader_state, {}).get(decided)),
        )
        return tab

    async def visit() -> tuple[int, list[dict], dict]:
        theirs = await consented_tab()
        await theirs.navigate(story)  # already on the story: the second reader's visit changes its count
        mine = await consented_tab()
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
        return mine.counters.updates - before, seen, theirs.state.get(reader_state, {})

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API may hold an event loop in this one
        updates, seen, theirs = thread.submit(asyncio.run, visit()).result(timeout=120)

    assert theirs.get(others_here) == 1  # the push reached the other reader, whose count changed
    assert updates == NAVIGATION_UPDATES, [
        (list(u.get("delta") or {}), [e.get("name") for e in u.get("events") or ()]) for u in seen
    ]
    deltas = [u.get("delta") or {} for u in seen]
    assert [d[reader_state][others_here] for d in deltas if others_here in d.get(reader_state, {})] == [1]
