"""Route constants and URL builders, so no page spells a path by hand (covers: `media_demo.articles.cover_urls`)."""

from __future__ import annotations

from urllib.parse import unquote

HOME = "/"
NOT_FOUND = "404"
INSPECTOR = "/inspector"
PRIVACY = "/privacy"
ACCOUNT = "/account"
EXPERIMENTS = "/experiments"
SEARCH = "/search"
DIGEST_PREVIEW = "/account/digest-preview"
# Links in mails: a page with one button each, so a mail scanner fetching the link changes nothing.
EMAIL_CONFIRM = "/email/confirm"
EMAIL_UNSUBSCRIBE = "/email/unsubscribe"
ARTICLE_PREFIX = "/article/"
CATEGORY_PREFIX = "/category/"
# The one route of every story and every section: what a story is, is read from the live corpus.
ARTICLE_ROUTE = f"{ARTICLE_PREFIX}[slug]"
CATEGORY_ROUTE = f"{CATEGORY_PREFIX}[section]"


def article_url(slug: str) -> str:
    """The article page's path."""
    return f"{ARTICLE_PREFIX}{slug}"


def category_url(category: str) -> str:
    """The category page's path."""
    return f"{CATEGORY_PREFIX}{category}"


def path_argument(path: str, prefix: str) -> str:
    """The one argument of a dynamic route (`/article/<slug>` with `ARTICLE_PREFIX`): its first segment after
    `prefix`, unquoted; "" when `path` is not under `prefix`."""
    if not path.startswith(prefix):
        return ""
    return unquote(path[len(prefix) :].split("/", 1)[0])
