"""The tab states Reflex keeps for each open tab: kept out of the way, and forgotten with their reader.

Reflex holds one state tree per browser tab (its client token). This module
makes sure that store never outlives what the newsroom promises: the disk
manager is refused (its `.states/` files are re-listed on every write and
outlive a deletion), pushes go only to tabs still connected, and when a
reader is deleted, by their own hand or through the API, every tab state
that still names them is wiped, wherever the state manager keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Iterable

import reflex as rx
from reflex.istate.manager.disk import StateManagerDisk
from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.manager.redis import StateManagerRedis

from media_demo.newsroom import get_newsroom
from media_demo.state.clients import OPEN_TABS
from media_demo.state.reader import ReaderState

logger = logging.getLogger(__name__)
# How often tabs that closed without a word are dropped from the push registry.
PRUNE_INTERVAL_SECONDS = 30.0


def check_state_manager(app: rx.App) -> None:
    """Refuse a state manager whose tab states a deletion could not reach (the disk one)."""
    if isinstance(app.state_manager, StateManagerDisk):
        raise RuntimeError(
            "state_manager_mode 'disk' keeps every tab's state in .states/, where deleting a reader cannot "
            "reach it: use 'memory' (one process, the default) or 'redis' (set REFLEX_REDIS_URL)"
        )


def connected_tokens(app: rx.App) -> Collection[str]:
    """The client tokens of the tabs connected to this process now."""
    return app.event_namespace.token_to_sid.keys() if app.event_namespace is not None else ()


async def stored_tokens(app: rx.App) -> list[str]:
    """Every client token whose tab state the state manager holds (connected or not, until it expires)."""
    manager = app.state_manager
    if isinstance(manager, StateManagerMemory):
        return list(manager.states)
    if isinstance(manager, StateManagerRedis):
        suffix = f"_{ReaderState.get_root_state().get_full_name()}"
        keys = [key.decode() async for key in manager.redis.scan_iter(match=f"*{suffix}", count=1000)]
        return [key.removesuffix(suffix) for key in keys]
    raise TypeError(f"state manager {type(manager).__name__} cannot list its tab states")


def wipe_tab(root: rx.State, keep: Collection[type[rx.State]] = ()) -> None:
    """Every state of one tab back to its defaults, except those in `keep`, with no reader id left."""
    for substate in root.substates.values():
        if type(substate) not in keep:
            substate.reset()
    reader = root.substates.get(ReaderState.get_name())
    if isinstance(reader, ReaderState):
        reader._clear_identity()  # its backend-only fields too


async def forget_tabs_of(app: rx.App, domain_userids: Iterable[str], user_ids: Iterable[str] = ()) -> int:
    """Wipe every stored tab state of these readers; returns how many tabs were wiped.

    A tab belongs to the reader when its `ReaderState` holds one of their ids. Its whole
    state tree goes back to the defaults (an open tab is told at once, which also empties
    the id cookies in that browser), so nothing of the reader stays in Reflex's store.
    """
    devices, users = set(domain_userids) - {""}, set(user_ids) - {""}
    if not devices and not users:
        return 0
    wiped = 0
    for token in await stored_tokens(app):
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=ReaderState)) as root:
            reader = await root.get_state(ReaderState)
            if reader.domain_userid in devices or reader._user_id in users:
                wipe_tab(root)
                wiped += 1
    for device in devices:
        OPEN_TABS.forget(device)
    return wiped


@contextlib.asynccontextmanager
async def keep_tabs(app: rx.App) -> AsyncIterator[None]:
    """Lifespan task: wipe deleted readers' tab states as deletions happen; drop closed tabs from pushes."""
    check_state_manager(app)
    loop = asyncio.get_running_loop()
    deleted: asyncio.Queue[tuple[frozenset[str], frozenset[str]]] = asyncio.Queue()
    unsubscribe = get_newsroom().privacy.on_forget(lambda d, u: loop.call_soon_threadsafe(deleted.put_nowait, (d, u)))

    async def wipe() -> None:
        while True:
            devices, users = await deleted.get()
            try:
                await forget_tabs_of(app, devices, users)
            except Exception:  # keep serving; the reader's data itself is already gone
                logger.exception("could not wipe the tab states of a deleted reader")

    async def prune() -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
            OPEN_TABS.prune(connected_tokens(app))

    tasks = [asyncio.create_task(wipe(), name="wipe-deleted-tabs"), asyncio.create_task(prune(), name="prune-tabs")]
    try:
        yield
    finally:
        unsubscribe()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
