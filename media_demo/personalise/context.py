"""Contextual cold start: what to show a reader we know nothing about, from the request alone.

The referrer, the `utm_*` parameters of the link, the device, the reader's
local hour and their languages say something even on a first visit. They
are parsed with the enrichment's own helpers (so the answer agrees with what
the event pipeline records) into a `ReaderContext`; `CONTEXT_RULES` (data:
conditions, a reason, where the stories come from) turn it into picks with
honest reasons, in priority order, falling back to the most-read stories.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from media_demo.articles import Article, Corpus, section_label
from media_demo.personalise.segments import Condition, Rule, all_of, why
from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.popularity import Popularity
from media_demo.recommend.strategy import DEFAULT_COUNT, Recommendation, popular
from media_demo.signals.ingest.enrich import campaign_fields, referer_fields, user_agent_fields

MAX_TZ_OFFSET_MINUTES = 14 * 60
MAX_HEADER_CHARS = 1024
MAX_LANGUAGES = 8
PER_RULE_FIRST_PASS = 2  # each rule's share of the first pass, so two contexts can both show
SHORT_READ_MAX_MINUTES = 3
NEWSLETTER_MEDIUMS = frozenset({"email", "newsletter", "e-mail"})
PAID_SEARCH_MEDIUMS = frozenset({"cpc", "ppc", "paid_search", "paidsearch", "paid-search"})
_LANGUAGE_RANGE = re.compile(r"^(?:[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)$")


def server_now() -> dt.datetime:
    """The default clock: now, in the server's local time zone."""
    return dt.datetime.now().astimezone()


def parse_accept_language(header: str | None) -> tuple[str, ...]:
    """Language tags of an `Accept-Language` header, most preferred first (`*` and q=0 dropped)."""
    if not header:
        return ()
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:MAX_HEADER_CHARS].split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not _LANGUAGE_RANGE.match(tag):
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, position, tag))
    return tuple(tag for _, _, tag in sorted(ranked)[:MAX_LANGUAGES])


def _local_time(at: dt.datetime, tz_offset_minutes: int | None, tz_name: str | None) -> tuple[dt.datetime, str]:
    """The reader's local time and where it came from: their offset, their zone name, else the server's clock."""
    if tz_offset_minutes is not None:
        if not -MAX_TZ_OFFSET_MINUTES <= tz_offset_minutes <= MAX_TZ_OFFSET_MINUTES:
            raise ValueError(f"tz_offset_minutes: must be within ±{MAX_TZ_OFFSET_MINUTES}, got {tz_offset_minutes}")
        return at.astimezone(dt.timezone(dt.timedelta(minutes=tz_offset_minutes))), "client"
    if tz_name:
        try:
            return at.astimezone(ZoneInfo(tz_name)), "client"
        except (ZoneInfoNotFoundError, ValueError):
            pass  # an unknown zone name is no worse than none
    return at, "server"


@dataclass(frozen=True)
class ReaderContext:
    """What one request says about its reader, before any history."""

    at: dt.datetime  # when, time-zone aware
    local_hour: int
    hour_source: str = "server"  # "client": from the reader's offset or zone; "server": the server's clock
    device: str = "Unknown"  # Computer / Mobile / Tablet / Robot / Unknown, as the enrichment's dvce_type
    referrer_medium: str | None = None  # search / social / email / internal / unknown
    referrer_source: str | None = None  # e.g. Google, Facebook, Gmail
    search_term: str | None = None
    utm_medium: str | None = None
    utm_source: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    languages: tuple[str, ...] = ()  # Accept-Language tags, most preferred first

    @classmethod
    def from_request(
        cls,
        *,
        user_agent: str | None = None,
        referrer: str | None = None,
        query: str | Mapping[str, str] | None = None,
        accept_language: str | None = None,
        host: str | None = None,
        tz_offset_minutes: int | None = None,
        tz_name: str | None = None,
        clock: Callable[[], dt.datetime] = server_now,
    ) -> ReaderContext:
        """Build the context from request-like inputs.

        `query` is the landing page's query string (or its parameters) holding `utm_*`;
        `host` is the site's own host, so a referrer from it is `internal`;
        `tz_offset_minutes` is the reader's offset east of UTC (`-new Date().getTimezoneOffset()`
        in a browser). Without an offset or zone the server's local hour stands in.
        """
        at = clock()
        if at.tzinfo is None:
            raise ValueError("clock: must return a time-zone aware datetime")
        local, hour_source = _local_time(at, tz_offset_minutes, tz_name)
        if isinstance(query, Mapping):
            query = urlencode([(k, v) for k, v in query.items() if k.startswith("utm_")])
        campaign = campaign_fields(query or None)
        refr = _referrer(referrer, host)
        search_term = refr.get("refr_term")
        if not search_term and (campaign.get("mkt_medium") or "").lower() in PAID_SEARCH_MEDIUMS:
            search_term = campaign.get("mkt_term")  # a paid-search click carries its keyword in utm_term
        device = str(dict(user_agent_fields(user_agent[:MAX_HEADER_CHARS]))["dvce_type"]) if user_agent else "Unknown"
        return cls(
            at=at,
            local_hour=local.hour,
            hour_source=hour_source,
            device=device,
            referrer_medium=refr.get("refr_medium"),
            referrer_source=refr.get("refr_source"),
            search_term=search_term,
            languages=parse_accept_language(accept_language),
            utm_medium=campaign.get("mkt_medium"),
            utm_source=campaign.get("mkt_source"),
            utm_campaign=campaign.get("mkt_campaign"),
            utm_content=campaign.get("mkt_content"),
            utm_term=campaign.get("mkt_term"),
        )

    @property
    def newsletter(self) -> bool:
        """The link came from our newsletter: `utm_medium=email` or `newsletter`."""
        return (self.utm_medium or "").lower() in NEWSLETTER_MEDIUMS

    @property
    def language(self) -> str | None:
        """The primary subtag of the most preferred language ("fr" for "fr-CH")."""
        return self.languages[0].split("-")[0].lower() if self.languages else None


