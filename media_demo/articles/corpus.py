"""The published stories: validation, the Markdown files of `data/articles/`, and the live corpus.

Each file is `<slug>.md` with YAML front matter; the loader checks every
field and reports the file and field of anything malformed, so an editor
who breaks an article learns exactly where. The same checks validate a story
sent to the publishing API (`article_from_fields`). `Corpus` is what pages,
the recommender and the assistant read; publishing changes it while the site
runs (`publish`, `unpublish`), each change swapping in a new immutable view.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import frontmatter
import yaml

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_BODY_WORDS = 150
MAX_EXCERPT_CHARS = 280
FORMAT_FILE = "FORMAT.md"  # the format of an article, for editors: not an article
REQUIRED_FIELDS = (
    "slug",
    "title",
    "excerpt",
    "category",
    "author",
    "published",
    "reading_minutes",
    "tags",
)


def section_label(category: str) -> str:
    """A category as readers see it, in the navigation, on cards and in reasons: "technology" -> "Technology"."""
    return category.capitalize()


class CorpusError(ValueError):
    """One or more article files are malformed; the message names file and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid articles:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class Article:
    """One published article."""

    slug: str
    title: str
    excerpt: str
    category: str
    author: str
    published: dt.date
    reading_minutes: int
    tags: tuple[str, ...]
    body: str
    breaking: bool = False  # flagged by an editor: goes to the top of the front page
    # When this version reached the newsroom through the publishing API or a feed (UTC); None for a story of
    # the shipped Markdown corpus. Orders stories of the same day and says what changed since a reader's visit.
    updated: dt.datetime | None = None

    @property
    def category_label(self) -> str:
        """Category as shown to readers ("technology" -> "Technology")."""
        return section_label(self.category)

    @property
    def text(self) -> str:
        """What similarity is computed on: title and body."""
        return f"{self.title}\n\n{self.body}"

    @property
    def order_key(self) -> tuple[dt.date, dt.datetime, str]:
        """Newest last: by publication date, then when it reached the newsroom, then slug."""
        return (self.published, self.updated or _NEVER, self.slug)

    def same_story(self, other: Article) -> bool:
        """Whether `other` says exactly what this one says (only `updated` may differ)."""
        return replace(other, updated=self.updated) == self


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _check_article(
    name: str, meta: Mapping[str, Any], body: str, expected_slug: str | None
) -> tuple[Article | None, list[str]]:
    """Validate one story's fields and body; return the article or the problems, each starting with `name`."""
    problems = [f"{name}: missing field '{f}'" for f in REQUIRED_FIELDS if meta.get(f) in (None, "")]
    if problems:
        return None, problems

    def text_field(field: str) -> str:
        value = meta[field]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name}: field '{field}' must be a non-empty string")
            return ""
        return value.strip()

    slug, title, excerpt = text_field("slug"), text_field("title"), text_field("excerpt")
    category, author = text_field("category").lower(), text_field("author")
    if slug and not SLUG_PATTERN.match(slug):
        problems.append(f"{name}: field 'slug' must be lowercase words joined by hyphens, got {slug!r}")
    if slug and expected_slug is not None and slug != expected_slug:
        where = "the file is named" if name.endswith(".md") else "the address names"
        problems.append(f"{name}: field 'slug' is {slug!r} but {where} {expected_slug!r}")
    if category and not SLUG_PATTERN.match(category):
        problems.append(f"{name}: field 'category' must be one lowercase word, got {category!r}")
    if len(excerpt) > MAX_EXCERPT_CHARS:
        problems.append(f"{name}: field 'excerpt' is {len(excerpt)} characters, at most {MAX_EXCERPT_CHARS}")

    published = meta["published"]
    try:
        if not (isinstance(published, str) and ISO_DATE.match(published)):
            raise ValueError(published)
        published = dt.date.fromisoformat(published)
    except ValueError:
        problems.append(f"{name}: field 'published' must be an ISO date (YYYY-MM-DD), got {published!r}")

    minutes = meta["reading_minutes"]
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        problems.append(f"{name}: field 'reading_minutes' must be a positive whole number")

    tags = meta["tags"]
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
        problems.append(f"{name}: field 'tags' must be a non-empty list of strings")
        tags = []

    breaking = meta.get("breaking", False)
    if not isinstance(breaking, bool):
        problems.append(f"{name}: field 'breaking' must be true or false")

    if not isinstance(body, str):
        problems.append(f"{name}: field 'body' must be Markdown text")
        body = ""
    words = len(body.split())
    if words < MIN_BODY_WORDS:
        problems.append(f"{name}: body has {words} words, at least {MIN_BODY_WORDS} are needed")

    if problems:
        return None, problems
    assert isinstance(published, dt.date)
    article = Article(
        slug=slug,
        title=title,
        excerpt=excerpt,
        category=category,
        author=author,
        published=published,
        reading_minutes=minutes,
        tags=tuple(t.lower() for t in tags),
        body=body.strip(),
        breaking=breaking,
    )
    return article, []


