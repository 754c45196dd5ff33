"""Batch attribute groups through the official SDK, over real HTTP: published, computed, served with streaming ones.

A real `snowplow_tracker.Tracker` sends page views to the collector; `SignalsSandbox` publishes a
`BatchAttributeGroup` and a service over it and a stream group, and reads both kinds of attribute
back in one call, as a notebook would against Signals. The batch values change only when the batch
engine runs (on demand here), and say when they were computed.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    BatchAttributeGroup,
    BatchSource,
    ExternalBatchAttributeGroup,
    Field,
    PageView,
    Service,
    SignalsSandbox,
    StreamAttributeGroup,
    domain_userid,
)
from snowplow_signals.api_client import SignalsAPIError

from media_demo.articles import Corpus
from media_demo.settings import Settings
from media_demo.tracking import new_domain_userid
from tests.integration.conftest import eventually, running
from tests.integration.test_signals_sdk import read_pages, tracker_for

TOKEN = "test-token-" + uuid.uuid4().hex
OWNER = "tests@dailycurrent.example"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def history() -> BatchAttributeGroup:
    return BatchAttributeGroup(
        name="page_history",
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        attributes=[
            Attribute(name="pages_ever", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(
                name="titles",
                type="string_list",
                events=[PageView()],
                aggregation="unique_list",
                property=AtomicProperty(name="page_title"),
            ),
        ],
    )


def live() -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name="page_live",
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        attributes=[Attribute(name="pages_now", type="int32", events=[PageView()], aggregation="counter")],
    )


def both() -> Service:
    return Service(name="pages_both", owner=OWNER, attribute_groups=[history(), live()])


def plans() -> ExternalBatchAttributeGroup:
    """The newsroom's CRM table, by the reader's device id here so one service can read all three kinds."""
    return ExternalBatchAttributeGroup(
        name="crm_plans",
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        fields=[Field(name="plan", type="string"), Field(name="seats", type="int32")],
        batch_source=BatchSource(
            name="crm", database="files", schema="crm", table="plans", timestamp_field="updated_at"
        ),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        flush_interval_seconds=0.01,
        signals_api_token=TOKEN,
        batch_dir=tmp_path / "batch",
        sources_dir=tmp_path / "sources",
        batch_interval_seconds=0,
    )


def test_one_service_reads_stream_batch_and_external_attributes(settings: Settings, corpus: Corpus) -> None:
    reader, other = new_domain_userid(), new_domain_userid()
    table = settings.sources_dir / "crm" / "plans.csv"
    table.parent.mkdir(parents=True)
    table.write_text(
        "domain_userid,plan,seats,updated_at\n"
        f"{reader},digital,1,2026-01-01T00:00:00Z\n"
        f"{reader},premium,3,2026-02-01T00:00:00Z\n"  # newer: wins
        f"{other},family,not-a-number,2026-02-01T00:00:00Z\n"  # rejected, naming line and field
    )
    with running(settings, corpus) as (room, url):
        read_pages(tracker_for(url), reader, ["One", "Two"])
        room.log.flush()
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        everything = Service(name="everything", owner=OWNER, attribute_groups=[live(), history(), plans()])
        sandbox.publish([live(), history(), plans(), everything])
        assert sandbox.get_service_attributes("everything", "domain_userid", reader) == {
            "domain_userid": reader,
            "pages_now": 2,
            "pages_ever": 2,
            "titles": ["One", "Two"],
            "plan": "premium",
            "seats": 3,
        }
        assert sandbox.get_service_attributes("everything", "domain_userid", other)["plan"] is None
        assert sandbox.get_attribute_group("crm_plans", 1).batch_source.table == "plans"  # type: ignore[union-attr]
        status = {g["group"]: g for g in httpx.get(f"{url}/api/batch", headers=AUTH).json()["groups"]}
        run = status["crm_plans_v1"]["last_run"]
        assert (run["kind"], run["entities"], run["rows_read"], run["rows_rejected"]) == ("external", 1, 3, 1)
        assert run["rejections"] == [f"{table} line 4, seats: not a int32 value ('not-a-number')"]
        # A table that is not there is refused at publish, saying which.
        missing = plans().model_copy(update={"name": "crm_missing"})
        missing.batch_source = BatchSource(
            name="crm", database="files", schema="crm", table="absent", timestamp_field="updated_at"
        )
        with pytest.raises(SignalsAPIError) as caught:
            sandbox.publish([missing])
        assert caught.value.status_code == 422
        assert "no file crm/absent.parquet or .csv in the sources folder" in str(caught.value)
        # Changing a published group to a table that is not there is refused too, and the group as it was stays.
        moved = plans()
        moved.batch_source = missing.batch_source
        with pytest.raises(SignalsAPIError):
            sandbox.publish([moved])
        assert sandbox.get_service_attributes("everything", "domain_userid", reader)["plan"] == "premium"
        assert sandbox.get_attribute_group("crm_plans", 1).batch_source.table == "plans"  # type: ignore[union-attr]


def test_the_sdk_publishes_a_batch_group_and_reads_it_with_streaming_attributes(
    settings: Settings, corpus: Corpus
) -> None:
    reader, stranger = new_domain_userid(), new_domain_userid()
    with running(settings, corpus) as (room, url):
        tracker = tracker_for(url)
        read_pages(tracker, reader, ["One", "Two"])
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        sandbox.publish([live()])
        room.log.flush()
        before = time.time()
        sandbox.publish([history(), both()])  # the batch group is computed as it is published

        expected = {"domain_userid": reader, "pages_ever": 2, "titles": ["One", "Two"], "pages_now": 2}
        assert sandbox.get_service_attributes("pages_both", "domain_userid", reader) == expected
        assert sandbox.get_service_attributes("pages_both", "domain_userid", stranger) == {
            "domain_userid": stranger,
            "pages_ever": 0,
            "titles": [],
            "pages_now": 0,
        }
        group = sandbox.get_attribute_group("page_history", 1)
        assert (group.offline, group.is_published) == (True, True)

        # New events reach the streaming attribute at once, the batch one at the next run.
        read_pages(tracker, reader, ["Three"])
        eventually(lambda: _pages_now(sandbox, reader, 3))
        assert sandbox.get_service_attributes("pages_both", "domain_userid", reader)["pages_ever"] == 2
        room.log.flush()
        ran = httpx.post(f"{url}/api/batch/run", headers=AUTH, json={"groups": ["page_history_v1"]}, timeout=60)
        assert ran.status_code == 200, ran.text
        (run,) = ran.json()["runs"]
        assert (run["group"], run["kind"], run["entities"]) == ("page_history_v1", "batch", 1)
        assert sandbox.get_service_attributes("pages_both", "domain_userid", reader)["titles"] == [
            "One",
            "Two",
            "Three",
        ]

        # Freshness: each batch group says when it was computed.
        status = httpx.get(f"{url}/api/batch", headers=AUTH).json()
        by_id = {g["group"]: g for g in status["groups"]}
        assert by_id["page_history_v1"]["kind"] == "batch"
        assert by_id["page_history_v1"]["last_run"]["computed_at"] >= before
        assert by_id["reading_history_v1"]["builtin"] is True
        assert httpx.get(f"{url}/api/batch").status_code == 401


def _pages_now(sandbox: SignalsSandbox, reader: str, count: int) -> None:
    assert sandbox.get_service_attributes("pages_both", "domain_userid", reader)["pages_now"] == count


def test_batch_values_survive_a_restart_and_bad_groups_are_refused(settings: Settings, corpus: Corpus) -> None:
    reader = new_domain_userid()
    with running(settings, corpus) as (room, url):
        read_pages(tracker_for(url), reader, ["One"])
        room.log.flush()
        SignalsSandbox(api_url=url, sandbox_token=TOKEN).publish([history()])
    with running(settings, corpus) as (_room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        got = sandbox.get_group_attributes("page_history", 1, ["pages_ever", "titles"], "domain_userid", reader)
        assert got == {"domain_userid": reader, "pages_ever": 1, "titles": ["One"]}
        broken = history().model_copy(update={"name": "broken_history"})
        broken.attributes[1].property = None  # unique_list needs a property
        with pytest.raises(SignalsAPIError) as caught:
            sandbox.publish([broken])
        assert caught.value.status_code == 422
        assert "needs a property" in str(caught.value)
        built_in = httpx.put(
            f"{url}/api/v1/registry/attribute_groups/reading_history/versions/1",
            headers=AUTH,
            json=history().model_copy(update={"name": "reading_history"}).model_dump(mode="json", exclude_none=True),
        )
        assert built_in.status_code == 409
