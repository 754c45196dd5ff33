"""`signals.test` and training datasets with the official SDK over real HTTP, events sent by a real tracker.

Page views carry true timestamps, so the anchors fall between known events and
each feature can be checked by hand: a reader's views strictly before the anchor.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    Criteria,
    Criterion,
    DatasetRunStatus,
    PageView,
    SignalsSandbox,
    StreamAttributeGroup,
    TrainingSpan,
    WarehouseTable,
    domain_userid,
)
from snowplow_signals.api_client import SignalsAPIError
from snowplow_tracker import Emitter, Subject, Tracker
from snowplow_tracker import PageView as TrackedPageView

from media_demo.articles import Corpus
from media_demo.settings import Settings
from media_demo.tracking import new_domain_userid
from tests.integration.conftest import eventually, running

TOKEN = "test-token-" + uuid.uuid4().hex
TITLE = AtomicProperty(name="page_title")
SUBSCRIBE = Criteria(all=[Criterion.eq(TITLE, "Subscribe")])
FEATURES = ["reading_habits_v1__page_views", "reading_habits_v1__last_page_title"]


def reading_habits() -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name="reading_habits",
        version=1,
        attribute_key=domain_userid,
        owner="tests@dailycurrent.example",
        attributes=[
            Attribute(name="page_views", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(name="last_page_title", type="string", events=[PageView()], aggregation="last", property=TITLE),
        ],
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        database_url=database_url,
        flush_interval_seconds=0.01,
        signals_api_token=TOKEN,
        batch_dir=tmp_path / "batch",
        sources_dir=tmp_path / "sources",
        batch_interval_seconds=0,
    )


def send(url: str, reader: str, session: str, views: list[tuple[float, str]]) -> None:
    """Page views at the given epoch seconds (true timestamps), through the collector endpoint."""
    parts = urlsplit(url)
    emitter = Emitter(parts.hostname or "", protocol="http", port=parts.port, method="post", batch_size=1)
    tracker = Tracker(namespace="datasets-test", emitters=emitter, app_id="datasets-test")
    for at, title in views:
        event = TrackedPageView(page_url=f"http://localhost:3000/{title.lower()}", page_title=title)
        event.true_timestamp = at * 1000
        event.event_subject = Subject().set_platform("web").set_domain_user_id(reader).set_domain_session_id(session)
        tracker.track(event)
    tracker.flush()


def finished(sandbox: SignalsSandbox, run_id: uuid.UUID) -> DatasetRunStatus:
    deadline = time.monotonic() + 30
    while (status := sandbox.get_dataset_run_status(run_id)).status == DatasetRunStatus.PENDING:
        assert time.monotonic() < deadline, "the dataset run did not finish"
        time.sleep(0.05)
    return status.status


def test_the_sdk_tests_a_group_and_builds_point_in_time_datasets(settings: Settings, corpus: Corpus) -> None:
    base = float(int(time.time()) - 1_800)  # half an hour ago: inside signals.test's default hour
    ann, bob = new_domain_userid(), new_domain_userid()
    with running(settings, corpus) as (room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        send(
            url,
            ann,
            str(uuid.uuid4()),
            [(base, "Home"), (base + 10, "Story"), (base + 20, "Subscribe"), (base + 30, "After")],
        )
        send(url, bob, str(uuid.uuid4()), [(base + 5, "Home"), (base + 15, "Story"), (base + 25, "Sport")])

        # signals.test: the unpublished group over the last hour, per reader asked for (and a stranger's defaults).
        def tested() -> None:
            frame = sandbox.test(reading_habits(), attribute_key_ids=[ann, bob, "nobody"])
            assert frame.to_dict("records") == [
                {"domain_userid": ann, "page_views": 4, "last_page_title": "After"},
                {"domain_userid": bob, "page_views": 3, "last_page_title": "Sport"},
                {"domain_userid": "nobody", "page_views": 0, "last_page_title": None},
            ]

        eventually(tested)
        sampled = sandbox.test(reading_habits())
        assert sorted(sampled["domain_userid"]) == sorted([ann, bob])
        assert list(sampled.columns) == ["domain_userid", "page_views", "last_page_title"]
        assert sandbox.test(reading_habits(), window=dt.timedelta(minutes=10)).empty  # the views are older

        # Session anchors: ann's goal is the positive; bob's eligible views (after his first) the negatives.
        span = TrainingSpan(
            start_time=dt.datetime.fromtimestamp(base - 60, dt.UTC),
            end_time=dt.datetime.fromtimestamp(base + 100, dt.UTC),
        )
        run = sandbox.submit_dataset_run_with_session_anchors([reading_habits()], SUBSCRIBE, span)
        assert finished(sandbox, run.id) == DatasetRunStatus.SUCCESS
        preview = sandbox.get_dataset_run_preview(run.id)
        assert preview.columns == ["anchor_id", "domain_userid", "anchor_time", "label", *FEATURES]
        assert preview.row_count == 3
        rows = [row[1:2] + row[3:] for row in preview.data]
        assert rows == [
            [bob, 0, 1, "Home"],  # at bob's "Story" (base + 15)
            [ann, 1, 2, "Story"],  # at ann's "Subscribe" (base + 20): not the goal itself, nor "After"
            [bob, 0, 2, "Story"],  # at bob's "Sport" (base + 25)
        ]
        assert [dt.datetime.fromisoformat(row[2]).timestamp() for row in preview.data] == [
            base + 15,
            base + 20,
            base + 25,
        ]
        assert sandbox.get_dataset_run_preview(run.id, limit=1).data == preview.data[:1]

        # Custom anchors from a CSV in the sources folder (database "files", schema = folder, table = file).
        folder = settings.sources_dir / "ml"
        folder.mkdir(parents=True)
        iso = lambda t: dt.datetime.fromtimestamp(t, dt.UTC).isoformat()  # noqa: E731
        (folder / "churn.csv").write_text(
            "domain_userid,anchor_time,label\n"
            f"{ann},{iso(base + 25)},1\n{bob},{iso(base + 100)},0\n{ann},{iso(base)},0\n"
        )
        table = WarehouseTable(database="files", schema="ml", table="churn")
        custom = sandbox.submit_dataset_run_with_custom_anchors([reading_habits()], table)
        assert finished(sandbox, custom.id) == DatasetRunStatus.SUCCESS
        got = sandbox.get_dataset_run_preview(custom.id).to_pandas()
        assert got[["domain_userid", "label", *FEATURES]].values.tolist() == [
            [ann, 0, 0, None],  # at ann's first view: nothing before it
            [ann, 1, 3, "Subscribe"],  # "After" (base + 30) comes after the anchor
            [bob, 0, 3, "Sport"],
        ]
        missing = WarehouseTable(database="files", schema="ml", table="absent")
        with pytest.raises(SignalsAPIError) as refused:
            sandbox.submit_dataset_run_with_custom_anchors([reading_habits()], missing)
        assert refused.value.status_code == 422
        assert "ml/absent.parquet or .csv" in str(refused.value)

        # Cancelling: the run waits in its first step, is cancelled, and fails as cancelled at its next check.
        release = threading.Event()
        update = room.datasets.export.update
        room.datasets.export.update = lambda log: (release.wait(10), update(log))[1]  # type: ignore[method-assign]
        try:
            waiting = sandbox.submit_dataset_run_with_session_anchors([reading_habits()], SUBSCRIBE, span)
            sandbox.cancel_dataset_run(waiting.id)
        finally:
            release.set()
            room.datasets.export.update = update  # type: ignore[method-assign]
        assert finished(sandbox, waiting.id) == DatasetRunStatus.FAILED
        # (The SDK's status model drops the error; the API's document has it.)
        raw = httpx.get(f"{url}/api/v1/datasets/runs/{waiting.id}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert (raw.json()["status"], raw.json()["error"]) == ("failed", "cancelled")
        with pytest.raises(SignalsAPIError) as not_ready:
            sandbox.get_dataset_run_preview(waiting.id)
        assert not_ready.value.status_code == 409

        # No warehouse here: asking for SQL says what to call instead.
        with pytest.raises(SignalsAPIError) as no_sql:
            sandbox.build_dataset_with_session_anchors([reading_habits()], SUBSCRIBE, span)
        assert no_sql.value.status_code == 422
        assert "submit_dataset_run_with_session_anchors" in str(no_sql.value)
