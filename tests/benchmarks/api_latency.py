"""`get-online-attributes` latency: in process through the route's handler, then over HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import granian
import httpx
import orjson
import psutil
import uvicorn
from snowplow_signals import StreamAttributeGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from media_demo.api import build_api
from media_demo.definitions import READER_GROUP
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import PROJECT_ROOT
from media_demo.signals.engine.plans import group_id
from media_demo.signals.http.signals_api import online_attributes
from tests.benchmarks import served
from tests.benchmarks.common import BENCH_TOKEN, bench_settings, latency_line, percentile, reader_ids, reader_visits
from tests.benchmarks.loadgen import LoadConfig, LoadResult
from tests.integration.conftest import free_port, serve, stop

ONLINE_READERS = 10_000
ONLINE_CALLS = 20_000
WARMUP_CALLS = 1_000
IN_PROCESS_TARGET_MS = 1.0
HTTP_RATE = 500.0  # requests/s, open loop
HTTP_SECONDS = 10.0
HTTP_ROUNDS = 2  # each route's run repeated, interleaved: on a shared 2-core VM one run's p99 is one sample
# On a machine with 2+ cores the load generator runs on CPU 0 and the server on CPU 1 (`taskset`), so
# neither steals the other's core: what a client on another machine would see, minus the network.
CLIENT_CPU, SERVER_CPU = "0", "1"
HTTP_WARMUP_SECONDS = 1.0
HTTP_TARGET_MS = 5.0
ONLINE_PATH = "/api/v1/get-online-attributes"
CONSTANT_PATH = "/bench/constant"
BODY_CONSTANT_PATH = "/bench/body-then-constant"
# What Reflex 0.10 passes to granian in production (plus a quiet log); everything else is granian's default.
GRANIAN_ARGS = ("--interface", "asgi", "--factory", "--workers", "1", "--host", "127.0.0.1", "--log-level", "warning")
GRANIAN_START_SECONDS = 120.0  # the worker loads the newsroom's readers before it answers

T = TypeVar("T")


def loaded_newsroom(folder: str) -> tuple[Newsroom, list[str]]:
    """A newsroom whose engine holds `ONLINE_READERS` readers with realistic histories.

    The events go straight into the attribute engine (as a restore from a
    checkpoint would put them), not through interventions or the event log.
    """
    room = Newsroom(bench_settings(folder, "online"), get_corpus(), get_index())
    readers = reader_ids(ONLINE_READERS, seed=21)
    with room.memory.lock:
        for event in reader_visits(readers, seed=22):
            room.memory.engine.ingest(event)
    return room, readers


def reader_group(room: Newsroom) -> StreamAttributeGroup:
    return next(g for g in room.memory.engine.groups if g.name == READER_GROUP)


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
    precomputed = {reader: room.views.attributes(reader) for reader in readers}

    handler = time_calls_us(lambda body: online_attributes(room, {}, body), bodies)
    engine = time_calls_us(
        lambda reader: room.memory.engine.get_attributes(group.name, reader, group.version, names), chosen
    )
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


def bench_app(room: Newsroom, constant: bytes, pauses: GcPauses | None = None) -> Starlette:
    """The app's API, plus a trivial route answering `constant` (both behind one `Mount`).

    With `pauses`, `GET /bench/stats` answers (and restarts) the garbage collections
    recorded in the serving process, and names its event loop: what the benchmark
    cannot see from outside a server running in another process.
    """

    async def constant_json(_request: Request) -> Response:
        return Response(constant, media_type="application/json")

    async def body_then_constant(request: Request) -> Response:
        await request.body()
        return Response(constant, media_type="application/json")

    async def stats(_request: Request) -> Response:
        loop = type(asyncio.get_running_loop())
        document = {"gc": pauses.take() if pauses else None, "loop": f"{loop.__module__}.{loop.__qualname__}"}
        return Response(orjson.dumps(document), media_type="application/json")

    return Starlette(
        routes=[
            Mount(
                "/bench",
                routes=[
                    Route("/constant", constant_json, methods=["POST"]),
                    Route("/body-then-constant", body_then_constant, methods=["POST"]),
                    Route("/stats", stats, methods=["GET"]),
                ],
            ),
            Mount("", app=build_api(lambda: room)),
        ]
    )


def pinned(cpu: str) -> list[str]:
    """`taskset -c <cpu>` to prefix a command with, or nothing on one core or without taskset."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cpu]


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
        [*pinned(CLIENT_CPU), sys.executable, "-m", "tests.benchmarks.loadgen"],
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

    def take(self) -> str:
        """The summary so far, then start counting afresh."""
        summary = self.summary()
        self.pauses = {0: [], 1: [], 2: []}
        return summary


