"""Watching Reflex's event loop while a handler runs: the tests' proof that blocking work happens elsewhere."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import reflex as rx
from reflex.istate.data import RouterData

from media_demo.state.reader import ReaderState

T = TypeVar("T")
S = TypeVar("S", bound=rx.State)


async def loop_stall(work: Coroutine[Any, Any, T]) -> tuple[T, float, float]:
    """Run `work` beside a coroutine that ticks every 10 ms: (its result, seconds it took,
    the longest the ticking coroutine waited between two ticks)."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(tick())
    await asyncio.sleep(0.03)
    started = loop.time()
    try:
        result = await work
    finally:
        took = loop.time() - started
        done.set()
        await ticking
    return result, took, max(gaps)


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` in a thread of its own: after a browser test, Playwright's sync API keeps an event loop
    running in the xdist worker's main thread, where `asyncio.run` refuses to start. The caller's context
    variables (Reflex's registration context) go along."""
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(context.run, asyncio.run, coroutine).result()


def assert_loop_kept_running(took: float, stall: float, waited_for: float, what: str) -> None:
    """The handler did wait for the slow part (`waited_for` seconds), and the loop kept ticking meanwhile.

    Work blocking the loop would stall it for the whole wait; the bar is half of it, so that a busy machine's
    scheduling hiccups (a few hundred milliseconds on a loaded CI runner) never pass for blocking."""
    assert took >= waited_for * 0.9, f"the work did not wait for {what} ({took:.2f} s)"
    assert stall < waited_for / 2, f"the event loop stood still for {stall:.2f} s while {what} was waited for"


async def tab(cls: type[S], path: str) -> S:
    """A tab's state tree at `path`, its reader's id issued and signed as a first visit leaves it."""
    root = cls.get_root_state()()  # type: ignore[call-arg]
    headers = {"user-agent": "test", "origin": "http://localhost:3000"}
    root.router_data = {"pathname": path, "asPath": path, "headers": headers, "token": "tab-1"}
    root.router = RouterData.from_router_data(root.router_data)
    reader = await root.get_state(ReaderState)
    reader._issue_reader_id()
    reader._client_context = ["", 60]
    return await root.get_state(cls)
