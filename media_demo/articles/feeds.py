"""Atom and RSS entries as story fields, so a wire or a partner's feed publishes like an editor does.

`feedparser` reads both formats (and their dialects, dates and encodings). Each entry
becomes the front-matter fields plus `body` that the publishing API takes: the slug from
the title, the excerpt from the summary (HTML stripped, cut at a word under 280
characters), the body from the content as Markdown paragraphs, the category from a tag
that names one of the newsroom's sections (else a configured default), the reading time
at 200 words a minute. The fields are checked with the loader's own validator; an entry
that fails is skipped, and each reason names the entry's title and the field.

A feed's text is data from elsewhere: the body keeps no HTML at all (Markdown pages may
render raw HTML), and `<` is escaped so text that looked like a tag stays text.
"""

from __future__ import annotations

import io
import math
import re
import time
import unicodedata
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser

from media_demo.articles.corpus import MAX_EXCERPT_CHARS, CorpusError, article_from_fields

MAX_SLUG = 80
MAX_TAGS = 5
WORDS_PER_MINUTE = 200
FETCH_TIMEOUT = 20.0  # seconds a feed may take to arrive
MAX_FEED_BYTES = 20_000_000
ELLIPSIS = "…"
USER_AGENT = "TheDailyCurrent-feeds/1"

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_BLOCKS = frozenset((
    "p", "div", "section", "article", "header", "footer", "aside", "main", "nav", "address", "blockquote", "pre",
    "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "figure", "figcaption", "hr", "details", "summary",
    "h1", "h2", "h3", "h4", "h5", "h6",
))  # fmt: skip
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_SKIPPED = frozenset((  # their text is not the story's
    "script", "style", "iframe", "noscript", "svg", "math", "object", "embed", "template", "head", "title",
))  # fmt: skip


class FeedError(ValueError):
    """A feed that cannot be read at all (unreachable, not Atom or RSS)."""


@dataclass(frozen=True, slots=True)
class FeedStory:
    """One entry of a feed: its story fields, or why it was skipped (each reason names the entry and the field)."""

    title: str
    fields: dict[str, Any] | None
    problems: tuple[str, ...] = ()

    @property
    def slug(self) -> str | None:
        """The slug the story would have (None when skipped)."""
        return None if self.fields is None else str(self.fields["slug"])


# --- text -----------------------------------------------------------------------------------------------------------


class _Blocks(HTMLParser):
    """HTML as a list of (kind, text) blocks: paragraphs, headings and list items, inline tags dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._words: list[str] = []
        self._kind = "p"
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self._words.append("\n")
        elif tag in _BLOCKS:
            self._flush()
            self._kind = "h" if tag in _HEADINGS else "li" if tag == "li" else "p"

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self._flush()
            self._kind = "p"

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._words.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        text = "".join(self._words)
        self._words = []
        # Two line breaks in a row end a paragraph (`<br><br>`), as they do in a browser.
        for part in re.split(r"\n\s*\n", text):
            part = " ".join(part.split())
            if part:
                self.blocks.append((self._kind, part))


def _blocks(html: str) -> list[tuple[str, str]]:
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    return parser.blocks


def plain_text(html: str) -> str:
    """The text of an HTML fragment on one line: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(text for _, text in _blocks(html))


def _escape(text: str) -> str:
    """Text that Markdown shows as written: a `<` never opens a tag."""
    return text.replace("<", "\\<")


def markdown_from_html(html: str) -> str:
    """Markdown paragraphs (and `##` headings, `-` items) from an HTML fragment, with no HTML left in it."""
    out = []
    for kind, text in _blocks(html):
        text = _escape(text)
        out.append(f"## {text}" if kind == "h" else f"- {text}" if kind == "li" else text)
    return "\n\n".join(out)


def markdown_from_text(text: str) -> str:
    """Markdown paragraphs from plain text (blank lines between paragraphs)."""
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(_escape(p) for p in paragraphs if p)


def slug_from_title(title: str) -> str:
    """`"Ça va? The bell's back!"` -> `"ca-va-the-bells-back"`: ASCII words joined by hyphens, at most 80
    characters, cut between words."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = _NOT_SLUG.sub("-", ascii_title.replace("'", "").replace("\u2019", "")).strip("-")
    if len(slug) > MAX_SLUG:
        slug = slug[: MAX_SLUG + 1].rsplit("-", 1)[0] if "-" in slug[:MAX_SLUG] else slug[:MAX_SLUG]
    return slug.strip("-")


def cut_excerpt(text: str, limit: int = MAX_EXCERPT_CHARS) -> str:
    """`text` whole when it fits in `limit` characters, else cut at a word and ended with an ellipsis (within it)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS) + 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut[:-1]
    return cut.rstrip(" ,;:-–—") + ELLIPSIS


