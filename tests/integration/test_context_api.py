"""Contextual cold start over real HTTP: the context comes from the request's own headers and query.

Requests carry what browsers send (real user agents, Referer, Accept-Language) and
the landing page's `utm_*` and `tz_offset` parameters.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from media_demo.api import build_api
from media_demo.newsroom import Newsroom
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.integration.conftest import AUTH, read, serve

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
CHROME_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SEARCHED = "Because you searched for “battery storage”"


def afternoon_clock() -> dt.datetime:
    """Now, in a zone where it is 14:xx: the server's hour never makes it a morning by accident."""
    utc = dt.datetime.now(dt.UTC)
    hours = (14 - utc.hour + 12) % 24 - 12  # within -12..+11
    return utc.astimezone(dt.timezone(dt.timedelta(hours=hours)))


def offset_for(local_hour: int) -> int:
    """The `tz_offset` (minutes east of UTC) of a reader for whom it is now `local_hour`."""
    return ((local_hour - dt.datetime.now(dt.UTC).hour + 12) % 24 - 12) * 60


@pytest.fixture
def api_url(newsroom: Newsroom) -> Iterator[str]:
    with serve(build_api(lambda: newsroom, clock=afternoon_clock)) as url:
        yield url


def ask(api_url: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    params.setdefault("domain_userid", str(uuid.uuid4()))
    response = httpx.get(f"{api_url}/api/recommended-articles", params=params, headers=headers | AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def new_reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()), user_agent=CHROME_DESKTOP)


def picks(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["slug"], r["reason"]) for r in body["recommendations"]]


def test_a_phone_arriving_from_a_google_search(newsroom: Newsroom, api_url: str) -> None:
    body = ask(
        api_url,
        {
            "User-Agent": IPHONE,
            "Referer": "https://www.google.com/search?q=battery+storage",
            "Accept-Language": "en-GB,en;q=0.9",
        },
    )
    hits = [slug for slug, _ in newsroom.index.query("battery storage", len(newsroom.index))]
    short = [a.slug for a in sorted(newsroom.corpus, key=lambda a: a.reading_minutes) if a.slug not in hits[:2]]
    assert picks(body) == [
        (hits[0], SEARCHED),
        (hits[1], SEARCHED),
        (short[0], "Short reads for your phone"),
    ]
    meta = body["metadata"]
    assert (meta["strategy"], meta["segment"], meta["interests"], meta["last_read"]) == (
        "contextual",
        "new_visitor",
        [],
        None,
    )
    context = meta["context"]
    assert context["device"] == "Mobile"
    assert context["referrer"] == {"medium": "search", "source": "Google", "term": "battery storage"}
    assert context["languages"] == ["en-GB", "en"]
    assert (context["local_hour"], context["hour_source"]) == (afternoon_clock().hour, "server")
    assert [r["name"] for r in context["rules"]] == ["search", "mobile"]
    assert context["reasons"] == [SEARCHED, "Short reads for your phone"]
    assert context["notes"] == []


def test_a_newsletter_link_about_sport(newsroom: Newsroom, api_url: str) -> None:
    body = ask(
        api_url,
        {"User-Agent": CHROME_DESKTOP, "Referer": "https://mail.google.com/mail/u/0/"},
        utm_source="daily-current",
        utm_medium="email",
        utm_campaign="sport-weekly",
    )
    sport = [a.slug for a in newsroom.corpus.in_category("sport")[:3]]
    assert picks(body) == [(slug, "From the newsletter: Sport") for slug in sport]
    context = body["metadata"]["context"]
    assert context["referrer"] == {"medium": "email", "source": "Gmail", "term": None}
    assert context["campaign"] == {
        "medium": "email",
        "source": "daily-current",
        "name": "sport-weekly",
        "content": None,
        "newsletter": True,
        "topic": {"kind": "category", "name": "sport"},
    }


def test_the_readers_own_morning_from_tz_offset(newsroom: Newsroom, api_url: str) -> None:
    body = ask(api_url, {"User-Agent": CHROME_DESKTOP}, tz_offset=str(offset_for(8)), count="4")
    newest: dict[str, Any] = {}
    for article in newsroom.corpus:  # newest first: the first seen is each section's newest
        newest.setdefault(article.category, article)
    briefing = sorted(newest.values(), key=lambda a: a.reading_minutes)[:4]
    assert picks(body) == [(a.slug, "Morning briefing") for a in briefing]
    context = body["metadata"]["context"]
    assert (context["local_hour"], context["hour_source"]) == (8, "client")


