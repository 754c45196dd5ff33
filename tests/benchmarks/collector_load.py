"""`make loadtest ARGS=--collector`: tracker traffic against the engine service, rate by rate, counted back.

Each request is one event, built by the real `snowplow-tracker` (page views and article views of
2,000 readers) and POSTed to `/com.snowplowanalytics.snowplow/tp2` by the open-loop generator
(`loadgen.py`: latency from each request's due time, so a slow server cannot hide its queue). The
server under load runs on a scratch database pinned to core 0, the generator on core 1. Per rate:
achieved rate, p50/p95/p99, errors, the server's CPU per request (utime + stime of its process
tree over the run, warm-up included), and the events counted back: every acknowledged event's
`eid` is looked up in the server's event log (its SQLite file, read-only) afterwards, so "0 lost"
is a count, not an assumption.

Targets, all up at once and taking turns at each rate so they share the machine's state: the
engine service (`python -m media_demo.engine_service`, `make engine`) and, as the baseline, the
Reflex production backend (`reflex run --env prod --backend-only`, as `make loadtest` starts it),
which serves the same collector with the whole app around it; with `--compare-with <checkout>`,
also the engine service of that checkout (e.g. `git worktree add /tmp/before <commit>`), for a
before/after of a change measured in the same run. Run with
`python -m tests.benchmarks.loadtest --collector [--rates 300,450,500,600] [--duration 60] ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson, Subject, Tracker

from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.newsroom import get_shipped_corpus
from tests.benchmarks import history as history_module
from tests.benchmarks import loadtest
from tests.benchmarks.loadgen import LoadConfig, LoadResult

TP2 = "/com.snowplowanalytics.snowplow/tp2"
ENVELOPE = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
APP_ID = "collector-loadtest"  # not the newsroom's app id: profiled as Signals would, no consent needed
READERS = 2_000
RATES = (300, 450, 500, 600)
TARGETS = ("engine", "reflex")
BEFORE = "before"  # the engine service run from the checkout given as --compare-with
TARGET_P99_MS = 100.0
START_SECONDS = 300.0


@dataclass(frozen=True)
class CollectorOptions:
    rates: tuple[int, ...] = RATES
    duration: float = 20.0
    warmup: float = 2.0
    targets: tuple[str, ...] = TARGETS
    server: str = "granian"  # what serves the engine service: its own `main` (granian), or uvicorn to compare
    timeout: float = 30.0
    connections: int = 256
    seed: int = 1
    profile: bool = False
    pin: bool = True
    out: Path = loadtest.OUT
    compare_with: Path | None = None  # another checkout (an earlier commit) whose engine service runs beside
    rounds: int = 1  # each rate run this many times, the targets taking turns


@dataclass
class RateResult:
    """One rate against one target."""

    target: str
    rate: int
    seconds: float
    sent: int
    achieved_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: int
    error_kinds: dict[str, int]
    acknowledged: int  # warm-up included
    counted_back: int  # of the acknowledged, found in the event log afterwards
    lost: int
    bad_events: int  # the server's bad events after this rate (every payload sent is valid: should stay 0)
    cpu_us_per_request: float
    core_others_percent: float  # the server's core busy with other processes (or the hypervisor) meanwhile
    profile_top: list[str] = field(default_factory=list)


class _Collecting:
    """A tracker emitter that keeps each payload, to be POSTed one per request by the generator."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, str]] = []

    def input(self, payload: dict[str, Any]) -> None:
        self.payloads.append({k: str(v) for k, v in payload.items()})

    def flush(self) -> None: ...


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def tracker_bodies(count: int, seed: int) -> list[tuple[str, str]]:
    """(eid, tp2 body) of `count` events from the real tracker: a page view, then the article view, per read."""
    rng = random.Random(seed)
    articles = get_shipped_corpus().articles
    readers = [(_uuid(rng), _uuid(rng)) for _ in range(READERS)]  # (domain_userid, domain_sessionid)
    emitter = _Collecting()
    tracker = Tracker(namespace="collector-load", emitters=emitter, app_id=APP_ID)
    while len(emitter.payloads) < count:
        (reader, session), article = rng.choice(readers), rng.choice(articles)
        subject = Subject().set_domain_user_id(reader).set_domain_session_id(session)
        url = f"http://localhost:3000/article/{article.slug}"
        tracker.track(PageView(page_url=url, page_title=article.title, event_subject=subject))
        data = {"slug": article.slug, "title": article.title, "category": article.category}
        tracker.track(SelfDescribing(SelfDescribingJson(ARTICLE_SCHEMA, data), event_subject=subject))
    return [(p["eid"], json.dumps({"schema": ENVELOPE, "data": [p]})) for p in emitter.payloads[:count]]