def _referrer(url: str | None, host: str | None) -> dict[str, str]:
    """`refr_medium`, `refr_source`, `refr_term` of a referrer URL, as the enrichment derives them."""
    if not url:
        return {}
    try:
        parts = urlsplit(url[:MAX_HEADER_CHARS])
    except ValueError:
        return {}
    if not parts.hostname:
        return {}
    return referer_fields(parts.hostname, parts.query or None, host)


def _words(text: str | None) -> list[str]:
    return re.findall(r"[a-z0-9]+", (text or "").lower())


def campaign_topic(context: ReaderContext, corpus: Corpus) -> tuple[str, str] | None:
    """("category" | "tag", name) named by `utm_campaign` or `utm_content`, e.g. `sport-weekly` -> sport.

    A category (or its plural) wins over a tag; among tags the longest match wins.
    """
    for value in (context.utm_campaign, context.utm_content):
        words = _words(value)
        if not words:  # the usual case, no campaign: nothing to match (and no tag to split)
            continue
        for category in corpus.categories:
            if category in words or f"{category}s" in words:
                return "category", category
        for tag in corpus.tags:
            parts = _words(tag)
            if any(words[i : i + len(parts)] == parts for i in range(len(words) - len(parts) + 1)):
                return "tag", tag
    return None


def topic_label(kind: str, name: str) -> str:
    """How a campaign topic reads: "Sport" for a category, "space telescopes" for a tag."""
    return section_label(name) if kind == "category" else name.replace("-", " ")


def context_facts(context: ReaderContext, corpus: Corpus) -> dict[str, Any]:
    """The flat mapping the context rules are evaluated on (and their reasons formatted with)."""
    topic = campaign_topic(context, corpus)
    return {
        "device": context.device,
        "local_hour": context.local_hour,
        "referrer_medium": context.referrer_medium,
        "referrer_source": context.referrer_source,
        "search_term": context.search_term,
        "newsletter": context.newsletter,
        "campaign_topic": None if topic is None else topic_label(*topic),
        "campaign_topic_ref": topic,
        "language": context.language,
        "now": context.at.timestamp(),
    }


# ------------------------------------------------------------------ where stories come from

Source = Callable[[Mapping[str, Any], Corpus, ArticleIndex, Popularity], list[Article]]
# The best search hits a rule draws on: a few slots' worth, even for a reader who has read many of
# them, without ranking an archive's every match of a common word.
SEARCH_HITS = 100


def _search(facts: Mapping[str, Any], corpus: Corpus, index: ArticleIndex, _stats: Popularity) -> list[Article]:
    hits = index.query(str(facts["search_term"]), SEARCH_HITS)
    return [a for slug, _ in hits if (a := corpus.get(slug)) is not None]


def _topic(facts: Mapping[str, Any], corpus: Corpus, _index: ArticleIndex, _stats: Popularity) -> list[Article]:
    kind, name = facts["campaign_topic_ref"]
    return corpus.in_category(name) if kind == "category" else [a for a in corpus if name in a.tags]


def _trending(_facts: Mapping[str, Any], corpus: Corpus, _index: ArticleIndex, stats: Popularity) -> list[Article]:
    return [a for slug in stats.ranking() if (a := corpus.get(slug)) is not None]


def _briefing(_facts: Mapping[str, Any], corpus: Corpus, _index: ArticleIndex, _stats: Popularity) -> list[Article]:
    """The newest story of each section, shortest first (newest first among equals)."""
    newest: dict[str, Article] = {}
    for article in corpus:  # newest first
        newest.setdefault(article.category, article)
    return sorted(newest.values(), key=lambda a: a.reading_minutes)


def _short_reads(_facts: Mapping[str, Any], corpus: Corpus, _index: ArticleIndex, _stats: Popularity) -> list[Article]:
    """Stories of at most `SHORT_READ_MAX_MINUTES`, shortest first (newest first among equals)."""
    short = [a for a in corpus if a.reading_minutes <= SHORT_READ_MAX_MINUTES]
    return sorted(short, key=lambda a: a.reading_minutes)


SOURCES: dict[str, Source] = {
    "search": _search,
    "topic": _topic,
    "trending": _trending,
    "briefing": _briefing,
    "short_reads": _short_reads,
}


