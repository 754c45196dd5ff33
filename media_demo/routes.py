"""Route constants and URL builders, so no page spells a path by hand (covers: `media_demo.articles.cover_urls`)."""

from __future__ import annotations

HOME = "/"
NOT_FOUND = "404"
INSPECTOR = "/inspector"
PRIVACY = "/privacy"
ACCOUNT = "/account"
ARTICLE_PREFIX = "/article/"
CATEGORY_PREFIX = "/category/"


def article_url(slug: str) -> str:
    return f"{ARTICLE_PREFIX}{slug}"


def category_url(category: str) -> str:
    return f"{CATEGORY_PREFIX}{category}"
