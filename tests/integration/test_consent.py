"""Consent as the engine enforces it: real tracker events, the real collector, restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from snowplow_tracker import Emitter, SelfDescribing, SelfDescribingJson, Subject, Tracker
from snowplow_tracker import PageView as TrackedPageView

from media_demo.api import build_api
from media_demo.articles import Corpus
from media_demo.definitions import READER_GROUP
from media_demo.newsroom import Newsroom, get_index
from media_demo.services.reader_views import CONSENT_DECLINED, NO_CONSENT_YET, NO_HISTORY
from media_demo.settings import Settings
from media_demo.signals.engine.consent import BEHAVIOURAL, CONSENT_SCHEMA, CONTEXTUAL, NECESSARY
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import AUTH, POLICY_URL, eventually, grant, read, serve

pytestmark = pytest.mark.each_database
HOME = Page(url="http://localhost:3000/", title="Home")


def new_reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()), user_agent="pytest")


def stored_readers(room: Newsroom) -> set[str | None]:
    room.log.flush()
    return {e.atomic.get("domain_userid") for e in room.log.events()}


@pytest.fixture
def api_url(newsroom: Newsroom) -> Iterator[str]:
    with serve(build_api(lambda: newsroom)) as url:
        yield url


def recommendations(api_url: str, reader: Reader) -> dict:
    response = httpx.get(
        f"{api_url}/api/recommended-articles", params={"domain_userid": reader.domain_userid}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_without_consent_events_are_kept_anonymised_and_no_profile_exists(
    newsroom: Newsroom, corpus: Corpus, api_url: str
) -> None:
    reader = new_reader()
    sport = corpus.in_category("sport")[:3]
    for article in sport:
        read(newsroom, reader, article.slug, consent=False)

    assert newsroom.memory.engine.entities(READER_GROUP) == 0
    assert newsroom.views.attributes(reader.domain_userid)["article_read_count"] == 0
    newsroom.log.flush()
    events = list(newsroom.log.events())
    assert len(events) == 6  # nothing lost: every page view and article view is kept ...
    assert stored_readers(newsroom) == {None}  # ... with no identifier in it
    assert all("user_ipaddress" not in e.atomic and "domain_sessionid" not in e.atomic for e in events)
    # Popularity is not personal: the reads still count.
    assert {slug for slug, _ in newsroom.views.trending(10)} == {a.slug for a in sport}

    meta = recommendations(api_url, reader)["metadata"]
    assert meta["personalised"] is False
    assert meta["reason"] == NO_CONSENT_YET
    assert meta["interests"] == []


def test_declining_says_so_and_granting_starts_profiling_from_then_on(
    newsroom: Newsroom, corpus: Corpus, api_url: str
) -> None:
    reader = new_reader()
    grant(newsroom, reader, frozenset({CONTEXTUAL}))
    read(newsroom, reader, corpus.in_category("sport")[0].slug)
    assert newsroom.privacy.consent_of(reader.domain_userid).scopes == {NECESSARY, CONTEXTUAL}
    assert recommendations(api_url, reader)["metadata"]["reason"] == CONSENT_DECLINED

    grant(newsroom, reader)
    assert recommendations(api_url, reader)["metadata"]["reason"] == NO_HISTORY
    later = corpus.in_category("sport")[1]
    read(newsroom, reader, later.slug)
    attributes = newsroom.views.attributes(reader.domain_userid)
    assert attributes["articles_read"] == [later.slug]  # the article read before consent is not in it
    meta = recommendations(api_url, reader)["metadata"]
    assert meta["personalised"] is True and meta["reason"] is None
    assert meta["interests"] == ["sport"]


def test_withdrawing_removes_the_profile_and_its_events_and_stays_removed_after_a_restart(
    settings: Settings, corpus: Corpus
) -> None:
    room = Newsroom(settings, corpus, get_index())
    reader, other = new_reader(), new_reader()
    for article in corpus.in_category("science")[:3]:
        read(room, reader, article.slug)
        read(room, other, article.slug)
    room.ingest.checkpoint()  # the profile is in the checkpoint too
    assert room.views.attributes(reader.domain_userid)["article_read_count"] == 3

    room.tracker.withdraw(reader, HOME, POLICY_URL)
    assert room.views.attributes(reader.domain_userid)["article_read_count"] == 0
    assert not room.memory.engine.has_state(READER_GROUP + "_v1", reader.domain_userid)
    assert not room.memory.engine.has_state("reader_session_v1", reader.session.session_id)
    room.log.flush()
    left = [e for e in room.log.events() if e.atomic.get("domain_userid") == reader.domain_userid]
    assert [e.atomic["event_name"] for e in left] == ["consent_preferences", "consent_preferences"]
    assert room.views.attributes(other.domain_userid)["article_read_count"] == 3  # others untouched
    trending_before = room.views.trending(10)
    room.close()

    again = Newsroom(settings, corpus, get_index())
    try:
        assert again.views.attributes(reader.domain_userid)["article_read_count"] == 0
        assert again.privacy.consent_of(reader.domain_userid).event_type == "withdrawn"
        assert again.views.attributes(other.domain_userid)["article_read_count"] == 3
        assert [n for _slug, n in again.views.trending(10)] == [n for _slug, n in trending_before]
        # New reading after the withdrawal is not profiled.
        read(again, reader, corpus.in_category("science")[4].slug, consent=False)
        assert again.views.attributes(reader.domain_userid)["article_read_count"] == 0
    finally:
        again.close()


def test_other_app_ids_follow_the_policy_in_settings(tmp_path: Path, corpus: Corpus) -> None:
    settings = Settings(
        media_demo_db=tmp_path / "events.db",
        flush_interval_seconds=0.01,
        signals_api_token="t",
        consent_policies={"partner-site": "require_consent", "daily-current": "profile"},
    )
    room = Newsroom(settings, corpus, get_index())
    try:
        readers = {}
        for app_id in ("partner-site", "signals-team", "daily-current"):
            readers[app_id] = duid = new_domain_userid()
            room.collect({"e": "pv", "eid": str(uuid.uuid4()), "duid": duid, "aid": app_id, "p": "web"})
        profiled = {app: room.memory.engine.has_state("reader_profile_v1", duid) for app, duid in readers.items()}
        # Signals profiles by default; a listed app needs consent; the newsroom's own app always does.
        assert profiled == {"partner-site": False, "signals-team": True, "daily-current": False}
    finally:
        room.close()


def test_consent_from_a_real_tracker_through_the_collector(newsroom: Newsroom, api_url: str) -> None:
    """What the JavaScript tracker's enhanced-consent plugin would send, over HTTP."""
    duid = new_domain_userid()
    failures: list = []
    emitter = Emitter(api_url, method="post", batch_size=1)
    emitter.on_failure = lambda *args: failures.append(args)
    tracker = Tracker(namespace="browser", emitters=emitter, app_id="daily-current")
    subject = Subject().set_domain_user_id(duid).set_platform("web")
    consent = {
        "eventType": "allow_selected",
        "basisForProcessing": "consent",
        "consentUrl": POLICY_URL,
        "consentVersion": "1.0",
        "consentScopes": ["necessary", "behavioural"],
        "domainsApplied": ["http://localhost:3000/"],
    }
    tracker.track(SelfDescribing(SelfDescribingJson(CONSENT_SCHEMA, consent), event_subject=subject))
    tracker.track(TrackedPageView(page_url="http://localhost:3000/", event_subject=subject))
    bad = dict(consent, eventType="maybe")
    tracker.track(SelfDescribing(SelfDescribingJson(CONSENT_SCHEMA, bad), event_subject=subject))
    tracker.flush()

    eventually(lambda: _check(newsroom.views.attributes(duid)["page_view_count"] == 1))
    assert newsroom.privacy.consent_of(duid).scopes == {NECESSARY, BEHAVIOURAL}
    newsroom.log.flush()
    (rejected,) = newsroom.log.bad_events()
    assert CONSENT_SCHEMA in rejected.reason  # an invalid choice is a bad event with its reason, not a choice
    assert not failures


def _check(condition: bool) -> None:
    assert condition
