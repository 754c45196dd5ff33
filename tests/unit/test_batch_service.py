"""The batch service: exports, runs, failures, deletion during a run, and the export's incremental parts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from snowplow_signals import (
    Attribute,
    BatchAttributeGroup,
    BatchSource,
    ExternalBatchAttributeGroup,
    Field,
    PageView,
    domain_userid,
    user_id,
)

from media_demo.services.batch import Batch
from media_demo.signals.batch.events import EventExport
from media_demo.signals.batch.external import read_external
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.storage.batch_values import BatchValues
from media_demo.signals.storage.database import open_database
from tests.factories import page_view

GROUP = BatchAttributeGroup(
    name="views",
    version=1,
    attribute_key=domain_userid,
    owner="t@example.com",
    attributes=[Attribute(name="count", type="int32", events=[PageView()], aggregation="counter")],
)


class ListLog:
    """The log's `raw_chunks` over a list, two events a chunk (so parts span chunks)."""

    def __init__(self) -> None:
        self.events: list[CanonicalEvent] = []

    def raw_chunks(self, after_seq: int = 0, batch_size: int = 2) -> Iterator[list[tuple[int, bytes]]]:
        rows = [(seq, e.to_json()) for seq, e in enumerate(self.events, start=1) if seq > after_seq]
        for start in range(0, len(rows), 2):
            yield rows[start : start + 2]


@pytest.fixture
def log() -> ListLog:
    return ListLog()


def service(tmp_path: Path, log: ListLog, clock: float = 1_000.0) -> Batch:
    values = BatchValues(open_database(f"sqlite:///{tmp_path / 'batch.db'}"))
    batch = Batch(values, EventExport(tmp_path / "export", part_rows=3), log, tmp_path, 0, clock=lambda: clock)
    batch.add(GROUP)
    return batch


def test_the_export_appends_only_new_events_in_parts(tmp_path: Path, log: ListLog) -> None:
    export = EventExport(tmp_path / "export", part_rows=3)
    log.events = [page_view("a", 1.0), page_view("b", 2.0), page_view("a", 3.0), page_view("c", 4.0)]
    first = export.update(log)
    assert (first.parts, first.events, first.last_seq) == (2, 4, 4)
    log.events.append(page_view("b", 5.0))
    second = export.update(log)
    assert (second.parts, second.events, second.last_seq) == (1, 1, 5)
    assert [p.name for p in export.parts()] == ["events-1-3.parquet", "events-4-4.parquet", "events-5-5.parquet"]
    frame = export.scan().collect()
    assert frame.get_column("seq").to_list() == [1, 2, 3, 4, 5]
    assert frame.get_column("domain_userid").to_list() == ["a", "b", "a", "c", "b"]
    assert frame.get_column("event_name").unique().to_list() == ["page_view"]


def test_a_run_computes_and_a_later_run_replaces(tmp_path: Path, log: ListLog) -> None:
    batch = service(tmp_path, log)
    log.events = [page_view("a", 1.0), page_view("a", 2.0), page_view("b", 3.0)]
    (run,) = batch.run()
    assert (run.group_id, run.entities, run.events_read, run.finished_at) == ("views_v1", 2, 3, 1_000.0)
    assert batch.read("views_v1", ["a", "b", "z"], ["count"]) == [{"count": 2}, {"count": 1}, {"count": 0}]
    log.events.append(page_view("b", 4.0))
    batch.run()
    assert batch.read("views_v1", ["b"], ["count"]) == [{"count": 2}]
    again = BatchValues(batch.values.engine)  # durable: a restart serves the last run
    assert again.get("views_v1", "b") == ({"count": 2}, 1_000.0)
    assert again.run("views_v1") is not None


def test_a_failed_run_keeps_the_last_values_and_says_why(tmp_path: Path, log: ListLog) -> None:
    batch = service(tmp_path, log)
    log.events = [page_view("a", 1.0)]
    batch.run()
    broken = tmp_path / "export" / "events-2-2.parquet"
    broken.write_bytes(b"not parquet")  # a damaged part
    (run,) = batch.run()
    assert "error" in run.detail
    assert batch.read("views_v1", ["a"], ["count"]) == [{"count": 1}]
    assert batch.values.run("views_v1") == run


def test_forgetting_drops_rows_now_and_the_export(tmp_path: Path, log: ListLog) -> None:
    batch = service(tmp_path, log)
    log.events = [page_view("a", 1.0), page_view("b", 2.0)]
    batch.run()
    assert batch.forget({"a"}) == 1
    assert batch.read("views_v1", ["a", "b"], ["count"]) == [{"count": 0}, {"count": 1}]
    assert batch.export.parts() == []
    assert batch.values.is_tombstoned("a") and not batch.values.is_tombstoned("b")


def crm_table(folder: Path) -> Path:
    """A CRM export of two subscribers, as the newsroom would drop it in its sources folder."""
    (folder / "crm").mkdir(parents=True, exist_ok=True)
    path = folder / "crm" / "subs.csv"
    path.write_text("user_id,plan,at\na,digital,1970-01-01T00:00:10Z\nb,premium,1970-01-01T00:00:20Z\n")
    return path


def test_a_reader_forgotten_during_a_run_is_not_synced_then_or_later(tmp_path: Path, log: ListLog) -> None:
    values = BatchValues(open_database(f"sqlite:///{tmp_path / 'batch.db'}"))
    crm = ExternalBatchAttributeGroup(
        name="crm",
        version=1,
        attribute_key=user_id,
        owner="t@example.com",
        fields=[Field(name="plan", type="string")],
        batch_source=BatchSource(name="crm", database="files", schema="crm", table="subs", timestamp_field="at"),
    )
    crm_table(tmp_path / "sources")
    batch = Batch(values, EventExport(tmp_path / "export"), log, tmp_path / "sources", 0, read_external=read_external)
    batch.add(crm)
    deleting = [True]
    batch.before_sync(lambda _events, _now: deleting and batch.forget({"a"}) and None)  # mid-run, once
    (run,) = batch.run()
    assert run.entities == 1
    assert batch.read("crm_v1", ["a", "b"], ["plan"]) == [{"plan": None}, {"plan": "premium"}]
    assert values.get("crm_v1", "b") == ({"plan": "premium"}, 20.0)  # the row's own time, not the run's
    deleting.clear()
    batch.run()  # the table still has them: their key is skipped
    assert batch.read("crm_v1", ["a"], ["plan"]) == [{"plan": None}]
