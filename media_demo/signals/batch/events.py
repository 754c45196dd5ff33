"""The event log as a polars table: exported to Parquet in parts, scanned lazily.

The batch engine never decodes events in Python. `EventExport` copies the log's
new rows to Parquet part files (`events-<first seq>-<last seq>.parquet`): each
part holds the seq, the time, the kind of event, the common identifiers pulled
out of the JSON by polars, and the canonical JSON itself (`body`), from which
the properties a group reads are extracted when it runs (`properties`). An
export only appends what is newer than its last part, so a scheduled run costs
the new events; forgetting a reader drops the parts (`clear`) so none of their
events outlives the deletion, and the next run exports the log afresh.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import polars as pl

# Atomic fields copied into their own columns at export: what keys groups and selects events.
KEY_FIELDS = ("domain_userid", "domain_sessionid", "user_id", "network_userid", "app_id")
KIND_FIELDS = ("event_vendor", "event_name", "event_version")
PART = re.compile(r"^events-(\d+)-(\d+)\.parquet$")
# Each column of an exported part, in order: what `scan` promises every query.
SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "ts": pl.Float64(),
    **{name: pl.String() for name in KIND_FIELDS},
    "event_schema": pl.String(),
    **{name: pl.String() for name in KEY_FIELDS},
    "body": pl.String(),
}


class RawLog(Protocol):
    """What an export reads: the log's stored events after a seq, in chunks (`EventLog.raw_chunks`)."""

    def raw_chunks(self, after_seq: int = 0, batch_size: int = 50_000) -> Iterator[list[tuple[int, bytes]]]:
        """Chunks of (seq, stored JSON) above `after_seq`, in seq order."""
        ...


def frame_of(rows: Iterable[tuple[int, bytes | str]]) -> pl.DataFrame:
    """Stored events (seq, canonical JSON) as one table of the export's schema, the fields pulled out by polars."""
    seqs: list[int] = []
    bodies: list[str] = []
    for seq, body in rows:
        seqs.append(seq)
        bodies.append(body.decode() if isinstance(body, bytes | bytearray | memoryview) else body)
    raw = pl.DataFrame({"seq": seqs, "body": bodies}, schema={"seq": pl.Int64, "body": pl.String})
    return raw.select(
        "seq",
        pl.col("body").str.json_path_match("$.timestamp").cast(pl.Float64).alias("ts"),
        *(pl.col("body").str.json_path_match(f"$.atomic.{name}").alias(name) for name in KIND_FIELDS),
        pl.col("body").str.json_path_match("$.event_schema").alias("event_schema"),
        *(pl.col("body").str.json_path_match(f"$.atomic.{name}").alias(name) for name in KEY_FIELDS),
        "body",
    )


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one export did: the parts written and the events in them, and the last seq now exported."""

    parts: int
    events: int
    last_seq: int


class EventExport:
    """The log's good events as Parquet parts in `folder`, appended to by `update`, read by `scan`."""

    def __init__(self, folder: Path, part_rows: int = 500_000) -> None:
        if part_rows < 1:
            raise ValueError(f"part_rows: must be at least 1, got {part_rows}")
        self.folder = folder
        self.part_rows = part_rows
        self._lock = threading.Lock()  # one export or clear at a time (a scheduled run and a deletion)

    def parts(self) -> list[Path]:
        """The part files, in seq order."""
        if not self.folder.exists():
            return []
        found = [(int(m[1]), p) for p in self.folder.iterdir() if (m := PART.match(p.name))]
        return [path for _first, path in sorted(found)]

    def last_seq(self) -> int:
        """The highest seq exported (0 when nothing is)."""
        parts = self.parts()
        if not parts:
            return 0
        match = PART.match(parts[-1].name)
        assert match is not None
        return int(match[2])

    def update(self, log: RawLog) -> ExportResult:
        """Append the log's events newer than the last part, `part_rows` to a file."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            last = self.last_seq()
            parts = events = 0
            pending: list[tuple[int, bytes]] = []
            for chunk in log.raw_chunks(after_seq=last):
                pending.extend(chunk)
                while len(pending) >= self.part_rows:
                    self._write(pending[: self.part_rows])
                    events += self.part_rows
                    parts += 1
                    pending = pending[self.part_rows :]
            if pending:
                self._write(pending)
                events += len(pending)
                parts += 1
            return ExportResult(parts, events, self.last_seq())

    def _write(self, rows: list[tuple[int, bytes]]) -> None:
        frame = frame_of(rows)
        name = f"events-{rows[0][0]}-{rows[-1][0]}.parquet"
        temporary = self.folder / (name + ".tmp")
        frame.write_parquet(temporary, compression="zstd")
        temporary.replace(self.folder / name)  # a part appears whole or not at all

    def clear(self) -> None:
        """Drop every part (a reader was forgotten, or the log reset): the next update exports afresh."""
        with self._lock:
            if self.folder.exists():
                shutil.rmtree(self.folder)

    def scan(self) -> pl.LazyFrame:
        """Every exported event, lazily (an empty frame of the same schema when nothing is exported)."""
        parts = self.parts()
        if not parts:
            return pl.LazyFrame(schema=SCHEMA)
        return pl.scan_parquet([str(p) for p in parts], schema=SCHEMA)
