"""`make loadtest ARGS=--cluster`: the simulated readers against `make cluster`'s processes, 1, 2 and 3 UI workers,
beside the one-process production backend of the same run.

Run with `python -m tests.benchmarks.loadtest --cluster [--workers 1,2,3] [--levels 25,50,100,175] [--duration 10]`
(and `make loadtest`'s other reader options). Private PostgreSQL and Redis servers are started (`tests/servers.py`);
then, for each number of workers, a fresh database and Redis, and the cluster's processes started by
`media_demo.cluster`'s own functions (`cluster_config`, `engine_command`/`engine_env`, `backend_command`/`worker_env`),
so what is measured is what `make cluster` runs: the engine service, then granian with `WORKERS` UI workers in remote
mode. No frontend: the readers speak to the backend's websocket. Before them, the baseline is what `make loadtest`
measures: `reflex run --env prod --backend-only`, the engine inside, on SQLite.

As in `make loadtest`, the server side is pinned to core 0 (the cluster's processes, PostgreSQL and Redis too) and
the readers' generators to core 1, so the CPU per page event is comparable across configurations; with 2 cores a
cluster cannot show more throughput than one process, only what each event costs and where. CPU per page event
counts the whole cluster (utime + stime of the engine's and granian's process trees) and is split engine / UI
workers; PostgreSQL's and Redis's (which the one process does not need) are reported beside it. Per configuration:
the highest level sustained with p95 under `--target-p95` ms and no errors, readers per busy core, and an estimate
for a 16-core machine bounded by the engine, which is one process and so at most one core of Python.

Bounded like `make loadtest` (levels x (ramp + warm-up + duration) per configuration); every process is stopped
whatever happens. Loopback only. Writes `.loadtest/cluster-<time>.md` and `.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from media_demo.cluster import backend_command, cluster_config, engine_command, engine_env, worker_env
from media_demo.settings import Settings
from tests.benchmarks import history as history_module
from tests.benchmarks import loadtest
from tests.benchmarks.loadtest import BACKEND_CORE, LevelResult, Sample
from tests.benchmarks.reflex_socket import FrontendContract
from tests.servers import PostgresServer, RedisServer, start_postgres, start_redis

WORKERS = (1, 2, 3)
LEVELS = "25,50,100,175"
DURATION, WARMUP = "10", "3"  # a few minutes in all: 4 configurations x 4 levels
TARGET_P95_MS = 150.0
BASELINE = "1 process"
CORES = 16  # the machine the estimate is for
SETTLE_SECONDS = 120.0


@dataclass(frozen=True)
class ClusterOptions:
    readers: loadtest.Options
    workers: tuple[int, ...] = WORKERS
    baseline: bool = True
    target_p95_ms: float = TARGET_P95_MS


# ----------------------------------------------------------------------------- the cluster's processes


def _wait_for(url: str, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {what} exited ({process.returncode}):\n{_tail(log)}")
        with contextlib.suppress(urllib.error.URLError, OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the {what} did not answer within {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _stop_group(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM to the process group it leads, SIGKILL to what is left of its tree after `timeout`."""
    if process is None or process.poll() is not None:
        return
    tree = loadtest.process_tree(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if loadtest._stat(pid) is not None:
                os.kill(pid, signal.SIGKILL)


def pin_to(core: int, pids: list[int]) -> None:
    """Move running processes (PostgreSQL's, Redis) onto the server's core; their later children inherit it."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {core})


class ClusterBackend(loadtest.Backend):
    """The engine service and granian's UI workers as `make cluster` starts them, on a loopback port; seen by
    `loadtest.run_scenario` as one backend whose process tree is both (`pid` is granian's)."""

    def __init__(self, folder: Path, workers: int, database_url: str, redis: RedisServer, pin: bool) -> None:
        super().__init__(folder, folder / "media_demo.db", pin)
        self.workers = workers
        self.services: list[int] = []  # PostgreSQL's and Redis's pids, read beside the cluster
        env = {k: v for k, v in os.environ.items() if k not in ("SIGNALS_API_URL", "SNOWPLOW_COLLECTOR_URL")}
        self.env = env | {
            "DATABASE_URL": database_url,
            "REFLEX_REDIS_URL": redis.url,
            "WORKERS": str(workers),
            "ENGINE_PORT": str(loadtest.free_port()),
            "BACKEND_PORT": str(self.port),
            "BACKEND_HOST": "127.0.0.1",  # loopback only
            "REFLEX_API_URL": self.url,
            "MEDIA_DEMO_DB": str(
                folder / "media_demo.db"
            ),  # only the folder of stored secrets: the log is in PostgreSQL
            "SIGNALS_API_TOKEN": history_module.API_TOKEN,
            "COOKIE_SECRET": history_module.COOKIE_SECRET,
            "REFLEX_LOG_JSON": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.config = cluster_config(self.env, Settings(signals_api_token=history_module.API_TOKEN))
        self.engine: subprocess.Popen[bytes] | None = None
        self.started: list[int] = []  # every process of the cluster once settled (to check none is left)

    def start(self, timeout: float = 300.0) -> float:
        """The engine, healthy; then granian, answering and with every worker settled (imports done)."""
        pin = loadtest._taskset(BACKEND_CORE, self.pin)
        python = sys.executable
        started = time.perf_counter()
        with self.log_path.open("ab") as log:  # both write JSON lines to one log, counted as `make loadtest` does
            self.engine = subprocess.Popen(
                [*pin, *engine_command(self.config, python)],
                cwd=loadtest.PROJECT_ROOT,
                env=engine_env(self.config, self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _wait_for(f"{self.config.engine_url}/api/health", self.engine, "engine", self.log_path, timeout)
            self.process = subprocess.Popen(
                [*pin, *backend_command(self.config, python)],
                cwd=loadtest.PROJECT_ROOT,
                env=worker_env(self.config, self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for(f"{self.url}/ping", self.process, "backend", self.log_path, timeout)
        self.settle()
        self.started = self.tree()
        return time.perf_counter() - started

    def settle(self) -> None:
        """Wait until granian has all its workers and they are idle: a worker still importing the app takes no
        connections, so the first readers would all land on the others."""
        deadline = time.monotonic() + SETTLE_SECONDS
        previous = None
        while time.monotonic() < deadline:
            tree = loadtest.process_tree(self.pid)
            now = loadtest.cpu_seconds(tree)
            if len(tree) >= 1 + self.workers and previous is not None and now - previous < 0.1:
                return
            previous = now
            time.sleep(1.0)
        raise RuntimeError(f"granian's {self.workers} workers did not settle in {SETTLE_SECONDS:.0f} s")

    def tree(self) -> list[int]:
        engine = loadtest.process_tree(self.engine.pid) if self.engine is not None else []
        return engine + (loadtest.process_tree(self.pid) if self.process is not None else [])

    def worker(self) -> int:
        """The largest UI worker (granian's child), for the RSS column and `--profile`."""
        tree = loadtest.process_tree(self.pid)
        return max(tree[1:], key=loadtest.rss_mib) if len(tree) > 1 else tree[0]

    def sample(self) -> Sample:
        assert self.engine is not None
        engine = loadtest.cpu_seconds(loadtest.process_tree(self.engine.pid))
        workers = loadtest.cpu_seconds(loadtest.process_tree(self.pid))
        services = loadtest.cpu_seconds([p for pid in self.services for p in loadtest.process_tree(pid)])
        core = loadtest.core_ticks(BACKEND_CORE)
        return Sample(engine + workers, self.log_size(), core, loadtest.rss_mib(self.worker()), engine, services)

    def stop(self, timeout: float = 30.0) -> None:
        """The workers first, then the engine (which commits), as `make cluster` stops them."""
        _stop_group(self.process, timeout)
        _stop_group(self.engine, timeout)


# ----------------------------------------------------------------------------- the summary


@dataclass
class Configuration:
    """One configuration's verdict: the figures of its sustained level, or of its lowest level if none held."""

    name: str
    workers: int | None  # None: the one-process baseline
    sustained: int | None  # the highest level with p95 under the target and no errors
    level: int  # the level the figures below are from
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: int
    events_per_s: float
    cpu_ms: float | None  # per page event: the server (engine + workers)
    engine_ms: float | None
    workers_ms: float | None
    services_ms: float | None  # PostgreSQL + Redis, beside
    cores_busy: float  # the server and its services, CPU seconds per second at that level
    pss_mib: float
    readers_per_core: float | None = None  # readers per busy core: measured if sustained, else from the CPU cost
    measured_per_core: bool = False
    estimate: dict[str, Any] | None = None


def sustained_level(levels: list[LevelResult], target_p95_ms: float) -> LevelResult | None:
    """The highest level that held: p95 under the target and no error (levels are run in ascending order)."""
    held = [r for r in levels if r.p95_ms is not None and r.p95_ms < target_p95_ms and r.errors == 0]
    return max(held, key=lambda r: r.readers) if held else None


def estimate(engine_ms: float, rest_ms: float, pace: float, cores: int = CORES) -> dict[str, Any]:
    """Readers on `cores` cores from a cluster's CPU per page event: the engine is one process, so at most one
    core of Python, which caps the events/s at 1000 / its ms per event; the other cores run the UI workers,
    PostgreSQL and Redis (`rest_ms` per event). `pace`: page events per reader per second (think time included).
    Every core fully busy, so a ceiling: p95 needs headroom (the one process held it at the utilisation shown)."""
    engine_cap = 1000 / engine_ms
    workers_cap = (cores - 1) * 1000 / rest_ms
    ceiling = min(engine_cap, workers_cap)
    return {
        "cores": cores,
        "events_per_reader_per_s": pace,
        "engine_cap_events_per_s": engine_cap,
        "engine_cap_readers": engine_cap / pace,
        "workers_cap_events_per_s": workers_cap,
        "bound_by": "engine" if engine_cap <= workers_cap else "UI workers",
        "ceiling_events_per_s": ceiling,
        "ceiling_readers": ceiling / pace,
    }


def summarise(
    name: str, workers: int | None, levels: list[LevelResult], target: float, pace: float | None
) -> Configuration:
    """`pace` (page events per reader per second of unhindered readers, from the baseline) turns a CPU cost into
    readers when no level held; the sustained level's own pace otherwise."""
    best = sustained_level(levels, target)
    level = best or min(levels, key=lambda r: r.readers)
    services = level.events_per_s * (level.services_cpu_ms_per_event or 0.0) / 1000
    cores = level.backend_cpu_percent / 100 + services
    found = Configuration(
        name=name,
        workers=workers,
        sustained=best.readers if best else None,
        level=level.readers,
        p50_ms=level.p50_ms,
        p95_ms=level.p95_ms,
        p99_ms=level.p99_ms,
        errors=level.errors,
        events_per_s=level.events_per_s,
        cpu_ms=level.cpu_ms_per_event,
        engine_ms=level.engine_cpu_ms_per_event,
        workers_ms=level.workers_cpu_ms_per_event,
        services_ms=level.services_cpu_ms_per_event,
        cores_busy=cores,
        pss_mib=level.pss_mib,
    )
    if best is not None and cores:
        found.readers_per_core, found.measured_per_core = best.readers / cores, True
        pace = best.events_per_s / best.readers
    elif pace and level.cpu_ms_per_event:
        found.readers_per_core = 1000 / ((level.cpu_ms_per_event + (level.services_cpu_ms_per_event or 0)) * pace)
    if workers is not None and pace and level.engine_cpu_ms_per_event and level.workers_cpu_ms_per_event:
        rest = level.workers_cpu_ms_per_event + (level.services_cpu_ms_per_event or 0.0)
        found.estimate = estimate(level.engine_cpu_ms_per_event, rest, pace)
    return found


LEVEL_COLUMNS = (
    ("configuration", "scenario", "{}"),
    ("readers", "readers", "{:,}"),
    ("pages/s", "events_per_s", "{:.1f}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p95 ms", "p95_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("errors", "errors", "{:,}"),
    ("CPU ms/page", "cpu_ms_per_event", "{:.2f}"),
    ("engine", "engine_cpu_ms_per_event", "{:.2f}"),
    ("workers", "workers_cpu_ms_per_event", "{:.2f}"),
    ("pg+redis", "services_cpu_ms_per_event", "{:.2f}"),
    ("CPU %", "backend_cpu_percent", "{:.0f}"),
    ("PSS MiB", "pss_mib", "{:.0f}"),
    ("warnings", "warnings", "{:,}"),
    ("core 0 others %", "core_others_percent", "{:.0f}"),
    ("gen lag p99", "loop_lag_p99_ms", "{:.1f}"),
)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def summary_table(configurations: list[Configuration], target: float) -> str:
    header = (
        f"| configuration | readers at p95 < {target:.0f} ms | figures at | pages/s | p50 / p95 / p99 ms | errors "
        "| CPU ms/page: total / engine / workers | pg+redis ms/page | cores busy | readers per core | PSS MiB |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in configurations:
        latency = " / ".join(_number(x, "{:.0f}") for x in (c.p50_ms, c.p95_ms, c.p99_ms))
        cpu = " / ".join(_number(x, "{:.2f}") for x in (c.cpu_ms, c.engine_ms, c.workers_ms))
        per_core = _number(c.readers_per_core, "{:.0f}" if c.measured_per_core else "~{:.0f} (from cost)")
        lines.append(
            f"| {c.name} | {c.sustained if c.sustained else 'none'} | {c.level} readers | {c.events_per_s:.1f} "
            f"| {latency} | {c.errors} | {cpu} | {_number(c.services_ms, '{:.2f}')} | {c.cores_busy:.2f} "
            f"| {per_core} | {c.pss_mib:.0f} |"
        )
    return "\n".join(lines)


def estimate_lines(configurations: list[Configuration]) -> list[str]:
    lines = []
    for c in configurations:
        if c.workers is None and c.sustained:
            lines.append(
                f"{c.name}: one Python process uses one core whatever the machine: {c.sustained} readers on 16 cores "
                f"too (it held p95 at {c.cores_busy:.0%} of its core)"
            )
        if (e := c.estimate) is None:
            continue
        lines.append(
            f"{c.name} on {e['cores']} cores: at {e['events_per_reader_per_s']:.2f} page events per reader per second, "
            f"the engine ({c.engine_ms:.2f} ms/page, one process: one core at most) caps the cluster at "
            f"{e['engine_cap_events_per_s']:,.0f} events/s ({e['engine_cap_readers']:,.0f} readers); "
            f"{e['cores'] - 1} cores of UI workers + PostgreSQL + Redis "
            f"({(c.workers_ms or 0) + (c.services_ms or 0):.2f} ms/page) serve {e['workers_cap_events_per_s']:,.0f} "
            f"events/s: bound by the {e['bound_by']}, a ceiling of {e['ceiling_readers']:,.0f} readers with every "
            "core busy (p95 needs headroom below that)"
        )
    return lines


# ----------------------------------------------------------------------------- the run


def run_cluster(
    workers: int,
    options: ClusterOptions,
    postgres: PostgresServer,
    contract: Any,
    site: Any,
    folder: Path,
) -> tuple[list[LevelResult], dict[str, Any]]:
    """One cluster size on a fresh database and a fresh Redis, every level, everything stopped after."""
    folder.mkdir(parents=True, exist_ok=True)
    redis = start_redis()
    try:
        with postgres.database() as database_url:
            backend = ClusterBackend(folder, workers, database_url, redis, options.readers.pin)
            backend.services = [postgres.process.pid, redis.process.pid]
            if options.readers.pin:
                pin_to(BACKEND_CORE, [p for pid in backend.services for p in loadtest.process_tree(pid)])
            name = f"cluster {workers}w"
            results, info = loadtest.run_scenario(name, options.readers, contract, site, folder, None, server=backend)
            info["workers"] = workers
            info["pids"] = backend.started
            return results, info
    finally:
        redis.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse(argv)
    readers = options.readers
    readers.out.mkdir(parents=True, exist_ok=True)
    if readers.pin and shutil.which("taskset"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {loadtest.GENERATOR_CORE % (os.cpu_count() or 1)})
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    print(
        f"cluster load test {stamp}: {BASELINE if options.baseline else 'no baseline'}, then "
        f"{', '.join(f'{n} worker(s)' for n in options.workers)}; levels {', '.join(map(str, readers.levels))} "
        f"readers, {readers.duration:.0f} s measured each; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    started = time.perf_counter()
    results: list[LevelResult] = []
    infos: list[dict[str, Any]] = []
    configurations: list[Configuration] = []
    pace: float | None = None  # page events per reader per second where the baseline held its p95
    postgres = start_postgres()
    try:
        if readers.pin:
            pin_to(BACKEND_CORE, loadtest.process_tree(postgres.process.pid))
        with ThreadPoolExecutor(2) as pool:
            contract = pool.submit(FrontendContract.compile, loadtest.PROJECT_ROOT)
            site = pool.submit(contextvars.copy_context().run, loadtest.read_site)  # (see loadtest.main)
            runs = readers.out / "runs"
            if options.baseline:
                level_results, info = loadtest.run_scenario(
                    BASELINE, readers, contract, site, runs / f"{stamp}-process", None
                )
                results += level_results
                infos.append(info)
                configurations.append(summarise(BASELINE, None, level_results, options.target_p95_ms, None))
                if (held := sustained_level(level_results, options.target_p95_ms)) is not None:
                    pace = held.events_per_s / held.readers
                print(loadtest.table(level_results, columns=LEVEL_COLUMNS), flush=True)
            for workers in options.workers:
                level_results, info = run_cluster(
                    workers, options, postgres, contract, site, runs / f"{stamp}-cluster-{workers}"
                )
                results += level_results
                infos.append(info)
                configurations.append(
                    summarise(f"cluster {workers}w", workers, level_results, options.target_p95_ms, pace)
                )
                print(loadtest.table(level_results, columns=LEVEL_COLUMNS), flush=True)
    finally:
        postgres.stop()
    report = {
        "started": stamp,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "options": {
            "workers": options.workers,
            "baseline": options.baseline,
            "target_p95_ms": options.target_p95_ms,
            **{k: str(v) if isinstance(v, Path) else v for k, v in vars(readers).items()},
        },
        "scenarios": infos,
        "levels": [vars(r) for r in results],
        "configurations": [asdict(c) for c in configurations],
        "seconds": time.perf_counter() - started,
    }
    write_report(report, results, infos, configurations, options, stamp)
    return report


def write_report(
    report: dict[str, Any],
    results: list[LevelResult],
    infos: list[dict[str, Any]],
    configurations: list[Configuration],
    options: ClusterOptions,
    stamp: str,
) -> None:
    readers = options.readers
    note_lines = loadtest.notes(results, infos, readers) + estimate_lines(configurations)
    summary = summary_table(configurations, options.target_p95_ms)
    levels = loadtest.table(results, markdown=True, columns=LEVEL_COLUMNS)
    text = [
        f"# Cluster load test {stamp}",
        "",
        f"Levels {', '.join(map(str, readers.levels))} readers, {readers.duration:.0f} s measured each; the server "
        f"side (one process, or engine + UI workers + PostgreSQL + Redis) pinned to core {BACKEND_CORE}, the "
        f"generators to core {loadtest.GENERATOR_CORE}; latency = page event sent -> its chain's last update. "
        "CPU ms/page of a cluster = engine + UI workers (granian included); PostgreSQL and Redis beside it. "
        "Cores busy = the server's and its services' CPU per second at the level the figures are from (the sustained "
        "one, else the lowest); readers per core 'from cost' = 1000 / (CPU ms per page x the baseline's page "
        "events per reader per second).",
        "",
        summary,
        "",
        levels,
        "",
        *[f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}" for line in note_lines],
        "",
    ]
    print()
    print("\n".join(text[4:]))
    json_path = readers.out / f"cluster-{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2))
    md_path = readers.out / f"cluster-{stamp}.md"
    md_path.write_text("\n".join(text))
    print(f"\nreport: {md_path} and {json_path.name} ({report['seconds']:.0f} s)")


def parse(argv: list[str] | None) -> ClusterOptions:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.loadtest --cluster",
        description=__doc__.splitlines()[0],
        epilog="Every other option is make loadtest's (--levels, --duration, --warmup, --think, --no-pin, ...); "
        f"the defaults here: --levels {LEVELS} --duration {DURATION} --warmup {WARMUP}.",
    )
    parser.add_argument("--workers", default=",".join(map(str, WORKERS)), help="cluster sizes (UI workers), in turn")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-process backend")
    parser.add_argument("--target-p95", type=float, default=TARGET_P95_MS, help="ms: what a level must hold")
    own, rest = parser.parse_known_args(argv)
    if any(a.startswith("--history") for a in rest):
        parser.error("--history is for the one-process scenario (a SQLite history); the cluster runs on PostgreSQL")
    readers = loadtest.parse(["--levels", LEVELS, "--duration", DURATION, "--warmup", WARMUP, *rest])
    workers = tuple(int(x) for x in own.workers.split(",") if x)
    if not workers or min(workers) < 1:
        parser.error("--workers: one or more whole numbers of 1 or more")
    return ClusterOptions(readers, workers, not own.no_baseline, own.target_p95)
