"""The SDK's pull_interventions receives the app's interventions over SSE; each fires once."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from snowplow_signals import AttributeKeyIdentifiers, SignalsSandbox

from media_demo.api import build_api
from media_demo.definitions import TOPIC_NEWSLETTER
from media_demo.newsroom import Newsroom
from media_demo.tracking import Page, Reader, touch_session
from tests.integration.conftest import API_TOKEN, AUTH, read, serve


@pytest.fixture
def api_url(newsroom: Newsroom):
    with serve(build_api(lambda: newsroom)) as url:
        yield url


def test_three_articles_of_a_topic_in_a_session_push_the_newsletter_offer(newsroom: Newsroom, api_url: str) -> None:
    reader = Reader(str(uuid.uuid4()), touch_session(None, time.time()))
    sport = [a.slug for a in newsroom.corpus.in_category("sport")]
    sandbox = SignalsSandbox(api_url=api_url, sandbox_token=API_TOKEN)
    targets = AttributeKeyIdentifiers({"domain_userid": [reader.domain_userid]})
    with sandbox.pull_interventions(targets) as subscription:
        time.sleep(0.5)  # the stream is open before the events arrive
        for slug in sport[:2]:
            read(newsroom, reader, slug)
        assert list(subscription) == []  # two articles are not enough
        read(newsroom, reader, sport[2])
        received = [subscription.get(timeout=5)]
        read(newsroom, reader, sport[3])  # a fourth article of the topic: no second offer
        time.sleep(0.5)
        received += list(subscription)
    assert [(i.name, i.version) for i in received] == [(TOPIC_NEWSLETTER, 1)]
    instance = received[0]
    assert instance.target_attribute_key is not None
    assert (instance.target_attribute_key.name, instance.target_attribute_key.id) == (
        "domain_userid",
        reader.domain_userid,
    )
    assert instance.attributes is not None and instance.attributes["sport_reads"] == "3"
    assert instance.intervention_id


def test_a_dismissed_offer_never_comes_back_even_after_a_restart(newsroom: Newsroom, settings, corpus) -> None:
    reader = Reader(str(uuid.uuid4()), touch_session(None, time.time()))
    page = Page(url="http://localhost:3000/", title="Home")
    culture = [a.slug for a in newsroom.corpus.in_category("culture")]
    for slug in culture[:3]:
        read(newsroom, reader, slug)
    assert [f.name for f in newsroom.memory.interventions.recent[reader.domain_userid]] == [TOPIC_NEWSLETTER]
    newsroom.tracker.intervention_interaction(reader, page, TOPIC_NEWSLETTER, "impression")
    newsroom.tracker.intervention_interaction(reader, page, TOPIC_NEWSLETTER, "dismiss")
    newsroom.close()

    from media_demo.newsroom import get_index

    again = Newsroom(settings, corpus, get_index())
    try:
        engagement = again.memory.engine.get_attributes("reader_engagement", reader.domain_userid)
        assert engagement["interventions_dismissed"] == [TOPIC_NEWSLETTER]
        assert engagement["intervention_impressions"] == {TOPIC_NEWSLETTER: 1}
        later = Reader(reader.domain_userid, touch_session(None, time.time()))  # a new session
        for slug in culture[3:6]:
            read(again, later, slug)
        assert [f.name for f in again.memory.interventions.recent.get(reader.domain_userid, [])] == []
    finally:
        again.close()


def test_the_stream_needs_the_token_and_a_target(api_url: str) -> None:
    assert httpx.get(f"{api_url}/api/v1/interventions", params={"domain_userid": "x"}).status_code == 401
    response = httpx.get(f"{api_url}/api/v1/interventions", headers=AUTH)
    assert response.status_code == 422
    response = httpx.get(f"{api_url}/api/v1/interventions", params={"shoe_size": "9"}, headers=AUTH)
    assert response.status_code == 422 and "shoe_size" in response.json()["error"]


def test_push_intervention_reaches_a_subscriber(api_url: str) -> None:
    from snowplow_signals import InterventionInstance

    sandbox = SignalsSandbox(api_url=api_url, sandbox_token=API_TOKEN)
    targets = AttributeKeyIdentifiers({"domain_sessionid": ["session-1"]})
    with sandbox.pull_interventions(targets) as subscription:
        time.sleep(0.5)
        status = sandbox.push_intervention(targets, InterventionInstance(name="breaking_news", version=1))
        got = subscription.get(timeout=5)
    assert status == "success"
    assert got.name == "breaking_news"