def article_from_fields(
    meta: Mapping[str, Any], body: str, where: str = "article", expected_slug: str | None = None
) -> Article:
    """An article from front-matter fields and a Markdown body (a file's, or the publishing API's JSON).

    Raises `CorpusError` naming `where` and the field of every problem; `expected_slug`, when given,
    is the slug the file name or URL says the story has.
    """
    unknown = sorted(set(meta) - set(REQUIRED_FIELDS) - {"breaking", "body"})
    article, problems = _check_article(where, meta, body, expected_slug)
    problems += [f"{where}: unknown field '{field}'" for field in unknown]
    if problems:
        raise CorpusError(problems)
    assert article is not None
    return article


class _TextDatesLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text so the validator can name the field."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _FrontMatter(frontmatter.YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> dict:
        return yaml.load(fm, Loader=_TextDatesLoader)  # a SafeLoader subclass: no arbitrary objects


def parse_article(path: Path) -> Article:
    """Parse and validate a single article file, raising `CorpusError` if malformed."""
    try:
        post = frontmatter.load(path, handler=_FrontMatter())
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        raise CorpusError([f"{path.name}: front matter is not valid YAML ({exc})"]) from exc
    article, problems = _check_article(path.name, dict(post.metadata), post.content, path.stem)
    if problems:
        raise CorpusError(problems)
    assert article is not None
    return article


@dataclass(frozen=True)
class CorpusChange:
    """One story published, updated or unpublished, as `Corpus` tells its listeners."""

    kind: Literal["published", "updated", "unpublished"]
    article: Article  # the story as it now is (for "unpublished": as it was)
    previous: Article | None  # the version it replaced ("updated", "unpublished")
    version: int  # the corpus's version after the change


class _View:
    """One immutable state of the corpus: swapped whole, so a reader never sees half a change."""

    def __init__(self, articles: Iterable[Article]) -> None:
        ordered = sorted(articles, key=lambda a: a.order_key, reverse=True)
        self.by_slug = {a.slug: a for a in ordered}
        if len(self.by_slug) != len(ordered):
            counts = Counter(a.slug for a in ordered)
            raise CorpusError([f"duplicate slug {s!r}" for s in sorted(counts) if counts[s] > 1])
        self.articles: tuple[Article, ...] = tuple(ordered)
        by_category: dict[str, list[Article]] = {}
        for article in ordered:
            by_category.setdefault(article.category, []).append(article)
        self.by_category = {c: tuple(stories) for c, stories in by_category.items()}
        self.categories: tuple[str, ...] = tuple(sorted(by_category))
        # Every tag, the ones of most words first (then by name): the order a phrase is matched in.
        self.tags: tuple[str, ...] = tuple(
            sorted({t for a in ordered for t in a.tags}, key=lambda t: (-len(t.split("-")), t))
        )


