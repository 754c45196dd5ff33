"""Which site a referrer is: a small, hand-kept cut of Snowplow's referer-parser database.

`classify(host)` answers (medium, source, search-term parameters) for a
referrer host; the enrichment adds `internal` (same host as the page) and
`unknown` (anything not listed). Hosts match on themselves or any parent
domain (`l.facebook.com` is `facebook.com`), longest first, so
`mail.google.com` (email) wins over `google.com` (search). Search engines with
one domain per country (`google.co.uk`, `yandex.ru`) also match on their brand
label. Mastodon instances are out of scope: there are too many to list.
"""

from __future__ import annotations

from functools import lru_cache

SEARCH, SOCIAL, EMAIL = "search", "social", "email"

# brand label -> (source name, query parameters holding the search term (first found wins),
#                 whether the bare domain is the search page: yes for google.de, no for yahoo.com's portal)
_SEARCH_ENGINES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "google": ("Google", ("q", "query"), True),
    "bing": ("Bing", ("q",), True),
    "duckduckgo": ("DuckDuckGo", ("q",), True),
    "ecosia": ("Ecosia", ("q",), True),
    "baidu": ("Baidu", ("wd", "word", "kw"), True),
    "yandex": ("Yandex", ("text",), True),
    "qwant": ("Qwant", ("q",), True),
    "startpage": ("Startpage", ("query", "q"), True),
    "yahoo": ("Yahoo!", ("p", "q"), False),
    "brave": ("Brave Search", ("q",), False),
    "naver": ("Naver", ("query",), False),
    "seznam": ("Seznam", ("q",), False),
    "aol": ("AOL", ("q", "query"), False),
}
_SOCIAL: dict[str, str] = {
    "facebook.com": "Facebook",
    "fb.com": "Facebook",
    "fb.me": "Facebook",
    "twitter.com": "Twitter",
    "x.com": "Twitter",
    "t.co": "Twitter",
    "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit.com": "Reddit",
    "redd.it": "Reddit",
    "instagram.com": "Instagram",
    "threads.net": "Threads",
    "threads.com": "Threads",
    "bsky.app": "Bluesky",
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "pinterest.com": "Pinterest",
    "tiktok.com": "TikTok",
    "tumblr.com": "Tumblr",
    "news.ycombinator.com": "Hacker News",
    "web.whatsapp.com": "WhatsApp",
    "t.me": "Telegram",
    "vk.com": "VKontakte",
    "weibo.com": "Weibo",
}
_EMAIL: dict[str, str] = {
    "mail.google.com": "Gmail",
    "inbox.google.com": "Gmail",
    "outlook.live.com": "Outlook.com",
    "outlook.office.com": "Outlook.com",
    "outlook.office365.com": "Outlook.com",
    "mail.yahoo.com": "Yahoo! Mail",
    "mail.aol.com": "AOL Mail",
    "mail.proton.me": "Proton Mail",
    "mail.yandex.ru": "Yandex Mail",
    "mail.yandex.com": "Yandex Mail",
    "app.fastmail.com": "Fastmail",
    "mail.zoho.com": "Zoho Mail",
}
# host -> (medium, source, term parameters)
HOSTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{host: (SOCIAL, name, ()) for host, name in _SOCIAL.items()},
    **{host: (EMAIL, name, ()) for host, name in _EMAIL.items()},
}
# Second-level labels under which a country code top-level domain is registered (google.co.uk, google.com.br).
_CC_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"})
# Sub-domains of a search brand that are still its search page (not docs.google.com or news.yahoo.com);
# `search.<brand>` always is.
_SEARCH_PREFIXES = frozenset({"", "www", "m", "html", "lite"})


def _brand(labels: list[str]) -> tuple[str, str] | None:
    """(sub-domain prefix, brand label) of a host split into labels, or None when too short."""
    rest = labels[:-1]  # without the top-level domain
    if len(labels[-1]) == 2 and len(rest) >= 2 and rest[-1] in _CC_SECOND_LEVEL:
        rest = rest[:-1]
    if not rest:
        return None
    return ".".join(rest[:-1]), rest[-1]


@lru_cache(maxsize=4096)
def classify(host: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(medium, source, search-term parameters) of a referrer host, None when it is not listed."""
    labels = host.lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):
        found = HOSTS.get(".".join(labels[start:]))
        if found is not None:
            return found
    if len(labels) >= 2 and (brand := _brand(labels)) is not None:
        prefix, name = brand
        engine = _SEARCH_ENGINES.get(name)
        if engine is not None and (prefix == "search" or (engine[2] and prefix in _SEARCH_PREFIXES)):
            return SEARCH, engine[0], engine[1]
    return None
