"""The stories in the database: every published and withdrawn story, its source, and the covers drawn for it.

Content lives in the event log's database (SQLite by default), so publishing at run time
needs no file and no rebuild. The Markdown files of `data/articles/` are one source among
others: each is imported on first start and again only when its bytes change (a file's
hash is kept beside its story), with the loader's validation, so a malformed file still
stops the start naming file and field. A story replaced or withdrawn through the
publishing API therefore stays as the API left it until its file is edited; a changed
file updates the story's text and leaves a withdrawal in place (republishing is an
editor's act, through the API).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy
from sqlmodel import Field, Session, SQLModel, col, func, select

from media_demo.articles.corpus import Article, Corpus, CorpusError, article_paths, parse_article
from media_demo.signals.storage.database import FIRST_OPEN_PRAGMAS, open_database, table_of

API_SOURCE = "api"
FEED_SOURCE = "feed:"  # followed by the feed's URL
FILE_SOURCE = "file:"  # followed by the file's name


class StoryRow(SQLModel, table=True):
    """One story, published (`withdrawn_at` null) or withdrawn: every field of an `Article` and where it came from."""

    __tablename__ = "stories"

    slug: str = Field(primary_key=True)
    title: str
    excerpt: str
    category: str = Field(index=True)
    author: str
    published: dt.date
    reading_minutes: int
    tags: str  # a JSON list: one column, and the order the editor gave
    body: str
    breaking: bool = False
    updated: dt.datetime | None = Field(default=None)  # aware, UTC; null for a story of the Markdown corpus
    source: str  # "file:<name>.md", "api" or "feed:<url>"
    content_hash: str  # sha256 of the story's fields and body (`story_hash`): what "changed" means
    file_hash: str | None = Field(default=None)  # sha256 of the file last imported for this slug
    withdrawn_at: dt.datetime | None = Field(default=None)  # aware, UTC; null while the story is published


class StoryChangeRow(SQLModel, table=True):
    """One write of a story (published, replaced, withdrawn), in order: what other processes follow."""

    __tablename__ = "story_changes"

    seq: int | None = Field(default=None, primary_key=True)
    slug: str


class CoverRow(SQLModel, table=True):
    """The cover drawn for a story that has no shipped one (`assets/covers/`)."""

    __tablename__ = "story_covers"

    slug: str = Field(primary_key=True)
    key: str  # sha256 of what the drawing depends on (`cover_key`): redrawn only when that changes
    svg: str
    etag: str  # sha256 of the SVG, for conditional requests


@dataclass(frozen=True, slots=True)
class StoredCover:
    """A drawn cover as the store keeps it."""

    slug: str
    key: str
    svg: str
    etag: str


def story_hash(article: Article) -> str:
    """A digest of everything a story says (every field but `updated`): equal digests, same story."""
    fields = {
        "slug": article.slug,
        "title": article.title,
        "excerpt": article.excerpt,
        "category": article.category,
        "author": article.author,
        "published": article.published.isoformat(),
        "reading_minutes": article.reading_minutes,
        "tags": list(article.tags),
        "body": article.body,
        "breaking": article.breaking,
    }
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cover_key(article: Article) -> str:
    """A digest of what a story's drawn cover depends on: its slug (the seed), category and tags."""
    return hashlib.sha256(orjson.dumps([article.slug, article.category, list(article.tags)])).hexdigest()


def _aware(moment: dt.datetime | None, field: str) -> dt.datetime | None:
    """A time to store: sqlmodel keeps aware datetimes (as UTC) and gives them back aware, so naive ones are refused."""
    if moment is not None and moment.utcoffset() is None:
        raise ValueError(f"{field}: times must be aware (UTC), got naive {moment.isoformat()}")
    return moment


def _article(row: StoryRow) -> Article:
    return Article(
        slug=row.slug,
        title=row.title,
        excerpt=row.excerpt,
        category=row.category,
        author=row.author,
        published=row.published,
        reading_minutes=row.reading_minutes,
        tags=tuple(orjson.loads(row.tags)),
        body=row.body,
        breaking=row.breaking,
        updated=row.updated,
    )


