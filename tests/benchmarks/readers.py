"""Simulated readers of The Daily Current, one generator process: `python -m tests.benchmarks.readers < config.json`.

Each reader is one browser tab (`reflex_socket.ReflexTab`) with its own tab token and
cookies: it lands on the front page (hydrate, and the client-context handshake of its first
visit), accepts the consent banner half the time, then reads on with a random think time
(1-2 s): stories (half of them picked from the recommendations the page just showed),
the front page and section pages, each a client-side navigation. Readers start at their
own time (the load test ramps them up level by level) and all stop at `stop_at`.

A reader reads a page before choosing the next one: it thinks once its page has settled, so the
load is closed-loop per reader (unlike `loadgen.py`'s open loop). An overloaded backend gets fewer
page events per second (readers / (think time + latency)): the report's pages/s shows it.

Measured per page event: the time from sending its first event to the settled chain (the
last update of its on_load chain, i.e. the recommendations panel and everything else the
page shows are up to date). Errors: timeouts, disconnects, refused connections and frontend
events the tab cannot run. A timed-out or disconnected tab reconnects as a browser does
(hydrate again, same tab token and cookies). Results are aggregated per measurement window
(a level's steady part); pages sent outside every window (ramp, warm-up) are left out.

Reads a JSON `GeneratorConfig` on stdin, writes a JSON `GeneratorResult` on stdout. The
generator also measures itself (CPU, event-loop lag), so a report can tell a slow server
from a saturated generator.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import re
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tests.benchmarks.reflex_socket import DisconnectedError, FrontendContract, PatternScript, ProtocolError, ReflexTab

# A few real browsers: the backend parses the user agent of every event (device, robots).
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
LANGUAGES = ("en-GB,en;q=0.9", "en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9,en;q=0.7")
REFERRERS = ("", "", "https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/abc123")
TZ_OFFSETS = (0, 60, 60, -300, -480, 330)  # minutes east of UTC, as -Date.getTimezoneOffset()
STORY, HOME, SECTION = "story", "home", "section"
PAGE_MIX = ((STORY, 0.6), (HOME, 0.25), (SECTION, 0.15))


# The page's record of its tracked view (`mark_tracked_script`), and the check a same-URL visit makes.
def _mark_tracked(tab: ReflexTab, match: re.Match[str]) -> None:
    tab.window["tracked_view"] = (match["view"], tab.history_entry)


def _is_tracked(tab: ReflexTab, match: re.Match[str]) -> bool:
    return tab.window.get("tracked_view") == (match["view"], tab.history_entry)


PATTERN_ANSWERS: dict[str, PatternScript] = {"mark_tracked": _mark_tracked, "is_tracked": _is_tracked}
FROM_RECOMMENDATIONS = 0.5  # of story reads: a click on a recommended story, when the page shows some


class Window(TypedDict):
    """A measured stretch of time (absolute `time.time()` seconds)."""

    name: str
    start: float
    end: float


class ReaderSpec(TypedDict):
    """One reader: when it opens its tab, and the cookies it already has (a returning reader)."""

    index: int
    start: float
    cookies: dict[str, str]


class GeneratorConfig(TypedDict):
    backend_url: str
    contract: str  # FrontendContract.to_json()
    readers: list[ReaderSpec]
    windows: list[Window]
    stop_at: float
    seed: int
    think: tuple[float, float]
    consent_rate: float
    timeout: float
    stories: list[str]  # routes of the story pages
    sections: list[str]  # routes of the section pages
    scripts: dict[str, str]  # rx.call_script code -> which answer ("client_context")
    patterns: dict[str, str]  # a regex over rx.call_script code -> which answer (a key of PATTERN_ANSWERS)
    consent_event: str  # the banner's "Accept all" event
    reader_state: str  # full name of the state holding the reader's panel
    consent_var: str  # in reader_state's delta: the reader has decided
    recommendations_var: str  # in reader_state's delta: the recommended stories
    panel_var: str  # in reader_state's delta: the id of the panel shown (the page's watcher reports each one)
    panel_seen_event: str  # what the watcher sends


class WindowResult(TypedDict):
    """One window of one generator (merged across generators by the load test)."""

    name: str
    seconds: float
    pages: int  # page events sent in the window and settled
    latencies_ms: list[float]
    errors: dict[str, int]
    consents: int
    consent_latencies_ms: list[float]
    landings: int
    landing_latencies_ms: list[float]
    updates: int
    bytes_in: int
    generator_cpu_s: float
    loop_lag_ms: list[float]


class GeneratorResult(TypedDict):
    windows: list[WindowResult]
    readers: int
    hydrated: int  # readers whose landing page settled
    landing_latencies_ms: list[float]  # over the whole run (landings happen during the ramps)
    consent_latencies_ms: list[float]  # likewise
    errors: dict[str, int]  # over the whole run, windows or not
    unexpected_events: dict[str, int]


@dataclass
class Sample:
    kind: str  # "page", "landing" or "consent"
    sent: float  # time.time() when its first event went out
    latency: float | None  # seconds; None for an error
    error: str = ""


@dataclass
class Run:
    """What all readers of this process record."""

    samples: list[Sample] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (when, loop lag in seconds)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (when, process CPU seconds)
    errors: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    hydrated: int = 0
    updates: list[tuple[float, int, int]] = field(default_factory=list)  # (when, updates, bytes in) per page


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, DisconnectedError):
        return f"disconnect ({exc})"
    if isinstance(exc, ProtocolError):
        return f"refused ({exc})"
    if isinstance(exc, OSError):
        return f"connection ({type(exc).__name__})"
    return f"error ({type(exc).__name__}: {exc})"


class SimulatedReader:
    """One reader's tab and behaviour, seeded: the same config gives the same pages and think times."""

    def __init__(self, spec: ReaderSpec, config: GeneratorConfig, contract: FrontendContract, run: Run) -> None:
        self.spec, self.config, self.run = spec, config, run
        self.rng = random.Random(config["seed"] * 1_000_003 + spec["index"])
        rng = self.rng
        referrer, offset = rng.choice(REFERRERS), rng.choice(TZ_OFFSETS)
        answers = {"client_context": lambda: [referrer, offset]}
        self.tab = ReflexTab(
            config["backend_url"],
            contract,
            cookies=spec["cookies"],
            user_agent=rng.choice(USER_AGENTS),
            accept_language=rng.choice(LANGUAGES),
            scripts={code: answers[kind] for code, kind in config["scripts"].items()},
            patterns={regex: PATTERN_ANSWERS[kind] for regex, kind in config["patterns"].items()},
            echoes={(config["reader_state"], config["panel_var"]): (config["panel_seen_event"], "panel_id")},
        )
        self.first_load = True

    async def main(self) -> None:
        config = self.config
        await asyncio.sleep(max(0.0, self.spec["start"] - time.time()))
        if not await self._land():
            return
        self.run.hydrated += 1
        if not self._reader_vars().get(config["consent_var"]) and self.rng.random() < config["consent_rate"]:
            await self._think()
            await self._measure("consent", self._accept_all)
        while time.time() < config["stop_at"]:
            await self._think()
            if time.time() >= config["stop_at"]:
                break
            path = self._next_page()
            await self._measure("page", lambda path=path: self.tab.navigate(path, config["timeout"]))
        self._count_unexpected()
        await self.tab.close()

    async def _land(self) -> bool:
        """Open the tab on the front page, retrying (as a browser's reconnect does) until stop."""
        while time.time() < self.config["stop_at"]:
            if await self._measure("landing", self._open, recover=False):
                self.first_load = False
                return True
            await self.tab.close()
            await asyncio.sleep(1.0)
        return False

    async def _open(self) -> None:
        await self.tab.open(self.tab.path, self.config["timeout"], first=self.first_load)

    async def _accept_all(self) -> None:
        config = self.config
        state, var = config["reader_state"], config["consent_var"]
        await self.tab.send(
            config["consent_event"],
            until=lambda update: bool((update.get("delta") or {}).get(state, {}).get(var)),
            timeout=config["timeout"],
        )

    async def _measure(self, kind: str, action: Any, recover: bool = True) -> bool:
        """Run one page event (or the consent click) and record it; on failure, reconnect the tab.

        A frontend event the tab cannot run (an error toast, an alert) is an error of its page too.
        """
        tab = self.tab
        updates_before, unexpected_before = tab.counters.updates, sum(tab.counters.unexpected_events.values())
        bytes_before = tab.socket.bytes_in if tab.socket is not None else 0
        sent = time.time()
        start = time.perf_counter()
        try:
            await action()
        except (TimeoutError, DisconnectedError, ProtocolError, OSError) as exc:
            error = _error_kind(exc)
            self.run.samples.append(Sample(kind, sent, None, error))
            self.run.errors[error] += 1
            if recover:
                await self._reconnect()
            return False
        self.run.samples.append(Sample(kind, sent, time.perf_counter() - start))
        bytes_after = tab.socket.bytes_in if tab.socket is not None else 0
        self.run.updates.append((sent, tab.counters.updates - updates_before, bytes_after - bytes_before))
        if sum(tab.counters.unexpected_events.values()) > unexpected_before:
            error = "frontend event the page cannot run: " + ", ".join(sorted(tab.counters.unexpected_events))
            self.run.samples.append(Sample("event", sent, None, error))
            self.run.errors[error] += 1
        return True

    async def _reconnect(self) -> None:
        """Reopen the tab's socket as a browser's reconnect does: hydrate with its cookies, same token."""
        await self.tab.close()
        while time.time() < self.config["stop_at"]:
            try:
                await self._open()
                return
            except (TimeoutError, DisconnectedError, ProtocolError, OSError) as exc:
                self.run.errors[f"reconnect: {_error_kind(exc)}"] += 1
                await self.tab.close()
                await asyncio.sleep(1.0)

    async def _think(self) -> None:
        low, high = self.config["think"]
        await asyncio.sleep(self.rng.uniform(low, high))

    def _reader_vars(self) -> dict[str, Any]:
        return self.tab.state.get(self.config["reader_state"], {})

    def _next_page(self) -> str:
        rng, config = self.rng, self.config
        current = self.tab.path
        for _ in range(5):  # never "navigate" to the page the reader is on
            kind = rng.choices([k for k, _ in PAGE_MIX], [w for _, w in PAGE_MIX])[0]
            if kind == HOME:
                path = "/"
            elif kind == SECTION:
                path = rng.choice(config["sections"])
            else:
                recommended = [
                    card["href"]
                    for card in self._reader_vars().get(config["recommendations_var"]) or ()
                    if isinstance(card, dict) and isinstance(card.get("href"), str)
                ]
                if recommended and rng.random() < FROM_RECOMMENDATIONS:
                    path = rng.choice(recommended)
                else:
                    path = rng.choice(config["stories"])
            if path != current:
                return path
        return "/" if current != "/" else config["stories"][0]

    def _count_unexpected(self) -> None:
        for name, count in self.tab.counters.unexpected_events.items():
            self.run.unexpected[name] += count


