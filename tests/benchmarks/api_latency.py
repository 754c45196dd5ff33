"""`get-online-attributes` latency: in process through the route's handler, then over HTTP on loopback."""

from __future__ import annotations

import gc
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
import uvicorn
from snowplow_signals import StreamAttributeGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from media_demo.api import build_api
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import PROJECT_ROOT
from media_demo.signals.definitions import READER_GROUP
from media_demo.signals.engine import group_id
from media_demo.signals.signals_api import online_attributes
from tests.benchmarks.common import BENCH_TOKEN, bench_settings, latency_line, reader_ids, reader_visits
from tests.benchmarks.loadgen import LoadConfig, LoadResult
from tests.integration.conftest import serve

ONLINE_READERS = 10_000
ONLINE_CALLS = 20_000
WARMUP_CALLS = 1_000
IN_PROCESS_TARGET_MS = 1.0
HTTP_RATE = 500.0  # requests/s, open loop
HTTP_SECONDS = 10.0
HTTP_WARMUP_SECONDS = 1.0
HTTP_TARGET_MS = 5.0
ONLINE_PATH = "/api/v1/get-online-attributes"
CONSTANT_PATH = "/bench/constant"

T = TypeVar("T")


def loaded_newsroom(folder: str) -> tuple[Newsroom, list[str]]:
    """A newsroom whose engine holds `ONLINE_READERS` readers with realistic histories.

    The events go straight into the attribute engine (as a restore from a
    checkpoint would put them), not through interventions or the event log.
    """
    room = Newsroom(bench_settings(folder, "online"), get_corpus(), get_index())
    readers = reader_ids(ONLINE_READERS, seed=21)
    with room._lock:
        for event in reader_visits(readers, seed=22):
            room.engine.ingest(event)
    return room, readers


def reader_group(room: Newsroom) -> StreamAttributeGroup:
    return next(g for g in room.engine.groups if g.name == READER_GROUP)


def request_body(group: StreamAttributeGroup, reader: str) -> bytes:
    """A Signals SDK `get_group_attributes` request: every attribute of the group, for one reader."""
    qualified = [f"{group_id(group.name, group.version or 1)}:{a.name}" for a in group.attributes]
    return orjson.dumps({"attributes": qualified, "attribute_keys": {"domain_userid": [reader]}})


def time_calls_us(fn: Callable[[T], Any], arguments: Sequence[T]) -> list[float]:
    """Microseconds per call of `fn`, after `WARMUP_CALLS` untimed calls; the garbage collector stays on."""
    for argument in arguments[:WARMUP_CALLS]:
        fn(argument)
    clock = time.perf_counter_ns
    samples = []
    for argument in arguments:
        start = clock()
        fn(argument)
        samples.append((clock() - start) / 1000)
    return samples


def bench_online_in_process(room: Newsroom, readers: list[str]) -> None:
    """The route's handler (`signals_api.online_attributes`) called directly, beside a dict lookup."""
    group = reader_group(room)
    names = [a.name for a in group.attributes]
    rng = random.Random(23)
    chosen = [rng.choice(readers) for _ in range(ONLINE_CALLS)]
    bodies = [request_body(group, reader) for reader in chosen]
    answer = online_attributes(room, {}, bodies[0])
    if answer.status_code != 200:
        raise RuntimeError(f"get-online-attributes answered {answer.status_code}: {bytes(answer.body)[:300]!r}")
    precomputed = {reader: room.attributes(reader) for reader in readers}

    handler = time_calls_us(lambda body: online_attributes(room, {}, body), bodies)
    engine = time_calls_us(lambda reader: room.engine.get_attributes(group.name, reader, group.version, names), chosen)
    lookup = time_calls_us(precomputed.__getitem__, chosen)
    print(
        f"\n## get-online-attributes in process ({ONLINE_CALLS:,} requests, {len(readers):,} readers loaded, "
        f"{len(names)} attributes of {group_id(group.name, group.version or 1)}, one reader per request)"
    )
    print(f"  target p99 < {IN_PROCESS_TARGET_MS * 1000:.0f} µs")
    print(latency_line("signals_api.online_attributes (HTTP route's handler)", handler, "µs"))
    print(latency_line("  of which engine.get_attributes (information)      ", engine, "µs"))
    print(latency_line("baseline, dict lookup of precomputed values         ", lookup, "µs"))
    print("  (the handler parses and validates the JSON body, reads the engine and renders a JSONResponse;")
    print("   the timer itself costs ~0.1 µs per sample)")


def bench_app(room: Newsroom, constant: bytes) -> Starlette:
    """The app's API, plus a trivial route answering `constant` (both behind one `Mount`)."""

    async def constant_json(_request: Request) -> Response:
        return Response(constant, media_type="application/json")

    return Starlette(
        routes=[
            Mount("/bench", routes=[Route("/constant", constant_json, methods=["POST"])]),
            Mount("", app=build_api(lambda: room)),
        ]
    )