class EngineService:
    """The engine service in its own process on a loopback port and a scratch database."""

    def __init__(self, folder: Path, database: Path, pin: bool, server: str, source: Path | None = None) -> None:
        self.database, self.pin, self.server = database, pin, server
        self.source = source or loadtest.PROJECT_ROOT  # another checkout's code, for a before/after comparison
        self.port = loadtest.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "engine.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_SECONDS) -> float:
        env = {
            **os.environ,
            "MEDIA_DEMO_DB": str(self.database),
            "SIGNALS_API_TOKEN": history_module.API_TOKEN,
            "COOKIE_SECRET": history_module.COOKIE_SECRET,
            "ENGINE_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(self.source),
        }
        if self.server == "uvicorn":  # the comparison: uvicorn's CLI on the same app factory
            serve = ["-m", "uvicorn", "--factory", "--no-access-log", "--log-level", "warning"]
            serve += ["--host", "127.0.0.1", "--port", str(self.port), "media_demo.engine_service:create_app"]
        else:
            serve = ["-m", "media_demo.engine_service", "--port", str(self.port)]
        command = [*loadtest._taskset(loadtest.BACKEND_CORE, self.pin), sys.executable, *serve]
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.source, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the engine service exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
            time.sleep(0.2)
        raise RuntimeError(f"the engine service did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def tree(self) -> list[int]:
        return loadtest.process_tree(self.pid)

    def worker(self) -> int:
        tree = self.tree()
        return max(tree[1:], key=loadtest.rss_mib) if len(tree) > 1 else tree[0]

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as a process manager stops it; its exit code (SIGKILL after `timeout`: then None)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


Server = EngineService | loadtest.Backend


@contextlib.contextmanager
def started(target: str, folder: Path, options: CollectorOptions) -> Iterator[Server]:
    """The target's server, started on a scratch database in `folder`, stopped (and its database removed) after."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "media_demo.db"
    server: Server
    if target == "engine":
        server = EngineService(folder, database, options.pin, options.server)
    elif target == BEFORE:
        server = EngineService(folder, database, options.pin, options.server, options.compare_with)
    else:
        server = loadtest.Backend(folder, database, options.pin)
    try:
        seconds = server.start()
        print(f"{target}: ready in {seconds:.1f} s ({server.url})", flush=True)
        yield server
    finally:
        server.stop()
        for path in folder.glob("media_demo.db*"):
            path.unlink()


def logged(database: Path, eids: list[str]) -> tuple[int, int]:
    """(how many of `eids` the event log holds, its bad events), read from the file without writing to it."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        found = 0
        for start in range(0, len(eids), 500):
            chunk = eids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += db.execute(f"SELECT count(*) FROM events WHERE event_id IN ({marks})", chunk).fetchone()[0]
        bad = db.execute("SELECT count(*) FROM bad_events").fetchone()[0]
    return found, bad


def generate(url: str, bodies: list[str], rate: int, options: CollectorOptions) -> LoadResult:
    config: LoadConfig = {
        "url": url + TP2,
        "token": history_module.API_TOKEN,
        "bodies": bodies,
        "rate": float(rate),
        "duration": options.duration,
        "warmup": options.warmup,
        "timeout": options.timeout,
        "connections": options.connections,
    }
    done = subprocess.run(
        [*loadtest._taskset(loadtest.GENERATOR_CORE, options.pin), sys.executable, "-m", "tests.benchmarks.loadgen"],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        cwd=loadtest.PROJECT_ROOT,
        timeout=options.warmup + options.duration + options.timeout + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result: LoadResult = json.loads(done.stdout)
    return result


def run_rate(server: Server, target: str, rate: int, options: CollectorOptions, seed: int) -> RateResult:
    """One rate: the generator's run, the server's CPU over it, then every acknowledged event looked up."""
    total = round(rate * options.warmup) + round(rate * options.duration)
    events = tracker_bodies(total, seed)
    profiler = None
    if options.profile:
        path = options.out / f"collector-{target}-{rate}-{dt.datetime.now():%H%M%S}.speedscope.json"
        profiler = loadtest.Profiler(
            loadtest.Options(pin=options.pin), server.worker(), path, options.warmup + options.duration
        )
    cpu, core = loadtest.cpu_seconds(server.tree()), loadtest.core_ticks(loadtest.BACKEND_CORE)
    result = generate(server.url, [body for _, body in events], rate, options)
    cpu = loadtest.cpu_seconds(server.tree()) - cpu
    ended = loadtest.core_ticks(loadtest.BACKEND_CORE)
    busy, ticks = ended[0] - core[0], ended[1] - core[1]
    others = max(0.0, busy / loadtest.CLK_TCK - cpu) / (ticks / loadtest.CLK_TCK) * 100 if ticks else 0.0
    failed = set(result["failed"])
    acknowledged = [eid for i, (eid, _) in enumerate(events) if i not in failed]
    found, bad = logged(server.database, acknowledged)
    latencies = result["latencies_ms"]
    return RateResult(
        target=target,
        rate=rate,
        seconds=result["elapsed_s"],
        sent=result["sent"],
        achieved_per_s=result["ok"] / result["elapsed_s"] if result["elapsed_s"] > 0 else 0.0,
        p50_ms=loadtest._quantile(latencies, 0.50),
        p95_ms=loadtest._quantile(latencies, 0.95),
        p99_ms=loadtest._quantile(latencies, 0.99),
        errors=sum(result["errors"].values()),
        error_kinds=result["errors"],
        acknowledged=len(acknowledged),
        counted_back=found,
        lost=len(acknowledged) - found,
        bad_events=bad,
        cpu_us_per_request=cpu / total * 1e6,
        core_others_percent=others if options.pin else 0.0,
        profile_top=profiler.finish() if profiler is not None else [],
    )


def table(results: list[RateResult], markdown: bool = False) -> str:
    head = ["target", "req/s asked", "achieved", "p50 ms", "p95 ms", "p99 ms", "errors", "acked", "lost"]
    head += ["CPU µs/req", "core 0 others %"]
    rows = [
        [
            r.target,
            str(r.rate),
            f"{r.achieved_per_s:.1f}",
            *(f"{v:.1f}" if v is not None else "-" for v in (r.p50_ms, r.p95_ms, r.p99_ms)),
            str(r.errors),
            f"{r.acknowledged:,}",
            str(r.lost),
            f"{r.cpu_us_per_request:,.0f}",
            f"{r.core_others_percent:.0f}",
        ]
        for r in results
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)] if rows else []
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows])


