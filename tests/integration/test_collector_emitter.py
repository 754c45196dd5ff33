"""The UI worker's emitter through a collector outage: what it tracked meanwhile is kept in order and sent once
the collector is back, at the latest when a reader tracks something new (their page waits on it)."""

from __future__ import annotations

import threading
import time

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from media_demo.tracking import CollectorEmitter
from media_demo.tracking.emitters import TP2_PATH
from tests.integration.conftest import free_port, serve


def test_events_kept_through_an_outage_go_in_order_as_soon_as_a_new_one_arrives() -> None:
    received: list[str] = []
    arrived = threading.Event()

    async def collect(request: Request) -> PlainTextResponse:
        received.extend(p["eid"] for p in orjson.loads(await request.body())["data"])
        arrived.set()
        return PlainTextResponse("ok")

    port = free_port()
    emitter = CollectorEmitter(f"http://127.0.0.1:{port}", timeout=1.0)
    try:
        emitter.input({"e": "pv", "eid": "first"})  # nobody listens: kept
        assert emitter.pending == 1
        time.sleep(3.5)  # the retrier has backed off to waits of ~3 s
        with serve(Starlette(routes=[Route(TP2_PATH, collect, methods=["POST"])]), port):
            started = time.monotonic()
            emitter.input({"e": "pv", "eid": "second"})  # queued behind the first, and a nudge to try now
            assert arrived.wait(timeout=10)
            deadline = time.monotonic() + 10
            while emitter.pending and time.monotonic() < deadline:
                time.sleep(0.05)
            assert time.monotonic() - started < 2.0, "the new event should not wait out the back-off"
            assert received == ["first", "second"] and emitter.pending == 0
    finally:
        emitter.close()
