"""Training datasets: anchors from sessions and from files, point-in-time features (no leakage), group previews,
and the runs (success, cancel, deletion)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    BatchAttributeGroup,
    Criteria,
    Criterion,
    Event,
    PageView,
    SessionAnchors,
    StreamAttributeGroup,
    TrainingSpan,
    UserSuppliedAnchors,
    WarehouseTable,
    domain_sessionid,
    domain_userid,
)

from media_demo.signals.batch.anchors import AnchorError, custom_anchors, read_source, session_anchors, source_path
from media_demo.signals.batch.compute import compute_group
from media_demo.signals.batch.datasets import (
    DatasetRequest,
    DatasetRuns,
    RunNotReadyError,
    point_in_time,
    preview_group,
)
from media_demo.signals.batch.events import EventExport, frame_of
from media_demo.signals.engine.events import CanonicalEvent
from tests.factories import page_view

OWNER = "t@example.com"
TITLE = AtomicProperty(name="page_title")
PAGE_PING = Event(vendor="com.snowplowanalytics.snowplow", name="page_ping", version="1-0-0")
SUBSCRIBE = Criteria(all=[Criterion.eq(TITLE, "Subscribe")])


def reading(key=domain_userid) -> StreamAttributeGroup:  # type: ignore[no-untyped-def]
    return StreamAttributeGroup(
        name="reading",
        version=2,
        attribute_key=key,
        owner=OWNER,
        attributes=[
            Attribute(name="views", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(name="last_title", type="string", events=[PageView()], aggregation="last", property=TITLE),
            Attribute(
                name="since_last", type="double", events=[PageView()], aggregation="time_since_last", time_unit="s"
            ),
            Attribute(
                name="recent_views",
                type="int32",
                events=[PageView()],
                aggregation="counter",
                period=dt.timedelta(minutes=10),
            ),
        ],
    )


def frame(events: list[CanonicalEvent]) -> pl.LazyFrame:
    return frame_of((seq, e.to_json()) for seq, e in enumerate(events, start=1)).lazy()


def anchors_table(rows: list[tuple[str, float, int]]) -> pl.DataFrame:
    table = pl.DataFrame(
        {"domain_userid": [r[0] for r in rows], "anchor_time": [r[1] for r in rows], "label": [r[2] for r in rows]}
    )
    return custom_anchors(table, ["domain_userid"], has_label=True)


# --- point in time --------------------------------------------------------------------------------------------------


def test_features_see_only_the_entitys_events_strictly_before_each_anchor() -> None:
    events = [
        page_view("ann", 1_000.0, page_title="a1"),
        page_view("bob", 1_050.0, page_title="b1"),
        page_view("ann", 1_100.0, page_title="a2"),
        page_view("bob", 1_150.0, page_title="b2"),
        page_view("ann", 1_200.0, page_title="a3"),  # exactly at ann's first anchor: excluded from it
        page_view("bob", 1_250.0, page_title="b3"),
        page_view("ann", 1_300.0, page_title="a4"),  # after both of ann's anchors' first: leakage if counted
        page_view("ann", 9_000.0, page_title="late"),  # after every anchor
    ]
    anchors = anchors_table([("ann", 1_200.0, 1), ("bob", 1_100.0, 0), ("ann", 1_250.0, 0), ("cat", 1_500.0, 0)])
    dataset = point_in_time([reading()], anchors, frame(events))

    assert dataset.columns == [
        "anchor_id",
        "domain_userid",
        "anchor_time",
        "label",
        "reading_v2__views",
        "reading_v2__last_title",
        "reading_v2__since_last",
        "reading_v2__recent_views",
    ]
    rows = {(r["domain_userid"], r["anchor_time"].timestamp()): r for r in dataset.iter_rows(named=True)}
    first = rows[("ann", 1_200.0)]
    assert (first["reading_v2__views"], first["reading_v2__last_title"]) == (2, "a2")
    assert first["reading_v2__since_last"] == pytest.approx(100.0)  # 1200 - 1100, by hand
    assert first["label"] == 1
    second = rows[("ann", 1_250.0)]
    assert (second["reading_v2__views"], second["reading_v2__last_title"]) == (3, "a3")
    assert second["reading_v2__since_last"] == pytest.approx(50.0)
    bob = rows[("bob", 1_100.0)]
    assert (bob["reading_v2__views"], bob["reading_v2__last_title"]) == (1, "b1")  # none of ann's
    cat = rows[("cat", 1_500.0)]  # no event at all: the defaults
    assert (cat["reading_v2__views"], cat["reading_v2__last_title"], cat["reading_v2__since_last"]) == (0, None, None)
    assert dataset.get_column("anchor_id").to_list() == [0, 1, 2, 3]  # in time order: bob, ann, ann, cat
    assert dataset.get_column("domain_userid").to_list() == ["bob", "ann", "ann", "cat"]


def test_windows_and_lookback_are_relative_to_each_anchor() -> None:
    # Views at 0, 400, 700 s; anchors at 800 s and 1290 s. The 10-minute window of the first anchor keeps
    # 400 and 700 (0 is 800 s old); the second's keeps 700 only (400 is 890 s old).
    events = [page_view("ann", t) for t in (0.0, 400.0, 700.0)]
    anchors = anchors_table([("ann", 800.0, 1), ("ann", 1_290.0, 0)])
    dataset = point_in_time([reading()], anchors, frame(events))
    assert dataset.get_column("reading_v2__recent_views").to_list() == [2, 1]
    assert dataset.get_column("reading_v2__views").to_list() == [3, 3]

    day = 86_400.0
    old = [page_view("ann", 0.0), page_view("ann", 1.5 * day), page_view("ann", 2.5 * day)]
    anchors = anchors_table([("ann", 3 * day, 1)])
    limited = point_in_time([reading()], anchors, frame(old), max_lookback_days=1)
    assert limited.get_column("reading_v2__views").to_list() == [1]  # only the view of the last day
    assert point_in_time([reading()], anchors, frame(old)).get_column("reading_v2__views").to_list() == [3]


def test_compute_group_with_a_key_and_a_now_per_entity_matches_one_call_per_entity() -> None:
    events = frame([page_view("ann", 100.0), page_view("ann", 500.0)])
    tagged = events.with_columns(pl.lit("x").alias("who"), pl.lit(800.0).alias("at"))
    per_row = compute_group(reading(), tagged, 5_000.0, key="who", now_column="at").rows["x"]
    assert per_row == compute_group(reading(), events, 800.0).rows["ann"]
    assert per_row["since_last"] == pytest.approx(300.0)


# --- anchors --------------------------------------------------------------------------------------------------------


def session_events() -> list[CanonicalEvent]:
    def view(session: str, t: float, title: str = "story", event: str = "page_view") -> CanonicalEvent:
        user = "u-" + session
        if event == "page_ping":
            return page_view(user, t, domain_sessionid=session, event="page_ping", event_name="page_ping")
        return page_view(user, t, domain_sessionid=session, page_title=title)

    return [
        # s1: two views, then the goal: one positive at 30 s (the goal's first view would not be eligible).
        view("s1", 10.0),
        view("s1", 20.0),
        view("s1", 30.0, "Subscribe"),
        # s2: no goal; pings are not anchors and do not count: eligible views at 120 and 130 s.
        view("s2", 100.0),
        view("s2", 105.0, event="page_ping"),
        view("s2", 120.0),
        view("s2", 130.0),
        # s3: the goal as the session's first event: not eligible, and the session is no negative either.
        view("s3", 200.0, "Subscribe"),
        # s4: no goal, eligible views at 310, 320 s.
        view("s4", 300.0),
        view("s4", 310.0),
        view("s4", 320.0),
        # s5: outside the training span.
        view("s5", 5_000.0),
        view("s5", 5_010.0, "Subscribe"),
    ]


def spec(**changes: object) -> SessionAnchors:
    span = TrainingSpan(
        start_time=dt.datetime.fromtimestamp(0, dt.UTC), end_time=dt.datetime.fromtimestamp(1_000, dt.UTC)
    )
    return SessionAnchors(goal_criteria=SUBSCRIBE, training_span=span, **changes)  # type: ignore[arg-type]


def test_session_anchors_follow_goal_eligibility_and_exclusions() -> None:
    anchors = session_anchors(frame(session_events()), spec(max_negative_ratio=10.0))
    got = [(r["domain_sessionid"], r["anchor_ts"], r["label"]) for r in anchors.iter_rows(named=True)]
    assert got == [
        ("s1", 30.0, 1),
        ("s2", 120.0, 0),
        ("s2", 130.0, 0),
        ("s4", 310.0, 0),
        ("s4", 320.0, 0),
    ]
    assert anchors.get_column("anchor_id").to_list() == [0, 1, 2, 3, 4]
    assert set(anchors.get_column("domain_userid")) == {"u-s1", "u-s2", "u-s4"}

    # min_events=0: every non-excluded event is eligible, s3's goal included (s3 then has no negative).
    loose = session_anchors(frame(session_events()), spec(min_events=0, max_negative_ratio=10.0))
    assert [(r["anchor_ts"], r["label"]) for r in loose.iter_rows(named=True) if r["label"] == 1] == [
        (30.0, 1),
        (200.0, 1),
    ]
    assert (loose.get_column("label") == 0).sum() == 6  # s2: 100, 120, 130; s4: 300, 310, 320

    # No exclusions: s2's ping becomes an event, counted and eligible.
    every = session_anchors(frame(session_events()), spec(excluded_events=[], max_negative_ratio=10.0))
    assert sorted(r["anchor_ts"] for r in every.iter_rows(named=True) if r["domain_sessionid"] == "s2") == [
        105.0,
        120.0,
        130.0,
    ]


def test_session_anchors_are_sampled_per_session_and_by_ratio_the_same_each_time() -> None:
    capped = session_anchors(frame(session_events()), spec(max_anchors_per_session=1, max_negative_ratio=10.0))
    assert capped.group_by("domain_sessionid").len().sort("domain_sessionid").rows() == [
        ("s1", 1),
        ("s2", 1),
        ("s4", 1),
    ]
    ratio = session_anchors(frame(session_events()), spec(max_negative_ratio=2.0))
    assert ratio.get_column("label").to_list().count(1) == 1
    assert ratio.get_column("label").to_list().count(0) == 2  # 4 negatives sampled down to 2 x 1 positive
    again = session_anchors(frame(session_events()), spec(max_negative_ratio=2.0))
    assert again.equals(ratio)
    # The model's default ratio (5) keeps all four here.
    assert session_anchors(frame(session_events()), spec()).height == 5


def test_session_anchors_without_any_goal_are_an_error() -> None:
    no_goal = [e for e in session_events() if e.atomic.get("page_title") != "Subscribe"]
    with pytest.raises(AnchorError, match="no session"):
        session_anchors(frame(no_goal), spec())


def test_a_supplied_table_is_a_file_under_the_sources_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "churn.csv").write_text(
        "domain_userid,anchor_time,label\nann,2024-05-01T10:00:00Z,1\nbob,2024-05-01 09:00:00,0\n"
    )
    path = source_path(tmp_path, "files", "ml", "churn")
    assert path == (folder / "churn.csv").resolve()
    anchors = custom_anchors(read_source(path), ["domain_userid"], has_label=True)
    assert anchors.rows() == [
        (0, "bob", dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC).timestamp(), 0),
        (1, "ann", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC).timestamp(), 1),
    ]
    unlabelled = custom_anchors(read_source(path).drop("label"), ["domain_userid"], has_label=False)
    assert unlabelled.get_column("label").to_list() == [None, None]

    with pytest.raises(AnchorError, match="database 'warehouse' is not supported; supported: 'files'"):
        source_path(tmp_path, "warehouse", "ml", "churn")
    with pytest.raises(AnchorError, match=r"no file ml/missing\.parquet or \.csv"):
        source_path(tmp_path, "files", "ml", "missing")
    with pytest.raises(AnchorError, match=r"no column \['user_id'\]"):
        custom_anchors(read_source(path), ["user_id"], has_label=True)
    with pytest.raises(AnchorError, match="no 'label' column"):
        custom_anchors(read_source(path).drop("label"), ["domain_userid"], has_label=True)


# --- preview (signals.test) -----------------------------------------------------------------------------------------


def test_a_preview_reads_the_window_the_app_ids_and_the_keys_asked_for() -> None:
    now = 10_000.0
    events = frame(
        [
            page_view("ann", now - 7_200, page_title="old"),  # outside the hour
            page_view("ann", now - 60, page_title="a1", app_id="site"),
            page_view("ann", now - 30, page_title="a2", app_id="site"),
            page_view("bob", now - 20, page_title="b1", app_id="partner"),
        ]
    )
    group = reading()
    asked = preview_group(group, events, now, 3_600, key_ids=["ann", "zed"])
    assert asked["domain_userid"] == ["ann", "zed"]
    assert asked["views"] == [2, 0]
    assert asked["last_title"] == ["a2", None]
    assert asked["since_last"] == [pytest.approx(30.0), None]

    sampled = preview_group(group, events, now, 3_600)
    assert sampled["domain_userid"] == ["ann", "bob"]
    assert sampled["views"] == [2, 1]
    partner = preview_group(group, events, now, 3_600, app_ids=["partner"])
    assert (partner["domain_userid"], partner["views"]) == (["bob"], [1])

    many = frame([page_view(f"r{i}", now - 5) for i in range(25)])
    assert len(preview_group(group, many, now, 3_600)["domain_userid"]) == 10


# --- runs -----------------------------------------------------------------------------------------------------------


class ListLog:
    def __init__(self, events: list[CanonicalEvent]) -> None:
        self.events = events

    def raw_chunks(self, after_seq: int = 0, batch_size: int = 50_000) -> Iterator[list[tuple[int, bytes]]]:
        rows = [(seq, e.to_json()) for seq, e in enumerate(self.events, start=1) if seq > after_seq]
        if rows:
            yield rows


def wait_finished(runs: DatasetRuns, run_id):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while (status := runs.status(run_id)).status == "pending":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.02)
    return status


def test_a_run_writes_its_dataset_and_deletion_takes_a_readers_rows(tmp_path: Path) -> None:
    runs = DatasetRuns(tmp_path / "datasets", EventExport(tmp_path / "export"), ListLog(session_events()), tmp_path)
    group = BatchAttributeGroup(
        name="session_reading",
        version=1,
        attribute_key=domain_sessionid,
        owner=OWNER,
        attributes=[Attribute(name="views", type="int32", events=[PageView()], aggregation="counter")],
    )
    request = DatasetRequest([group], spec(max_negative_ratio=10.0), {"database": None, "schema": None, "table": "t"})
    run = runs.submit(request)
    assert run.status == "pending"
    finished = wait_finished(runs, run.id)
    assert (finished.status, finished.error) == ("success", None)
    preview = runs.preview(run.id, limit=2)
    assert preview.columns == ["anchor_id", "domain_sessionid", "anchor_time", "label", "session_reading_v1__views"]
    assert preview.row_count == 5
    assert preview.data == [
        [0, "s1", "1970-01-01T00:00:30+00:00", 1, 2],
        [1, "s2", "1970-01-01T00:02:00+00:00", 0, 1],  # the ping at 105 s is no page view
    ]
    assert runs.forget({"s2"}) == 2
    assert runs.preview(run.id).row_count == 3
    runs.close()


def test_a_cancelled_run_fails_as_cancelled_at_its_next_check(tmp_path: Path) -> None:
    export = EventExport(tmp_path / "export")
    release = threading.Event()
    started = threading.Event()
    update = export.update

    def slow_update(log):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(10)
        return update(log)

    export.update = slow_update  # type: ignore[method-assign]
    runs = DatasetRuns(tmp_path / "datasets", export, ListLog(session_events()), tmp_path, workers=1)
    request = DatasetRequest([reading()], spec(), {"database": None, "schema": None, "table": "t"})
    running = runs.submit(request)
    queued = runs.submit(request)
    assert started.wait(10)
    assert runs.cancel(queued.id).status == "failed"  # never started
    assert runs.cancel(running.id).status == "pending"  # stops at its next check
    release.set()
    stopped = wait_finished(runs, running.id)
    assert (stopped.status, stopped.error) == ("failed", "cancelled")
    with pytest.raises(RunNotReadyError, match="failed: cancelled"):
        runs.preview(running.id)
    runs.close()


def test_a_supplied_table_that_does_not_exist_is_refused_at_submission(tmp_path: Path) -> None:
    runs = DatasetRuns(tmp_path / "datasets", EventExport(tmp_path / "export"), ListLog([]), tmp_path)
    anchors = UserSuppliedAnchors(source=WarehouseTable(database="files", schema="ml", table="nothing"))
    with pytest.raises(AnchorError, match="no file ml/nothing"):
        runs.submit(DatasetRequest([reading()], anchors, {"database": None, "schema": None, "table": "t"}))
    runs.close()
