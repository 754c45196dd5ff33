"""Load and validate the Markdown articles in `data/articles/`.

Each file is `<slug>.md` with YAML front matter; the loader checks every
field and reports the file and field of anything malformed, so an editor
who breaks an article learns exactly where.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def category_label(self) -> str:
        """Category as shown to readers ("technology" -> "Technology")."""
        return section_label(self.category)

    @property
    def text(self) -> str:
        """What similarity is computed on: title and body."""
        return f"{self.title}\n\n{self.body}"


def _check_article(path: Path, meta: dict, body: str) -> tuple[Article | None, list[str]]:
    """Validate one file's front matter and body; return the article or the problems."""
    name = path.name
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
    if slug and slug != path.stem:
        problems.append(f"{name}: field 'slug' is {slug!r} but the file is named {path.stem!r}")
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
    )
    return article, []


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
    article, problems = _check_article(path, dict(post.metadata), post.content)
    if problems:
        raise CorpusError(problems)
    assert article is not None
    return article


class Corpus:
    """All articles, newest first, with lookups by slug and category."""

    def __init__(self, articles: Iterable[Article]) -> None:
        ordered = sorted(articles, key=lambda a: (a.published, a.slug), reverse=True)
        self._by_slug = {a.slug: a for a in ordered}
        if len(self._by_slug) != len(ordered):
            counts = Counter(a.slug for a in ordered)
            raise CorpusError([f"duplicate slug {s!r}" for s in sorted(counts) if counts[s] > 1])
        self.articles: tuple[Article, ...] = tuple(ordered)
        self.categories: tuple[str, ...] = tuple(sorted({a.category for a in ordered}))
        # Every tag, the ones of most words first (then by name): the order a phrase is matched in.
        self.tags: tuple[str, ...] = tuple(
            sorted({t for a in ordered for t in a.tags}, key=lambda t: (-len(t.split("-")), t))
        )

    def __len__(self) -> int:
        return len(self.articles)

    def __iter__(self) -> Iterator[Article]:
        return iter(self.articles)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def get(self, slug: str) -> Article | None:
        """The article with this slug, or None."""
        return self._by_slug.get(slug)

    def in_category(self, category: str) -> list[Article]:
        """Articles of one category, newest first."""
        return [a for a in self.articles if a.category == category]

    def latest(self, limit: int, category: str | None = None) -> list[Article]:
        """The newest `limit` articles, optionally of one category."""
        pool = self.articles if category is None else self.in_category(category)
        return list(pool[:limit])


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