@dataclass
class Run:
    """One load run: what the generator saw, and what it cost the server's process."""

    result: LoadResult
    cpu_us_per_request: float
    gc: str
    steal: float | None = None  # share of the machine's CPU time the hypervisor gave to others meanwhile


def _steal_share(before: Any, after: Any) -> float | None:
    """Steal time between two `psutil.cpu_times()` over all CPU time then (None where the OS has no steal)."""
    if not hasattr(before, "steal"):
        return None
    total = sum(after) - sum(before)
    return (after.steal - before.steal) / total if total > 0 else 0.0


def _per_request(cpu_seconds: float) -> float:
    return cpu_seconds / round(HTTP_RATE * (HTTP_SECONDS + HTTP_WARMUP_SECONDS)) * 1e6


def measured_load(url: str, bodies: list[str]) -> Run:
    """`load` against a server in this process, with this process's CPU time and garbage collections around it."""
    with GcPauses() as pauses:
        cpu = time.process_time()
        result = load(url, bodies)
        cpu = time.process_time() - cpu
    return Run(result, _per_request(cpu), pauses.summary())


def _report(label: str, run: Run) -> None:
    result = run.result
    errors = ", ".join(f"{kind} ×{n}" for kind, n in result["errors"].items()) or "none"
    achieved = result["ok"] / result["elapsed_s"]
    print(f"  {label}: achieved {achieved:6.1f} req/s, {result['ok']:,}/{result['sent']:,} ok, errors: {errors}")
    if result["latencies_ms"]:
        print(latency_line("    latency from due time", result["latencies_ms"]))
        print(latency_line("    latency from send    ", result["from_send_ms"]))
    print(latency_line("    generator send lag   ", result["send_lag_ms"]))
    steal = "" if run.steal is None else f"; CPU steal by the hypervisor meanwhile {run.steal:.1%}"
    print(f"    server process: {run.cpu_us_per_request:,.0f} µs CPU/request; {run.gc}{steal}")


def _p99(run: Run, key: str = "latencies_ms") -> float:
    samples = run.result[key]  # type: ignore[literal-required]
    return percentile(samples, 0.99) if samples else math.inf


def _check(base: str, bodies: list[str], constant: bytes) -> None:
    """Every route answers `constant` to the first body, before any load."""
    for path in (ONLINE_PATH, CONSTANT_PATH, BODY_CONSTANT_PATH):
        check = httpx.post(base + path, content=bodies[0], headers={"Authorization": f"Bearer {BENCH_TOKEN}"})
        if check.status_code != 200 or check.content != constant:
            raise RuntimeError(f"{path} answered {check.status_code}: {check.text[:300]}")


