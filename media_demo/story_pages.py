"""Story and section pages as a plain HTTP GET sees them: the app's shell with the story in its head.

Every story is one dynamic route, rendered in the browser; a link preview (a chat app, a
social network) or a search engine's crawler reads only the HTML of the first response.
So where the backend answers `/article/<slug>` and `/category/<section>` (behind the static
host's proxy rule in the README's "Hosting an export"), it sends
the built shell with the story's title, description, canonical address and cover as
`<title>`, `<meta name="description">`, Open Graph and Twitter card tags, and the status
a crawler should see: 200, 410 for a withdrawn story, 404 for an unknown one. The
browser then runs the app from that same shell, as from any other page.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from media_demo import routes
from media_demo.articles import Article, section_label
from media_demo.articles.cover_urls import cover_src
from media_demo.newsroom import Newspaper
from media_demo.paper import PAPER_NAME
from media_demo.settings import PROJECT_ROOT, Settings

BUILT_SHELL = PROJECT_ROOT / ".web" / "build" / "client" / "__spa-fallback.html"
EXPORTED_SHELL = PROJECT_ROOT / "data" / "page_shell.html"
CACHE_SECONDS = 60  # a withdrawn story stops being previewed within a minute


def find_shell(settings: Settings) -> Path | None:
    """The page shell to serve: the configured one, the built frontend's, or the one an export shipped."""
    if settings.page_shell is not None:
        if not settings.page_shell.is_file():
            raise ValueError(f"page_shell: no file at {settings.page_shell}")
        return settings.page_shell
    return next((path for path in (EXPORTED_SHELL, BUILT_SHELL) if path.is_file()), None)


def head_tags(title: str, description: str, url: str, image: str | None, kind: str) -> str:
    """The tags a link preview and a search engine read, every value escaped."""

    def meta(attribute: str, name: str, content: str) -> str:
        return f'<meta {attribute}="{name}" content="{html.escape(content)}"/>'

    tags = [
        f"<title>{html.escape(title)}</title>",
        meta("name", "description", description),
        f'<link rel="canonical" href="{html.escape(url)}"/>',
        meta("property", "og:site_name", PAPER_NAME),
        meta("property", "og:type", kind),
        meta("property", "og:title", title),
        meta("property", "og:description", description),
        meta("property", "og:url", url),
        meta("name", "twitter:card", "summary_large_image" if image else "summary"),
    ]
    if image:
        tags += [meta("property", "og:image", image), meta("name", "twitter:image", image)]
    return "".join(tags)


def with_head(shell: str, tags: str) -> str:
    """`shell` with `tags` at the end of its head (and any title it had removed: the story's wins)."""
    start = shell.find("<title>")
    if start != -1 and (end := shell.find("</title>", start)) != -1:
        shell = shell[:start] + shell[end + len("</title>") :]
    at = shell.find("</head>")
    if at == -1:
        raise ValueError("page shell: no </head> to put the story's tags in")
    return shell[:at] + tags + shell[at:]


def story_head(
    article: Article | None, withdrawn: Article | None, site: str, slug: str, backend: str = ""
) -> tuple[int, str]:
    """(status, head tags) of a story's address; a cover drawn at publish time is at `backend` (default: `site`)."""
    url = f"{site}{routes.article_url(slug)}"
    if article is not None:
        cover = cover_src(article.slug, backend or site)
        image = f"{site}{cover}" if cover.startswith("/") else cover
        return 200, head_tags(f"{article.title} — {PAPER_NAME}", article.excerpt, url, image, "article")
    if withdrawn is not None:
        text = f"“{withdrawn.title}” was withdrawn by the newsroom."
        return 410, head_tags(f"No longer available — {PAPER_NAME}", text, url, None, "website")
    return 404, head_tags(f"Page not found — {PAPER_NAME}", "No story has this address.", url, None, "website")


def section_head(stories: int, site: str, section: str, blurb: str) -> tuple[int, str]:
    """(status, head tags) of a section front's address."""
    url = f"{site}{routes.category_url(section)}"
    if not stories:
        return 404, head_tags(f"Page not found — {PAPER_NAME}", "No section has this address.", url, None, "website")
    return 200, head_tags(f"{section_label(section)} — {PAPER_NAME}", blurb, url, None, "website")


def site_of(request: Request) -> str:
    """The reader-facing origin of this request (the static host's, when it proxies here with its Host)."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    return f"{scheme}://{request.headers.get('host', request.url.netloc)}"


def story_page_routes(
    newsroom: Callable[[], Newspaper], shell_path: Path, blurbs: dict[str, str], backend: str = ""
) -> list[Route]:
    """`GET /article/{slug}` and `/category/{section}`: the shell with the page's head, and its status.

    `backend` is the backend's public origin (where covers drawn at publish time are served).
    """
    shell = shell_path.read_text(encoding="utf-8")

    def respond(status: int, tags: str) -> HTMLResponse:
        return HTMLResponse(
            with_head(shell, tags), status_code=status, headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"}
        )

    async def story(request: Request) -> HTMLResponse:
        slug = request.path_params["slug"]
        corpus = (await asyncio.to_thread(newsroom)).corpus
        return respond(*story_head(corpus.get(slug), corpus.withdrawn(slug), site_of(request), slug, backend))

    async def section(request: Request) -> HTMLResponse:
        name = request.path_params["section"].lower()
        corpus = (await asyncio.to_thread(newsroom)).corpus
        stories = len(corpus.latest(1, name))
        return respond(*section_head(stories, site_of(request), name, blurbs.get(name, "")))

    return [
        Route(f"{routes.ARTICLE_PREFIX}{{slug}}", story, methods=["GET", "HEAD"]),
        Route(f"{routes.CATEGORY_PREFIX}{{section}}", section, methods=["GET", "HEAD"]),
    ]
