"""The e-mail digests' loop over real HTTP: sent, opened and clicked, back as the account's `email_engagement`.

A uvicorn server runs `build_api` on a temp newsroom whose site is `SITE`. The digest is
tracked with the real tracker through the collector; the mail's pixel and links are
fetched as a mail client and a browser would (no redirect followed), and the attributes
are read back with the official `snowplow-signals` client.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from snowplow_signals import SignalsSandbox

from media_demo.api import build_api
from media_demo.definitions import EMAIL_GROUP, REDIRECT_EVENT, app_groups
from media_demo.newsroom import Newsroom
from media_demo.services.remote_reads import RemoteReads
from media_demo.settings import Settings
from media_demo.state.inspector import inspect_reader
from media_demo.tracking import CollectorEmitter, NewsroomTracker, Reader, new_domain_userid, touch_session
from media_demo.tracking.email_links import click_url, open_pixel_url
from tests.integration.conftest import API_TOKEN, AUTH, serve
from tests.traces import traces_on_disk

SITE = "https://dailycurrent.example"
PUBLIC_API = "https://api.dailycurrent.example"
APP = "daily-current"
ATTRIBUTES = ["digests_received", "digests_opened", "email_clicks", "last_email_click", "favourite_email_section"]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The integration settings, with the public addresses an e-mail links to."""
    return Settings(
        media_demo_db=tmp_path / "events.db",
        database_url=database_url,
        flush_interval_seconds=0.01,
        signals_api_token=API_TOKEN,
        snowplow_app_id=APP,
        site_url=SITE,
        public_api_url=PUBLIC_API,
    )


@pytest.fixture
def api_url(newsroom: Newsroom) -> Iterator[str]:
    with serve(build_api(lambda: newsroom)) as url:
        yield url


def micro(url: str, what: str) -> Any:
    response = httpx.get(f"{url}/micro/{what}", params={"limit": 100}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def send_digests(api_url: str, user_id: str, *digests: tuple[str, str, list[str]]) -> None:
    """The digests handed to the mail server, tracked by the real tracker through the collector."""
    emitter = CollectorEmitter(api_url)
    try:
        tracker = NewsroomTracker(emitter, app_id=APP)
        for digest, frequency, sections in digests:
            tracker.email_sent(user_id, digest, frequency, sections, 3 * len(sections))
    finally:
        emitter.close()
    assert emitter.pending == 0


def follow(http: httpx.Client, url: str, target: str) -> None:
    """A click in the mail: the collector must answer 302 to `target`, setting no cookie."""
    answer = http.get(url)
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == target
    assert answer.headers["cache-control"] == "no-store"
    assert "set-cookie" not in answer.headers and answer.content == b""


def test_opens_and_clicks_come_back_as_the_accounts_email_engagement(newsroom: Newsroom, api_url: str) -> None:
    user = str(uuid.uuid4())
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    science, business = newsroom.corpus.in_category("science"), newsroom.corpus.in_category("business")
    send_digests(api_url, user, (first, "daily", ["science", "business"]), (second, "weekly", ["business"]))

    with httpx.Client(follow_redirects=False, timeout=10) as http:
        for digest in (first, first, second):  # the first mail is opened twice: one digest opened
            pixel = http.get(open_pixel_url(api_url, APP, user, digest))
            assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
        clicks = [(first, 1, science[0]), (second, 2, business[0]), (first, 3, business[1])]
        for digest, position, story in clicks:
            target = f"{SITE}/article/{story.slug}?utm_source=digest&utm_medium=email"
            url = click_url(api_url, target, APP, user, digest, position, story.slug, story.category)
            follow(http, url, target)

    # Acknowledged means applied and committed: no waiting.
    sandbox = SignalsSandbox(api_url=api_url, sandbox_token=API_TOKEN)
    assert sandbox.get_group_attributes(EMAIL_GROUP, 1, ATTRIBUTES, "user_id", user) == {
        "user_id": user,
        "digests_received": 2,
        "digests_opened": 2,
        "email_clicks": 3,
        "last_email_click": business[1].slug,
        "favourite_email_section": "business",
    }
    assert micro(api_url, "all")["bad"] == 0
    events = micro(api_url, "good")
    assert len(events) == 8 and len({e["atomic"]["event_id"] for e in events}) == 8  # each load its own event
    assert {e["atomic"]["app_id"] for e in events} == {"daily-current-email"}
    assert {e["atomic"]["user_id"] for e in events} == {user}
    redirects = [e for e in events if e["atomic"]["event_name"] == REDIRECT_EVENT]
    assert [e["entities"][0]["data"]["slug"] for e in reversed(redirects)] == [s.slug for _, _, s in clicks]


def test_the_inspector_shows_a_signed_in_readers_email_engagement(newsroom: Newsroom, api_url: str) -> None:
    account = newsroom.accounts.create("ada@example.com", "correct horse battery")
    send_digests(api_url, account.user_id, (str(uuid.uuid4()), "daily", ["world"]))
    reader = Reader(new_domain_userid(), touch_session(None, time.time()), user_id=account.user_id)
    cookie = reader.session.to_cookie()
    signed_in = inspect_reader(newsroom.views, reader.domain_userid, cookie, None, account.user_id)
    email = [g for g in signed_in.groups if g.name == EMAIL_GROUP]
    assert len(email) == 1 and email[0].key == "user_id"
    assert {a.name: a.value for a in email[0].attributes}["digests_received"] == "1"
    anonymous = inspect_reader(newsroom.views, reader.domain_userid, cookie)
    assert EMAIL_GROUP not in {g.name for g in anonymous.groups}
    # A UI worker of a cluster asks the engine's API for the same groups, the account's among them.
    remote = RemoteReads(api_url, API_TOKEN, app_groups(newsroom.corpus.categories))
    try:
        found = remote.reader_groups({"domain_userid": reader.domain_userid, "user_id": account.user_id})
    finally:
        remote.close()
    by_name = {group.name: values for group, values, _computed in found}
    assert by_name[EMAIL_GROUP]["digests_received"] == 1


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("https://evil.example/login", "leads to https://evil.example, which is not this site"),
        ("https://dailycurrent.example.evil.example/", "which is not this site"),
        ("https://dailycurrent.example@evil.example/", "must not carry a user name or password"),
        ("//evil.example/", "must be an absolute http or https address"),
        ("javascript:alert(document.cookie)", "must be an absolute http or https address"),
        ("https://dailycurrent.example\\evil.example", "contains a backslash"),
        (f"{SITE}/\r\nSet-Cookie: session=stolen", "contains a control character"),
        ("https://[dailycurrent.example]/", "is not a valid address"),
        (None, "'u' (the address to redirect to) is missing"),
    ],
)
def test_a_redirect_anywhere_else_is_refused_and_kept_as_a_bad_event(
    newsroom: Newsroom, api_url: str, target: str | None, reason: str
) -> None:
    user = str(uuid.uuid4())
    params = {"uid": user, "aid": "daily-current-email", "tv": "no-js-0.1.0", "p": "web"}
    if target is not None:
        params["u"] = target
    answer = httpx.get(f"{api_url}/r/tp2", params=params, follow_redirects=False)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["status"] == 400 and reason in body["error"], body
    assert "location" not in answer.headers and "set-cookie" not in answer.headers
    counts = micro(api_url, "all")
    assert (counts["good"], counts["bad"]) == (0, 1)
    (bad,) = micro(api_url, "bad")
    assert reason in bad["reason"] and bad["reason"].startswith("collector_payload_format_violation")
    assert user in bad["payload"]  # the request as received, for debugging (and for deletion to find)


