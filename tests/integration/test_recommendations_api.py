"""A real snowplow-tracker, the in-process emitter, the engine, and the HTTP API."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from media_demo.api import build_api
from media_demo.newsroom import Newsroom
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.integration.conftest import AUTH, read, serve


def new_reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()), user_agent="pytest")


@pytest.fixture
def api_url(newsroom: Newsroom):
    with serve(build_api(lambda: newsroom)) as url:
        yield url


def test_reading_three_articles_of_a_category_personalises_the_api(newsroom: Newsroom, api_url: str) -> None:
    reader = new_reader()
    sport = newsroom.corpus.in_category("sport")[:3]
    for article in sport:
        read(newsroom, reader, article.slug)
    newsroom.log.flush()

    response = httpx.get(
        f"{api_url}/api/recommended-articles", params={"domain_userid": reader.domain_userid}, headers=AUTH
    )
    assert response.status_code == 200
    body = response.json()
    recs, meta = body["recommendations"], body["metadata"]
    assert len(recs) == 3
    assert set(recs[0]) == {"slug", "title", "category", "excerpt", "reason"}
    assert recs[0]["category"] == "sport"
    assert recs[0]["reason"] == "More in Sport"
    last = sport[-1]
    assert all(r["reason"] == f"Because you read “{last.title}”" for r in recs[1:])
    expected_similar = [s for s in newsroom.index.ranked(last.slug) if s not in {a.slug for a in sport}]
    assert [r["slug"] for r in recs[1:]] == [s for s in expected_similar if s != recs[0]["slug"]][:2]
    read_slugs = {a.slug for a in sport}
    assert not read_slugs & {r["slug"] for r in recs}
    assert meta["domain_userid"] == reader.domain_userid
    assert meta["interests"] == ["sport"]
    assert meta["last_read"] == last.slug
    assert meta["strategy"] == "personalised"
    assert meta["generated_at"].endswith("Z")
    assert newsroom.log.counts() == {"good": 7, "bad": 0}  # consent, then a page view and an article view each


def test_unknown_reader_gets_the_cold_start_answer(newsroom: Newsroom, api_url: str) -> None:
    empty = httpx.get(
        f"{api_url}/api/recommended-articles", params={"domain_userid": str(uuid.uuid4())}, headers=AUTH
    ).json()
    assert empty["recommendations"] == []
    assert empty["metadata"]["strategy"] == "empty"

    for slug in ["keira-osei-nears-scoring-record", "brackenford-marathon-course-record"]:
        read(newsroom, new_reader(), slug)
    second = new_reader()
    read(newsroom, second, "brackenford-marathon-course-record")
    body = httpx.get(
        f"{api_url}/api/recommended-articles", params={"domain_userid": str(uuid.uuid4())}, headers=AUTH
    ).json()
    assert [r["slug"] for r in body["recommendations"]] == [
        "brackenford-marathon-course-record",  # two readers
        "keira-osei-nears-scoring-record",  # one reader
    ]
    assert {r["reason"] for r in body["recommendations"]} == {"Popular with readers"}
    assert body["metadata"]["strategy"] == "popular"
    assert body["metadata"]["interests"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "'domain_userid' is required"),
        ({"domain_userid": "not-a-uuid"}, "must be a UUID"),
        ({"domain_userid": "'; drop table events; --"}, "must be a UUID"),
        ({"domain_userid": str(uuid.uuid4()), "count": "0"}, "'count'"),
        ({"domain_userid": str(uuid.uuid4()), "count": "abc"}, "'count'"),
    ],
)
def test_malformed_requests_get_a_json_400(api_url: str, params: dict, message: str) -> None:
    response = httpx.get(f"{api_url}/api/recommended-articles", params=params, headers=AUTH)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert message in response.json()["error"]


def test_unknown_api_routes_are_json_404s(api_url: str) -> None:
    response = httpx.get(f"{api_url}/api/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "no API route /api/nope", "status": 404}


def test_health_reports_the_corpus_and_event_counts(newsroom: Newsroom, api_url: str) -> None:
    read(newsroom, new_reader(), "keira-osei-nears-scoring-record", consent=False)  # stored anonymised
    newsroom.log.flush()
    body = httpx.get(f"{api_url}/api/health").json()
    assert body == {"status": "ok", "articles": len(newsroom.corpus), "events": {"good": 2, "bad": 0}}