async def _watch_loop(run: Run, stop_at: float, interval: float = 0.1) -> None:
    """Sample the event loop's lag (how late a 100 ms sleep wakes) and this process's CPU time."""
    loop = asyncio.get_running_loop()
    while time.time() < stop_at:
        before = loop.time()
        await asyncio.sleep(interval)
        now = time.time()
        run.lags.append((now, loop.time() - before - interval))
        run.cpu.append((now, _cpu_seconds()))


def _cpu_between(cpu: list[tuple[float, float]], start: float, end: float) -> float:
    inside = [seconds for when, seconds in cpu if start <= when <= end]
    return inside[-1] - inside[0] if len(inside) > 1 else 0.0


def summarise(run: Run, windows: list[Window]) -> list[WindowResult]:
    """Each window's samples: those whose first event was sent inside it."""
    results: list[WindowResult] = []
    for window in windows:
        start, end = window["start"], window["end"]
        inside = [s for s in run.samples if start <= s.sent < end]
        errors = Counter(s.error for s in inside if s.error)
        traffic = [(n, b) for sent, n, b in run.updates if start <= sent < end]

        def ok(kind: str, samples: list[Sample] = inside) -> list[float]:
            return [s.latency * 1000 for s in samples if s.kind == kind and s.latency is not None]

        results.append(
            {
                "name": window["name"],
                "seconds": end - start,
                "pages": len(ok("page")),
                "latencies_ms": ok("page"),
                "errors": dict(errors),
                "consents": len(ok("consent")),
                "consent_latencies_ms": ok("consent"),
                "landings": len(ok("landing")),
                "landing_latencies_ms": ok("landing"),
                "updates": sum(n for n, _ in traffic),
                "bytes_in": sum(b for _, b in traffic),
                "generator_cpu_s": _cpu_between(run.cpu, start, end),
                "loop_lag_ms": [lag * 1000 for when, lag in run.lags if start <= when < end],
            }
        )
    return results


async def generate(config: GeneratorConfig) -> GeneratorResult:
    """Run every reader of this process until `stop_at`, then summarise the windows."""
    contract = FrontendContract.from_json(config["contract"])
    run = Run()
    readers = [SimulatedReader(spec, config, contract, run) for spec in config["readers"]]
    watcher = asyncio.create_task(_watch_loop(run, config["stop_at"]))
    outcomes = await asyncio.gather(*(reader.main() for reader in readers), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            run.errors[f"reader crashed ({type(outcome).__name__}: {outcome})"] += 1
    watcher.cancel()
    return {
        "windows": summarise(run, config["windows"]),
        "readers": len(readers),
        "hydrated": run.hydrated,
        "landing_latencies_ms": [s.latency * 1000 for s in run.samples if s.kind == "landing" and s.latency],
        "consent_latencies_ms": [s.latency * 1000 for s in run.samples if s.kind == "consent" and s.latency],
        "errors": dict(run.errors),
        "unexpected_events": dict(run.unexpected),
    }


def main() -> None:
    config: GeneratorConfig = json.load(sys.stdin)
    gc.freeze()  # the imports and the config: never scanned again
    json.dump(asyncio.run(generate(config)), sys.stdout)


if __name__ == "__main__":
    main()
