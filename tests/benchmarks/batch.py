"""The batch engine: the app's `reading_history` group over 1M and 10M exported events, time and peak memory,
beside a plain-Python baseline over the same files (each event's JSON decoded and fed to the streaming engine's
aggregations one at a time, which is what computing it without polars means).

Each measurement runs in a process of its own, so its peak RSS (ru_maxrss) is its own. The events are written
straight as the export's Parquet parts (`EventExport` writes the same files from the log): readers, sessions,
page views and article reads with a section and a slug, over 60 days.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from media_demo.signals.batch.events import SCHEMA

SIZES = (1_000_000, 10_000_000)
PART_ROWS = 1_000_000
SECTIONS = ["world", "politics", "business", "technology", "science", "health", "sport", "culture"]
DAY = 86_400.0
NOW = 1_780_000_000.0


def write_events(folder: Path, count: int, seed: int = 7) -> None:
    """`count` synthetic events as export parts in `folder` (1M rows a part, built with polars, no Python loop)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    readers = max(1, count // 40)
    for first in range(0, count, PART_ROWS):
        n = min(PART_ROWS, count - first)
        seq = np.arange(first + 1, first + n + 1, dtype=np.int64)
        ts = np.sort(NOW - 60 * DAY + rng.random(n) * 60 * DAY)
        reader = rng.integers(0, readers, n)
        is_read = rng.random(n) < 0.4
        section = rng.integers(0, len(SECTIONS), n)
        story = rng.integers(0, 2_000, n)
        frame = pl.DataFrame(
            {
                "seq": seq,
                "ts": ts,
                "reader": reader,
                "read": is_read,
                "section": np.array(SECTIONS)[section],
                "story": story,
            }
        ).with_columns(
            pl.concat_str(pl.lit("u-"), pl.col("reader")).alias("domain_userid"),
            pl.concat_str(
                pl.lit("s"), pl.col("reader"), pl.lit("-"), (pl.col("ts") / DAY).floor().cast(pl.Int64)
            ).alias("domain_sessionid"),
        )
        name = pl.when(pl.col("read")).then(pl.lit("article_detail")).otherwise(pl.lit("page_view"))
        vendor = (
            pl.when(pl.col("read")).then(pl.lit("com.dailycurrent")).otherwise(pl.lit("com.snowplowanalytics.snowplow"))
        )
        schema = pl.when(pl.col("read")).then(pl.lit("iglu:com.dailycurrent/article_detail/jsonschema/1-0-0"))
        data = pl.when(pl.col("read")).then(
            pl.concat_str(
                pl.lit('{"slug":"story-'), pl.col("story"), pl.lit('","category":"'), pl.col("section"), pl.lit('"}')
            )
        )
        body = pl.concat_str(
            pl.lit('{"atomic":{"event_id":"e'),
            pl.col("seq"),
            pl.lit('","event_vendor":"'),
            vendor,
            pl.lit('","event_name":"'),
            name,
            pl.lit('","event_version":"1-0-0","domain_userid":"'),
            pl.col("domain_userid"),
            pl.lit('","domain_sessionid":"'),
            pl.col("domain_sessionid"),
            pl.lit('","page_urlpath":"/article/story-'),
            pl.col("story"),
            pl.lit('"},"timestamp":'),
            pl.col("ts"),
            pl.lit(',"event_schema":'),
            pl.when(pl.col("read")).then(pl.concat_str(pl.lit('"'), schema, pl.lit('"'))).otherwise(pl.lit("null")),
            pl.lit(',"event_data":'),
            pl.when(pl.col("read")).then(data).otherwise(pl.lit("null")),
            pl.lit(',"entities":[]}'),
        )
        part = frame.select(
            "seq",
            "ts",
            vendor.alias("event_vendor"),
            name.alias("event_name"),
            pl.lit("1-0-0").alias("event_version"),
            schema.alias("event_schema"),
            "domain_userid",
            "domain_sessionid",
            pl.lit(None, pl.String).alias("user_id"),
            pl.lit(None, pl.String).alias("network_userid"),
            pl.lit("media-demo").alias("app_id"),
            body.alias("body"),
        ).cast(SCHEMA)  # type: ignore[arg-type]
        part.write_parquet(folder / f"events-{seq[0]}-{seq[-1]}.parquet", compression="zstd")


def measure_batch(folder: str) -> dict[str, float]:
    """Run in a child: compute `reading_history` over the parts with polars."""
    from media_demo.definitions import reading_history_group
    from media_demo.signals.batch.compute import compute_group
    from media_demo.signals.batch.events import EventExport

    export = EventExport(Path(folder))
    start = time.perf_counter()
    result = compute_group(reading_history_group(), export.scan(), NOW)
    return {"seconds": time.perf_counter() - start, "entities": len(result.rows), "events": result.events_read}


def measure_python(folder: str) -> dict[str, float]:
    """Run in a child: the same group by decoding every event in Python and updating the streaming aggregations."""
    import orjson

    from media_demo.definitions import reading_history_group
    from media_demo.signals.engine.attribute_engine import AttributeEngine
    from media_demo.signals.engine.events import CanonicalEvent

    group = reading_history_group()
    engine = AttributeEngine([group], clock=lambda: NOW)  # (a batch group's attributes evaluated one event at a time)
    start = time.perf_counter()
    events = 0
    for part in sorted(Path(folder).glob("events-*.parquet"), key=lambda p: int(p.name.split("-")[1])):
        for batch in pl.read_parquet(part, columns=["body"]).iter_slices(100_000):
            for body in batch.get_column("body"):
                doc = orjson.loads(body)
                engine.ingest(CanonicalEvent(doc["atomic"], doc["timestamp"], doc["event_schema"], doc["event_data"]))
                events += 1
    entities = engine.entities(group.name)
    return {"seconds": time.perf_counter() - start, "entities": entities, "events": events}


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM: reset at exec, unlike ru_maxrss, which a child inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(kind: str, folder: Path) -> dict[str, float]:
    code = (
        "import json, sys; from tests.benchmarks.batch import measure_batch, measure_python, peak_mib; "
        f"result = measure_{kind}(sys.argv[1]); result['peak_mib'] = peak_mib(); print(json.dumps(result))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_batch() -> None:
    """`reading_history` over 1M and 10M events: polars lazy with streaming collection vs plain Python."""
    print("\n## Batch engine: reading_history (7 attributes: counters, a 30-day window, distinct counts,")
    print("   category counts, most frequent, time since first) over exported events, each run in its own process")
    with tempfile.TemporaryDirectory() as scratch:
        for size in SIZES:
            folder = Path(scratch) / f"events-{size}"
            began = time.perf_counter()
            write_events(folder, size)
            files = sum(p.stat().st_size for p in folder.iterdir())
            took = time.perf_counter() - began
            print(f"  {size:>10,} events: {files / 2**20:.0f} MiB of Parquet, written in {took:.0f} s")
            polars_run = _child("batch", folder)
            python_run = _child("python", folder)
            assert polars_run["entities"] == python_run["entities"], (polars_run, python_run)
            print(
                f"    polars batch engine: {polars_run['seconds']:7.1f} s, peak RSS {polars_run['peak_mib']:6.0f} MiB, "
                f"{polars_run['entities']:,.0f} readers"
            )
            ratio = python_run["seconds"] / polars_run["seconds"]
            print(
                f"    baseline, plain Python (decode + aggregate each event): {python_run['seconds']:7.1f} s, "
                f"peak RSS {python_run['peak_mib']:6.0f} MiB  -> polars {ratio:.1f}x faster"
            )
