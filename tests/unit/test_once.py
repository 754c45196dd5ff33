"""`once`: the process-wide objects (live corpus, index, newsroom) are built once even when asked for at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from media_demo.newsroom import once


def test_two_threads_asking_first_get_one_object_built_once() -> None:
    built: list[object] = []
    started = threading.Barrier(4)

    @once
    def slow() -> object:
        built.append(made := object())
        time.sleep(0.2)  # long enough that every other thread asks while this one builds
        return made

    def ask() -> object:
        started.wait()
        return slow()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ask(), range(4)))
    assert len(built) == 1
    assert all(answer is built[0] for answer in answers)


def test_cache_clear_builds_it_again() -> None:
    calls: list[int] = []

    @once
    def counted() -> int:
        calls.append(1)
        return len(calls)

    assert counted() == counted() == 1
    counted.cache_clear()  # type: ignore[attr-defined]
    assert counted() == 2