def test_a_redirect_to_the_sites_backend_is_allowed(api_url: str) -> None:
    target = f"{PUBLIC_API}/api/email/unsubscribe?token=abc"
    answer = httpx.get(f"{api_url}/r/tp2", params={"u": target, "uid": "u1"}, follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == target


@pytest.mark.each_database
def test_deleting_the_account_takes_its_email_events_and_engagement(
    newsroom: Newsroom, api_url: str, stored_files: Callable[[], list[Path]]
) -> None:
    account = newsroom.accounts.create("grace@example.com", "a long enough password")
    user, stranger = account.user_id, str(uuid.uuid4())
    digest = str(uuid.uuid4())
    newsroom.tracker.email_sent(user, digest, "weekly", ["world"], 4)  # in process, as the digest job tracks it
    send_digests(api_url, stranger, (digest, "weekly", ["world"]))
    story = newsroom.corpus.articles[0]
    target = f"{SITE}/article/{story.slug}"
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        for who in (user, stranger):
            assert http.get(open_pixel_url(api_url, APP, who, digest)).status_code == 200
            follow(http, click_url(api_url, target, APP, who, digest, 1, story.slug, story.category), target)
        refused = click_url(api_url, "https://evil.example/", APP, user, digest, 1, story.slug, story.category)
        assert http.get(refused).status_code == 400
    newsroom.ingest.checkpoint()  # the engagement state is in the database too
    assert newsroom.memory.engine.has_state(f"{EMAIL_GROUP}_v1", user)
    assert set(traces_on_disk(stored_files(), [user, stranger])) == {user, stranger}

    response = httpx.delete(f"{api_url}/api/v1/readers", params={"user_id": user}, headers=AUTH)
    assert response.status_code == 200, response.text
    deleted = response.json()["deleted"]
    assert (deleted["events"], deleted["bad_events"], deleted["accounts"]) == (3, 1, 1)  # sent, open, click

    assert not newsroom.memory.engine.has_state(f"{EMAIL_GROUP}_v1", user)
    sandbox = SignalsSandbox(api_url=api_url, sandbox_token=API_TOKEN)
    gone = sandbox.get_group_attributes(EMAIL_GROUP, 1, ATTRIBUTES, "user_id", user)
    assert (gone["digests_received"], gone["email_clicks"], gone["last_email_click"]) == (0, 0, None)
    assert traces_on_disk(stored_files(), [user]) == {}
    # Another subscriber of the same digest keeps everything.
    kept = sandbox.get_group_attributes(EMAIL_GROUP, 1, ATTRIBUTES, "user_id", stranger)
    assert (kept["digests_received"], kept["digests_opened"], kept["email_clicks"]) == (1, 1, 1)
    assert stranger in traces_on_disk(stored_files(), [stranger])


def test_only_pixel_tracker_requests_get_an_event_id_from_the_collector(api_url: str) -> None:
    reader = new_domain_userid()
    fields = {"e": "pv", "url": f"{SITE}/", "duid": reader}
    assert httpx.get(f"{api_url}/i", params={**fields, "tv": "no-js-0.1.0"}).status_code == 200
    assert httpx.get(f"{api_url}/i", params={**fields, "tv": "js-3.24.0"}).status_code == 200  # a browser's own
    given = str(uuid.uuid4())
    assert httpx.get(f"{api_url}/i", params={**fields, "tv": "no-js-0.1.0", "eid": given}).status_code == 200
    good = micro(api_url, "good")
    assert len(good) == 2 and given in {e["atomic"]["event_id"] for e in good}
    (bad,) = micro(api_url, "bad")
    assert bad["reason"] == "field 'eid' (event_id) is missing: every event needs a UUID"
    assert "js-3.24.0" in bad["payload"]
