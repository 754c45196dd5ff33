"""A search is Snowplow's site search event, and "searched for" an attribute like any other (with consent)."""

from __future__ import annotations

import time

from snowplow_signals import SignalsSandbox

from media_demo.definitions import SEARCH_GROUP
from media_demo.newsroom import Newsroom
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import API_TOKEN, grant, running


def reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()))


def page(query: str) -> Page:
    return Page(url=f"http://localhost:3000/search?q={query}", title=f"Search: {query}")


def searched(room: Newsroom, who: Reader) -> dict:
    (attributes,) = room.read_attributes(
        SEARCH_GROUP, 1, [who.domain_userid], ["searches", "searched_for", "searches_without_results"]
    )
    return attributes


def test_searches_become_the_readers_attributes(newsroom: Newsroom) -> None:
    someone = reader()
    grant(newsroom, someone)
    found = newsroom.views.search(someone, page("Battery storage"), "Battery  storage")
    assert found.total > 0 and found.query == "Battery storage"
    newsroom.views.search(someone, page("qwertyuiopasdf"), "qwertyuiopasdf")
    newsroom.views.search(someone, page("battery storage"), "battery storage")
    assert searched(newsroom, someone) == {
        "searches": 3,
        "searched_for": ["qwertyuiopasdf", "battery storage"],  # last searched last
        "searches_without_results": 1,
    }


def test_without_behavioural_consent_nothing_is_kept_in_the_profile(newsroom: Newsroom) -> None:
    someone = reader()
    found = newsroom.views.search(someone, page("comet"), "comet")
    assert found.total > 0 and not found.personalised
    kept = searched(newsroom, someone)
    assert kept["searches"] in (None, 0) and not kept["searched_for"]


def test_an_empty_query_is_not_tracked(newsroom: Newsroom) -> None:
    someone = reader()
    grant(newsroom, someone)
    assert newsroom.views.search(someone, page(""), "   ").hits == []
    assert searched(newsroom, someone)["searches"] in (None, 0)


def test_the_signals_api_serves_searched_for(settings, corpus) -> None:  # type: ignore[no-untyped-def]
    with running(settings, corpus) as (room, url):
        someone = reader()
        grant(room, someone)
        room.views.search(someone, page("sodium batteries"), "sodium batteries")
        sandbox = SignalsSandbox(api_url=url, sandbox_token=API_TOKEN)  # the official client, over HTTP
        got = sandbox.get_group_attributes(
            SEARCH_GROUP, 1, ["searched_for", "searches"], "domain_userid", someone.domain_userid
        )
        assert got == {"domain_userid": someone.domain_userid, "searched_for": ["sodium batteries"], "searches": 1}
