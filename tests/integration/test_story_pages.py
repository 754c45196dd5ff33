"""Story and section addresses as a link preview or a crawler sees them: one plain HTTP GET, no browser."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from media_demo.api import build_api
from media_demo.articles import Corpus
from media_demo.newsroom import Newsroom, get_index
from media_demo.settings import Settings
from media_demo.story_pages import with_head
from tests.integration.conftest import API_TOKEN, serve

# The shape of the shell `reflex export` builds: a head without a title, the app's scripts in the body.
SHELL = (
    '<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/>'
    '<link rel="modulepreload" href="/assets/entry.client.js"/></head>'
    '<body><div id="root"></div><script type="module">import("/assets/entry.client.js");</script></body></html>'
)


@pytest.fixture
def site(tmp_path: Path, corpus: Corpus) -> Iterator[tuple[Newsroom, str]]:
    shell = tmp_path / "page_shell.html"
    shell.write_text(SHELL, encoding="utf-8")
    own = Corpus(list(corpus))  # this test publishes and withdraws: never in the shared corpus
    room = Newsroom(Settings(media_demo_db=tmp_path / "events.db", signals_api_token=API_TOKEN), own, get_index())
    try:
        with serve(build_api(lambda: room, page_shell=shell)) as url:
            yield room, url
    finally:
        room.close()


def meta(page: str, key: str) -> str | None:
    """The content of the `<meta>` whose name or property is `key` (the page's own escaping undone)."""
    found = re.search(rf'<meta (?:name|property)="{re.escape(key)}" content="([^"]*)"/>', page)
    return None if found is None else found.group(1).replace("&amp;", "&").replace("&quot;", '"')


def test_a_story_address_carries_its_title_description_and_cover(site: tuple[Newsroom, str]) -> None:
    room, url = site
    article = room.corpus.articles[0]
    response = httpx.get(f"{url}/article/{article.slug}", headers={"Host": "news.example.com"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f"<title>{article.title} — The Daily Current</title>" in page.replace("&#x27;", "'")
    assert meta(page, "description") == article.excerpt
    assert meta(page, "og:title") == f"{article.title} — The Daily Current"
    assert meta(page, "og:type") == "article"
    assert meta(page, "og:url") == f"http://news.example.com/article/{article.slug}"
    assert meta(page, "og:image") == f"http://news.example.com/covers/{article.slug}.svg"
    assert meta(page, "twitter:card") == "summary_large_image"
    assert '<link rel="canonical" href="http://news.example.com/article/' in page
    assert 'import("/assets/entry.client.js")' in page, "the browser must still get the app"
    assert page.index("og:title") < page.index("</head>")


def test_the_forwarded_scheme_is_the_readers(site: tuple[Newsroom, str]) -> None:
    room, url = site
    slug = room.corpus.articles[0].slug
    page = httpx.get(f"{url}/article/{slug}", headers={"Host": "news.example.com", "X-Forwarded-Proto": "https"}).text
    assert meta(page, "og:url") == f"https://news.example.com/article/{slug}"


def test_a_story_published_at_run_time_is_previewed_at_once_and_escaped(site: tuple[Newsroom, str]) -> None:
    room, url = site
    base = room.corpus.articles[0]
    fresh = dataclasses.replace(base, slug="bread-and-butter-rally", title='Bread & "butter" <rally>')
    room.corpus.publish(fresh)
    page = httpx.get(f"{url}/article/bread-and-butter-rally").text
    assert "<rally>" not in page
    assert meta(page, "og:title") == 'Bread & "butter" &lt;rally&gt; — The Daily Current'


def test_a_withdrawn_story_answers_410_and_an_unknown_one_404(site: tuple[Newsroom, str]) -> None:
    room, url = site
    article = room.corpus.articles[-1]
    room.corpus.unpublish(article.slug)
    gone = httpx.get(f"{url}/article/{article.slug}")
    assert gone.status_code == 410
    assert "<title>No longer available — The Daily Current</title>" in gone.text
    assert meta(gone.text, "og:image") is None
    assert 'import("/assets/entry.client.js")' in gone.text, "the app still explains it to a reader"
    unknown = httpx.get(f"{url}/article/never-published-here")
    assert unknown.status_code == 404
    assert "<title>Page not found — The Daily Current</title>" in unknown.text


def test_section_addresses(site: tuple[Newsroom, str]) -> None:
    _room, url = site
    response = httpx.get(f"{url}/category/science")
    assert response.status_code == 200
    assert "<title>Science — The Daily Current</title>" in response.text
    assert meta(response.text, "description") == "Discoveries from the deep sea to deep space."
    assert httpx.get(f"{url}/category/astrology").status_code == 404


def test_the_api_is_untouched_by_the_pages(site: tuple[Newsroom, str]) -> None:
    _room, url = site
    assert httpx.get(f"{url}/api/health").json()["status"] == "ok"


def test_a_shell_without_a_head_is_refused() -> None:
    with pytest.raises(ValueError, match="</head>"):
        with_head("<html><body></body></html>", "<title>x</title>")


def test_the_shells_own_title_gives_way_to_the_storys() -> None:
    page = with_head("<html><head><title>App</title></head><body></body></html>", "<title>Story</title>")
    assert page.count("<title>") == 1 and "<title>Story</title>" in page