@dataclass(frozen=True)
class ContextRule:
    """When `rule` holds for the context, stories from `source`, each given `reason` (formatted with the facts)."""

    name: str
    rule: Rule
    reason: str
    source: str | None = None  # a key of SOURCES; None for a note that changes no story

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in SOURCES:
            raise ValueError(f"source: unknown source {self.source!r}")


# Priority order: the strongest statement of intent first.
CONTEXT_RULES: tuple[ContextRule, ...] = (
    ContextRule(
        "search", all_of(Condition("search_term", "present")), "Because you searched for “{search_term}”", "search"
    ),
    ContextRule(
        "newsletter_topic",
        all_of(Condition("newsletter", "==", True), Condition("campaign_topic", "present")),
        "From the newsletter: {campaign_topic}",
        "topic",
    ),
    ContextRule(
        "campaign_topic",
        all_of(Condition("newsletter", "==", False), Condition("campaign_topic", "present")),
        "Because you followed a link about {campaign_topic}",
        "topic",
    ),
    ContextRule("social", all_of(Condition("referrer_medium", "==", "social")), "Trending now", "trending"),
    ContextRule(
        "morning_briefing",
        all_of(Condition("local_hour", ">=", 5), Condition("local_hour", "<=", 11)),
        "Morning briefing",
        "briefing",
    ),
    ContextRule("mobile", all_of(Condition("device", "==", "Mobile")), "Short reads for your phone", "short_reads"),
    ContextRule(
        "language",
        all_of(Condition("language", "present"), Condition("language", "!=", "en")),
        "Our stories are in English",
    ),
)
# Crawlers get what everyone gets: no guessing from a robot's headers.
CONTEXT_GATE = all_of(Condition("device", "!=", "Robot"))


@dataclass(frozen=True)
class AppliedRule:
    """A context rule that holds, its reason for this reader and why it holds."""

    rule: ContextRule
    reason: str
    why: str


def applied_rules(
    context: ReaderContext, corpus: Corpus, rules: tuple[ContextRule, ...] = CONTEXT_RULES
) -> list[AppliedRule]:
    """The rules that hold for `context`, in priority order (none for a robot)."""
    facts = context_facts(context, corpus)
    if CONTEXT_GATE.matched(facts) is None:
        return []
    applied = []
    for rule in rules:
        held = rule.rule.matched(facts)
        if held is not None:
            applied.append(AppliedRule(rule, rule.reason.format_map(facts), why(held, facts)))
    return applied


def contextual_picks(
    context: ReaderContext,
    corpus: Corpus,
    index: ArticleIndex,
    stats: Popularity,
    count: int = DEFAULT_COUNT,
    read: Collection[str] = (),
    rules: tuple[ContextRule, ...] = CONTEXT_RULES,
) -> list[Recommendation]:
    """Up to `count` stories for a reader without history, best first, never one in `read`.

    First pass: each rule that holds, in priority order, gives up to
    `PER_RULE_FIRST_PASS` stories; second pass: the same rules fill what is
    left; then the most-read stories ("Popular with readers"). A context
    where no rule holds gets exactly the plain cold start.
    """
    if count < 1:
        raise ValueError(f"count: must be >= 1, got {count}")
    facts = context_facts(context, corpus)
    chosen: list[Recommendation] = []
    taken = set(read)
    pools = [
        (applied, SOURCES[applied.rule.source](facts, corpus, index, stats))
        for applied in applied_rules(context, corpus, rules)
        if applied.rule.source is not None
    ]
    for cap in (PER_RULE_FIRST_PASS, count):
        for applied, pool in pools:
            given = sum(1 for r in chosen if r.kind == applied.rule.name)
            for article in pool:
                if len(chosen) >= count or given >= cap:
                    break
                if article.slug not in taken:
                    chosen.append(Recommendation(article, applied.reason, applied.rule.name))
                    taken.add(article.slug)
                    given += 1
    return chosen + popular(corpus, stats, count - len(chosen), exclude=taken)


def describe_context(context: ReaderContext, corpus: Corpus, picks: Collection[Recommendation] = ()) -> dict[str, Any]:
    """JSON-ready summary for the API and the inspector: the signals, the rules that hold, the reasons shown."""
    applied = applied_rules(context, corpus)
    topic = campaign_topic(context, corpus)
    return {
        "device": context.device,
        "referrer": {
            "medium": context.referrer_medium,
            "source": context.referrer_source,
            "term": context.search_term,
        },
        "campaign": {
            "medium": context.utm_medium,
            "source": context.utm_source,
            "name": context.utm_campaign,
            "content": context.utm_content,
            "newsletter": context.newsletter,
            "topic": None if topic is None else {"kind": topic[0], "name": topic[1]},
        },
        "local_hour": context.local_hour,
        "hour_source": context.hour_source,
        "languages": list(context.languages),
        "rules": [{"name": a.rule.name, "reason": a.reason, "why": a.why} for a in applied],
        "reasons": list(dict.fromkeys(r.reason for r in picks)),
        "notes": [a.reason for a in applied if a.rule.source is None],
    }
