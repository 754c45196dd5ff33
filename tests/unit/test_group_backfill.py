"""GroupBackfill: a group's state from (seq, event) entries, with forgets placed by seq."""

from __future__ import annotations

import pytest
from snowplow_signals import Attribute, PageView, StreamAttributeGroup, domain_userid

from media_demo.services.backfill import GroupBackfill
from media_demo.signals.engine.attribute_engine import AttributeEngine
from tests.factories import page_view

GROUP = StreamAttributeGroup(
    name="views",
    version=1,
    attribute_key=domain_userid,
    owner="t@e.com",
    attributes=[Attribute(name="views", type="int32", events=[PageView()], aggregation="counter")],
)


def entries(users: str, first_seq: int = 1) -> list:
    return [(first_seq + i, page_view(user, float(first_seq + i))) for i, user in enumerate(users)]


def views(job: GroupBackfill, user: str) -> int:
    return job.engine.get_attributes("views", user, 1)["views"]


def test_events_are_applied_once_in_passes_and_the_position_follows() -> None:
    job = GroupBackfill(GROUP)
    assert job.catch_up(entries("aab")) == 3
    assert job.position == 3
    assert job.catch_up(entries("ba", first_seq=4)) == 2
    assert (views(job, "a"), views(job, "b"), job.position, job.replayed) == (3, 2, 5, 5)


def test_a_forget_erases_what_the_events_up_to_its_seq_built_and_nothing_after() -> None:
    job = GroupBackfill(GROUP)
    job.catch_up(entries("aa"))  # seqs 1, 2
    job.forget({"a"}, through_seq=3)  # forgotten when seq 3 was the last handed out, not yet read here
    job.catch_up(entries("aa", first_seq=3))  # 3 is before the forget, 4 after
    job.finish()
    assert views(job, "a") == 1


def test_forgets_pending_at_the_end_are_applied_by_finish() -> None:
    job = GroupBackfill(GROUP)
    job.catch_up(entries("ab"))
    job.forget({"b"}, through_seq=9)
    assert views(job, "b") == 1
    job.finish()
    assert (views(job, "a"), views(job, "b")) == (1, 0)


def test_a_cancelled_backfill_stops_reading() -> None:
    job = GroupBackfill(GROUP)
    job.cancel()
    assert job.catch_up(entries("aaa")) == 0


def test_its_states_are_adopted_by_an_engine_with_the_same_definition_only() -> None:
    job = GroupBackfill(GROUP)
    job.catch_up(entries("aba"))
    engine = AttributeEngine([GROUP])
    engine.ingest(page_view("c", 0.0))  # live state, replaced by what the backfill built
    assert sorted(engine.adopt_states("views_v1", job.engine)) == ["a", "b"]
    assert engine.get_attributes("views", "a")["views"] == 2
    assert engine.get_attributes("views", "c")["views"] == 0
    other = StreamAttributeGroup(**{**GROUP.model_dump(), "owner": "other@e.com"})
    with pytest.raises(ValueError, match="another definition"):
        AttributeEngine([other]).adopt_states("views_v1", GroupBackfill(GROUP).engine)
