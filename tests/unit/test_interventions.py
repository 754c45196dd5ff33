"""Rule interventions: once per target on a transition, `changed` on every change, suppression."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from snowplow_signals import (
    Attribute,
    InterventionCriteriaAll,
    InterventionCriteriaAny,
    InterventionCriteriaNone,
    InterventionCriterion,
    LinkAttributeKey,
    PageView,
    RuleIntervention,
    StreamAttributeGroup,
    domain_sessionid,
    domain_userid,
)

from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.interventions import FiredIntervention, InterventionBus, InterventionEngine
from tests.factories import page_view

VIEWS = Attribute(name="views", type="int32", events=[PageView()], aggregation="counter")


def groups() -> list[StreamAttributeGroup]:
    return [
        StreamAttributeGroup(name="user", version=1, attribute_key=domain_userid, owner="t@e.com", attributes=[VIEWS]),
        StreamAttributeGroup(
            name="visit", version=1, attribute_key=domain_sessionid, owner="t@e.com", attributes=[VIEWS]
        ),
    ]


def rule(name: str, criteria, targets: tuple[str, ...] = ("domain_userid",)) -> RuleIntervention:
    return RuleIntervention(
        name=name,
        owner="t@e.com",
        criteria=criteria,
        target_attribute_keys=[LinkAttributeKey(name=t) for t in targets],
    )


def run(interventions: InterventionEngine, engine: AttributeEngine, *events) -> list[FiredIntervention]:
    fired = []
    for event in events:
        fired += interventions.evaluate(event, engine.ingest(event))
    return fired


def view(user: str = "u1", session: str = "s1"):
    return page_view(user, domain_sessionid=session)


def test_fires_once_when_the_criteria_start_to_match() -> None:
    engine = AttributeEngine(groups())
    interventions = InterventionEngine(engine)
    interventions.publish(rule("third_view", InterventionCriterion(attribute="user:views", operator=">=", value=3)))
    fired = run(interventions, engine, *[view() for _ in range(6)])
    assert [f.name for f in fired] == ["third_view"]
    assert fired[0].as_json()["target_attribute_key"] == {"name": "domain_userid", "id": "u1"}
    assert fired[0].attributes == {"views": "3"}
    assert run(interventions, engine, view("u2"), view("u2"), view("u2"))[0].target_id == "u2"  # per target


def test_fires_again_after_the_criteria_stop_and_start_matching() -> None:
    engine = AttributeEngine(groups())
    interventions = InterventionEngine(engine)
    # Two views in a session: matches in each new session, once.
    interventions.publish(rule("second_view", InterventionCriterion(attribute="visit:views", operator="=", value=2)))
    fired = run(interventions, engine, view(session="a"), view(session="a"), view(session="a"))
    assert len(fired) == 1
    fired = run(interventions, engine, view(session="b"), view(session="b"))
    assert len(fired) == 1


def test_changed_fires_on_every_change() -> None:
    engine = AttributeEngine(groups())
    interventions = InterventionEngine(engine)
    interventions.publish(rule("any_view", InterventionCriterion(attribute="user:views", operator="changed")))
    assert len(run(interventions, engine, view(), view(), view())) == 2  # the first sighting sets the baseline


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (InterventionCriteriaAll(all=[InterventionCriterion(attribute="user:views", operator=">", value=1)]), 1),
        (
            InterventionCriteriaAny(
                any=[
                    InterventionCriterion(attribute="user:views", operator="=", value=99),
                    InterventionCriterion(attribute="user:views", operator="in", value=[2, 5]),
                ]
            ),
            2,
        ),
        (InterventionCriteriaNone(none=[InterventionCriterion(attribute="user:views", operator="<", value=3)]), 1),
        (InterventionCriterion(attribute="user:views", operator="like", value="1%"), 1),
        (InterventionCriterion(attribute="user:views", operator="is not null"), 1),
    ],
)
def test_criteria_trees(criteria, expected: int) -> None:
    engine = AttributeEngine(groups())
    interventions = InterventionEngine(engine)
    interventions.publish(rule("r", criteria))
    assert len(run(interventions, engine, *[view() for _ in range(6)])) == expected


def test_suppressed_targets_are_skipped_but_their_state_moves_on() -> None:
    engine = AttributeEngine(groups())
    interventions = InterventionEngine(engine, suppress=lambda name, key, target: target == "u1")
    interventions.publish(rule("r", InterventionCriterion(attribute="user:views", operator=">=", value=1)))
    fired = run(interventions, engine, view("u1"), view("u2"), view("u1"))
    assert [f.target_id for f in fired] == ["u2"]


def test_unknown_groups_are_rejected() -> None:
    interventions = InterventionEngine(AttributeEngine(groups()))
    with pytest.raises(ValueError, match="unknown attribute group"):
        interventions.publish(rule("r", InterventionCriterion(attribute="nope:views", operator=">", value=1)))


def test_state_survives_dump_and_load() -> None:
    engine = AttributeEngine(groups())
    first = InterventionEngine(engine)
    first.publish(rule("r", InterventionCriterion(attribute="user:views", operator=">=", value=2)))
    assert len(run(first, engine, view(), view())) == 1
    second = InterventionEngine(engine)
    second.publish(rule("r", InterventionCriterion(attribute="user:views", operator=">=", value=2)))
    second.load(first.dump())
    assert run(second, engine, view()) == []  # it already fired for u1


def test_bus_delivers_to_matching_subscribers_only() -> None:
    async def scenario() -> tuple[list[str], int]:
        bus = InterventionBus()
        mine = bus.subscribe({"domain_userid": {"u1"}})
        bus.subscribe({"domain_userid": {"u2"}})
        fired = FiredIntervention("id-1", "r", 1, {}, "domain_userid", "u1", 0.0)
        delivered = bus.publish([fired])
        got = await asyncio.wait_for(mine.get(), 1)
        return [got.intervention_id], delivered

    # In a thread of its own: the browser tests' session keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        ids, delivered = pool.submit(asyncio.run, scenario()).result()
    assert ids == ["id-1"] and delivered == 1