def _tree_cpu(process: psutil.Process) -> float:
    """User + system CPU seconds of a process and its children (granian's supervisor and its worker)."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def granian_server(folder: str, constant: bytes) -> Iterator[tuple[str, psutil.Process]]:
    """`python -m granian` serving `served:app` (the loaded newsroom rebuilt in the worker) on a free port.

    The settings are Reflex's (`reflex.utils.exec.run_granian_backend_prod`): an ASGI
    factory, one worker, granian's defaults for everything else (HTTP auto, websockets
    on, event loop `auto`). Yields the base URL and the granian process.
    """
    port = free_port()
    constant_file = Path(folder) / "constant.json"
    constant_file.write_bytes(constant)
    environment = {**os.environ, served.FOLDER: str(Path(folder) / "served"), served.CONSTANT: str(constant_file)}
    command = [*pinned(SERVER_CPU), sys.executable, "-m", "granian", *GRANIAN_ARGS, "--port", str(port)]
    command.append("tests.benchmarks.served:app")
    log = (Path(folder) / "granian.log").open("w+")
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + GRANIAN_START_SECONDS
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/bench/stats", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"granian did not start (exit {process.poll()}):\n{log.read()[-3000:]}")
            time.sleep(0.2)
        yield base, psutil.Process(process.pid)
    finally:
        stop(process, timeout=15)
        log.close()


def granian_load(base: str, server: psutil.Process, path: str, bodies: list[str]) -> Run:
    """`load` against the granian server: its process tree's CPU time, and the worker's own GC record."""
    httpx.get(base + "/bench/stats")  # restart the worker's GC record
    cpu, machine = _tree_cpu(server), psutil.cpu_times()
    result = load(base + path, bodies)
    cpu, steal = _tree_cpu(server) - cpu, _steal_share(machine, psutil.cpu_times())
    return Run(result, _per_request(cpu), httpx.get(base + "/bench/stats").json()["gc"], steal)


def _load_header() -> str:
    return (
        f"  open loop: {HTTP_RATE:.0f} req/s for {HTTP_SECONDS:.0f} s after a {HTTP_WARMUP_SECONDS:.0f} s "
        "warm-up, from a minimal asyncio HTTP/1.1 keep-alive client in another process; "
        f"target p99 < {HTTP_TARGET_MS:.0f} ms"
    )


def bench_online_http(room: Newsroom, readers: list[str], folder: str) -> None:
    """`POST /api/v1/get-online-attributes` at a fixed rate over loopback, beside a constant-JSON route.

    Served by granian in its own process, as Reflex serves the backend (gunicorn is
    not installed, so `reflex.utils.exec.should_use_granian()` is true). With
    `BENCH_UVICORN=1`, also by uvicorn in a thread of this process, the earlier setup.
    """
    group = reader_group(room)
    rng = random.Random(24)
    count = round(HTTP_RATE * (HTTP_SECONDS + HTTP_WARMUP_SECONDS))
    bodies = [request_body(group, rng.choice(readers)).decode() for _ in range(count)]
    constant = bytes(online_attributes(room, {}, bodies[0].encode()).body)
    routes = {
        f"POST {ONLINE_PATH}": ONLINE_PATH,
        f"baseline, POST {CONSTANT_PATH}": CONSTANT_PATH,
        f"baseline 2, POST {BODY_CONSTANT_PATH}": BODY_CONSTANT_PATH,
    }
    runs: dict[str, list[Run]] = {label: [] for label in routes}
    with granian_server(folder, constant) as (base, server):
        _check(base, bodies, constant)
        loop = httpx.get(base + "/bench/stats").json()["loop"]
        for _round in range(HTTP_ROUNDS):  # interleaved, so every route sees the machine's quiet and busy spells
            for label, path in routes.items():
                runs[label].append(granian_load(base, server, path, bodies))
    pinning = f"client on CPU {CLIENT_CPU}, server on CPU {SERVER_CPU}" if pinned(CLIENT_CPU) else "no CPU pinning"
    print(
        f"\n## get-online-attributes over HTTP (127.0.0.1; granian {granian.__version__} in its own process, as "
        f"Reflex runs the backend: {' '.join(GRANIAN_ARGS)}; event loop {loop}; {len(readers):,} readers loaded; "
        f"{pinning})"
    )
    print(_load_header())
    for label, measured in runs.items():
        for number, run in enumerate(measured, start=1):
            _report(f"{label} (run {number} of {HTTP_ROUNDS})", run)
    for key, measure in (("latencies_ms", "from due time"), ("from_send_ms", "from send")):
        online = ", ".join(f"{_p99(run, key):.2f}" for run in runs[f"POST {ONLINE_PATH}"])
        floor = ", ".join(f"{_p99(run, key):.2f}" for run in runs[f"baseline, POST {CONSTANT_PATH}"])
        print(f"  p99 {measure}, per run: get-online-attributes {online} ms; constant route {floor} ms")
    print("  (the baselines return the same response bytes as a constant: no auth, parsing or engine; the second")
    print("   first reads the request body, which under granian's ASGI is an await resolved from its Rust runtime;")
    print("   CPU/request is granian's whole process tree, supervisor and worker, over the run and its warm-up)")
    if os.environ.get("BENCH_UVICORN"):
        bench_online_uvicorn(room, readers, bodies, constant)


def bench_online_uvicorn(room: Newsroom, readers: list[str], bodies: list[str], constant: bytes) -> None:
    """The same load against uvicorn (h11) in a thread of this process: the setup before granian, for comparison."""
    with serve(bench_app(room, constant)) as base:
        _check(base, bodies, constant)
        baseline = measured_load(base + CONSTANT_PATH, bodies)
        online = measured_load(base + ONLINE_PATH, bodies)
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"\n## (comparison) the same over uvicorn {uvicorn.__version__} in a thread of this process, 1 worker, {http}, "
        "asyncio loop: not what the app runs on"
    )
    print(_load_header())
    _report(f"POST {ONLINE_PATH} ", online)
    _report(f"baseline, POST {CONSTANT_PATH}", baseline)


def bench_online_attributes() -> None:
    """Both `get-online-attributes` benchmarks over one newsroom loaded with readers."""
    with tempfile.TemporaryDirectory() as folder:
        room, readers = loaded_newsroom(folder)
        try:
            bench_online_in_process(room, readers)
            bench_online_http(room, readers, folder)
        finally:
            room.close()
