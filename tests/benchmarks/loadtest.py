"""`make loadtest`: simulated readers against one production backend, level by level.

Run with `python -m tests.benchmarks.loadtest [--levels 50,175,300,500] [--history 1000000] ...`.

One backend process (`reflex run --env prod --backend-only`, granian, as `README.md` hosts it)
on a loopback port and a scratch database, pinned to core 0 (`taskset -c 0`); the readers
(`readers.py`, in one or more generator processes) on core 1. Levels of concurrent readers
are reached one after the other on the same process: each level's new readers are ramped up
(`--ramp-rate` per second), then a warm-up, then the measured window (`--duration`). Per
level: page events/s, latency p50/p95/p99 (page event -> settled update), errors, the
backend's CPU per page event (utime + stime of its process tree over the window, from
/proc), its memory after the level, and the WARNING (or worse) records its log gained
during the window. The generators measure themselves too (CPU, event-loop lag).

Scenarios: `fresh` (an empty event log) and, with `--history N`, `history` (a backend started
on N page views of history, built once by `history.py` and cached in `.loadtest/history/`),
where `--returning` of the readers are readers of that history coming back. `--rounds N` runs
the scenarios N times in turn and reports the median history / fresh ratio with its range: on a
shared machine two runs of the same code can differ by a fifth, so one pair of runs proves little.

Writes `.loadtest/loadtest-<time>.json` and `.md` (and `latest.*`); `--profile` records each
measured window with py-spy (speedscope files in `.loadtest/`, their top frames in the report).
Every run is bounded: levels x (ramp + warm-up + duration), a timeout per page event, and the
backend and generators are stopped at the end whatever happens. Loopback only.

With `--floor`, one more scenario runs first in each round: the same readers against `floor/`, a Reflex app
with the newspaper's routes, state classes, events and deltas and none of its work, so the report gives
the newspaper's CPU per page event beside what Reflex alone costs for the same pages, in the same run.

With `--collector`, it measures the collector instead: tracker traffic at fixed rates against the
engine service, beside the Reflex backend (`collector_load.py`, which takes the options after it).
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.benchmarks import history as history_module
from tests.benchmarks.readers import PATTERN_ANSWERS, GeneratorConfig, GeneratorResult, ReaderSpec, Window
from tests.benchmarks.reflex_socket import FrontendContract, PatternScript, var_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OUT = PROJECT_ROOT / ".loadtest"
FLOOR_DIR = Path(__file__).resolve().with_name("floor")  # the floor app (`--floor`), run from its own folder
FLOOR = "floor"
LEVELS = (50, 175, 300, 500)
BACKEND_CORE, GENERATOR_CORE = 0, 1
READERS_PER_GENERATOR = 300  # more readers than this per asyncio process: another process
WARNING_LEVELS = {"warning", "error", "critical", "exception"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Options:
    levels: tuple[int, ...] = LEVELS
    duration: float = 30.0
    warmup: float = 5.0
    ramp_rate: float = 25.0
    history: int = 0
    history_readers: int = 50_000
    history_only: bool = False
    returning: float = 0.5
    think: tuple[float, float] = (1.0, 2.0)
    consent_rate: float = 0.5
    timeout: float = 30.0
    generators: int = 0  # 0: one per READERS_PER_GENERATOR readers
    seed: int = 1
    profile: bool = False
    pin: bool = True
    out: Path = OUT
    batch_runs: int = 2  # batch runs timed after the levels (the schedule is off while they are measured)
    rounds: int = 1  # the scenarios run this many times in turn (`round_ratios` summarises them)
    floor: bool = False  # the floor scenario first in each round (Reflex alone, same pages)


# ----------------------------------------------------------------------------- the backend process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _taskset(core: int, enabled: bool) -> list[str]:
    """`taskset -c <core>` to prefix a command with, when pinning is on and possible."""
    if not enabled or shutil.which("taskset") is None or core >= (os.cpu_count() or 1):
        return []
    return ["taskset", "-c", str(core)]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (so index 1 is the ppid), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def core_ticks(core: int) -> tuple[int, int]:
    """(busy, total) clock ticks of one CPU since boot, from /proc/stat (steal counts as busy)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in line.split()[1:9])
            busy = user + nice + system + irq + softirq + steal
            return busy, busy + idle + iowait
    return 0, 0


def rss_mib(pid: int) -> float:
    fields = _stat(pid)
    return int(fields[21]) * PAGE_SIZE / 2**20 if fields is not None else 0.0


