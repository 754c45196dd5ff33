"""Contextual cold start: the context built from real request inputs, and each rule's picks.

User agents, referrers and query strings are the ones real browsers and sites send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import orjson
import pytest

from media_demo.articles import Article, Corpus
from media_demo.personalise.context import (
    CONTEXT_RULES,
    ReaderContext,
    applied_rules,
    campaign_topic,
    contextual_picks,
    describe_context,
    parse_accept_language,
)
from media_demo.recommend import ArticleIndex, ReaderProfile, ReadStats, Recommendation, recommend

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
CHROME_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLE_BATTERY = "https://www.google.com/search?q=battery&hl=en&source=hp"
SITE = "dailycurrent.example"
NOW = dt.datetime(2026, 11, 22, 14, 0, tzinfo=dt.UTC)  # a Sunday afternoon, UTC
HOUR = 3600.0

# slug, category, published, reading minutes, tags, title, body
ARTICLES = [
    ("grid-battery-farm", "technology", "2026-09-01", 4, ("energy", "batteries"), "Grid battery farm opens",
     "A battery farm stores wind power. Each battery container holds battery cells for the grid."),
    ("battery-recycling", "technology", "2026-09-05", 3, ("batteries", "recycling"), "Recycling plant opens",
     "A plant in the valley shreds spent cells from an old car battery and recovers lithium, cobalt, nickel "
     "and copper for new cells, employing forty people on two shifts."),
    ("chip-plant", "technology", "2026-09-20", 2, ("chips",), "Chip factory breaks ground",
     "Work began on a semiconductor plant that will etch chips on silicon wafers."),
    ("comet-tail", "science", "2026-09-15", 5, ("comets", "space-telescopes"), "Comet tail lengthens",
     "Amateur astronomers followed the comet through telescopes as dust streamed behind it."),
    ("soil-fungi", "science", "2026-08-01", 2, ("soil",), "Soil fungi help wheat",
     "Farmers who kept fungi in their fields saw wheat roots reach deeper water."),
    ("marathon-record", "sport", "2026-09-12", 3, ("running", "marathon"), "Marathon course record falls",
     "Runners set off in cool weather and the winner beat the course record by forty seconds."),
    ("cricket-debut", "sport", "2026-08-20", 2, ("cricket",), "Spinner takes five wickets on debut",
     "The county side handed a debut to a leg spinner who took five wickets before tea."),
    ("opera-tour", "culture", "2026-09-18", 6, ("opera", "music"), "Chamber opera tours village halls",
     "A soprano and string quartet performed in village halls to sold-out audiences."),
    ("film-festival", "culture", "2026-08-10", 2, ("film",), "Short film festival fills the cinema",
     "Directors screened short films in the harbour cinema across a crowded weekend."),
]  # fmt: skip


def make_article(
    slug: str, category: str, published: str, minutes: int, tags: tuple[str, ...], title: str, body: str
) -> Article:
    return Article(
        slug=slug,
        title=title,
        excerpt=body[:80],
        category=category,
        author="Test Author",
        published=dt.date.fromisoformat(published),
        reading_minutes=minutes,
        tags=tags,
        body=body,
    )


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(make_article(*row) for row in ARTICLES)


@pytest.fixture(scope="module")
def index(corpus: Corpus) -> ArticleIndex:
    return ArticleIndex.for_corpus(corpus)


@pytest.fixture
def stats() -> ReadStats:
    """opera-tour is the most read (3 readers, three days ago); film-festival the freshest (1 reader, now)."""
    stats = ReadStats()
    at = NOW.timestamp()
    for reader in ("a", "b", "c"):
        stats.observe("opera-tour", reader, at - 72 * HOUR)  # 3 x 0.125 = 0.375
    for reader in ("d", "e"):
        stats.observe("comet-tail", reader, at - 24 * HOUR)  # 2 x 0.5 = 1.0
    stats.observe("film-festival", "f", at)  # 1.0, read last
    return stats


def clock_at(moment: dt.datetime):
    return lambda: moment


def context(**request: object) -> ReaderContext:
    """A context from request-like inputs; an afternoon on the server unless told otherwise."""
    request.setdefault("clock", clock_at(NOW))
    request.setdefault("host", SITE)
    return ReaderContext.from_request(**request)  # type: ignore[arg-type]


def summary(recs: Iterable[Recommendation]) -> list[tuple[str, str, str]]:
    return [(r.article.slug, r.kind, r.reason) for r in recs]


# ----------------------------------------------------------------- the context from a request


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (IPHONE, "Mobile"),
        (ANDROID_PHONE, "Mobile"),
        (IPAD, "Tablet"),
        (CHROME_DESKTOP, "Computer"),
        (GOOGLEBOT, "Robot"),
        ("python-httpx/0.28.1", "Robot"),
        (None, "Unknown"),
    ],
)
def test_device_class_comes_from_the_user_agent(user_agent: str | None, device: str) -> None:
    assert context(user_agent=user_agent).device == device


@pytest.mark.parametrize(
    ("referrer", "medium", "source", "term"),
    [
        ("https://www.google.com/search?q=battery+storage", "search", "Google", "battery storage"),
        ("https://www.bing.com/search?q=comet+tail&form=QBLH", "search", "Bing", "comet tail"),
        ("https://duckduckgo.com/?q=opera+tour&ia=web", "search", "DuckDuckGo", "opera tour"),
        ("https://www.google.co.uk/", "search", "Google", None),  # the term is usually withheld nowadays
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fdailycurrent.example%2F", "social", "Facebook", None),
        ("https://t.co/AbC123xyz", "social", "Twitter", None),
        ("https://mail.google.com/mail/u/0/", "email", "Gmail", None),
        ("https://www.dailycurrent.example/category/sport", "internal", None, None),
        ("https://blog.example.org/links", "unknown", None, None),
        (None, None, None, None),
        ("not a url", None, None, None),
    ],
)
def test_referrer_is_classified_like_the_enrichment(
    referrer: str | None, medium: str | None, source: str | None, term: str | None
) -> None:
    ctx = context(referrer=referrer)
    assert (ctx.referrer_medium, ctx.referrer_source, ctx.search_term) == (medium, source, term)


def test_utm_parameters_from_a_query_string_or_a_mapping() -> None:
    query = "utm_source=daily-current&utm_medium=email&utm_campaign=sport-weekly&utm_content=top-story&page=2"
    ctx = context(query=query)
    assert (ctx.utm_source, ctx.utm_medium, ctx.utm_campaign, ctx.utm_content) == (
        "daily-current",
        "email",
        "sport-weekly",
        "top-story",
    )
    assert ctx.newsletter
    assert context(query={"utm_medium": "newsletter", "ref": "x"}).newsletter
    assert not context(query="utm_medium=social&utm_source=facebook").newsletter
    assert not context().newsletter


def test_a_paid_search_click_gives_its_keyword_as_the_search_term() -> None:
    ctx = context(query="utm_source=google&utm_medium=cpc&utm_term=home+battery&gclid=abc")
    assert ctx.search_term == "home battery"
    assert context(query="utm_medium=email&utm_term=home+battery").search_term is None


@pytest.mark.parametrize(
    ("offset", "zone", "hour", "source"),
    [
        (60, None, 15, "client"),  # Paris in winter
        (-300, None, 9, "client"),  # New York
        (330, None, 19, "client"),  # India, half-hour offset: 19:30
        (0, "Asia/Tokyo", 14, "client"),  # the offset wins over the zone name
        (None, "Asia/Tokyo", 23, "client"),
        (None, "Not/AZone", 14, "server"),
        (None, None, 14, "server"),
    ],
)
def test_local_hour_from_the_readers_offset_or_zone_else_the_server_clock(
    offset: int | None, zone: str | None, hour: int, source: str
) -> None:
    ctx = context(tz_offset_minutes=offset, tz_name=zone)
    assert (ctx.local_hour, ctx.hour_source) == (hour, source)


def test_the_server_hour_is_the_clocks_own_zone() -> None:
    moment = dt.datetime(2026, 11, 22, 7, 45, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert context(clock=clock_at(moment)).local_hour == 7


@pytest.mark.parametrize("offset", [841, -841, 10_000])
def test_an_impossible_offset_is_rejected(offset: int) -> None:
    with pytest.raises(ValueError, match="tz_offset_minutes"):
        context(tz_offset_minutes=offset)


def test_the_clock_must_be_time_zone_aware() -> None:
    with pytest.raises(ValueError, match="clock"):
        context(clock=clock_at(dt.datetime(2026, 11, 22, 8, 0)))


@pytest.mark.parametrize(
    ("header", "languages"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", ("fr-CH", "fr", "en", "de")),
        ("en-GB,en-US;q=0.9,en;q=0.8", ("en-GB", "en-US", "en")),
        ("en;q=0.5, de", ("de", "en")),
        ("da, en-gb;q=0.8, en;q=0.7", ("da", "en-gb", "en")),
        ("es;q=0, pt-BR", ("pt-BR",)),
        ("*", ()),
        ("", ()),
        (None, ()),
        ("en;q=abc, fr", ("fr",)),
        ("<script>, nl", ("nl",)),
    ],
)
def test_accept_language(header: str | None, languages: tuple[str, ...]) -> None:
    assert parse_accept_language(header) == languages
    ctx = context(accept_language=header)
    assert ctx.languages == languages
    assert ctx.language == (languages[0].split("-")[0].lower() if languages else None)


# ----------------------------------------------------------------- campaign topics


@pytest.mark.parametrize(
    ("query", "topic"),
    [
        ("utm_campaign=sport-weekly", ("category", "sport")),
        ("utm_campaign=weekend_sports_roundup", ("category", "sport")),
        ("utm_campaign=autumn-digest&utm_content=Culture", ("category", "culture")),
        ("utm_campaign=launch&utm_content=space-telescopes-promo", ("tag", "space-telescopes")),
        ("utm_campaign=batteries-explained", ("tag", "batteries")),
        ("utm_campaign=autumn-digest", None),
        ("utm_source=sport", None),  # only the campaign name and content name a topic
        ("", None),
    ],
)
def test_campaign_topic(corpus: Corpus, query: str, topic: tuple[str, str] | None) -> None:
    assert campaign_topic(context(query=query), corpus) == topic


# ----------------------------------------------------------------- each rule


def test_search_term_gives_matching_articles_best_first(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=CHROME_DESKTOP, referrer=GOOGLE_BATTERY)
    # Only the two battery stories contain the word; the farm says it three times in a short text.
    assert [slug for slug, _ in index.query("battery", 10)] == ["grid-battery-farm", "battery-recycling"]
    searched = "Because you searched for “battery”"
    assert summary(contextual_picks(ctx, corpus, index, stats)) == [
        ("grid-battery-farm", "search", searched),
        ("battery-recycling", "search", searched),
        ("opera-tour", "popular", "Popular with readers"),
    ]


def test_a_search_term_matching_nothing_falls_back_to_popular(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    ctx = context(referrer="https://www.google.com/search?q=xylophone")
    assert [r.kind for r in contextual_picks(ctx, corpus, index, stats)] == ["popular"] * 3


def test_newsletter_naming_a_section_puts_it_first(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(query="utm_source=daily-current&utm_medium=email&utm_campaign=sport-weekly")
    assert summary(contextual_picks(ctx, corpus, index, stats)) == [
        ("marathon-record", "newsletter_topic", "From the newsletter: Sport"),  # sport, newest first
        ("cricket-debut", "newsletter_topic", "From the newsletter: Sport"),
        ("opera-tour", "popular", "Popular with readers"),  # no more sport
    ]


def test_a_campaign_link_naming_a_tag(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(query="utm_source=facebook&utm_medium=paid-social&utm_campaign=space-telescopes")
    assert summary(contextual_picks(ctx, corpus, index, stats, count=2)) == [
        ("comet-tail", "campaign_topic", "Because you followed a link about space telescopes"),
        ("opera-tour", "popular", "Popular with readers"),
    ]


def test_social_referrer_gets_what_is_trending_now(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=CHROME_DESKTOP, referrer="https://l.facebook.com/")
    # Trending: film-festival 1.0 (read now), comet-tail 1.0 (a day ago), opera-tour 0.375 (three days ago).
    assert summary(contextual_picks(ctx, corpus, index, stats)) == [
        ("film-festival", "social", "Trending now"),
        ("comet-tail", "social", "Trending now"),
        ("opera-tour", "social", "Trending now"),
    ]
    # ... where the plain most-read order is opera-tour, comet-tail, film-festival.
    assert [slug for slug, _ in stats.most_read()] == ["opera-tour", "comet-tail", "film-festival"]


@pytest.mark.parametrize("hour", [5, 8, 11])
def test_morning_briefing_is_each_sections_newest_story_shortest_first(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats, hour: int
) -> None:
    morning = NOW.replace(hour=hour, minute=30)
    ctx = context(user_agent=CHROME_DESKTOP, clock=clock_at(morning))
    # Newest per section: chip-plant (2 min), opera-tour (6), comet-tail (5), marathon-record (3).
    assert summary(contextual_picks(ctx, corpus, index, stats, count=4)) == [
        ("chip-plant", "morning_briefing", "Morning briefing"),
        ("marathon-record", "morning_briefing", "Morning briefing"),
        ("comet-tail", "morning_briefing", "Morning briefing"),
        ("opera-tour", "morning_briefing", "Morning briefing"),
    ]


@pytest.mark.parametrize("hour", [4, 12, 23])
def test_no_briefing_outside_the_morning(corpus: Corpus, index: ArticleIndex, stats: ReadStats, hour: int) -> None:
    ctx = context(user_agent=CHROME_DESKTOP, clock=clock_at(NOW.replace(hour=hour)))
    assert "morning_briefing" not in {a.rule.name for a in applied_rules(ctx, corpus)}


def test_the_readers_own_morning_counts_not_the_servers(corpus: Corpus) -> None:
    # 14:00 UTC is 08:00 in Chicago (UTC-6 in November).
    ctx = context(user_agent=CHROME_DESKTOP, tz_offset_minutes=-360)
    assert [a.rule.name for a in applied_rules(ctx, corpus)] == ["morning_briefing"]


@pytest.mark.parametrize("user_agent", [IPHONE, ANDROID_PHONE])
def test_a_phone_gets_short_reads_first(corpus: Corpus, index: ArticleIndex, stats: ReadStats, user_agent: str) -> None:
    ctx = context(user_agent=user_agent)
    # Two-minute stories, newest first: chip-plant (09-20), cricket-debut (08-20), film-festival, soil-fungi.
    assert summary(contextual_picks(ctx, corpus, index, stats, count=5)) == [
        ("chip-plant", "mobile", "Short reads for your phone"),
        ("cricket-debut", "mobile", "Short reads for your phone"),
        ("film-festival", "mobile", "Short reads for your phone"),
        ("soil-fungi", "mobile", "Short reads for your phone"),
        ("marathon-record", "mobile", "Short reads for your phone"),  # three minutes
    ]


def test_a_tablet_is_not_a_phone(corpus: Corpus) -> None:
    assert applied_rules(context(user_agent=IPAD), corpus) == []


def test_a_foreign_language_is_noted_but_changes_no_story(
    corpus: Corpus, index: ArticleIndex, stats: ReadStats
) -> None:
    ctx = context(user_agent=CHROME_DESKTOP, accept_language="fr-CH, fr;q=0.9, en;q=0.8")
    picks = contextual_picks(ctx, corpus, index, stats)
    assert [r.kind for r in picks] == ["popular"] * 3
    described = describe_context(ctx, corpus, picks)
    assert described["notes"] == ["Our stories are in English"]
    assert described["languages"] == ["fr-CH", "fr", "en"]
    assert not describe_context(context(accept_language="en-GB,en;q=0.9"), corpus)["notes"]


def test_robots_get_the_plain_cold_start(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=GOOGLEBOT, referrer=GOOGLE_BATTERY, clock=clock_at(NOW.replace(hour=8)))
    assert applied_rules(ctx, corpus) == []
    assert contextual_picks(ctx, corpus, index, stats) == recommend(ReaderProfile(), corpus, index, stats)


# ----------------------------------------------------------------- combining rules


def test_rules_share_the_first_pass_in_priority_order(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=IPHONE, referrer=GOOGLE_BATTERY, tz_offset_minutes=-360)  # 08:00, on a phone
    assert [a.rule.name for a in applied_rules(ctx, corpus)] == ["search", "morning_briefing", "mobile"]
    assert summary(contextual_picks(ctx, corpus, index, stats, count=6)) == [
        ("grid-battery-farm", "search", "Because you searched for “battery”"),
        ("battery-recycling", "search", "Because you searched for “battery”"),
        ("chip-plant", "morning_briefing", "Morning briefing"),
        ("marathon-record", "morning_briefing", "Morning briefing"),
        ("cricket-debut", "mobile", "Short reads for your phone"),
        ("film-festival", "mobile", "Short reads for your phone"),
    ]


def test_a_morning_phone_reader(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=IPHONE, clock=clock_at(NOW.replace(hour=7)))
    assert summary(contextual_picks(ctx, corpus, index, stats)) == [
        ("chip-plant", "morning_briefing", "Morning briefing"),
        ("marathon-record", "morning_briefing", "Morning briefing"),
        ("cricket-debut", "mobile", "Short reads for your phone"),  # chip-plant is already taken
    ]


def test_never_an_article_already_read(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=IPHONE, referrer=GOOGLE_BATTERY)
    read = {"grid-battery-farm", "chip-plant", "opera-tour"}
    picks = contextual_picks(ctx, corpus, index, stats, count=len(corpus), read=read)
    assert not {r.article.slug for r in picks} & read
    assert len(picks) == len({r.article.slug for r in picks}) == len(corpus) - len(read)
    assert summary(picks[:2]) == [
        ("battery-recycling", "search", "Because you searched for “battery”"),
        ("cricket-debut", "mobile", "Short reads for your phone"),
    ]


def test_no_context_is_exactly_the_plain_cold_start(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(user_agent=CHROME_DESKTOP)
    assert applied_rules(ctx, corpus) == []
    assert contextual_picks(ctx, corpus, index, stats) == recommend(ReaderProfile(), corpus, index, stats)
    assert contextual_picks(ctx, corpus, index, ReadStats()) == []


@pytest.mark.parametrize("count", [0, -1])
def test_count_below_one_is_rejected(corpus: Corpus, index: ArticleIndex, stats: ReadStats, count: int) -> None:
    with pytest.raises(ValueError, match="count: must be >= 1"):
        contextual_picks(context(), corpus, index, stats, count=count)


def test_every_rule_has_a_reason_and_a_known_source() -> None:
    names = [rule.name for rule in CONTEXT_RULES]
    assert names == ["search", "newsletter_topic", "campaign_topic", "social", "morning_briefing", "mobile", "language"]
    assert all(rule.reason for rule in CONTEXT_RULES)


def test_describe_context_is_json_for_the_api(corpus: Corpus, index: ArticleIndex, stats: ReadStats) -> None:
    ctx = context(
        user_agent=IPHONE,
        referrer="https://www.google.com/search?q=battery+storage",
        query="utm_source=daily-current&utm_medium=email&utm_campaign=sport-weekly",
        accept_language="de-DE,de;q=0.9",
        tz_offset_minutes=60,
    )
    picks = contextual_picks(ctx, corpus, index, stats)
    described = orjson.loads(orjson.dumps(describe_context(ctx, corpus, picks)))
    assert described["device"] == "Mobile"
    assert described["referrer"] == {"medium": "search", "source": "Google", "term": "battery storage"}
    assert described["campaign"]["newsletter"] is True
    assert described["campaign"]["topic"] == {"kind": "category", "name": "sport"}
    assert (described["local_hour"], described["hour_source"]) == (15, "client")
    assert [r["name"] for r in described["rules"]] == ["search", "newsletter_topic", "mobile", "language"]
    assert described["rules"][0]["why"] == "search term: “battery storage”"
    assert described["reasons"] == ["Because you searched for “battery storage”", "From the newsletter: Sport"]
    assert described["notes"] == ["Our stories are in English"]


# ----------------------------------------------------------------- ArticleIndex.query


def test_query_scores_free_text_and_leaves_out_what_shares_nothing(index: ArticleIndex) -> None:
    hits = index.query("comet telescopes", 5)
    assert [slug for slug, _ in hits] == ["comet-tail"]
    assert 0.0 < hits[0][1] <= 1.0
    assert index.query("the and of", 5) == []  # stop words only
    assert index.query("", 5) == []
    assert len(index.query("battery", 1)) == 1


def test_query_rejects_a_negative_k(index: ArticleIndex) -> None:
    # (An index is always built with its TF-IDF model now: there is no bare similarity-matrix index to refuse.)
    with pytest.raises(ValueError, match="k: must be >= 0"):
        index.query("battery", -1)