def verdict(results: list[RateResult], options: CollectorOptions) -> list[str]:
    """Each engine rate against the goal: 0 errors, 0 lost, p99 under `TARGET_P99_MS`."""
    lines = []
    for r in results:
        held = r.errors == 0 and r.lost == 0 and r.p99_ms is not None and r.p99_ms < TARGET_P99_MS
        state = "held" if held else "NOT held"
        goal = f"p99 < {TARGET_P99_MS:.0f} ms, 0 errors, 0 lost"
        lines.append(f"{r.target} at {r.rate} req/s for {options.duration:.0f} s: {state} ({goal})")
        if r.error_kinds:
            lines.append(f"  errors: {', '.join(f'{k} ×{n}' for k, n in r.error_kinds.items())}")
        if r.bad_events:
            lines.append(f"  the server logged {r.bad_events} bad events (every payload sent was valid)")
        lines += [f"  {line}" for line in r.profile_top]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    pinning = f"server on core {loadtest.BACKEND_CORE}, generator on core {loadtest.GENERATOR_CORE}"
    print(
        f"collector load test {stamp}: {', '.join(map(str, options.rates))} req/s, one event per request, "
        f"{options.duration:.0f} s each after {options.warmup:.0f} s warm-up; targets {', '.join(options.targets)}; "
        f"{pinning if options.pin else 'no pinning'}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    began = time.perf_counter()
    results: list[RateResult] = []
    targets = [*options.targets, *([BEFORE] if options.compare_with else [])]
    with contextlib.ExitStack() as stack:  # every target up at once, so each rate runs on each in turn
        servers = {
            t: stack.enter_context(started(t, options.out / "runs" / f"{stamp}-collector-{t}", options))
            for t in targets
        }
        for round_number in range(options.rounds):
            for step, rate in enumerate(options.rates):
                for number, (target, server) in enumerate(servers.items()):
                    seed = options.seed * 100_000 + round_number * 1000 + step * 10 + number
                    results.append(run_rate(server, target, rate, options, seed))
                    print(table([results[-1]]).splitlines()[-1], flush=True)
        for target, server in servers.items():
            if isinstance(server, EngineService):
                print(f"{target}: stopped by SIGTERM, exit code {server.stop()}", flush=True)
    lines = verdict(results, options)
    print()
    print(table(results))
    print()
    print("\n".join(lines))
    report = {
        "started": stamp,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
        "results": [asdict(r) for r in results],
        "seconds": time.perf_counter() - began,
    }
    json_path = options.out / f"collector-{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2))
    markdown = [f"# Collector load test {stamp}", "", table(results, markdown=True), "", *(f"- {x}" for x in lines)]
    (options.out / f"collector-{stamp}.md").write_text("\n".join(markdown) + "\n")
    print(f"\nreport: {json_path} ({report['seconds']:.0f} s)")
    return report


def parse(argv: list[str] | None) -> CollectorOptions:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.loadtest --collector", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rates", default=",".join(map(str, RATES)), help="requests per second, one run each")
    parser.add_argument("--duration", type=float, default=CollectorOptions.duration, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=CollectorOptions.warmup, help="seconds before each measure")
    parser.add_argument("--targets", default=",".join(TARGETS), help="engine (the service) and/or reflex (baseline)")
    parser.add_argument(
        "--server",
        choices=("granian", "uvicorn"),
        default=CollectorOptions.server,
        help="granian: `python -m media_demo.engine_service`; uvicorn: the same app under uvicorn",
    )
    parser.add_argument("--timeout", type=float, default=CollectorOptions.timeout, help="seconds for one request")
    parser.add_argument("--connections", type=int, default=CollectorOptions.connections)
    parser.add_argument("--seed", type=int, default=CollectorOptions.seed)
    parser.add_argument("--profile", action="store_true", help="record each rate's run with py-spy")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and generator to cores")
    parser.add_argument("--out", type=Path, default=loadtest.OUT)
    parser.add_argument("--compare-with", type=Path, help="a checkout of an earlier commit: its engine service too")
    parser.add_argument("--rounds", type=int, default=1, help="run every rate this many times, targets in turn")
    args = parser.parse_args(argv)
    targets = tuple(t for t in args.targets.split(",") if t)
    if unknown := set(targets) - set(TARGETS):
        parser.error(f"--targets: unknown {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    return CollectorOptions(
        rates=tuple(int(x) for x in args.rates.split(",") if x),
        duration=args.duration,
        warmup=args.warmup,
        targets=targets,
        server=args.server,
        timeout=args.timeout,
        connections=args.connections,
        seed=args.seed,
        profile=args.profile,
        pin=not args.no_pin,
        out=args.out,
        compare_with=args.compare_with,
        rounds=args.rounds,
    )
