"""The attribute engine as a process of its own: `python -m media_demo.engine_service` (`make engine`).

It serves the engine's routes (`media_demo.engine_api`: the collector, `/micro/`, the Signals API,
the interventions stream, `DELETE /api/v1/readers`, `/api/health`) and imports no Reflex. Its
lifespan opens the newsroom (replaying the event log from the last checkpoint) before the first
request and closes it after the last one: on SIGTERM the server stops accepting, finishes the
requests in flight, then the newsroom writes its final checkpoint and commits the log, so no
acknowledged event (a collector 200 is sent only once the event is committed) is ever lost.

Exactly one engine process owns the writes (the log, the checkpoints, the published definitions);
the UI workers read attributes through its API. The reader pages' routes (recommendations, story
pages, publishing, experiments) stay with the app (`media_demo.api.build_api`): they render from the
corpus and its similarity index, which the UI process holds and publishing changes in place, and
they read attributes the way any Signals client does. The engine keeps what is built from events.

Served by granian with one worker (see `serve`). Listens on 127.0.0.1 unless told otherwise: it holds
every reader's events, so exposing it (`--host 0.0.0.0` in a container, say) is a deliberate choice,
never a default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from media_demo.engine_api import engine_routes
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import get_settings
from media_demo.signals.http.errors import http_exception

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100


def open_engine() -> Newsroom:
    """The newsroom with the engine in it, from the environment. Never in remote mode: this is the engine."""
    settings = get_settings()
    if settings.signals_api_url:
        raise RuntimeError("the engine service is the engine: unset SIGNALS_API_URL (it is for the UI workers)")
    room = Newsroom(settings, get_corpus(), get_index())
    # The corpus, index and restored state live as long as the process: keep the
    # garbage collector from re-scanning them (long full collections stall requests).
    gc.freeze()
    return room


def create_app(open_newsroom: Callable[[], Newsroom] = open_engine) -> Starlette:
    """The engine's ASGI app; the newsroom is opened by its lifespan (off the event loop) and closed at its end.

    `open_newsroom` lets tests hand in their own. A request arriving before the lifespan started
    (an ASGI server run without it) answers 503 rather than opening a second newsroom.
    """
    opened: list[Newsroom] = []

    def newsroom() -> Newsroom:
        if not opened:
            raise HTTPException(503, "the attribute engine is starting or stopping; retry")
        return opened[0]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        room = await asyncio.to_thread(open_newsroom)  # the replay blocks: keep it off the loop
        opened.append(room)
        logger.info("attribute engine open: %d events replayed", room.replayed)
        try:
            yield
        finally:
            opened.clear()
            await asyncio.to_thread(room.close)  # the final checkpoint and commit
            logger.info("attribute engine closed")

    return Starlette(
        routes=engine_routes(newsroom), exception_handlers={HTTPException: http_exception}, lifespan=lifespan
    )


def serve(host: str, port: int, log_level: str = "info") -> None:
    """Run the engine under granian until SIGTERM or Ctrl-C.

    Granian rather than uvicorn: measured with `make loadtest ARGS=--collector` (one event per request,
    server pinned to one core), granian's Rust HTTP/1 spent about 100 µs less CPU per request (450 against
    560 µs on an empty route) and answered every request at 500 req/s, where uvicorn's pure-Python h11
    reset a few connections; it is also what serves the Reflex backend. Exactly one worker, always: the
    worker process owns the newsroom and its writes (granian's supervisor process holds nothing), and a
    second worker would be a second writer. SIGTERM to the supervisor drains the worker, whose lifespan
    then closes the newsroom (exit code 0).
    """
    from granian import Granian  # the server, only where one is started (tests build the app without it)
    from granian.constants import Interfaces
    from granian.log import LogLevels

    Granian(
        f"{__name__}:create_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=1,
        log_level=LogLevels(log_level),
        # The app's own records through granian's console handler, in the worker too: granian configures
        # logging in each process it starts, which drops any handler set up before (a `basicConfig` here).
        log_dictconfig={"root": {"handlers": ["console"], "level": log_level.upper()}},
    ).serve()


def main(argv: list[str] | None = None) -> None:
    """`python -m media_demo.engine_service [--host H] [--port P]`; settings come from the environment
    (`ENGINE_LOG_LEVEL`: debug, info, warning or error; info by default)."""
    parser = argparse.ArgumentParser(prog="python -m media_demo.engine_service", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    serve(args.host, args.port, os.environ.get("ENGINE_LOG_LEVEL", "info"))


if __name__ == "__main__":
    main()
