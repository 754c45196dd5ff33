"""The collector's one intake thread: requests' events collected in arrival order, each answered once durable.

A collector may answer 200 only once the request's events are committed, and a request must
not hold a thread while it waits. Before this, each request ran `collect` and then a blocking
`wait_durable` in a worker thread of its own: under load dozens of threads sat on the log's
condition, every group commit woke all of them, and they fought over the GIL and the memory
lock (300 req/s held, 450 collapsed to a p99 of 35 s). Here the event loop only queues the work
and awaits a future; one thread collects whatever has queued up, back to back, and asks the log
for one callback per round (`EventLog.on_durable`); the group commit then answers the round's
requests with one call into each waiting loop. No thread blocks per request; the loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from media_demo.signals.storage.event_log import EventLog

logger = logging.getLogger(__name__)

MAX_ROUND = 512  # jobs collected before the round's durability is asked for (bounds one round's latency)


@dataclass
class _Job:
    """One request's work: `collect` appends its events to `log` and returns the highest ticket (0: none)."""

    log: EventLog
    collect: Callable[[], int]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """On the loop: answer the waiting requests (those still waiting: a timed-out one was cancelled)."""
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


def _answer(jobs: list[_Job], error: BaseException | None) -> None:
    """From any thread: one call into each loop that waits on `jobs`."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for job in jobs:
        by_loop.setdefault(job.loop, []).append(job.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is left to answer
            loop.call_soon_threadsafe(_settle, futures, error)


class Intake:
    """Runs each request's `collect` on one thread, in arrival order; `submit` resolves once its events are durable."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def submit(self, log: EventLog, collect: Callable[[], int], timeout: float) -> None:
        """Have `collect` run (blocking work, on the intake thread) and wait, without blocking, until every event
        it appended to `log` is committed. Raises what `collect` raised, the log's failure, or TimeoutError."""
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Job(log, collect, loop, future))
        async with asyncio.timeout(timeout):  # (cheaper than `wait_for`, which wraps the future in a task)
            await future

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._starting:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="collector-intake", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < MAX_ROUND:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._round(jobs)

    @staticmethod
    def _round(jobs: list[_Job]) -> None:
        """Collect each job; then one durability callback per log, for the highest ticket the round reached."""
        waiting: dict[int, tuple[EventLog, int, list[_Job]]] = {}
        for job in jobs:
            try:
                ticket = job.collect()
            except Exception as exc:  # this request fails (503: the tracker retries); the others go on
                logger.exception("collector: could not collect a batch")
                _answer([job], exc)
                continue
            log, highest, those = waiting.setdefault(id(job.log), (job.log, 0, []))
            those.append(job)
            waiting[id(log)] = (log, max(highest, ticket), those)
        for log, highest, those in waiting.values():
            try:
                log.on_durable(highest, functools.partial(_answer, those))
            except Exception as exc:
                _answer(those, exc)