def pss_mib(pids: list[int]) -> float:
    """Proportional set size of the tree (shared pages counted once, split among the processes)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


class Backend:
    """`reflex run --env prod --backend-only` on a loopback port and a scratch database, its log in a file."""

    def __init__(self, folder: Path, database: Path, pin: bool, app_dir: Path = PROJECT_ROOT) -> None:
        self.folder, self.database, self.pin, self.app_dir = folder, database, pin, app_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "backend.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> float:
        """Start it and wait until it answers; returns the seconds that took."""
        env = {
            **os.environ,
            "MEDIA_DEMO_DB": str(self.database),
            "SIGNALS_API_TOKEN": history_module.API_TOKEN,
            "COOKIE_SECRET": history_module.COOKIE_SECRET,
            "REFLEX_LOG_JSON": "1",  # one JSON record per line, with its level: warnings are counted exactly
            "PYTHONUNBUFFERED": "1",
            # The batch engine's runs (the log exported to Parquet, the batch groups, the reader features, the
            # model) are background work of minutes over a month of history: off while the pages are measured,
            # then timed on their own (`time_batch_runs`); its files in this run's folder, not the project's.
            "BATCH_SCHEDULE": "false",
            "BATCH_DIR": str(self.folder / "batch"),
            "MODELS_DIR": str(self.folder / "models"),
        }
        env.pop("SIGNALS_API_URL", None)
        env.pop("SNOWPLOW_COLLECTOR_URL", None)
        reflex = str(Path(sys.executable).with_name("reflex"))
        command = [
            *_taskset(BACKEND_CORE, self.pin),
            *(reflex, "run", "--env", "prod", "--backend-only"),
            *("--backend-host", "127.0.0.1", "--backend-port", str(self.port)),
        ]
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the backend exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
            time.sleep(0.2)
        raise RuntimeError(f"the backend did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def worker(self) -> int:
        """The process serving requests: granian's worker (its largest child process), else the process itself."""
        tree = self.tree()
        return max(tree[1:], key=rss_mib) if len(tree) > 1 else tree[0]

    def sample(self) -> Sample:
        """What is read at each end of a measured window."""
        return Sample(cpu_seconds(self.tree()), self.log_size(), core_ticks(BACKEND_CORE), rss_mib(self.worker()))

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_records(self, start: int, end: int) -> list[dict[str, Any]]:
        """The log's records between two byte offsets: JSON records as they are, other lines as plain text."""
        with self.log_path.open("rb") as log:
            log.seek(start)
            text = log.read(max(0, end - start)).decode(errors="replace")
        records = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):  # a bare line: Python's last-resort handler (WARNING+) or a traceback
                record = {"level": "unstructured", "message": line}
            records.append(record)
        return records

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def time_batch_runs(self, runs: int) -> list[dict[str, Any]]:
        """Run the batch engine `runs` times (`POST /api/batch/run`), each with its wall time, the backend's CPU
        and its RSS after: the first exports the whole log and may train the model, the next is a scheduled run."""
        timed = []
        for _ in range(runs):
            cpu, started = cpu_seconds(self.tree()), time.perf_counter()
            answer = self.get_json("/api/batch/run", b"", timeout=1800)  # an empty body: every group
            timed.append(
                {
                    "wall_s": time.perf_counter() - started,
                    "cpu_s": cpu_seconds(self.tree()) - cpu,
                    "rss_mib": rss_mib(self.worker()),
                    "rows": {run["group"]: run.get("entities") for run in answer["runs"]},
                }
            )
        return timed

    def get_json(self, path: str, body: Any = None, timeout: float = 10) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {history_module.API_TOKEN}", "Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group it leads (granian stops its workers), SIGKILL what is left."""
        if self.process is None or self.process.poll() is not None:
            return
        tree = self.tree()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if _stat(pid) is not None:
                    os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- what the readers need to know


@dataclass(frozen=True)
class Site:
    """The pages and events of this app that the simulated readers use (read from the app once)."""

    stories: list[str]
    sections: list[str]
    scripts: dict[str, str]
    patterns: dict[str, str]  # a regex over rx.call_script code -> which answer (see readers.PATTERN_ANSWERS)
    consent_event: str
    reader_state: str
    consent_var: str
    recommendations_var: str
    panel_var: str
    panel_seen_event: str


def view_pattern(script: Callable[[str], str]) -> str:
    """A regex matching `script(view_id)` for any view id (a uuid4 hex)."""
    marker = "0" * 32
    return re.escape(script(marker)).replace(marker, "(?P<view>[0-9a-f]{32})")


def page_patterns() -> dict[str, PatternScript]:
    """The app's script families, answered as its pages answer them (for a `ReflexTab` of one's own)."""
    return {regex: PATTERN_ANSWERS[kind] for regex, kind in read_site().patterns.items()}


def read_site() -> Site:
    from media_demo import routes
    from media_demo.newsroom import get_corpus
    from media_demo.state.privacy import PrivacyState
    from media_demo.state.reader import (
        CLIENT_CONTEXT_SCRIPT,
        ReaderState,
        is_tracked_script,
        mark_tracked_script,
    )

    corpus = get_corpus()

    def var(name: str) -> str:
        return var_key(getattr(ReaderState, name))

    return Site(
        stories=[routes.article_url(a.slug) for a in corpus.articles],
        sections=[routes.category_url(c) for c in corpus.categories],
        scripts={CLIENT_CONTEXT_SCRIPT: "client_context"},
        patterns={view_pattern(mark_tracked_script): "mark_tracked", view_pattern(is_tracked_script): "is_tracked"},
        consent_event=f"{PrivacyState.get_full_name()}.{PrivacyState.accept_all.fn.__name__}",
        reader_state=ReaderState.get_full_name(),
        consent_var=var("consent_decided"),
        recommendations_var=var("recommendations"),
        panel_var=var("panel_id"),
        panel_seen_event=f"{ReaderState.get_full_name()}.{ReaderState.panel_seen.fn.__name__}",
    )


def floor_site(site: Site, contract: FrontendContract) -> Site:
    """The newspaper's `site` as the floor app answers it: the same pages, scripts and vars, its own states' names."""
    reader, privacy = contract.states["ReaderState"], contract.states["PrivacyState"]
    return dataclasses.replace(
        site,
        consent_event=f"{privacy}.{site.consent_event.rpartition('.')[2]}",
        reader_state=reader,
        panel_seen_event=f"{reader}.{site.panel_seen_event.rpartition('.')[2]}",
    )


# ----------------------------------------------------------------------------- one scenario


@dataclass
class Level:
    readers: int
    window: Window
    ramp_start: float


@dataclass
class Sample:
    cpu: float = 0.0  # the backend's CPU seconds
    log: int = 0  # the size of its log
    core: tuple[int, int] = (0, 0)  # its core's busy and total ticks
    rss: float = 0.0
    engine: float | None = None  # of `cpu`, the engine service's, when it runs apart (a cluster)
    services: float = 0.0  # PostgreSQL's and Redis's beside the server, not in `cpu`


@dataclass
class LevelResult:
    """One level of one scenario, merged over the generators."""

    scenario: str
    readers: int
    seconds: float
    pages: int
    events_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: int
    error_kinds: dict[str, int]
    cpu_ms_per_event: float | None
    backend_cpu_percent: float
    rss_mib: float
    rss_growth_mib: float  # during the measured window, the readers steady
    pss_mib: float
    core_others_percent: float  # the backend's core busy with other processes (or the hypervisor) meanwhile
    warnings: int
    warning_examples: list[str]
    consent_p95_ms: float | None
    consents: int
    updates_per_page: float | None
    kib_per_page: float | None
    generator_cpu_percent: float
    loop_lag_p99_ms: float | None
    profile: str | None = None
    profile_top: list[str] = field(default_factory=list)
    # a cluster's CPU per page event split (`cpu_ms_per_event` = engine + workers), and its servers' beside it
    engine_cpu_ms_per_event: float | None = None
    workers_cpu_ms_per_event: float | None = None
    services_cpu_ms_per_event: float | None = None
    round: int = 0  # which of `--rounds` it was measured in (0: a single round)


def schedule(options: Options, start: float) -> tuple[list[Level], list[float]]:
    """Each level's ramp and measured window, and every reader's start time (absolute seconds)."""
    levels, starts, ramp_start, previous = [], [], start, 0
    for readers in options.levels:
        added = max(0, readers - previous)
        starts.extend(ramp_start + i / options.ramp_rate for i in range(added))
        window_start = ramp_start + added / options.ramp_rate + options.warmup
        window = Window(name=str(readers), start=window_start, end=window_start + options.duration)
        levels.append(Level(readers, window, ramp_start))
        ramp_start, previous = window["end"], max(previous, readers)
    return levels, starts


def _quantile(samples: list[float], q: float) -> float | None:
    """The nearest-rank `q` quantile (as `common.percentile`, which imports the app), None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.5))


