"""Identity stitching across devices, and the right to be forgotten, through the real API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from media_demo.api import build_api
from media_demo.articles import Corpus
from media_demo.definitions import READER_GROUP
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.integration.conftest import AUTH, read, serve
from tests.traces import traces_in_memory, traces_on_disk

pytestmark = pytest.mark.each_database


def device(user_id: str | None = None) -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()), user_agent="pytest", user_id=user_id)


def signed_in(reader: Reader, user_id: str) -> Reader:
    return Reader(reader.domain_userid, reader.session, reader.user_agent, user_id=user_id)


@pytest.fixture
def api_url(newsroom: Newsroom) -> Iterator[str]:
    with serve(build_api(lambda: newsroom)) as url:
        yield url


def test_a_signed_in_reader_is_one_profile_across_devices(newsroom: Newsroom, corpus: Corpus) -> None:
    account = newsroom.accounts.create("ada@example.com", "correct horse battery")
    laptop, phone = device(), device()
    business, sport = corpus.in_category("business"), corpus.in_category("sport")
    read(newsroom, laptop, business[0].slug)  # before signing in: joins the account when they sign in
    read(newsroom, signed_in(laptop, account.user_id), business[1].slug)
    read(newsroom, phone, sport[0].slug)
    read(newsroom, signed_in(phone, account.user_id), sport[1].slug)
    read(newsroom, signed_in(phone, account.user_id), business[1].slug)  # read again on the other device

    assert newsroom.memory.links.devices(account.user_id) == [laptop.domain_userid, phone.domain_userid]
    on_laptop = newsroom.views.attributes(laptop.domain_userid, account.user_id)
    on_phone = newsroom.views.attributes(phone.domain_userid, account.user_id)
    assert on_laptop == on_phone
    assert on_laptop["article_read_count"] == 5  # every event once: 2 + 3, nothing double-counted
    assert set(on_laptop["articles_read"]) == {business[0].slug, business[1].slug, sport[0].slug, sport[1].slug}
    assert on_laptop["article_last_read"] == business[1].slug
    # Each device alone still knows only what happened on it.
    assert newsroom.views.attributes(laptop.domain_userid)["article_read_count"] == 2

    read_anywhere = set(on_laptop["articles_read"])
    for reader in (laptop, phone):
        picks = newsroom.views.recommendations(reader.domain_userid, count=10, user_id=account.user_id)
        assert not read_anywhere & {p.article.slug for p in picks}


def test_identity_links_survive_a_restart_with_or_without_a_checkpoint(settings: Settings, corpus: Corpus) -> None:
    room = Newsroom(settings, corpus, get_index())
    user = str(uuid.uuid4())
    laptop, phone = device(user), device(user)
    read(room, laptop, corpus.articles[0].slug)
    read(room, phone, corpus.articles[1].slug)
    merged = room.views.attributes(laptop.domain_userid, user)
    room.close()

    restarted = Newsroom(settings, corpus, get_index())  # from the checkpoint
    try:
        assert restarted.memory.links.devices(user) == [laptop.domain_userid, phone.domain_userid]
        assert restarted.views.attributes(phone.domain_userid, user) == merged
        restarted.checkpoints.clear()
    finally:
        restarted.close()
    restarted.checkpoints.clear()  # close() wrote a new one: replay everything this time

    replayed = Newsroom(settings, corpus, get_index())
    try:
        assert replayed.replayed > 0
        assert replayed.memory.links.devices(user) == [laptop.domain_userid, phone.domain_userid]
        assert replayed.views.attributes(phone.domain_userid, user) == merged
    finally:
        replayed.close()


def test_the_signals_api_reads_a_device_keyed_group_by_user_id_as_the_merge(newsroom: Newsroom, api_url: str) -> None:
    user = "reader-" + uuid.uuid4().hex
    for slug in (newsroom.corpus.articles[0].slug, newsroom.corpus.articles[2].slug):
        read(newsroom, device(user), slug)  # one article on each of two devices
    response = httpx.post(
        f"{api_url}/api/v1/get-online-attributes",
        json={"attributes": [f"{READER_GROUP}_v1:article_read_count"], "attribute_keys": {"user_id": [user]}},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": [user], "article_read_count": [2]}


def test_deleting_a_reader_by_api_leaves_no_trace_in_the_database_files_or_memory(
    newsroom: Newsroom, stored_files: Callable[[], list[Path]], corpus: Corpus, api_url: str
) -> None:
    account = newsroom.accounts.create("grace@example.com", "a long enough password")
    user = account.user_id
    laptop, phone, stranger = device(), device(user), device()
    read(newsroom, laptop, corpus.articles[0].slug)
    read(newsroom, signed_in(laptop, user), corpus.articles[1].slug)
    read(newsroom, phone, corpus.articles[2].slug)
    read(newsroom, stranger, corpus.articles[1].slug)
    newsroom.collect({"e": "pv", "eid": "not-a-uuid", "duid": phone.domain_userid})  # a bad event naming them
    token = newsroom.accounts.open_session(user)
    newsroom.ingest.checkpoint()
    readers_before = {slug: newsroom.memory.read_stats.readers(slug) for slug in (a.slug for a in corpus.articles[:3])}
    ids = [laptop.domain_userid, phone.domain_userid, user, "grace@example.com", laptop.session.session_id]
    assert set(traces_on_disk(stored_files(), ids)) >= {laptop.domain_userid, phone.domain_userid, user}

    refused = httpx.delete(f"{api_url}/api/v1/readers", params={"user_id": user})
    assert refused.status_code == 401 and "token" in refused.json()["error"]
    response = httpx.delete(f"{api_url}/api/v1/readers", params={"user_id": user}, headers=AUTH)
    assert response.status_code == 200, response.text
    deleted = response.json()["deleted"]
    assert deleted["events"] == 8 and deleted["bad_events"] == 1 and deleted["accounts"] == 1
    assert deleted["devices"] == 2

    assert traces_on_disk(stored_files(), ids) == {}
    assert stranger.domain_userid in traces_on_disk(stored_files(), [stranger.domain_userid])
    skip = [newsroom.corpus, newsroom.index, newsroom.log.engine, newsroom.registry]
    assert traces_in_memory(newsroom, ids, skip=skip) == {}
    assert stranger.domain_userid in traces_in_memory(newsroom, [stranger.domain_userid], skip=skip)
    # Popularity keeps its counts, without ids; the account and its sign-in session are gone.
    assert {slug: newsroom.memory.read_stats.readers(slug) for slug in readers_before} == readers_before
    assert newsroom.accounts.get(user) is None and newsroom.accounts.session_account(token) is None
    assert newsroom.views.attributes(laptop.domain_userid, user)["article_read_count"] == 0
    assert newsroom.views.attributes(stranger.domain_userid)["article_read_count"] == 1


def test_deleting_an_anonymous_device_and_bad_requests(newsroom: Newsroom, api_url: str) -> None:
    reader = device()
    read(newsroom, reader, newsroom.corpus.articles[0].slug)
    url = f"{api_url}/api/v1/readers"
    assert httpx.delete(url, headers=AUTH).status_code == 400
    bad = httpx.delete(url, params={"domain_userid": "1 OR 1=1"}, headers=AUTH)
    assert bad.status_code == 400 and "UUID" in bad.json()["error"]
    assert httpx.delete(url, params={"user_id": "x" * 300}, headers=AUTH).status_code == 400
    response = httpx.delete(url, params={"domain_userid": reader.domain_userid}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["deleted"]["events"] == 3  # consent, page view, article view
    assert newsroom.privacy.consent_of(reader.domain_userid) is None  # they are a stranger now: the banner asks again
