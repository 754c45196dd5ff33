"""One reader tries to read another reader's data through every HTTP route, and is refused.

(The pages themselves are covered end to end: a browser with an edited id cookie
gets a new id, never the other reader's data — tests/e2e/test_privacy.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from media_demo.api import build_api
from media_demo.definitions import READER_GROUP
from media_demo.newsroom import Newsroom
from media_demo.tracking import Reader, new_domain_userid, touch_session
from media_demo.tracking.identity import SIGNATURE_COOKIE, USER_COOKIE, sign_domain_userid
from tests.integration.conftest import AUTH, read, serve


@pytest.fixture
def api_url(newsroom: Newsroom) -> Iterator[str]:
    with serve(build_api(lambda: newsroom)) as url:
        yield url


@pytest.fixture
def victim(newsroom: Newsroom) -> str:
    reader = Reader(new_domain_userid(), touch_session(None, time.time()), user_id="victim-user")
    for article in newsroom.corpus.in_category("culture")[:2]:
        read(newsroom, reader, article.slug)
    return reader.domain_userid


def cookies(newsroom: Newsroom, duid: str, signature: str | None = None) -> dict[str, str]:
    sig = sign_domain_userid(duid, newsroom.cookie_secret) if signature is None else signature
    return {USER_COOKIE: duid, SIGNATURE_COOKIE: sig}


def reader_routes(victim: str) -> list[tuple[str, str, dict]]:
    """(method, path, request options) of every route that returns or changes one reader's data."""
    online = {"attributes": [f"{READER_GROUP}_v1:articles_read"], "attribute_keys": {"domain_userid": [victim]}}
    by_user = {"attributes": [f"{READER_GROUP}_v1:articles_read"], "attribute_keys": {"user_id": ["victim-user"]}}
    return [
        ("GET", "/api/recommended-articles", {"params": {"domain_userid": victim}}),
        ("POST", "/api/v1/get-online-attributes", {"json": online}),
        ("POST", "/api/v1/get-online-attributes", {"json": by_user}),
        ("GET", "/api/v1/interventions", {"params": {"domain_userid": victim}}),
        ("GET", "/api/v1/interventions", {"params": {"user_id": "victim-user"}}),
        ("GET", "/micro/good", {}),
        ("GET", "/micro/bad", {}),
        ("GET", "/micro/all", {}),
        ("POST", "/micro/reset", {}),
        ("DELETE", "/api/v1/readers", {"params": {"domain_userid": victim}}),
    ]


def test_no_route_gives_a_readers_data_to_someone_else(newsroom: Newsroom, api_url: str, victim: str) -> None:
    attacker = new_domain_userid()
    forged = [
        {},  # nothing at all
        cookies(newsroom, attacker),  # the attacker's own, valid cookie
        cookies(newsroom, victim, signature="0" * 32),  # the victim's id with a made-up signature
        cookies(newsroom, victim, signature=""),  # the victim's id, unsigned
        cookies(newsroom, victim.upper(), signature=sign_domain_userid(attacker, newsroom.cookie_secret)),
    ]
    bad_tokens = [{"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + AUTH["Authorization"][7:]}]
    for method, path, options in reader_routes(victim):
        attempts = [({}, jar) for jar in forged] + [(headers, {}) for headers in bad_tokens]
        for headers, jar in attempts:
            with httpx.Client(cookies=jar) as client:
                response = client.request(method, f"{api_url}{path}", headers=headers, timeout=5, **options)
            assert response.status_code in (401, 403), (method, path, headers, jar, response.status_code)
            assert response.headers["content-type"].startswith("application/json")
            assert victim not in response.text and "culture" not in response.text
    # Nothing was changed by the attempts either.
    assert newsroom.views.attributes(victim)["article_read_count"] == 2


def test_a_reader_may_read_their_own_recommendations_and_the_token_may_read_anyone(
    newsroom: Newsroom, api_url: str, victim: str
) -> None:
    url = f"{api_url}/api/recommended-articles"
    with httpx.Client(cookies=cookies(newsroom, victim)) as own:
        mine = own.get(url, params={"domain_userid": victim})
        assert mine.status_code == 200 and mine.json()["metadata"]["interests"] == ["culture"]
        theirs = own.get(url, params={"domain_userid": new_domain_userid()})
        assert theirs.status_code == 403
    assert httpx.get(url, params={"domain_userid": victim}, headers=AUTH).status_code == 200


def test_identifiers_from_outside_are_validated(newsroom: Newsroom, api_url: str) -> None:
    for value in ("", "x", "../../etc/passwd", "' OR 1=1 --", "a" * 5000, "00000000-0000-0000-0000-00000000000g"):
        response = httpx.get(f"{api_url}/api/recommended-articles", params={"domain_userid": value}, headers=AUTH)
        assert response.status_code == 400, value
        assert response.json()["status"] == 400
