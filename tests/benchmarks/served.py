"""The HTTP benchmark's app as a granian factory: `python -m granian --factory tests.benchmarks.served:app`.

Granian runs the app in a worker process of its own, as Reflex runs the backend,
so the worker builds its own newsroom from the same seeds as the benchmark's
copy (the same readers with the same histories, so the same answers), in the
folder named by `BENCH_SERVED_FOLDER`. The constant route answers the bytes in
the file named by `BENCH_SERVED_CONSTANT`.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from starlette.applications import Starlette

FOLDER = "BENCH_SERVED_FOLDER"
CONSTANT = "BENCH_SERVED_CONSTANT"


def app() -> Starlette:
    """The benchmark app over a newly loaded newsroom, recording this worker's garbage collections."""
    from tests.benchmarks.api_latency import GcPauses, bench_app, loaded_newsroom  # (it imports this module)

    folder = Path(os.environ[FOLDER])
    folder.mkdir(parents=True, exist_ok=True)
    room, _readers = loaded_newsroom(str(folder))
    gc.freeze()  # as `get_newsroom` does once the app's newsroom is loaded
    pauses = GcPauses().__enter__()  # for the worker's lifetime: `GET /bench/stats` reads and restarts it
    return bench_app(room, Path(os.environ[CONSTANT]).read_bytes(), pauses)