class Corpus:
    """The published articles, newest first, with lookups by slug and category.

    Stories are published, updated and unpublished while the site runs; each change
    builds a new view and swaps it in, so lookups never lock and never see half a
    change. An unpublished story is kept aside (`withdrawn`) so readers' histories
    and its old address can still name it. Listeners hear of each change after it
    is visible.
    """

    def __init__(self, articles: Iterable[Article], withdrawn: Iterable[Article] = ()) -> None:
        self._view = _View(articles)
        # Stories unpublished earlier (the story store keeps them): not if a version of it is published.
        self._withdrawn: dict[str, Article] = {a.slug: a for a in withdrawn if a.slug not in self._view.by_slug}
        self._writing = threading.Lock()
        self._listeners: list[Callable[[CorpusChange], None]] = []
        self.version = 0

    @property
    def articles(self) -> tuple[Article, ...]:
        """Every published article, newest first."""
        return self._view.articles

    @property
    def categories(self) -> tuple[str, ...]:
        """The sections that have at least one published story, by name."""
        return self._view.categories

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag of a published story, the ones of most words first."""
        return self._view.tags

    def __len__(self) -> int:
        return len(self._view.articles)

    def __iter__(self) -> Iterator[Article]:
        return iter(self._view.articles)

    def __contains__(self, slug: object) -> bool:
        return slug in self._view.by_slug

    def get(self, slug: str) -> Article | None:
        """The published article with this slug, or None."""
        return self._view.by_slug.get(slug)

    def withdrawn(self, slug: str) -> Article | None:
        """The last version of a story that was unpublished, or None (also None once it is published again)."""
        return self._withdrawn.get(slug)

    def in_category(self, category: str) -> list[Article]:
        """Articles of one category, newest first."""
        return list(self._view.by_category.get(category, ()))

    def latest(self, limit: int, category: str | None = None) -> list[Article]:
        """The newest `limit` articles, optionally of one category."""
        pool = self._view.articles if category is None else self._view.by_category.get(category, ())
        return list(pool[:limit])

    # --- changes --------------------------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[CorpusChange], None]) -> None:
        """Call `listener` after every change, in the publishing thread (it must be quick and not raise)."""
        self._listeners.append(listener)

    def publish(self, article: Article) -> CorpusChange | None:
        """Publish a new story or a new version of one; None when it says exactly what the published one says."""
        with self._writing:
            view = self._view
            previous = view.by_slug.get(article.slug)
            if previous is not None and previous.same_story(article):
                return None
            others = (a for a in view.articles if a.slug != article.slug)
            self._view = _View([*others, article])
            self._withdrawn.pop(article.slug, None)
            self.version += 1
            change = CorpusChange("published" if previous is None else "updated", article, previous, self.version)
        self._tell(change)
        return change

    def unpublish(self, slug: str) -> CorpusChange | None:
        """Take a story off every page; None when no published story has this slug."""
        with self._writing:
            view = self._view
            article = view.by_slug.get(slug)
            if article is None:
                return None
            self._view = _View(a for a in view.articles if a.slug != slug)
            self._withdrawn[slug] = article
            self.version += 1
            change = CorpusChange("unpublished", article, article, self.version)
        self._tell(change)
        return change

    def _tell(self, change: CorpusChange) -> None:
        for listener in list(self._listeners):
            listener(change)


def article_paths(folder: Path) -> list[Path]:
    """The article files in `folder`: every `*.md` but FORMAT.md, in name order."""
    return [path for path in sorted(folder.glob("*.md")) if path.name != FORMAT_FILE]


def load_corpus(folder: Path) -> Corpus:
    """Load every `*.md` article in `folder` (except FORMAT.md), validating all of them.

    All problems across all files are collected and raised together.
    """
    if not folder.is_dir():
        raise CorpusError([f"{folder}: articles folder does not exist"])
    articles: list[Article] = []
    problems: list[str] = []
    for path in article_paths(folder):
        try:
            articles.append(parse_article(path))
        except CorpusError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CorpusError(problems)
    if not articles:
        raise CorpusError([f"{folder}: no articles found"])
    return Corpus(articles)