def test_an_android_phone_in_the_evening_gets_short_reads(newsroom: Newsroom, api_url: str) -> None:
    body = ask(api_url, {"User-Agent": ANDROID_PHONE}, tz_offset=str(offset_for(21)))
    shortest = sorted(newsroom.corpus, key=lambda a: a.reading_minutes)[:3]
    assert picks(body) == [(a.slug, "Short reads for your phone") for a in shortest]


def test_a_social_referrer_gets_what_readers_are_reading_now(newsroom: Newsroom, api_url: str) -> None:
    first, second = "keira-osei-nears-scoring-record", "brackenford-marathon-course-record"
    for slug in (first, second):
        read(newsroom, new_reader(), slug)
    read(newsroom, new_reader(), second)
    newsroom.log.flush()
    body = ask(api_url, {"User-Agent": CHROME_DESKTOP, "Referer": "https://t.co/Xy12AbCdE"})
    assert picks(body) == [(second, "Trending now"), (first, "Trending now")]
    assert body["metadata"]["context"]["referrer"] == {"medium": "social", "source": "Twitter", "term": None}


def test_robots_get_the_plain_cold_start(newsroom: Newsroom, api_url: str) -> None:
    read(newsroom, new_reader(), "keira-osei-nears-scoring-record")
    newsroom.log.flush()
    body = ask(
        api_url,
        {"User-Agent": GOOGLEBOT, "Referer": "https://www.google.com/search?q=battery+storage"},
        tz_offset=str(offset_for(8)),
    )
    assert picks(body) == [("keira-osei-nears-scoring-record", "Popular with readers")]
    assert body["metadata"]["strategy"] == "popular"
    assert body["metadata"]["context"]["device"] == "Robot"
    assert body["metadata"]["context"]["rules"] == []


def test_a_link_from_our_own_pages_is_internal_and_changes_nothing(api_url: str) -> None:
    own = f"{api_url}/category/sport"
    body = ask(api_url, {"User-Agent": CHROME_DESKTOP, "Referer": own})
    assert body["metadata"]["context"]["referrer"]["medium"] == "internal"
    assert body["recommendations"] == [] and body["metadata"]["strategy"] == "empty"


def test_a_forwarded_referrer_parameter_wins_over_the_header(api_url: str) -> None:
    # A script on our page calling the API sends our page as Referer; it forwards document.referrer.
    body = ask(
        api_url,
        {"User-Agent": CHROME_DESKTOP, "Referer": f"{api_url}/"},
        referrer="https://duckduckgo.com/?q=battery+storage",
    )
    assert body["metadata"]["context"]["referrer"]["source"] == "DuckDuckGo"
    assert {r["reason"] for r in body["recommendations"]} == {SEARCHED}


def test_the_language_preference_is_noted(api_url: str) -> None:
    body = ask(api_url, {"User-Agent": CHROME_DESKTOP, "Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"})
    context = body["metadata"]["context"]
    assert context["languages"] == ["fr-CH", "fr", "en"]
    assert context["notes"] == ["Our stories are in English"]


def test_a_reader_with_history_keeps_the_personalised_answer(newsroom: Newsroom, api_url: str) -> None:
    reader = new_reader()
    sport = [a.slug for a in newsroom.corpus.in_category("sport")[:3]]
    for slug in sport:
        read(newsroom, reader, slug)
    newsroom.log.flush()
    body = ask(
        api_url,
        {"User-Agent": IPHONE, "Referer": "https://www.google.com/search?q=battery+storage"},
        domain_userid=reader.domain_userid,
    )
    meta = body["metadata"]
    assert (meta["strategy"], meta["segment"], meta["interests"]) == ("personalised", "topic_loyalist", ["sport"])
    assert body["recommendations"][0]["reason"] == "More in Sport"
    assert meta["context"]["reasons"] == []  # the context was read, but history decided
    assert [r["name"] for r in meta["context"]["rules"]] == ["search", "mobile"]


@pytest.mark.parametrize("tz_offset", ["abc", "1.5", "9999", "-841", "٣٠"])
def test_a_malformed_tz_offset_is_a_json_400(api_url: str, tz_offset: str) -> None:
    response = httpx.get(
        f"{api_url}/api/recommended-articles",
        params={"domain_userid": str(uuid.uuid4()), "tz_offset": tz_offset},
        headers={"User-Agent": CHROME_DESKTOP} | AUTH,
    )
    assert response.status_code == 400
    assert "'tz_offset'" in response.json()["error"]