def _columns(article: Article) -> dict[str, Any]:
    """A story's fields as its row's columns (source, file hash and withdrawal are the caller's)."""
    return {
        "title": article.title,
        "excerpt": article.excerpt,
        "category": article.category,
        "author": article.author,
        "published": article.published,
        "reading_minutes": article.reading_minutes,
        "tags": orjson.dumps(list(article.tags)).decode(),
        "body": article.body,
        "breaking": article.breaking,
        "updated": _aware(article.updated, "updated"),
        "content_hash": story_hash(article),
    }


def _row(article: Article, source: str) -> StoryRow:
    """A new row for a story, published."""
    return StoryRow(slug=article.slug, source=source, **_columns(article))


def _fill(row: StoryRow, article: Article) -> None:
    """Copy a story's fields onto its row."""
    for column, value in _columns(article).items():
        setattr(row, column, value)


@dataclass(frozen=True, slots=True)
class FileImport:
    """What importing the articles folder did: the stories written, and the files left alone."""

    imported: tuple[Article, ...]
    unchanged: int


class StoryStore:
    """Published and withdrawn stories and their drawn covers, on a SQLAlchemy engine.

    Every method opens and closes its own session. Writes come from one publisher at a
    time (the publishing service's lock, or the import at start); a concurrent import by
    another process writes the same rows, so a race costs nothing.
    """

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self._db = engine
        SQLModel.metadata.create_all(engine, tables=[table_of(StoryRow), table_of(CoverRow), table_of(StoryChangeRow)])

    def _session(self) -> Session:
        return Session(self._db, expire_on_commit=False)

    # --- the Markdown folder --------------------------------------------------------------------------------------

    def import_folder(self, folder: Path) -> FileImport:
        """Import every article file of `folder` that is new or changed since its last import.

        All changed files are validated before anything is written: one malformed file
        raises `CorpusError` naming file and field (every problem of every file), and the
        store is left as it was.
        """
        if not folder.is_dir():
            raise CorpusError([f"{folder}: articles folder does not exist"])
        with self._session() as session:
            known = dict(session.exec(select(StoryRow.slug, StoryRow.file_hash)).all())
        changed: list[tuple[Path, str, Article]] = []
        problems: list[str] = []
        unchanged = 0
        for path in article_paths(folder):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if known.get(path.stem) == digest:
                unchanged += 1
                continue
            try:
                changed.append((path, digest, parse_article(path)))
            except CorpusError as exc:
                problems.extend(exc.problems)
        if problems:
            raise CorpusError(problems)
        with self._session() as session:
            for path, digest, article in changed:
                source = f"{FILE_SOURCE}{path.name}"
                row = session.get(StoryRow, article.slug)
                if row is None:
                    row = _row(article, source)
                _fill(row, article)
                row.source = source
                row.file_hash = digest
                session.add(row)
                session.add(StoryChangeRow(slug=article.slug))
            session.commit()
        return FileImport(tuple(article for _, _, article in changed), unchanged)

    def import_corpus(self, folder: Path) -> Corpus:
        """`import_folder`, then the live corpus; `CorpusError` also when no story is published."""
        self.import_folder(folder)
        corpus = self.corpus()
        if len(corpus) == 0:
            raise CorpusError([f"{folder}: no articles found (and no published story in the database)"])
        return corpus

    # --- reading --------------------------------------------------------------------------------------------------

    def stories(self) -> tuple[list[Article], list[Article]]:
        """Every story: the published ones and the withdrawn ones (in no particular order)."""
        published: list[Article] = []
        withdrawn: list[Article] = []
        with self._session() as session:
            for row in session.exec(select(StoryRow)):
                (published if row.withdrawn_at is None else withdrawn).append(_article(row))
        return published, withdrawn

    def corpus(self) -> Corpus:
        """A live corpus of the published stories, with the withdrawn ones set aside."""
        published, withdrawn = self.stories()
        return Corpus(published, withdrawn)

    def get(self, slug: str) -> Article | None:
        """The stored story with this slug, published or withdrawn."""
        with self._session() as session:
            row = session.get(StoryRow, slug)
            return None if row is None else _article(row)

    def source(self, slug: str) -> str | None:
        """Where the stored version of a story came from (`file:<name>`, `api`, `feed:<url>`)."""
        with self._session() as session:
            row = session.get(StoryRow, slug)
            return None if row is None else row.source

    def withdrawn_at(self, slug: str) -> dt.datetime | None:
        """When the story was withdrawn (UTC), or None while it is published or unknown."""
        with self._session() as session:
            row = session.get(StoryRow, slug)
            return None if row is None else row.withdrawn_at

    # --- writing --------------------------------------------------------------------------------------------------

    def save(self, article: Article, source: str) -> None:
        """Store a story as published (a new one, a new version, or one published again)."""
        with self._session() as session:
            row = session.get(StoryRow, article.slug) or _row(article, source)
            _fill(row, article)
            row.source = source
            row.withdrawn_at = None
            session.add(row)
            session.add(StoryChangeRow(slug=article.slug))
            session.commit()

    def withdraw(self, article: Article, at: dt.datetime, source: str = API_SOURCE) -> None:
        """Mark a story withdrawn at `at` (UTC); a story not stored yet is stored, withdrawn, from `source`."""
        with self._session() as session:
            row = session.get(StoryRow, article.slug) or _row(article, source)
            row.withdrawn_at = _aware(at, "at")
            session.add(row)
            session.add(StoryChangeRow(slug=article.slug))
            session.commit()

    # --- following another process's writes ------------------------------------------------------------------------

    def last_change(self) -> int:
        """The seq of the newest write (0 before any)."""
        with self._session() as session:
            return session.exec(select(func.max(StoryChangeRow.seq))).one() or 0

    def changes_after(self, seq: int) -> list[tuple[int, str]]:
        """(seq, slug) of every write after `seq`, oldest first."""
        with self._session() as session:
            query = select(StoryChangeRow.seq, StoryChangeRow.slug).where(col(StoryChangeRow.seq) > seq)
            return [(int(s), slug) for s, slug in session.exec(query.order_by(col(StoryChangeRow.seq))).all() if s]

    # --- covers ---------------------------------------------------------------------------------------------------

    def cover(self, slug: str) -> StoredCover | None:
        """The cover drawn for a story, if one was."""
        with self._session() as session:
            row = session.get(CoverRow, slug)
            return None if row is None else StoredCover(row.slug, row.key, row.svg, row.etag)

    def cover_keys(self) -> dict[str, str]:
        """Every drawn cover's key, by slug: which covers are missing or stale, in one query."""
        with self._session() as session:
            return dict(session.exec(select(CoverRow.slug, CoverRow.key)).all())

    def save_cover(self, slug: str, key: str, svg: str) -> StoredCover:
        """Keep the cover drawn for a story under `key` (replacing an older drawing)."""
        cover = StoredCover(slug, key, svg, hashlib.sha256(svg.encode()).hexdigest()[:32])
        with self._session() as session:
            row = session.get(CoverRow, slug) or CoverRow(slug=slug, key=key, svg=svg, etag=cover.etag)
            row.key, row.svg, row.etag = key, svg, cover.etag
            session.add(row)
            session.commit()
        return cover


def open_corpus(url: str, folder: Path) -> Corpus:
    """The live corpus of the database at `url`, after importing the new and changed files of `folder`.

    Opens the database for the import alone (the event log opens it again with its own pragmas).
    """
    engine = open_database(url, FIRST_OPEN_PRAGMAS)
    try:
        return StoryStore(engine).import_corpus(folder)
    finally:
        engine.dispose()
