"""The Snowplow-compatible collector over real HTTP, fed by the real snowplow-tracker and by hand.

A uvicorn server runs `build_api` on a temp SQLite newsroom; the trackers use
their standard HTTP emitters (POST batches and GET pixels), exactly as they
would against a Snowplow collector or Snowplow Micro.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from snowplow_tracker import Emitter, PageView, SelfDescribing, SelfDescribingJson, Subject, Tracker
from snowplow_tracker.events import Event

from media_demo.api import build_api
from media_demo.articles import Article
from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.newsroom import Newsroom
from media_demo.settings import Settings
from media_demo.signals.http.collector import BAD_COPY_CHARS, MAX_BODY_BYTES, PIXEL, TP2_PATH
from media_demo.tracking import InProcessEmitter, new_domain_userid
from tests.integration.conftest import AUTH, serve

PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
SESSION_ID = "0b9e1f7a-3c2d-4e5f-8a9b-7c6d5e4f3a21"
# What differs by route, not by event: ids, clocks, and what only a collector knows (the sender's IP).
ROUTE_FIELDS = {"event_id", "user_ipaddress"}


@pytest.fixture
def collector_url(newsroom: Newsroom) -> Iterator[str]:
    with serve(build_api(lambda: newsroom)) as url:
        yield url


def subject(domain_userid: str) -> Subject:
    return (
        Subject()
        .set_platform("web")
        .set_domain_user_id(domain_userid)
        .set_domain_session_id(SESSION_ID)
        .set_domain_session_index(2)
        .set_useragent(USER_AGENT)
    )


def page_view(domain_userid: str, article: Article) -> PageView:
    return PageView(
        page_url=f"https://dailycurrent.example/article/{article.slug}?utm_source=newsletter&utm_medium=email",
        page_title=article.title,
        referrer="https://www.google.com/search?q=daily+current",
        event_subject=subject(domain_userid),
    )


def article_detail(domain_userid: str, article: Article) -> SelfDescribing:
    data = {"slug": article.slug, "title": article.title, "category": article.category}
    event = SelfDescribing(SelfDescribingJson(ARTICLE_SCHEMA, data), event_subject=subject(domain_userid))
    event.payload.add("url", f"https://dailycurrent.example/article/{article.slug}")
    return event


def http_tracker(url: str, method: str, failures: list[Any], on_success: Any = None, batch_size: int = 50) -> Tracker:
    """A tracker with the standard synchronous HTTP emitter: POST batches or one GET per event."""
    emitter = Emitter(url, method=method, batch_size=batch_size, on_failure=lambda *args: failures.append(args))
    emitter.on_success = on_success
    return Tracker(namespace="dc-test", emitters=emitter, app_id="collector-test")


def payloads(*events: Event) -> list[dict[str, str]]:
    """Tracker-protocol payloads as the real tracker builds them, for requests sent by hand."""
    sink: list[dict[str, str]] = []
    tracker = Tracker(namespace="dc-test", emitters=InProcessEmitter(sink.append), app_id="collector-test")
    for event in events:
        tracker.track(event)
    return sink


def batch(items: list[Any], schema: str = PAYLOAD_DATA) -> bytes:
    return orjson.dumps({"schema": schema, "data": items})


def micro(url: str, what: str, **params: Any) -> Any:
    response = httpx.get(f"{url}/micro/{what}", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def committed(settings: Settings, event_ids: list[str]) -> int:
    """How many of these events a separate SQLite connection sees: what is durable, not what is in memory."""
    with sqlite3.connect(settings.media_demo_db) as connection:
        marks = ",".join("?" * len(event_ids))
        return connection.execute(f"SELECT count(*) FROM events WHERE event_id IN ({marks})", event_ids).fetchone()[0]


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    """A canonical event without what depends on the route it came by."""
    atomic = {k: v for k, v in event["atomic"].items() if k not in ROUTE_FIELDS and not k.endswith("_tstamp")}
    return {**event, "atomic": atomic, "timestamp": None}


# --------------------------------------------------------------- real trackers


@pytest.mark.parametrize("method", ["post", "get"])
def test_real_tracker_events_reach_the_log_and_the_engine(newsroom: Newsroom, collector_url: str, method: str) -> None:
    reader = new_domain_userid()
    first, second = newsroom.corpus.articles[:2]
    failures: list[Any] = []
    tracker = http_tracker(collector_url, method, failures)
    event_ids = [
        tracker.track(page_view(reader, first)),
        tracker.track(article_detail(reader, first)),
        tracker.track(page_view(reader, second)),
        tracker.track(article_detail(reader, second)),
    ]
    tracker.flush()
    assert failures == []

    assert micro(collector_url, "all") == {"total": 4, "good": 4, "bad": 0}
    good = micro(collector_url, "good")
    assert [e["atomic"]["event_id"] for e in good] == event_ids[::-1]  # newest first
    assert [e["atomic"]["event_name"] for e in good] == ["article_detail", "page_view"] * 2
    assert good[0]["event_schema"] == ARTICLE_SCHEMA
    assert good[0]["event_data"] == {"slug": second.slug, "title": second.title, "category": second.category}
    assert good[1]["atomic"]["refr_medium"] == "search" and good[1]["atomic"]["mkt_source"] == "newsletter"
    attributes = newsroom.views.attributes(reader)
    assert attributes["page_view_count"] == 2
    assert attributes["article_read_count"] == 2
    assert set(attributes["articles_read"]) == {first.slug, second.slug}
    assert attributes["article_last_read"] == second.slug


@pytest.mark.parametrize("method", ["post", "get"])
def test_http_and_in_process_routes_give_the_same_canonical_events(
    newsroom: Newsroom, collector_url: str, method: str
) -> None:
    reader = new_domain_userid()
    article = newsroom.corpus.articles[0]
    local = Tracker(namespace="dc-test", emitters=InProcessEmitter(newsroom.collect), app_id="collector-test")
    failures: list[Any] = []
    remote = http_tracker(collector_url, method, failures)
    pairs = []
    for build in (page_view, article_detail):
        pairs.append((local.track(build(reader, article)), remote.track(build(reader, article))))
    remote.flush()
    assert failures == []

    events = {e["atomic"]["event_id"]: e for e in micro(collector_url, "good")}
    assert len(events) == 4
    for in_process_id, http_id in pairs:
        in_process, over_http = events[in_process_id], events[http_id]
        assert comparable(in_process) == comparable(over_http)
        # What only the HTTP route has: the collector's view of the sender and the tracker's sent time.
        assert "user_ipaddress" not in in_process["atomic"]
        assert over_http["atomic"]["user_ipaddress"] == "127.0.0.1"
        assert "dvce_sent_tstamp" in over_http["atomic"]
    assert newsroom.views.attributes(reader)["page_view_count"] == 2


def test_an_acknowledged_event_is_already_in_sqlite(
    newsroom: Newsroom, settings: Settings, collector_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make every group commit slow: an answer sent before the commit would find nothing in SQLite.
    commit = newsroom.log._commit

    def slow_commit(batch: list[Any]) -> None:
        time.sleep(0.3)
        commit(batch)

    monkeypatch.setattr(newsroom.log, "_commit", slow_commit)
    reader = new_domain_userid()
    article = newsroom.corpus.articles[0]
    seen_at_ack: list[int] = []
    tracked: list[str] = []

    def on_success(sent: list[dict[str, Any]]) -> None:  # runs as soon as the tracker has the 200
        seen_at_ack.append(committed(settings, [e["eid"] for e in sent]))

    failures: list[Any] = []
    for method, batch_size in (("post", 2), ("get", 1)):  # sent as soon as the batch is full
        tracker = http_tracker(collector_url, method, failures, on_success, batch_size)
        tracked += [tracker.track(page_view(reader, article)), tracker.track(article_detail(reader, article))]
        tracker.flush()
    assert failures == []
    assert seen_at_ack == [2, 1, 1]  # one POST of two events, then one GET per event

    [raw] = payloads(page_view(reader, article))
    response = httpx.post(f"{collector_url}{TP2_PATH}", content=batch([raw]), headers=JSON_UTF8)
    assert response.status_code == 200
    assert committed(settings, [raw["eid"]]) == 1
    assert committed(settings, tracked) == 4


# ------------------------------------------------------- invalid input: bad events


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "collector_payload_format_violation: the body is not valid JSON"),
        (b"", "collector_payload_format_violation: the body is empty"),
        (b"\xff\xfe not utf-8", "collector_payload_format_violation: the body is not valid JSON"),
        (b"[1, 2]", "collector_payload_format_violation: body must be a self-describing JSON object"),
        (b'{"data": []}', "collector_payload_format_violation: body must be a self-describing JSON object"),
        (
            batch([{"e": "pv"}], schema="iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/2-0-0"),
            "collector_payload_format_violation: unsupported schema",
        ),
        (batch([{"e": "pv"}], schema="iglu:com.acme/batch/jsonschema/1-0-4"), "collector_payload_format_violation"),
        (
            orjson.dumps({"schema": PAYLOAD_DATA, "data": {"e": "pv"}}),
            "collector_payload_format_violation: 'data' must be a list of tracker payloads, got dict",
        ),
        (batch([]), "collector_payload_format_violation: 'data' is an empty list"),
    ],
)
def test_an_unusable_body_is_a_bad_event_and_a_400(
    newsroom: Newsroom, collector_url: str, body: bytes, reason: str
) -> None:
    response = httpx.post(f"{collector_url}{TP2_PATH}", content=body, headers=JSON_UTF8)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == 400
    assert response.json()["error"].startswith(reason)
    # Stored before the answer, with the reason and the body as received.
    assert newsroom.log.counts() == {"good": 0, "bad": 1}
    [bad] = micro(collector_url, "bad")
    assert bad["reason"] == response.json()["error"]
    assert bad["payload"] == body.decode("utf-8", errors="replace")
    assert bad["received_at"].endswith("Z")


def test_an_oversized_body_is_a_413_and_a_truncated_bad_event(newsroom: Newsroom, collector_url: str) -> None:
    [raw] = payloads(PageView(page_url="https://dailycurrent.example/", event_subject=subject(new_domain_userid())))
    body = batch([raw] * (MAX_BODY_BYTES // len(orjson.dumps(raw)) + 10))
    assert len(body) > MAX_BODY_BYTES
    response = httpx.post(f"{collector_url}{TP2_PATH}", content=body, headers=JSON_UTF8)
    assert response.status_code == 413
    assert response.json()["error"].startswith("size_violation: body is over the 1048576-byte limit")
    assert newsroom.log.counts() == {"good": 0, "bad": 1}
    [bad] = micro(collector_url, "bad")
    assert bad["reason"] == response.json()["error"]
    assert bad["payload"] == body[:BAD_COPY_CHARS].decode()


def test_a_batch_with_some_bad_payloads_is_accepted_and_the_bad_ones_kept(
    newsroom: Newsroom, collector_url: str
) -> None:
    reader = new_domain_userid()
    article = newsroom.corpus.articles[0]
    good = payloads(page_view(reader, article), article_detail(reader, article))
    invalid = SelfDescribingJson(ARTICLE_SCHEMA, {"slug": "No Spaces!"})
    wrong_schema = payloads(SelfDescribing(invalid, event_subject=subject(reader)))
    items = [good[0], 42, "text", {"e": "pv", "duid": reader}, wrong_schema[0], ["pv"], good[1]]
    response = httpx.post(f"{collector_url}{TP2_PATH}", content=batch(items), headers=JSON_UTF8)
    assert response.status_code == 200
    assert response.text == "ok"

    assert micro(collector_url, "all") == {"total": 7, "good": 2, "bad": 5}
    reasons = sorted(b["reason"] for b in micro(collector_url, "bad"))
    assert reasons[0].startswith("collector_payload_format_violation: payload 1 of the batch is a int")
    assert reasons[1].startswith("collector_payload_format_violation: payload 2 of the batch is a str")
    assert reasons[2].startswith("collector_payload_format_violation: payload 5 of the batch is a list")
    assert reasons[3] == "field 'eid' (event_id) is missing: every event needs a UUID"
    assert reasons[4].startswith(f"{ARTICLE_SCHEMA}: ")
    assert newsroom.views.attributes(reader)["article_read_count"] == 1


def test_a_bad_pixel_request_is_a_bad_event_and_still_the_pixel(newsroom: Newsroom, collector_url: str) -> None:
    response = httpx.get(f"{collector_url}/i", params={"e": "pv", "eid": "not-a-uuid", "duid": new_domain_userid()})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL
    assert PIXEL.startswith(b"GIF89a\x01\x00\x01\x00")  # 1x1
    [bad] = micro(collector_url, "bad")
    assert bad["reason"] == "field 'eid' (event_id) must be a UUID, got 'not-a-uuid'"
    assert orjson.loads(bad["payload"])["eid"] == "not-a-uuid"


def test_no_request_becomes_a_500(newsroom: Newsroom, collector_url: str) -> None:
    assert httpx.get(f"{collector_url}{TP2_PATH}").status_code == 405
    assert httpx.put(f"{collector_url}{TP2_PATH}", content=b"{}").status_code == 405
    response = httpx.get(f"{collector_url}/micro/good", params={"limit": "lots"}, headers=AUTH)
    assert response.status_code == 400
    assert "limit" in response.json()["error"]
    # The log refuses writes (as while shutting down): 503, which trackers retry, not 500.
    newsroom.log.close()
    [raw] = payloads(PageView(page_url="https://dailycurrent.example/", event_subject=subject(new_domain_userid())))
    response = httpx.post(f"{collector_url}{TP2_PATH}", content=batch([raw]), headers=JSON_UTF8)
    assert response.status_code == 503
    assert response.json()["status"] == 503


# --------------------------------------------------------- what a collector adds


def test_cors_preflight_and_the_js_trackers_post(newsroom: Newsroom, collector_url: str) -> None:
    origin = "https://dailycurrent.example"
    preflight = httpx.options(
        f"{collector_url}{TP2_PATH}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()

    [raw] = payloads(PageView(page_url=f"{origin}/", event_subject=subject(new_domain_userid())))
    response = httpx.post(f"{collector_url}{TP2_PATH}", content=batch([raw]), headers={**JSON_UTF8, "Origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert micro(collector_url, "all")["good"] == 1


def test_the_collector_fills_in_the_senders_ip_and_user_agent(newsroom: Newsroom, collector_url: str) -> None:
    reader = new_domain_userid()
    raw = {"e": "pv", "eid": "5e0c6a4c-3c1a-4b7e-9d2e-1f0a9b8c7d6e", "duid": reader, "vid": 3, "p": "web"}
    headers = {**JSON_UTF8, "User-Agent": IPHONE, "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    assert httpx.post(f"{collector_url}{TP2_PATH}", content=batch([raw]), headers=headers).status_code == 200
    anonymous = {**raw, "eid": "6f1d7b5d-4d2b-4c8f-8e3f-2a1b0c9d8e7f"}
    headers = {**JSON_UTF8, "SP-Anonymous": "*"}
    assert httpx.post(f"{collector_url}{TP2_PATH}", content=batch([anonymous]), headers=headers).status_code == 200

    second, first = (e["atomic"] for e in micro(collector_url, "good"))
    assert first["user_ipaddress"] == "203.0.113.7"
    assert (first["useragent"], first["dvce_type"], first["dvce_ismobile"]) == (IPHONE, "Mobile", True)
    assert first["domain_sessionidx"] == 3  # a JSON number is read as the protocol's string would be
    assert "user_ipaddress" not in second


# ------------------------------------------------------------------ micro reset


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_micro_reset_forgets_events_attributes_and_read_counts(
    newsroom: Newsroom, collector_url: str, method: str
) -> None:
    reader = new_domain_userid()
    article = newsroom.corpus.articles[0]
    body = batch([*payloads(page_view(reader, article), article_detail(reader, article)), 1])
    assert httpx.post(f"{collector_url}{TP2_PATH}", content=body, headers=JSON_UTF8).status_code == 200
    assert micro(collector_url, "all") == {"total": 3, "good": 2, "bad": 1}
    assert newsroom.views.trending(5) == [(article.slug, 1)]

    assert httpx.request(method, f"{collector_url}/micro/reset").status_code == 401  # it wipes everything
    response = httpx.request(method, f"{collector_url}/micro/reset", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"total": 0, "good": 0, "bad": 0}
    assert micro(collector_url, "all") == {"total": 0, "good": 0, "bad": 0}
    assert micro(collector_url, "good") == [] and micro(collector_url, "bad") == []
    assert newsroom.views.attributes(reader)["article_read_count"] == 0
    assert newsroom.views.trending(5) == []

    # Still collecting afterwards.
    assert httpx.post(f"{collector_url}{TP2_PATH}", content=body, headers=JSON_UTF8).status_code == 200
    assert micro(collector_url, "all") == {"total": 3, "good": 2, "bad": 1}
    assert newsroom.views.attributes(reader)["article_read_count"] == 1


def test_micro_good_limit_and_concurrent_senders(newsroom: Newsroom, collector_url: str) -> None:
    reader = new_domain_userid()
    article = newsroom.corpus.articles[0]
    errors: list[BaseException] = []

    def send() -> None:
        try:
            for _ in range(5):
                body = batch(payloads(page_view(reader, article), article_detail(reader, article)))
                response = httpx.post(f"{collector_url}{TP2_PATH}", content=body, headers=JSON_UTF8)
                assert response.status_code == 200
        except BaseException as exc:  # reported below: a thread's assertion would be lost
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert micro(collector_url, "all") == {"total": 40, "good": 40, "bad": 0}
    assert len(micro(collector_url, "good", limit=7)) == 7
    assert newsroom.views.attributes(reader)["article_read_count"] == 20


@pytest.mark.parametrize("what", ["all", "good", "bad"])
def test_micro_routes_need_the_api_token(collector_url: str, what: str) -> None:
    response = httpx.get(f"{collector_url}/micro/{what}", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["status"] == 401