class Profiler:
    """py-spy recording one window of the backend's worker, as speedscope JSON."""

    def __init__(self, options: Options, pid: int, path: Path, seconds: float) -> None:
        self.path = path
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy: it is in the `test` extra)")
        command = [
            *_taskset(GENERATOR_CORE, options.pin),
            *(spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))),
            # --gil: only what holds the interpreter, i.e. what the one core spends on Python (no idle waits)
            *("--rate", "100", "--nonblocking", "--gil", "--format", "speedscope", "--output", str(path)),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def finish(self) -> list[str]:
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if not self.path.exists():
            return [f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-300:]}"]
        return top_frames(self.path)


SCAFFOLDING = (
    *("/threading.py", "/concurrent/futures/", "/asyncio/", "/multiprocessing/", "runpy", "/granian/", "/click/"),
    *("/reflex/__main__.py", "/reflex/reflex.py", "/reflex/utils/exec.py"),
)


def top_frames(path: Path, count: int = 12) -> list[str]:
    """The frames of a speedscope profile with the most time: self, and total (the frame or what it calls).

    Thread, event-loop and server scaffolding is left out of the totals (it is at the root of everything).
    """
    document = json.loads(path.read_text())
    frames = document["shared"]["frames"]
    total: Counter[int] = Counter()
    own: Counter[int] = Counter()
    sampled = 0.0
    for profile in document["profiles"]:
        for stack, weight in zip(profile.get("samples", ()), profile.get("weights", ()), strict=False):
            sampled += weight
            for frame in set(stack):
                total[frame] += weight
            if stack:
                own[stack[-1]] += weight
    if not sampled:
        return ["(no samples)"]
    unit = document["profiles"][0].get("unit", "samples")

    def name(index: int) -> str:
        frame = frames[index]
        file = Path(frame.get("file") or "?")
        return f"{frame.get('name', '?')} ({'/'.join(file.parts[-2:])}:{frame.get('line', '?')})"

    def scaffolding(index: int) -> bool:
        file = frames[index].get("file") or ""
        return not file or file == "?" or any(part in file for part in SCAFFOLDING)  # no file: a thread's root

    lines = [f"self, of {sampled:,.1f} {unit} holding the GIL:"]
    lines += [f"  {own[i] / sampled:6.1%}  {name(i)}" for i, _ in own.most_common(count)]
    lines.append("total (the frame and what it calls):")
    inner = [(i, n) for i, n in total.most_common() if not scaffolding(i)]
    lines += [f"  {n / sampled:6.1%}  {name(i)}" for i, n in inner[:count]]
    return lines