def load(url: str, bodies: list[str]) -> LoadResult:
    """Run the open-loop load generator in its own process (the other core) against `url`."""
    config: LoadConfig = {
        "url": url,
        "token": BENCH_TOKEN,
        "bodies": bodies,
        "rate": HTTP_RATE,
        "duration": HTTP_SECONDS,
        "warmup": HTTP_WARMUP_SECONDS,
        "timeout": 2.0,
        "connections": 64,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.loadgen"],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=HTTP_WARMUP_SECONDS + HTTP_SECONDS + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr}")
    return json.loads(done.stdout)


class GcPauses:
    """Garbage collections in this (the server's) process while in the `with` block: pauses in ms."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._began) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        young = self.pauses[0] + self.pauses[1]
        old = self.pauses[2]
        return (
            f"GC gen 2 ×{len(old)} (longest {max(old, default=0):.0f} ms), "
            f"gen 0-1 ×{len(young)} (longest {max(young, default=0):.0f} ms)"
        )


@dataclass
class Run:
    """One load run: what the generator saw, and what it cost the server's process."""

    result: LoadResult
    cpu_us_per_request: float
    gc: GcPauses


def measured_load(url: str, bodies: list[str]) -> Run:
    """`load`, with this process's CPU time and garbage collections recorded around it."""
    with GcPauses() as pauses:
        cpu = time.process_time()
        result = load(url, bodies)
        cpu = time.process_time() - cpu
    requests = round(HTTP_RATE * (HTTP_SECONDS + HTTP_WARMUP_SECONDS))
    return Run(result, cpu / requests * 1e6, pauses)


def _report(label: str, run: Run) -> None:
    result = run.result
    errors = ", ".join(f"{kind} ×{n}" for kind, n in result["errors"].items()) or "none"
    achieved = result["ok"] / result["elapsed_s"]
    print(f"  {label}: achieved {achieved:6.1f} req/s, {result['ok']:,}/{result['sent']:,} ok, errors: {errors}")
    if result["latencies_ms"]:
        print(latency_line("    latency from due time", result["latencies_ms"]))
    print(latency_line("    generator send lag   ", result["send_lag_ms"]))
    print(f"    server process: {run.cpu_us_per_request:,.0f} µs CPU/request; {run.gc.summary()}")


def bench_online_http(room: Newsroom, readers: list[str]) -> None:
    """`POST /api/v1/get-online-attributes` at a fixed rate over loopback, beside a constant-JSON route."""
    group = reader_group(room)
    rng = random.Random(24)
    count = round(HTTP_RATE * (HTTP_SECONDS + HTTP_WARMUP_SECONDS))
    bodies = [request_body(group, rng.choice(readers)).decode() for _ in range(count)]
    constant = bytes(online_attributes(room, {}, bodies[0].encode()).body)
    with serve(bench_app(room, constant)) as base:
        for path in (ONLINE_PATH, CONSTANT_PATH):  # both answer, before any load
            check = httpx.post(base + path, content=bodies[0], headers={"Authorization": f"Bearer {BENCH_TOKEN}"})
            if check.status_code != 200 or check.content != constant:
                raise RuntimeError(f"{path} answered {check.status_code}: {check.text[:300]}")
        baseline = measured_load(base + CONSTANT_PATH, bodies)
        online = measured_load(base + ONLINE_PATH, bodies)
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(
        f"\n## get-online-attributes over HTTP (127.0.0.1, uvicorn {uvicorn.__version__} in a thread, 1 worker, "
        f"{http}, {loop} loop; {len(readers):,} readers loaded)"
    )
    print(
        f"  open loop: {HTTP_RATE:.0f} req/s for {HTTP_SECONDS:.0f} s after a {HTTP_WARMUP_SECONDS:.0f} s "
        "warm-up, from a minimal asyncio HTTP/1.1 keep-alive client in another process; "
        f"target p99 < {HTTP_TARGET_MS:.0f} ms"
    )
    _report(f"POST {ONLINE_PATH} ", online)
    _report(f"baseline, POST {CONSTANT_PATH}", baseline)
    print("  (the baseline returns the same response bytes as a constant: no auth, threadpool, parsing or engine)")


def bench_online_attributes() -> None:
    """Both `get-online-attributes` benchmarks over one newsroom loaded with readers."""
    with tempfile.TemporaryDirectory() as folder:
        room, readers = loaded_newsroom(folder)
        try:
            bench_online_in_process(room, readers)
            bench_online_http(room, readers)
        finally:
            room.close()
