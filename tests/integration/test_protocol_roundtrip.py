"""Structured-event values end to end: real trackers -> HTTP collector -> attributes -> the Signals SDK.

A `se_va` once never reached `se_value`, so every attribute over it stayed
empty. Here the real Python `snowplow-tracker` (POST and GET) and the real
`@snowplow/node-tracker` send structured events with values, and the official
`snowplow-signals` client reads sum, min, max, mean and a `se_value > 2`
counter back from a group it published.

The Node tracker is installed by the test itself, with npm, into the
git-ignored `tests/integration/node/node_modules/` the first time it runs
(`NODE_TRACKER` pins the version); without node/npm or the npm registry the
Node test is skipped, with the reason.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    Criteria,
    Criterion,
    SignalsSandbox,
    StreamAttributeGroup,
    StructuredEvent,
    domain_userid,
)
from snowplow_tracker import Emitter, Subject, Tracker
from snowplow_tracker import StructuredEvent as TrackedStructuredEvent

from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom
from media_demo.settings import Settings
from media_demo.signals.http.collector import TP2_PATH
from media_demo.tracking import new_domain_userid
from tests.integration.conftest import API_TOKEN, AUTH, eventually, running

NODE_TRACKER = "@snowplow/node-tracker@4.8.0"
NODE_DIR = Path(__file__).parent / "node"
NODE_SCRIPT = NODE_DIR / "send_structured_events.cjs"
GROUP = "struct_values"
OWNER = "tests@dailycurrent.example"
pytestmark = pytest.mark.each_database
VALUES = [0.5, 2, 3.25, 10, -1.5]
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"


def struct_values() -> StreamAttributeGroup:
    se_value = AtomicProperty(name="se_value")
    events = [StructuredEvent()]

    def over(aggregation: str) -> Attribute:
        return Attribute(
            name=f"value_{aggregation}", type="double", events=events, aggregation=aggregation, property=se_value
        )

    return StreamAttributeGroup(
        name=GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        attributes=[
            over("sum"),
            over("min"),
            over("max"),
            over("mean"),
            Attribute(
                name="values_over_2",
                type="int32",
                events=events,
                aggregation="counter",
                criteria=Criteria(all=[Criterion(property=se_value, operator=">", value=2)]),
            ),
            Attribute(name="structured_events", type="int32", events=events, aggregation="counter"),
            Attribute(
                name="last_label",
                type="string",
                events=events,
                aggregation="last",
                property=AtomicProperty(name="se_label"),
            ),
        ],
    )


ATTRIBUTES = [a.name for a in struct_values().attributes]


def expected(values: list[float], events: int) -> dict[str, Any]:
    total = math.fsum(values)
    return {
        "value_sum": pytest.approx(total, rel=1e-12),
        "value_min": min(values),
        "value_max": max(values),
        "value_mean": pytest.approx(total / len(values), rel=1e-12),
        "values_over_2": sum(1 for v in values if v > 2),
        "structured_events": events,
        "last_label": "trailer",
    }


@pytest.fixture
def served(settings: Settings, corpus: Corpus) -> Iterator[tuple[Newsroom, str, SignalsSandbox]]:
    """The app over HTTP, with `struct_values` published through the SDK."""
    with running(settings, corpus) as (room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=API_TOKEN)
        sandbox.publish([struct_values()])
        yield room, url, sandbox


def read_back(sandbox: SignalsSandbox, reader: str) -> dict[str, Any]:
    got = sandbox.get_group_attributes(GROUP, 1, ATTRIBUTES, "domain_userid", reader)
    return {k: v for k, v in got.items() if k != "domain_userid"}


@pytest.mark.parametrize("method", ["post", "get"])
def test_python_tracker_values_reach_sum_min_max_mean_and_criteria(
    served: tuple[Newsroom, str, SignalsSandbox], method: str
) -> None:
    room, url, sandbox = served
    parts = urlsplit(url)
    emitter = Emitter(parts.hostname or "", protocol="http", port=parts.port, method=method, batch_size=1)
    tracker = Tracker(namespace="py-roundtrip", emitters=emitter, app_id="py-roundtrip")
    reader = new_domain_userid()
    subject = Subject().set_platform("web").set_domain_user_id(reader)
    for value in VALUES:
        tracker.track(TrackedStructuredEvent(category="video", action="play", value=value, event_subject=subject))
    # No value: counted as an event, never in the numbers or the `> 2` criterion.
    tracker.track(TrackedStructuredEvent(category="video", action="stop", label="trailer", event_subject=subject))
    tracker.flush()

    def attributes_are_in() -> None:
        assert read_back(sandbox, reader) == expected(VALUES, len(VALUES) + 1)

    eventually(attributes_are_in)
    values = sorted(e.atomic["se_value"] for e in room.log.reader_events(reader) if "se_value" in e.atomic)
    assert values == sorted(VALUES)
    assert all(type(v) is float for v in values)
    assert room.log.counts()["bad"] == 0


def test_a_value_that_is_not_a_number_is_a_bad_event_with_its_reason(
    served: tuple[Newsroom, str, SignalsSandbox],
) -> None:
    room, url, sandbox = served
    reader = new_domain_userid()
    good = {"e": "se", "eid": "5e0c6a4c-3c1a-4b7e-9d2e-1f0a9b8c7d6e", "duid": reader, "se_ca": "c", "se_ac": "a"}
    batch = [{**good, "se_va": "4"}, {**good, "eid": "6e0c6a4c-3c1a-4b7e-9d2e-1f0a9b8c7d6e", "se_va": "four"}]
    response = httpx.post(url + TP2_PATH, content=orjson.dumps({"schema": PAYLOAD_DATA, "data": batch}))
    assert response.status_code == 200  # a well-formed batch is accepted whole; its bad payloads are kept
    pixel = httpx.get(url + "/i", params={**good, "eid": "7e0c6a4c-3c1a-4b7e-9d2e-1f0a9b8c7d6e", "res": "wide"})
    assert pixel.status_code == 200
    bad = httpx.get(url + "/micro/bad", headers=AUTH).json()
    assert sorted(b["reason"] for b in bad) == [
        "field 'res' (dvce_screenwidth, dvce_screenheight) must be WIDTHxHEIGHT in whole pixels, got 'wide'",
        "field 'se_va' (se_value) must be a decimal number, got 'four'",
    ]
    assert read_back(sandbox, reader)["value_sum"] == 4.0
    assert room.log.counts() == {"good": 1, "bad": 2}


# ------------------------------------------------------------------ Node tracker


@pytest.fixture(scope="session")
def node_script() -> Path:
    """The Node sender, its tracker installed with npm on first use (skipped without node, npm or the registry)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH")
    installed = NODE_DIR / "node_modules" / "@snowplow" / "node-tracker" / "package.json"
    if not installed.exists():
        command = [npm, "install", "--prefix", str(NODE_DIR), "--no-save", "--no-package-lock", "--no-audit"]
        result = subprocess.run(
            [*command, "--no-fund", "--loglevel=error", NODE_TRACKER],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0 or not installed.exists():
            pytest.skip(f"could not install {NODE_TRACKER} with npm: {result.stderr.strip()[-500:]}")
    return NODE_SCRIPT


def test_node_tracker_values_reach_sum_min_max_mean_and_criteria(
    served: tuple[Newsroom, str, SignalsSandbox], node_script: Path
) -> None:
    room, url, sandbox = served
    reader = new_domain_userid()
    values = [*VALUES, 1e-7]  # JavaScript writes it "1e-7"
    sent = subprocess.run(
        [shutil.which("node") or "node", str(node_script), url, reader, orjson.dumps(values).decode()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr

    def attributes_are_in() -> None:
        assert read_back(sandbox, reader) == expected(values, len(values))

    eventually(attributes_are_in)
    events = room.log.reader_events(reader)
    assert sorted(e.atomic["se_value"] for e in events) == sorted(values)
    assert {(e.atomic["platform"], e.atomic["v_tracker"].split("-")[0]) for e in events} == {("srv", "node")}
    assert room.log.counts()["bad"] == 0
