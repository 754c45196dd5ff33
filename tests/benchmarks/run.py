"""`make bench`: ingest, durable ingest, recommendation and API latency, memory, pages during a backfill and
while dashboards watch a large experiment, the archive, e-mail digests, the batch engine at 1M and 10M events,
each beside a baseline.

Run with `python -m tests.benchmarks.run`. Numbers are printed, never asserted:
speed is measured here, not in timed unit tests. Each section lives in its own
module of this package.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Callable

from tests.benchmarks.api_latency import bench_online_attributes
from tests.benchmarks.archive import bench_archive
from tests.benchmarks.backfill import bench_backfill
from tests.benchmarks.batch import bench_batch
from tests.benchmarks.common import PlainDictProfiles, synthetic_events
from tests.benchmarks.digests import bench_digests
from tests.benchmarks.experiment_reports import bench_experiment_reports
from tests.benchmarks.ingest import bench_durable_ingest, bench_ingest
from tests.benchmarks.memory import bench_memory
from tests.benchmarks.recommendations import bench_recommendations

__all__ = ["PlainDictProfiles", "main", "synthetic_events"]

SECTIONS: list[Callable[[], None]] = [
    bench_ingest,
    bench_durable_ingest,
    bench_recommendations,
    bench_online_attributes,
    bench_memory,
    bench_backfill,
    bench_experiment_reports,
    bench_archive,
    bench_digests,
    bench_batch,
]


def _load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def main() -> None:
    """Run every section; a failing section is reported and the others still run (exit status 1)."""
    start = time.perf_counter()
    print(f"media_demo benchmarks (Python {platform.python_version()}, {os.cpu_count()} cores; in process = one core)")
    print(f"load average before: {_load()} (other processes on the machine skew every number)")
    failed = []
    for section in SECTIONS:
        began = time.perf_counter()
        try:
            section()
        except Exception:
            failed.append(section.__name__)
            print(f"\n!! {section.__name__} failed:")
            traceback.print_exc(file=sys.stdout)
        print(f"  [{time.perf_counter() - began:.0f} s]")
    print(f"\n(all benchmarks: {time.perf_counter() - start:.0f} s; load average after: {_load()})")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
