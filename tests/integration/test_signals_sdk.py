"""The official `snowplow-signals` SDK against our backend, over real HTTP.

`SignalsSandbox` publishes a new attribute group and a service, a real
`snowplow_tracker.Tracker` sends page views, and the SDK reads the attributes
back: the same notebook code would run against a Snowplow Signals sandbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from snowplow_signals import (
    AtomicProperty,
    Attribute,
    InterventionCriterion,
    LinkAttributeKey,
    PageView,
    RuleIntervention,
    Service,
    SignalsSandbox,
    StreamAttributeGroup,
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
OWNER = "tests@dailycurrent.example"
pytestmark = pytest.mark.each_database
COLLECTOR_PATH = "/com.snowplowanalytics.snowplow/tp2"
TITLES = ["Budget day", "Cup final", "Chip shortage"]


def reading_habits() -> StreamAttributeGroup:
    return StreamAttributeGroup(
        name="reading_habits",
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        attributes=[
            Attribute(name="page_views", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(
                name="last_page_title",
                type="string",
                events=[PageView()],
                aggregation="last",
                property=AtomicProperty(name="page_title"),
            ),
        ],
    )


def reader_service() -> Service:
    return Service(name="reader_service", owner=OWNER, attribute_groups=[reading_habits()])


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        database_url=database_url,
        flush_interval_seconds=0.01,
        signals_api_token=TOKEN,
    )


def tracker_for(url: str) -> Tracker:
    """A real tracker sending over HTTP to the collector endpoint of the server at `url`."""
    parts = urlsplit(url)
    emitter = Emitter(parts.hostname or "", protocol="http", port=parts.port, method="post", batch_size=1)
    return Tracker(namespace="signals-sdk-test", emitters=emitter, app_id="signals-sdk-test")


def read_pages(tracker: Tracker, reader: str, titles: list[str]) -> None:
    for title in titles:
        event = TrackedPageView(page_url=f"http://localhost:3000/{title.lower().replace(' ', '-')}", page_title=title)
        event.event_subject = Subject().set_platform("web").set_domain_user_id(reader)
        tracker.track(event)
    tracker.flush()


def test_sdk_publishes_a_group_and_a_service_then_reads_attributes(settings: Settings, corpus: Corpus) -> None:
    with running(settings, corpus) as (_room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        published = sandbox.publish([reading_habits(), reader_service()])
        assert [o.name for o in published] == ["reading_habits", "reader_service"]

        reader, stranger = new_domain_userid(), new_domain_userid()
        read_pages(tracker_for(url), reader, TITLES)

        expected = {"domain_userid": reader, "page_views": 3, "last_page_title": "Chip shortage"}

        def service_attributes() -> None:
            assert sandbox.get_service_attributes("reader_service", "domain_userid", reader) == expected

        eventually(service_attributes)
        assert sandbox.get_group_attributes(
            "reading_habits", 1, ["page_views"], attribute_key="domain_userid", identifier=reader
        ) == {"domain_userid": reader, "page_views": 3}
        assert sandbox.get_service_attributes(
            name="reader_service", attribute_key="domain_userid", identifier=stranger
        ) == {"domain_userid": stranger, "page_views": 0, "last_page_title": None}

        # Publishing the same definitions again (POST 400 -> PUT) keeps what was computed.
        sandbox.publish([reading_habits(), reader_service()])
        assert sandbox.get_service_attributes("reader_service", "domain_userid", reader) == expected

        group = sandbox.get_attribute_group("reading_habits")
        assert (group.version, group.is_published, group.full_name) == (1, True, "reading_habits_v1")
        assert [a.name for a in group.attributes or []] == ["page_views", "last_page_title"]
        assert sandbox.registry.get_service("reader_service").attribute_groups[0].name == "reading_habits"

        # The app's own group is readable too, and a full-name request answers qualified columns.
        profile = sandbox.get_group_attributes("reader_profile", 1, "page_view_count", "domain_userid", reader)
        assert profile == {"domain_userid": reader, "page_view_count": 3}
        raw = httpx.post(
            f"{url}/api/v1/get-online-attributes",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "attributes": ["reading_habits_v1:page_views"],
                "attribute_keys": {"domain_userid": [reader, stranger]},
                "full_attribute_names": True,
            },
        )
        assert raw.json() == {"domain_userid": [reader, stranger], "reading_habits_v1:page_views": [3, 0]}


def test_a_group_published_after_events_sees_them_after_a_restart(settings: Settings, corpus: Corpus) -> None:
    """Definitions are durable and installed before the log replay: the restarted engine evaluates them."""
    reader = new_domain_userid()
    with running(settings, corpus) as (room, url):
        SignalsSandbox(api_url=url, sandbox_token=TOKEN).publish([reading_habits(), reader_service()])
        read_pages(tracker_for(url), reader, TITLES[:2])
        room.log.flush()

    with running(settings, corpus) as (room, url):
        assert room.replayed == 0  # the checkpoint written at close covers the published group too
        assert room.signals_registry.get("service", "reader_service") is not None
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        assert sandbox.get_attribute_group("reading_habits", 1).is_published
        got = sandbox.get_service_attributes("reader_service", "domain_userid", reader)
        assert got == {"domain_userid": reader, "page_views": 2, "last_page_title": "Cup final"}
        read_pages(tracker_for(url), reader, TITLES[2:])
        eventually(lambda: _assert_page_views(sandbox, reader, 3))


def _assert_page_views(sandbox: SignalsSandbox, reader: str, count: int) -> None:
    assert sandbox.get_group_attributes("reading_habits", 1, ["page_views"], "domain_userid", reader)["page_views"] == (
        count
    )


def test_interventions_and_attribute_keys_are_stored(settings: Settings, corpus: Corpus) -> None:
    intervention = RuleIntervention(
        name="heavy_reader",
        owner=OWNER,
        criteria=InterventionCriterion(attribute="reading_habits_v1:page_views", operator=">=", value=10),
        target_attribute_keys=[LinkAttributeKey(name="domain_userid")],
    )
    with running(settings, corpus) as (_room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        sandbox.publish([reading_habits(), intervention])
        sandbox.publish([intervention])  # again: POST 400 -> PUT
        (stored,) = sandbox.interventions.list()
        assert (stored.name, stored.version, stored.is_published) == ("heavy_reader", 1, True)
        assert sandbox.interventions.get("heavy_reader").name == "heavy_reader"


def test_the_token_is_required(settings: Settings, corpus: Corpus) -> None:
    with running(settings, corpus) as (_room, url):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = httpx.get(f"{url}/api/v1/registry/attribute_groups/", headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == "missing or wrong bearer token"
        # Non-ASCII in the header must not crash the constant-time comparison.
        odd = httpx.get(
            f"{url}/api/v1/registry/services/", headers={"Authorization": "Bearer caf\xe9".encode("latin-1")}
        )
        assert odd.status_code == 401
        # Unknown /api/v1/ routes are behind the token as well.
        assert httpx.get(f"{url}/api/v1/registry/event_logs/x").status_code == 401
        with pytest.raises(SignalsAPIError) as caught:
            SignalsSandbox(api_url=url, sandbox_token="wrong").publish([reading_habits()])
        assert caught.value.status_code == 401


def test_unknown_groups_services_and_attributes_are_404(settings: Settings, corpus: Corpus) -> None:
    with running(settings, corpus) as (_room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        sandbox.publish([reading_habits()])
        reader = new_domain_userid()
        calls = [
            lambda: sandbox.get_attribute_group("nope"),
            lambda: sandbox.get_attribute_group("reading_habits", 2),
            lambda: sandbox.registry.get_service("nope"),
            lambda: sandbox.get_service_attributes("nope", "domain_userid", reader),
            lambda: sandbox.get_group_attributes("nope", 1, ["x"], "domain_userid", reader),
            lambda: sandbox.get_group_attributes("reading_habits", 1, ["nope"], "domain_userid", reader),
            lambda: sandbox.get_event_log("nope"),
        ]
        for call in calls:
            with pytest.raises(SignalsAPIError) as caught:
                call()
            assert caught.value.status_code == 404, caught.value


def test_malformed_requests_are_422_with_the_pydantic_messages(settings: Settings, corpus: Corpus) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with running(settings, corpus) as (room, url):
        missing_owner = reading_habits().model_dump(mode="json", exclude_none=True)
        del missing_owner["owner"]
        response = httpx.post(f"{url}/api/v1/registry/attribute_groups/", headers=auth, json=missing_owner)
        assert response.status_code == 422
        assert any(e["loc"] == ["owner"] and e["msg"] == "Field required" for e in response.json()["detail"])

        bad_requests = [
            ("registry/attribute_groups/", b"{not json"),
            ("registry/services/", b"[1, 2]"),
            ("registry/services/", b'{"name": NaN}'),
            ("get-online-attributes", b'{"service": "reader_service"}'),
            ("get-online-attributes", b'{"attributes": ["no qualifier"], "attribute_keys": {"domain_userid": ["a"]}}'),
        ]
        for path, body in bad_requests:
            response = httpx.post(f"{url}/api/v1/{path}", headers=auth, content=body)
            assert response.status_code == 422, (path, response.text)
            assert response.json()["status"] == 422

        windowed = reading_habits().model_copy(update={"name": "weekly_habits"})
        windowed.attributes[0].period = dt.timedelta(days=7)
        response = httpx.post(
            f"{url}/api/v1/registry/attribute_groups/", headers=auth, json=windowed.model_dump(mode="json")
        )
        assert response.status_code == 201, response.text  # windows are evaluated (bucketed)

        # The app's own group cannot be replaced through the API.
        builtin = reading_habits().model_copy(update={"name": "reader_profile"})
        response = httpx.post(
            f"{url}/api/v1/registry/attribute_groups/", headers=auth, json=builtin.model_dump(mode="json")
        )
        assert response.status_code == 409
        assert [g.name for g in room.signals_registry.groups()] == ["weekly_habits"]
