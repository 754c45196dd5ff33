"""Deleting a reader wipes their tab states in Redis too (the state manager of a scaled deployment).

Reflex keeps each tab's state tree under its client token; with REFLEX_REDIS_URL set those
trees live in Redis, pickled. The same wiping code serves the memory manager (the browser
tests cover that one); here the real app's states go through a real redis-server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import reflex as rx
from redis.asyncio import Redis
from reflex.istate.manager.redis import StateManagerRedis

import media_demo.media_demo  # noqa: F401  (registers every state of the app, as the backend does)
from media_demo.state.reader import ReaderState
from media_demo.state.tabs import forget_tabs_of, stored_tokens
from media_demo.tracking.identity import new_domain_userid
from tests.loop_watch import run_apart


class TabStore:
    """What the wiping code uses of the Reflex app: its state manager and `modify_state`."""

    def __init__(self, manager: StateManagerRedis) -> None:
        self.state_manager = manager

    @contextlib.asynccontextmanager
    async def modify_state(self, token: rx.BaseStateToken) -> AsyncIterator[rx.State]:
        async with self.state_manager.modify_state(token) as root:
            yield root


async def open_tab(store: TabStore, token: str, reader: str, user_id: str = "") -> None:
    """A tab as the app leaves it after a page view: the reader's ids in its reader state.

    (The websocket's Cookie header never reaches router data: `websocket_privacy` drops it.)
    """
    async with store.modify_state(rx.BaseStateToken(ident=token, cls=ReaderState)) as root:
        state = await root.get_state(ReaderState)
        state.domain_userid = reader
        state._user_id = user_id
        state.session = f"session-of-{reader}"
        root.router_data = {"pathname": "/", "headers": {"user-agent": "test"}}


async def everything_in(redis: Redis) -> bytes:
    """Every key and every value Redis holds, as one byte string to search."""
    found = []
    async for key in redis.scan_iter(count=1000):
        found.append(key)
        if await redis.type(key) == b"string":
            found.append(await redis.get(key) or b"")
    return b"\n".join(found)


def test_deleting_a_reader_wipes_every_tab_of_theirs_from_redis_and_keeps_the_others(redis_url: str) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(redis_url)
        store = TabStore(StateManagerRedis(redis=redis))
        gone, kept = new_domain_userid(), new_domain_userid()
        await open_tab(store, "tab-gone-1", gone, user_id="grace@example.org")
        await open_tab(store, "tab-gone-2", gone)
        await open_tab(store, "tab-kept", kept)
        before = await everything_in(redis)
        # The search can find them: ids and sessions of both tabs, and the other reader.
        assert before.count(gone.encode()) >= 4 and kept.encode() in before
        assert set(await stored_tokens(store)) == {"tab-gone-1", "tab-gone-2", "tab-kept"}  # type: ignore[arg-type]

        wiped = await forget_tabs_of(store, [gone])  # type: ignore[arg-type]

        after = await everything_in(redis)
        assert wiped == 2
        assert gone.encode() not in after and b"grace@example.org" not in after
        assert kept.encode() in after
        ttls = [await redis.ttl(key) async for key in redis.scan_iter(match="tab-*")]
        assert ttls and all(0 < ttl <= store.state_manager.token_expiration for ttl in ttls)  # stale tabs expire
        await store.state_manager.close()

    run_apart(scenario())
