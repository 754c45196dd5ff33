"""Enrichment of the event's context: referrer, campaign (`utm_*`) and user agent.

Payloads are built by the real snowplow-tracker, so the fields are read from
exactly what a tracker sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from snowplow_tracker import PageView, Subject, Tracker

from media_demo.signals.engine.events import BadEvent, CanonicalEvent
from media_demo.signals.ingest.enrich import enrich, enrich_or_bad, user_agent_fields
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.signals.ingest.referers import classify
from media_demo.tracking import InProcessEmitter

ROOT = Path(__file__).resolve().parents[2]
DUID = "6d1c2f0e-8a43-4b5e-9f2d-1c0b7a6e5d41"
PAGE_URL = "https://dailycurrent.example/article/comet-tail"
COLLECTOR_TIME = 1_800_000_000.0
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.from_folder(ROOT / "data" / "schemas")


def page_view(
    registry: SchemaRegistry, *, url: str = PAGE_URL, referrer: str | None = None, useragent: str | None = None
) -> dict[str, Any]:
    """The atomic fields of a page view tracked by the real tracker and enriched."""
    subject = Subject().set_platform("web").set_domain_user_id(DUID)
    if useragent is not None:
        subject.set_useragent(useragent)
    sink: list[dict[str, str]] = []
    tracker = Tracker(namespace="test", emitters=InProcessEmitter(sink.append), app_id="daily-current")
    tracker.track(PageView(page_url=url, page_title="Comet tail", referrer=referrer, event_subject=subject))
    [payload] = sink
    return enrich(payload, registry, collector_time=COLLECTOR_TIME).atomic


# ---------------------------------------------------------------------- referrer


@pytest.mark.parametrize(
    ("referrer", "medium", "source", "term"),
    [
        ("https://dailycurrent.example/section/sport", "internal", None, None),
        ("https://www.dailycurrent.example/", "internal", None, None),
        ("https://www.google.com/search?q=comet+tail&hl=en", "search", "Google", "comet tail"),
        ("https://www.google.co.uk/search?q=eclipse", "search", "Google", "eclipse"),
        ("https://www.google.com.br/search?q=chuva", "search", "Google", "chuva"),
        ("https://www.google.com/", "search", "Google", None),
        ("https://www.bing.com/search?q=storm%20warning&form=QBLH", "search", "Bing", "storm warning"),
        ("https://duckduckgo.com/?q=tide+tables", "search", "DuckDuckGo", "tide tables"),
        ("https://search.yahoo.com/search?p=election+results", "search", "Yahoo!", "election results"),
        ("https://www.ecosia.org/search?method=index&q=trees", "search", "Ecosia", "trees"),
        ("https://www.baidu.com/s?wd=comet", "search", "Baidu", "comet"),
        ("https://yandex.ru/search/?text=comet", "search", "Yandex", "comet"),
        ("https://t.co/a1b2c3", "social", "Twitter", None),
        ("https://x.com/someone/status/1", "social", "Twitter", None),
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fdailycurrent.example", "social", "Facebook", None),
        ("https://www.linkedin.com/feed/", "social", "LinkedIn", None),
        ("https://old.reddit.com/r/news/", "social", "Reddit", None),
        ("https://l.instagram.com/?u=x", "social", "Instagram", None),
        ("https://www.threads.net/@someone", "social", "Threads", None),
        ("https://bsky.app/profile/someone.bsky.social", "social", "Bluesky", None),
        ("https://m.youtube.com/watch?v=abc", "social", "YouTube", None),
        ("https://mail.google.com/mail/u/0/", "email", "Gmail", None),
        ("https://outlook.live.com/mail/0/inbox", "email", "Outlook.com", None),
        ("https://mail.yahoo.com/d/folders/1", "email", "Yahoo! Mail", None),
        ("https://news.example.org/story?q=comet", "unknown", None, None),
        ("https://docs.google.com/document/d/1?q=comet", "unknown", None, None),
        ("https://news.yahoo.com/story", "unknown", None, None),
        ("https://google.evil.example/?q=comet", "unknown", None, None),
        ("https://mastodon.social/@someone", "unknown", None, None),
    ],
)
def test_referrer_medium_source_and_term(
    registry: SchemaRegistry, referrer: str, medium: str, source: str | None, term: str | None
) -> None:
    a = page_view(registry, referrer=referrer)
    assert a["page_referrer"] == referrer
    assert a["refr_medium"] == medium
    assert a.get("refr_source") == source
    assert a.get("refr_term") == term


def test_no_referrer_no_referrer_fields(registry: SchemaRegistry) -> None:
    a = page_view(registry)
    assert not {"refr_medium", "refr_source", "refr_term"} & a.keys()


def test_more_specific_hosts_win_over_their_parent_domain() -> None:
    # mail.google.com is email although google.com is search; any sub-domain of a listed site is that site.
    assert classify("mail.google.com") == ("email", "Gmail", ())
    assert classify("www.google.de") == ("search", "Google", ("q", "query"))
    assert classify("lm.facebook.com") == ("social", "Facebook", ())
    assert classify("WWW.LinkedIn.com") == ("social", "LinkedIn", ())
    assert classify("example.com") is None


# ------------------------------------------------------------ campaign (utm_*)


def test_utm_parameters_become_marketing_fields(registry: SchemaRegistry) -> None:
    url = (
        f"{PAGE_URL}?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20brief"
        "&utm_term=comet+tail&utm_content=top-link&ref=home"
    )
    a = page_view(registry, url=url)
    assert (a["mkt_source"], a["mkt_medium"], a["mkt_campaign"], a["mkt_term"], a["mkt_content"]) == (
        "newsletter",
        "email",
        "spring brief",
        "comet tail",
        "top-link",
    )
    assert "mkt_clickid" not in a


def test_first_value_wins_and_empty_values_are_ignored(registry: SchemaRegistry) -> None:
    a = page_view(registry, url=f"{PAGE_URL}?utm_source=first&utm_source=second&utm_medium=")
    assert a["mkt_source"] == "first"
    assert "mkt_medium" not in a


def test_click_id_gives_the_ad_network(registry: SchemaRegistry) -> None:
    a = page_view(registry, url=f"{PAGE_URL}?gclid=Cj0KCQ&utm_campaign=brand")
    assert (a["mkt_clickid"], a["mkt_network"], a["mkt_campaign"]) == ("Cj0KCQ", "Google", "brand")


def test_no_campaign_parameters_no_marketing_fields(registry: SchemaRegistry) -> None:
    a = page_view(registry, url=f"{PAGE_URL}?ref=home")
    assert not [key for key in a if key.startswith("mkt_")]


# ------------------------------------------------------------------ user agent


@pytest.mark.parametrize(
    ("useragent", "br_family", "br_version", "os_family", "dvce_type", "dvce_ismobile"),
    [
        (CHROME_WINDOWS, "Chrome", "120.0.0.0", "Windows", "Computer", False),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Safari/605.1.15",
            "Safari",
            "17.1",
            "Mac OS X",
            "Computer",
            False,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox",
            "121.0",
            "Linux",
            "Computer",
            False,
        ),
        (IPHONE, "Mobile Safari", "17.1", "iOS", "Mobile", True),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            "Chrome Mobile",
            "120.0.0.0",
            "Android",
            "Mobile",
            True,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/16.6 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "16.6",
            "iOS",
            "Tablet",
            True,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/119.0.0.0 Safari/537.36",
            "Chrome",
            "119.0.0.0",
            "Android",
            "Tablet",
            True,
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Googlebot",
            "2.1",
            "Unknown",
            "Robot",
            False,
        ),
        ("curl/8.5.0", "curl", "8.5.0", "Unknown", "Robot", False),
        ("pytest", "Unknown", None, "Unknown", "Unknown", False),
    ],
)
def test_user_agent_fields(
    registry: SchemaRegistry,
    useragent: str,
    br_family: str,
    br_version: str | None,
    os_family: str,
    dvce_type: str,
    dvce_ismobile: bool,
) -> None:
    a = page_view(registry, useragent=useragent)
    assert a["useragent"] == useragent
    assert (a["br_family"], a.get("br_version"), a["os_family"]) == (br_family, br_version, os_family)
    assert (a["dvce_type"], a["dvce_ismobile"]) == (dvce_type, dvce_ismobile)


def test_a_phone_brand_containing_bot_is_not_a_robot(registry: SchemaRegistry) -> None:
    cubot = (
        "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36"
    )
    assert page_view(registry, useragent=cubot)["dvce_type"] == "Mobile"


def test_no_user_agent_no_browser_fields(registry: SchemaRegistry) -> None:
    a = page_view(registry)
    assert not {"br_family", "br_version", "os_family", "dvce_type", "dvce_ismobile"} & a.keys()


def test_user_agent_parses_are_cached() -> None:
    before = user_agent_fields.cache_info().hits
    first = user_agent_fields(IPHONE)
    second = user_agent_fields(IPHONE)
    assert second is first
    assert user_agent_fields.cache_info().hits >= before + 1
    assert isinstance(first, tuple)  # immutable: a caller cannot change what others get from the cache


def test_context_fields_survive_the_json_round_trip(registry: SchemaRegistry) -> None:
    url = f"{PAGE_URL}?utm_source=newsletter"
    subject = Subject().set_platform("web").set_domain_user_id(DUID).set_useragent(IPHONE)
    sink: list[dict[str, str]] = []
    tracker = Tracker(namespace="test", emitters=InProcessEmitter(sink.append), app_id="daily-current")
    tracker.track(PageView(page_url=url, referrer="https://t.co/x", event_subject=subject))
    event = enrich(sink[0], registry, collector_time=COLLECTOR_TIME)
    assert CanonicalEvent.from_json(event.to_json()) == event
    assert event.atomic["dvce_ismobile"] is True


# ------------------------------------------------- hostile input never raises


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"dtm": "99999999999999999999"}, "field 'dtm' (dvce_created_tstamp) is out of range"),
        ({"stm": "-1"}, "field 'stm' (dvce_sent_tstamp) is out of range"),
        ({"ttm": str(10**16)}, "field 'ttm' (true_tstamp) is out of range"),
        ({"e": ["pv"]}, "field 'e' (event type) must be a string"),
        ({"e": {"pv": 1}}, "field 'e' (event type) must be a string"),
        ({"e": "ue", "ue_pr": {"schema": "iglu:a/b/jsonschema/1-0-0"}}, "field 'ue_pr' must be JSON text, got a dict"),
    ],
)
def test_hostile_payloads_become_bad_events(registry: SchemaRegistry, extra: dict[str, Any], reason: str) -> None:
    payload = {"e": "pv", "eid": "0b9e1f7a-3c2d-4e5f-8a9b-7c6d5e4f3a21", "duid": DUID, **extra}
    result = enrich_or_bad(payload, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, BadEvent)
    assert result.reason.startswith(reason)


def test_an_unexpected_error_is_a_bad_event_with_its_reason(registry: SchemaRegistry) -> None:
    class Exploding(dict):
        def items(self) -> Any:
            raise KeyError("boom")

    payload = Exploding(e="pv", eid="0b9e1f7a-3c2d-4e5f-8a9b-7c6d5e4f3a21", duid=DUID)
    result = enrich_or_bad(payload, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, BadEvent)
    assert result.reason == "enrichment failed: KeyError: 'boom'"
    assert DUID in result.payload
