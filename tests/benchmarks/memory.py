"""Memory per reader: the engine's states beside the plain-dict baseline, each in a fresh process.

tracemalloc would slow 2 million ingests down about tenfold, so each side runs
in its own new interpreter and reports its resident set size (RSS) before and
after ingesting; the events are made lazily and freed as they go, so the
growth is what the profiles keep (plus allocator slack, the same for both).
Worker: `python -m tests.benchmarks.memory engine|baseline <readers>`.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from typing import Any, TypedDict

import psutil

from media_demo.definitions import READER_GROUP, reader_profile_group
from media_demo.newsroom import get_corpus
from media_demo.settings import PROJECT_ROOT
from media_demo.signals.engine.attribute_engine import AttributeEngine
from tests.benchmarks.common import PlainDictProfiles, reader_ids, reader_visits

MEMORY_READERS = 100_000
SIDES = ("engine", "baseline")


class MemoryResult(TypedDict):
    side: str
    readers: int
    events: int
    profiles: int
    rss_growth: int


def measure(side: str, readers: int) -> MemoryResult:
    """Ingest every reader's history into a new engine (or the baseline) and return the RSS growth."""
    categories = list(get_corpus().categories)
    ids = reader_ids(readers, seed=31)
    process = psutil.Process()
    group = reader_profile_group(categories)
    sink: Any = AttributeEngine([group]) if side == "engine" else PlainDictProfiles(categories)
    ingest = sink.ingest
    gc.collect()
    gc.disable()  # no cycles are made; a full collection over millions of objects would only add time
    before = process.memory_info().rss
    events = 0
    for event in reader_visits(ids, seed=32):
        ingest(event)
        events += 1
    gc.enable()
    gc.collect()
    growth = process.memory_info().rss - before
    profiles = sink.entities(READER_GROUP) if side == "engine" else len(sink.profiles)
    return {"side": side, "readers": readers, "events": events, "profiles": profiles, "rss_growth": growth}


def bench_memory() -> None:
    """Both sides at once, one fresh process each (memory, not time, is measured: they may share the cores)."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.memory", side, str(MEMORY_READERS)],
            stdout=subprocess.PIPE,
            cwd=PROJECT_ROOT,
            text=True,
        )
        for side in SIDES
    ]
    results: dict[str, MemoryResult] = {}
    for side, worker in zip(SIDES, workers, strict=True):
        out, _ = worker.communicate(timeout=300)
        if worker.returncode != 0:
            raise RuntimeError(f"memory worker {side!r} failed with exit code {worker.returncode}")
        results[side] = json.loads(out)
    engine, baseline = results["engine"], results["baseline"]
    attributes = len(reader_profile_group(get_corpus().categories).attributes)
    print(
        f"\n## Memory per reader ({MEMORY_READERS:,} readers, {engine['events']:,} events: 1-3 page views, then "
        f"5-15 articles each a page view + article view; {attributes} attributes)"
    )
    for label, result in (
        ("attribute engine (reader_profile group)", engine),
        ("baseline, hand-written dicts           ", baseline),
    ):
        per_reader = result["rss_growth"] / result["readers"]
        print(
            f"  {label}: {per_reader:>7,.0f} bytes/reader   "
            f"(RSS +{result['rss_growth'] / 2**20:,.1f} MiB, {result['profiles']:,} profiles)"
        )
    print(f"  ratio engine/baseline:                    {engine['rss_growth'] / baseline['rss_growth']:>7.2f}")
    print("  (RSS growth in a fresh process per side; includes the domain_userid strings and dict slack)")


def main() -> None:
    side, readers = sys.argv[1], int(sys.argv[2])
    if side not in SIDES:
        raise SystemExit(f"usage: python -m tests.benchmarks.memory {'|'.join(SIDES)} <readers>")
    json.dump(measure(side, readers), sys.stdout)


if __name__ == "__main__":
    main()