def run_generators(
    options: Options,
    backend: Backend,
    contract: FrontendContract,
    site: Site,
    specs: list[ReaderSpec],
    windows: list[Window],
    stop_at: float,
) -> tuple[list[subprocess.Popen[bytes]], list[bytes]]:
    """Start the generator processes (readers dealt out round-robin); returns them and their configs."""
    count = options.generators or max(1, math.ceil(len(specs) / READERS_PER_GENERATOR))
    processes, configs = [], []
    for k in range(count):
        config: GeneratorConfig = {
            "backend_url": backend.url,
            "contract": contract.to_json(),
            "readers": specs[k::count],
            "windows": windows,
            "stop_at": stop_at,
            "seed": options.seed,
            "think": options.think,
            "consent_rate": options.consent_rate,
            "timeout": options.timeout,
            "stories": site.stories,
            "sections": site.sections,
            "scripts": site.scripts,
            "patterns": site.patterns,
            "consent_event": site.consent_event,
            "reader_state": site.reader_state,
            "consent_var": site.consent_var,
            "recommendations_var": site.recommendations_var,
            "panel_var": site.panel_var,
            "panel_seen_event": site.panel_seen_event,
        }
        payload = json.dumps(config).encode()
        process = subprocess.Popen(
            [*_taskset(GENERATOR_CORE, options.pin), sys.executable, "-m", "tests.benchmarks.readers"],
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        processes.append(process)
        configs.append(payload)
    return processes, configs


def run_scenario(
    name: str,
    options: Options,
    contract_future: Any,
    site_future: Any,
    folder: Path,
    history: history_module.History | None,
    progress: Any = print,
    server: Backend | None = None,
) -> tuple[list[LevelResult], dict[str, Any]]:
    """Start a backend (on a copy of `history`'s database, if any) or `server` (a cluster, the floor app), run every
    level, stop it. A `server` has no batch runs timed after the levels."""
    folder.mkdir(parents=True, exist_ok=True)
    database = history.copy_to(folder) if history is not None else folder / "media_demo.db"
    backend = server or Backend(folder, database, options.pin)
    info: dict[str, Any] = {"scenario": name, "folder": str(folder)}
    generators: list[subprocess.Popen[bytes]] = []
    try:
        info["startup_s"] = backend.start()
        contract: FrontendContract = contract_future.result()
        site: Site = site_future.result()
        progress(f"[{name}] backend up on {backend.url} in {info['startup_s']:.1f} s (pid {backend.pid})")
        info["rss_start_mib"] = rss_mib(backend.worker())
        start = time.time() + 2.0  # the generators' imports
        levels, starts = schedule(options, start)
        returning: list[dict[str, Any]] = []
        if history is not None and options.returning > 0:
            returning = history.returning_readers(round(len(starts) * options.returning), options.seed)
        step = len(starts) / len(returning) if returning else 0
        cookies_of = {round(i * step): r["cookies"] for i, r in enumerate(returning)}
        specs = [ReaderSpec(index=i, start=moment, cookies=cookies_of.get(i, {})) for i, moment in enumerate(starts)]
        windows = [level.window for level in levels]
        stop_at = windows[-1]["end"]
        generators, configs = run_generators(options, backend, contract, site, specs, windows, stop_at)
        with ThreadPoolExecutor(len(generators)) as pool:
            outputs = [
                pool.submit(process.communicate, config, stop_at - time.time() + options.timeout + 60)
                for process, config in zip(generators, configs, strict=True)
            ]
            samples: dict[str, tuple[Sample, Sample]] = {}
            profiles: dict[str, Profiler] = {}
            memory: dict[str, float] = {}
            for level in levels:
                window = level.window
                progress(
                    f"[{name}] level {level.readers}: ramp at {_clock(level.ramp_start)}, "
                    f"measuring {window['end'] - window['start']:.0f} s from {_clock(window['start'])}"
                )
                _sleep_until(window["start"])
                first = backend.sample()
                if options.profile:
                    path = options.out / f"profile-{name}-{level.readers}.speedscope.json"
                    profiles[window["name"]] = Profiler(options, backend.worker(), path, options.duration)
                _sleep_until(window["end"])
                samples[window["name"]] = (first, backend.sample())
                memory[window["name"]] = pss_mib(backend.tree())
            results: list[GeneratorResult] = []
            for process, future in zip(generators, outputs, strict=True):
                out, err = future.result()
                if process.returncode != 0:
                    raise RuntimeError(f"a generator failed ({process.returncode}):\n{err.decode()[-3000:]}")
                results.append(json.loads(out))
        info["history_check"] = check_history(backend, history) if history is not None else None
        if server is None and options.batch_runs:
            progress(f"[{name}] timing {options.batch_runs} batch run(s) after the levels")
            info["batch_runs"] = backend.time_batch_runs(options.batch_runs)
        info["generators"] = len(generators)
        info["readers_started"] = len(specs)
        info["returning_readers"] = len(cookies_of)
        info["hydrated"] = sum(r["hydrated"] for r in results)
        landings = [x for r in results for x in r["landing_latencies_ms"]]
        consents = [x for r in results for x in r["consent_latencies_ms"]]
        info["landing_ms"] = {"count": len(landings), "p50": _quantile(landings, 0.5), "p95": _quantile(landings, 0.95)}
        info["consent_ms"] = {"count": len(consents), "p50": _quantile(consents, 0.5), "p95": _quantile(consents, 0.95)}
        info["run_errors"] = dict(sum((Counter(r["errors"]) for r in results), Counter()))
        info["unexpected_events"] = dict(sum((Counter(r["unexpected_events"]) for r in results), Counter()))
        level_results = []
        for level in levels:
            key = level.window["name"]
            first, last = samples[key]
            records = backend.log_records(first.log, last.log)
            result = merge_level(name, level, results, first, last, memory[key], records, options.pin)
            if key in profiles:
                result.profile = str(profiles[key].path)
                result.profile_top = profiles[key].finish()
            level_results.append(result)
        info["rss_end_mib"] = rss_mib(backend.worker())
        return level_results, info
    finally:
        for process in generators:
            if process.poll() is None:
                process.kill()
        backend.stop()
        info["log"] = str(backend.log_path)
        for path in folder.glob("media_demo.db*"):  # the scratch database: gigabytes with a history
            path.unlink()


def merge_level(
    scenario: str,
    level: Level,
    results: list[GeneratorResult],
    first: Sample,
    last: Sample,
    pss: float,
    records: list[dict[str, Any]],
    pinned: bool,
) -> LevelResult:
    windows = [w for r in results for w in r["windows"] if w["name"] == level.window["name"]]
    seconds = level.window["end"] - level.window["start"]
    latencies = [x for w in windows for x in w["latencies_ms"]]
    consent = [x for w in windows for x in w["consent_latencies_ms"]]
    lags = [x for w in windows for x in w["loop_lag_ms"]]
    pages = sum(w["pages"] for w in windows)
    errors: Counter[str] = Counter()
    for w in windows:
        errors.update(w["errors"])
    warnings = [r for r in records if str(r.get("level", "")).lower() in WARNING_LEVELS | {"unstructured"}]
    examples = Counter(f"{r.get('logger', '')}: {str(r.get('message', ''))[:160]}" for r in warnings)
    updates = sum(w["updates"] for w in windows)
    cpu = last.cpu - first.cpu
    busy, total = last.core[0] - first.core[0], last.core[1] - first.core[1]
    services = last.services - first.services
    others = max(0.0, busy / total * 100 - (cpu + services) / seconds * 100) if total and pinned else 0.0
    engine = None if first.engine is None or last.engine is None else last.engine - first.engine

    def per_page(seconds_of_cpu: float | None) -> float | None:
        return seconds_of_cpu * 1000 / pages if pages and seconds_of_cpu is not None else None

    received = sum(w["bytes_in"] for w in windows)
    return LevelResult(
        scenario=scenario,
        readers=level.readers,
        seconds=seconds,
        pages=pages,
        events_per_s=pages / seconds,
        p50_ms=_quantile(latencies, 0.50),
        p95_ms=_quantile(latencies, 0.95),
        p99_ms=_quantile(latencies, 0.99),
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        cpu_ms_per_event=cpu * 1000 / pages if pages else None,
        backend_cpu_percent=cpu / seconds * 100,
        rss_mib=last.rss,
        rss_growth_mib=last.rss - first.rss,
        pss_mib=pss,
        core_others_percent=others,
        warnings=len(warnings),
        warning_examples=[f"{n} x {text}" for text, n in examples.most_common(5)],
        consent_p95_ms=_quantile(consent, 0.95),
        consents=len(consent),
        updates_per_page=updates / pages if pages else None,
        kib_per_page=received / 1024 / pages if pages else None,
        generator_cpu_percent=sum(w["generator_cpu_s"] for w in windows) / seconds * 100,
        loop_lag_p99_ms=_quantile(lags, 0.99),
        engine_cpu_ms_per_event=per_page(engine),
        workers_cpu_ms_per_event=per_page(None if engine is None else cpu - engine),
        services_cpu_ms_per_event=per_page(services) if first.engine is not None else None,
    )


def check_history(backend: Backend, history: history_module.History, sample: int = 20) -> dict[str, Any]:
    """Does the backend hold the history? Read consented history readers' page view counts through the Signals API."""
    readers = [r for r in history.returning_readers(10 * sample, seed=12345) if r["consented"]][:sample]
    ids = [r["cookies"]["dc_duid"] for r in readers]
    attribute = "reader_profile_v1:page_view_count"
    answer = backend.get_json(
        "/api/v1/get-online-attributes",
        {"attributes": [attribute], "attribute_keys": {"domain_userid": ids}, "full_attribute_names": True},
    )
    counts = answer.get(attribute, [])
    held = sum(1 for r, n in zip(readers, counts, strict=False) if (n or 0) >= r["profiled_page_views"])
    return {
        "readers_checked": len(readers),
        "holding_their_history": held,
        "history_page_views": sum(r["profiled_page_views"] for r in readers),
        "backend_page_views": sum(n or 0 for n in counts),
    }


# ----------------------------------------------------------------------------- the report

COLUMNS = (
    ("scenario", "scenario", "{}"),
    ("readers", "readers", "{:,}"),
    ("pages/s", "events_per_s", "{:.1f}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p95 ms", "p95_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("errors", "errors", "{:,}"),
    ("CPU ms/page", "cpu_ms_per_event", "{:.2f}"),
    ("updates/page", "updates_per_page", "{:.2f}"),
    ("KiB/page", "kib_per_page", "{:.1f}"),
    ("CPU %", "backend_cpu_percent", "{:.0f}"),
    ("RSS MiB", "rss_mib", "{:.0f}"),
    ("RSS Δ", "rss_growth_mib", "{:+.0f}"),
    ("warnings", "warnings", "{:,}"),
    ("core 0 others %", "core_others_percent", "{:.0f}"),
    ("gen CPU %", "generator_cpu_percent", "{:.0f}"),
    ("gen lag p99", "loop_lag_p99_ms", "{:.1f}"),
)


def label(scenario: str, round_: int | None) -> str:
    """A scenario's name, with its round when the scenarios ran in rounds ("fresh #2")."""
    return f"{scenario} #{round_}" if round_ else scenario


def _cell(result: LevelResult, attribute: str, spec: str) -> str:
    value = getattr(result, attribute)
    if attribute == "scenario":
        return label(value, result.round)
    return "-" if value is None else spec.format(value)


def table(
    results: list[LevelResult], markdown: bool = False, columns: tuple[tuple[str, str, str], ...] = COLUMNS
) -> str:
    rows = [[_cell(r, attribute, spec) for _, attribute, spec in columns] for r in results]
    header = [title for title, _, _ in columns]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    lines += [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    return "\n".join(lines)


def round_ratios(
    results: list[LevelResult], scenario: str = "history", baseline: str = "fresh"
) -> dict[tuple[int, int], float]:
    """`scenario` / `baseline` CPU per page event (history / fresh by default), for each (round, readers) in both."""
    base_of = {(r.round, r.readers): r for r in results if r.scenario == baseline}
    ratios = {}
    for result in results:
        base = base_of.get((result.round, result.readers))
        if result.scenario == scenario and base and base.cpu_ms_per_event and result.cpu_ms_per_event:
            ratios[(result.round, result.readers)] = result.cpu_ms_per_event / base.cpu_ms_per_event
    return ratios


def notes(results: list[LevelResult], infos: list[dict[str, Any]], options: Options) -> list[str]:
    lines = []
    for info in infos:
        line = (
            f"{label(info['scenario'], info.get('round'))}: backend up in {info.get('startup_s', 0):.1f} s, "
            f"RSS {info.get('rss_start_mib', 0):.0f} MiB at start, {info.get('rss_end_mib', 0):.0f} MiB at the end; "
            f"{info.get('readers_started', 0)} readers "
            f"({info.get('returning_readers', 0)} returning from the history), {info.get('hydrated', 0)} hydrated, "
            f"{info.get('generators', 0)} generator process(es); backend log {info.get('log')}"
        )
        lines.append(line)
        for what, key in (("landings (connect, hydrate, client context)", "landing_ms"), ("consents", "consent_ms")):
            if (stats := info.get(key)) and stats["count"]:
                lines.append(
                    f"  {what}, whole run: {stats['count']}, p50 {stats['p50']:.1f} ms, p95 {stats['p95']:.1f} ms"
                )
        for number, batch in enumerate(info.get("batch_runs") or (), start=1):
            what = "exports the log, may train the model" if number == 1 else "as the schedule runs it"
            lines.append(
                f"  batch run {number} after the levels ({what}): {batch['wall_s']:.1f} s, "
                f"{batch['cpu_s']:.1f} s of backend CPU, RSS {batch['rss_mib']:.0f} MiB after"
            )
        if info.get("history_check"):
            check = info["history_check"]
            lines.append(
                f"  history in the backend: {check['holding_their_history']} of {check['readers_checked']} consented "
                f"history readers have their page views ({check['backend_page_views']:,} >= "
                f"{check['history_page_views']:,})"
            )
        if info.get("run_errors"):
            lines.append(f"  errors over the whole run (ramps included): {info['run_errors']}")
        if info.get("unexpected_events"):
            lines.append(f"  frontend events the simulated tabs could not run: {info['unexpected_events']}")
    for result in results:
        if result.error_kinds:
            lines.append(f"{label(result.scenario, result.round)} {result.readers}: errors {result.error_kinds}")
        for example in result.warning_examples:
            lines.append(f"{label(result.scenario, result.round)} {result.readers}: log: {example}")
    for scenario, baseline, what in (
        ("history", "fresh", "with the history / fresh"),
        ("fresh", FLOOR, "of the newspaper (fresh) / of Reflex alone (floor)"),
    ):
        ratios = round_ratios(results, scenario, baseline)
        for (round_, readers), ratio in ratios.items():
            where = f" (round {round_})" if round_ else ""
            lines.append(f"CPU per page event {what} at {readers} readers{where}: {ratio:.2f}x")
        for readers in sorted({readers for round_, readers in ratios if round_}):
            each = [ratio for (round_, at), ratio in ratios.items() if at == readers]
            if len(each) > 1:
                lines.append(
                    f"{scenario} / {baseline} at {readers} readers over {len(each)} rounds: median "
                    f"{statistics.median(each):.2f}x (range {min(each):.2f}-{max(each):.2f}x)"
                )
    for result in results:
        disturbed = []
        if result.core_others_percent > 10:
            disturbed.append(f"other processes took {result.core_others_percent:.0f}% of core {BACKEND_CORE}")
        if (result.loop_lag_p99_ms or 0) > 50:
            disturbed.append(f"the generators' event loops lagged {result.loop_lag_p99_ms:.0f} ms (p99)")
        if disturbed:
            where = f"{label(result.scenario, result.round)} {result.readers}"
            lines.append(f"{where}: disturbed measurement: {'; '.join(disturbed)}")
    for result in results:
        if result.profile_top:
            lines.append(f"py-spy, {result.scenario} {result.readers} readers ({result.profile}):")
            lines += [f"  {line}" for line in result.profile_top]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = sys.argv[1:] if argv is None else argv
    if "--collector" in arguments:  # tracker traffic against the engine service instead of readers
        from tests.benchmarks import collector_load  # (it builds on this module)

        return collector_load.main([a for a in arguments if a != "--collector"])
    if "--cluster" in arguments:  # the readers against `make cluster`'s processes, beside this baseline
        from tests.benchmarks import cluster_load  # (it builds on this module)

        return cluster_load.main([a for a in arguments if a != "--cluster"])
    options = parse(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    if options.pin and shutil.which("taskset"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {GENERATOR_CORE % (os.cpu_count() or 1)})
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    print(
        f"load test {stamp}: levels {', '.join(map(str, options.levels))} readers; {options.duration:.0f} s measured "
        f"per level after a ramp of {options.ramp_rate:.0f} readers/s and {options.warmup:.0f} s warm-up; think "
        f"{options.think[0]:g}-{options.think[1]:g} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    started = time.perf_counter()
    results: list[LevelResult] = []
    infos: list[dict[str, Any]] = []
    with ThreadPoolExecutor(2) as pool:  # while the history is made ready and the first backend starts
        contract = pool.submit(FrontendContract.compile, PROJECT_ROOT)
        # In the caller's context: where Reflex is imported already, its registration context is there.
        site = pool.submit(contextvars.copy_context().run, read_site)
        floor_contract = pool.submit(FrontendContract.compile, FLOOR_DIR) if options.floor else None
        history = None
        if options.history:
            params = history_module.HistoryParams(options.history, min(options.history_readers, options.history))
            built = time.perf_counter()
            history = history_module.ensure(params, options.out / "history")
            print(
                f"history: {history.events:,} events of {params.readers:,} readers, "
                f"{history.database_bytes / 2**20:,.0f} MiB (built in {history.build_seconds:,.0f} s; "
                f"ready in {time.perf_counter() - built:.0f} s)"
            )
        scenarios: list[tuple[str, history_module.History | None]] = [(FLOOR, None)] if options.floor else []
        if not (options.history_only and history is not None):
            scenarios.append(("fresh", None))
        if history is not None:
            scenarios.append(("history", history))
        rounds = range(1, options.rounds + 1) if options.rounds > 1 else [0]
        for round_ in rounds:  # in turn, so a slow spell of a shared machine falls on both scenarios
            for name, source in scenarios:
                folder = options.out / "runs" / f"{stamp}-{name}{f'-{round_}' if round_ else ''}"
                if name == FLOOR and floor_contract is not None:
                    floor = Backend(folder, folder / "floor.db", options.pin, app_dir=FLOOR_DIR)
                    floor_site_future = pool.submit(lambda: floor_site(site.result(), floor_contract.result()))
                    level_results, info = run_scenario(
                        name, options, floor_contract, floor_site_future, folder, None, server=floor
                    )
                else:
                    level_results, info = run_scenario(name, options, contract, site, folder, source)
                for result in level_results:
                    result.round = round_
                info["round"] = round_
                results += level_results
                infos.append(info)
                print(table(level_results))
    report = {
        "started": stamp,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
        "history": None
        if history is None
        else {
            "page_views": history.params.page_views,
            "readers": history.params.readers,
            "events": history.events,
            "database_mib": history.database_bytes / 2**20,
            "build_seconds": history.build_seconds,
        },
        "scenarios": infos,
        "levels": [vars(r) for r in results],
        "seconds": time.perf_counter() - started,
    }
    write_report(report, results, infos, options, stamp)
    return report


def write_report(
    report: dict[str, Any], results: list[LevelResult], infos: list[dict[str, Any]], options: Options, stamp: str
) -> None:
    note_lines = notes(results, infos, options)
    print()
    print(table(results))
    print()
    for line in note_lines:
        print(line)
    markdown = [
        f"# Load test {stamp}",
        "",
        f"Levels {', '.join(map(str, options.levels))} readers, {options.duration:.0f} s measured each; backend "
        f"pinned to core {BACKEND_CORE}, generators on core {GENERATOR_CORE}; latency = page event sent -> its "
        "chain's last update.",
        "",
        table(results, markdown=True),
        "",
        *[f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}" for line in note_lines],
        "",
    ]
    json_path = options.out / f"loadtest-{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2))
    md_path = options.out / f"loadtest-{stamp}.md"
    md_path.write_text("\n".join(markdown))
    shutil.copyfile(json_path, options.out / "latest.json")
    shutil.copyfile(md_path, options.out / "latest.md")
    print(f"\nreport: {md_path} and {json_path.name} ({report['seconds']:.0f} s)")


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrent readers per level")
    parser.add_argument("--duration", type=float, default=Options.duration, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=Options.warmup, help="seconds after a level's ramp")
    parser.add_argument("--ramp-rate", type=float, default=Options.ramp_rate, help="new readers per second")
    parser.add_argument("--history", type=int, default=0, help="page views of history for a second scenario")
    parser.add_argument("--history-readers", type=int, default=Options.history_readers)
    parser.add_argument("--history-only", action="store_true", help="with --history: skip the fresh scenario")
    parser.add_argument("--returning", type=float, default=Options.returning, help="share of readers from history")
    parser.add_argument("--think", default="1,2", help="think time between pages, min,max seconds")
    parser.add_argument("--consent-rate", type=float, default=Options.consent_rate)
    parser.add_argument("--timeout", type=float, default=Options.timeout, help="seconds for one page event")
    parser.add_argument("--generators", type=int, default=0, help=f"0: one per {READERS_PER_GENERATOR} readers")
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--profile", action="store_true", help="record each measured window with py-spy")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the backend and generators to cores")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--floor", action="store_true", help="first: the same readers against Reflex alone (floor/)")
    parser.add_argument(
        "--batch-runs", type=int, default=Options.batch_runs, help="batch runs timed after the levels (0: none)"
    )
    parser.add_argument(
        "--rounds", type=int, default=Options.rounds, help="run the scenarios this many times in turn (ratios: median)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if args.rounds > 1 and args.profile:
        parser.error("--profile with --rounds: profile one round (py-spy's own cost would be in every ratio)")
    low, high = (float(x) for x in args.think.split(","))
    return Options(
        levels=tuple(int(x) for x in args.levels.split(",") if x),
        duration=args.duration,
        warmup=args.warmup,
        ramp_rate=args.ramp_rate,
        history=args.history,
        history_readers=args.history_readers,
        history_only=args.history_only,
        returning=args.returning,
        think=(low, high),
        consent_rate=args.consent_rate,
        timeout=args.timeout,
        generators=args.generators,
        seed=args.seed,
        profile=args.profile,
        pin=not args.no_pin,
        out=args.out,
        batch_runs=args.batch_runs,
        rounds=args.rounds,
        floor=args.floor,
    )


if __name__ == "__main__":
    main()
