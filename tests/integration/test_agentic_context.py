"""Event logs through the official SDK over real HTTP: published, read as agentic context, forgotten.

A real `snowplow_tracker` sends page views in two sessions; `SignalsSandbox` publishes an
`EventLog` and reads a session's context as JSON and as narrative text.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from snowplow_signals import (
    AgenticContextResponse,
    EventLog,
    EventLogAtomicProperty,
    EventLogEvent,
    EventSelection,
    SignalsSandbox,
    domain_sessionid,
)
from snowplow_signals.api_client import SignalsAPIError
from snowplow_tracker import Emitter, Subject, Tracker
from snowplow_tracker import PageView as TrackedPageView

from media_demo.articles import Corpus
from media_demo.settings import Settings
from media_demo.tracking import new_domain_userid
from tests.integration.conftest import eventually, running

TOKEN = "test-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SNOWPLOW = "com.snowplowanalytics.snowplow"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        flush_interval_seconds=0.01,
        signals_api_token=TOKEN,
    )


def reading_journey(max_events: int = 3) -> EventLog:
    return EventLog(
        name="reading_journey",
        attribute_key=domain_sessionid,
        owner="tests@dailycurrent.example",
        prompt="You help a reader of The Daily Current.",
        max_events=max_events,
        max_age_seconds=1800,
        events=[
            EventSelection(
                event=EventLogEvent(vendor=SNOWPLOW, name="page_view"),
                properties=[
                    EventLogAtomicProperty(name="page_title"),
                    EventLogAtomicProperty(name="page_urlpath", output_name="path"),
                ],
            )
        ],
    )


def send_views(
    url: str, reader: str, session: str, titles: list[str], *, app_id: str = "agentic-test", ago: float = 0.0
) -> None:
    """Page views of one session, one second apart in order, the last `ago` seconds before now."""
    parts = urlsplit(url)
    emitter = Emitter(parts.hostname or "", protocol="http", port=parts.port, method="post", batch_size=1)
    tracker = Tracker(namespace="agentic-test", emitters=emitter, app_id=app_id)
    start = time.time() - ago - len(titles)
    for i, title in enumerate(titles):
        event = TrackedPageView(
            page_url=f"http://localhost:3000/{title.lower()}", page_title=title, true_timestamp=(start + i) * 1000
        )
        event.event_subject = Subject().set_platform("web").set_domain_user_id(reader).set_domain_session_id(session)
        tracker.track(event)
    tracker.flush()


def titles_of(context: AgenticContextResponse | str) -> list[str]:
    assert isinstance(context, AgenticContextResponse)
    return [e["page_title"] for e in context.events]


def test_publish_read_json_and_narrative_then_forget_the_reader(settings: Settings, corpus: Corpus) -> None:
    reader, other = new_domain_userid(), new_domain_userid()
    mine, theirs, unconsented = (str(uuid.uuid4()) for _ in range(3))
    with running(settings, corpus) as (room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        # Logged before the event log exists: publishing rebuilds its buffers from the log.
        send_views(url, reader, mine, ["Ancient"], ago=7200)  # outside the 30-minute window
        send_views(url, reader, mine, ["Budget", "Cup"], ago=60)
        eventually(lambda: _assert_logged(room, 3))

        with pytest.raises(SignalsAPIError) as unknown:
            sandbox.get_agentic_context("reading_journey", mine)
        assert unknown.value.status_code == 404
        sandbox.registry.create_or_update([reading_journey()])  # stored, not published
        assert sandbox.get_event_log("reading_journey").is_published is False
        with pytest.raises(SignalsAPIError) as unpublished:
            sandbox.get_agentic_context("reading_journey", mine)
        assert unpublished.value.status_code == 409 and "not published" in str(unpublished.value)

        sandbox.publish([reading_journey()])
        stored = sandbox.get_event_log("reading_journey")
        assert (stored.is_published, stored.has_published_version, stored.max_events) == (True, True, 3)
        assert titles_of(sandbox.get_agentic_context("reading_journey", mine)) == ["Budget", "Cup"]

        # Live events: the newest three of this session only.
        send_views(url, reader, mine, ["Derby", "Election"])
        send_views(url, other, theirs, ["Fog", "Gala"])
        # Without behavioural consent the app's own events are anonymised: no session, never buffered.
        send_views(url, new_domain_userid(), unconsented, ["Hidden"], app_id=settings.snowplow_app_id)
        eventually(lambda: _assert_titles(sandbox, mine, ["Cup", "Derby", "Election"]))
        context = sandbox.get_agentic_context("reading_journey", mine)
        assert isinstance(context, AgenticContextResponse)
        assert (context.name, context.identifier, context.attribute_key) == (
            "reading_journey",
            mine,
            "domain_sessionid",
        )
        assert context.prompt == "You help a reader of The Daily Current."
        assert context.summary.startswith("3 events over 1 min") and context.summary.endswith(": 3 page_view.")
        assert [e["path"] for e in context.events] == ["/cup", "/derby", "/election"]
        assert context.started_at_ms == _millis(context.events[0]["tstamp"])
        eventually(lambda: _assert_titles(sandbox, theirs, ["Fog", "Gala"]))
        assert titles_of(sandbox.get_agentic_context("reading_journey", unconsented)) == []

        text = sandbox.get_agentic_context("reading_journey", mine, format="narrative")
        assert isinstance(text, str)
        lines = text.splitlines()
        assert lines[0] == f"Recent activity in session {mine} (event log reading_journey v1)"
        assert lines[1] == "Instructions: You help a reader of The Daily Current."
        assert [line.split(" page_view: ")[1] for line in lines[3:]] == [
            f'page_title="{t}", path="/{t.lower()}"' for t in ("Cup", "Derby", "Election")
        ]
        assert "Fog" not in text and "Budget" not in text

        raw = httpx.get(f"{url}/api/v1/event_log", params={"name": "reading_journey"}, headers=AUTH)
        assert raw.status_code == 400 and "identifier" in raw.json()["error"]
        wrong = httpx.get(
            f"{url}/api/v1/event_log",
            params={"name": "reading_journey", "identifier": mine, "format": "xml"},
            headers=AUTH,
        )
        assert wrong.status_code == 400 and wrong.json()["error"].startswith("format")

        # The reader is deleted: their session's context is empty, the other reader's stays.
        deleted = httpx.delete(f"{url}/api/v1/readers", params={"domain_userid": reader}, headers=AUTH)
        assert deleted.status_code == 200, deleted.text
        assert titles_of(sandbox.get_agentic_context("reading_journey", mine)) == []
        assert titles_of(sandbox.get_agentic_context("reading_journey", theirs)) == ["Fog", "Gala"]

    # After a restart the buffers come back from the log (the deleted reader's events are gone from it).
    with running(settings, corpus) as (room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        assert titles_of(sandbox.get_agentic_context("reading_journey", theirs)) == ["Fog", "Gala"]
        assert titles_of(sandbox.get_agentic_context("reading_journey", mine)) == []

        # Unpublished, it is no longer served; it can be deleted only then.
        with pytest.raises(SignalsAPIError) as refused:
            sandbox.delete([reading_journey()])
        assert refused.value.status_code == 409
        sandbox.unpublish([reading_journey()])
        with pytest.raises(SignalsAPIError) as stopped:
            sandbox.get_agentic_context("reading_journey", theirs)
        assert stopped.value.status_code == 409
        sandbox.delete([reading_journey()])
        with pytest.raises(SignalsAPIError) as gone:
            sandbox.get_event_log("reading_journey")
        assert gone.value.status_code == 404


def test_event_logs_the_engine_cannot_serve_are_refused_naming_the_field(settings: Settings, corpus: Corpus) -> None:
    with running(settings, corpus) as (_room, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        body = reading_journey().model_dump(mode="json", exclude_none=True)
        body.pop("is_published")
        by_reader = {**body, "attribute_key": {"name": "domain_userid"}}
        response = httpx.post(f"{url}/api/v1/registry/event_logs/", json=by_reader, headers=AUTH)
        assert response.status_code == 422
        assert "attribute_key.name" in response.json()["error"] and "domain_sessionid" in response.json()["error"]
        too_many = {**body, "events": body["events"] * 21}
        response = httpx.post(f"{url}/api/v1/registry/event_logs/", json=too_many, headers=AUTH)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["events"]
        with pytest.raises(SignalsAPIError) as caught:  # the SDK: POST 422 is final (no PUT)
            sandbox.publish([reading_journey().model_copy(update={"max_events": 101})])
        assert caught.value.status_code == 422
        refs = {"event_logs": [{"name": "nope"}]}
        assert httpx.post(f"{url}/api/v1/engines/publish", json=refs, headers=AUTH).status_code == 404
        groups = {"attribute_groups": [{"name": "g", "version": 1}]}
        assert httpx.post(f"{url}/api/v1/engines/publish", json=groups, headers=AUTH).status_code == 422


def _assert_logged(room: object, count: int) -> None:
    log = room.log  # type: ignore[attr-defined]
    log.flush()
    assert log.counts()["good"] >= count


def _assert_titles(sandbox: SignalsSandbox, session: str, titles: list[str]) -> None:
    assert titles_of(sandbox.get_agentic_context("reading_journey", session)) == titles


def _millis(iso: str) -> int:
    import datetime as dt

    return round(dt.datetime.fromisoformat(iso).timestamp() * 1000)