def reading_minutes(body: str) -> int:
    """Whole minutes to read `body` at 200 words a minute, rounded up (at least 1)."""
    return max(1, math.ceil(len(body.split()) / WORDS_PER_MINUTE))


def tag_of(term: str) -> str:
    """A feed category as a tag: `"Local Heritage"` -> `"local-heritage"`."""
    return slug_from_title(term)


# --- entries --------------------------------------------------------------------------------------------------------


def _author(entry: Mapping[str, Any], feed: Mapping[str, Any]) -> str | None:
    for source in (entry, feed):
        detail = source.get("author_detail") or {}
        name = detail.get("name") or source.get("author")
        if isinstance(name, str) and name.strip():
            return plain_text(name)
    title = feed.get("title")
    return plain_text(title) if isinstance(title, str) and title.strip() else None  # the feed's own name


def _published(entry: Mapping[str, Any]) -> str | None:
    moment = entry.get("published_parsed") or entry.get("updated_parsed")
    if not isinstance(moment, time.struct_time):
        return None
    return time.strftime("%Y-%m-%d", moment)  # feedparser gives UTC


def _body(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    for content in contents:
        value = content.get("value") or ""
        if value.strip():
            kind = content.get("type") or "text/html"
            return markdown_from_text(value) if kind == "text/plain" else markdown_from_html(value)
    summary = entry.get("summary") or ""
    return markdown_from_html(summary)


def entry_story(
    entry: Mapping[str, Any],
    feed: Mapping[str, Any],
    sections: Sequence[str],
    default_category: str | None = None,
) -> FeedStory:
    """One feed entry as story fields, checked as an article file is; or skipped, with every reason."""
    title = plain_text(entry.get("title") or "")
    where = f"feed entry {title[:80]!r}" if title else "feed entry without a title"
    tags = list(dict.fromkeys(t for t in (tag_of(str(tag.get("term") or "")) for tag in entry.get("tags") or []) if t))
    problems: list[str] = []
    category = next((t for t in tags if t in sections), None)
    if category is None and default_category:
        category = default_category.strip().lower()
        if category not in sections:
            problems.append(
                f"{where}: field 'category': the default {category!r} is not one of the newsroom's sections "
                f"({', '.join(sections)})"
            )
    elif category is None:
        problems.append(
            f"{where}: field 'category': no tag names one of the newsroom's sections ({', '.join(sections)}) "
            "and no default category is set"
        )
    tags = [t for t in tags if t != category][:MAX_TAGS] or ([category] if category else [])
    body = _body(entry)
    summary = plain_text(entry.get("summary") or "") or plain_text(body.split("\n\n")[0] if body else "")
    fields: dict[str, Any] = {
        "slug": slug_from_title(title) if title else "",
        "title": title,
        "excerpt": cut_excerpt(summary),
        "category": category or "",
        "author": _author(entry, feed) or "",
        "published": _published(entry) or "",
        "reading_minutes": reading_minutes(body),
        "tags": tags,
        "body": body,
    }
    try:
        article_from_fields(fields, body, where)
    except CorpusError as exc:
        # The category's own reason (above) says more than "missing".
        said = [p for p in exc.problems if not (category is None and p == f"{where}: missing field 'category'")]
        problems = [*said, *problems]
    if problems:
        return FeedStory(title, None, tuple(problems))
    return FeedStory(title, fields)


def read_feed(document: bytes, sections: Sequence[str], default_category: str | None = None) -> list[FeedStory]:
    """Every entry of an Atom or RSS document, in the feed's order; `FeedError` if it is neither."""
    parsed = feedparser.parse(io.BytesIO(document))  # a stream: never a URL or file name to open
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        reason = parsed.get("bozo_exception") or "no entries"
        raise FeedError(f"not an Atom or RSS feed ({reason})")
    return [entry_story(entry, parsed.feed, sections, default_category) for entry in parsed.entries]


def fetch_feed(location: str, timeout: float = FETCH_TIMEOUT) -> bytes:
    """A feed's bytes from an http(s) URL, a `file:` URL or a local path; `FeedError` when they cannot be had."""
    parts = urlsplit(location)
    try:
        if parts.scheme in ("http", "https"):
            request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                document: bytes = response.read(MAX_FEED_BYTES + 1)
        elif parts.scheme in ("", "file"):
            path = Path(urllib.request.url2pathname(parts.path) if parts.scheme == "file" else location)
            document = path.read_bytes()
        else:
            raise FeedError(f"{location}: a feed is an http(s) URL, a file: URL or a path")
    except OSError as exc:
        raise FeedError(f"{location}: cannot be read ({exc})") from exc
    if len(document) > MAX_FEED_BYTES:
        raise FeedError(f"{location}: larger than {MAX_FEED_BYTES} bytes")
    return document
