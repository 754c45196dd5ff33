"""The story store: the Markdown folder imported once and again on change, API stories and withdrawals kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest

from media_demo.articles import CorpusError
from media_demo.articles.store import StoryStore, open_corpus, story_hash
from media_demo.settings import ARTICLES_DIR
from media_demo.signals.storage.database import PAGE_SIZE, open_database

SHIPPED = (
    "ai-scribe-software-spreads-through-clinics",
    "amateur-astronomers-track-breaking-comet",
    "keira-osei-nears-scoring-record",
)
FIRST = SHIPPED[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A small articles folder: three shipped stories and the format file (which is not a story)."""
    target = tmp_path / "articles"
    target.mkdir()
    for slug in SHIPPED:
        shutil.copy(ARTICLES_DIR / f"{slug}.md", target / f"{slug}.md")
    shutil.copy(ARTICLES_DIR / "FORMAT.md", target / "FORMAT.md")
    return target


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


def store_of(url: str) -> StoryStore:
    return StoryStore(open_database(url))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_first_start_imports_every_file(folder: Path, url: str) -> None:
    corpus = open_corpus(url, folder)
    assert sorted(a.slug for a in corpus) == sorted(SHIPPED)
    store = store_of(url)
    assert store.source(FIRST) == f"file:{FIRST}.md"
    stored = store.get(FIRST)
    assert stored is not None and stored == corpus.get(FIRST)
    assert stored.updated is None  # a story of the Markdown corpus


def test_a_new_database_file_is_made_as_the_event_log_makes_it(folder: Path, tmp_path: Path, url: str) -> None:
    open_corpus(url, folder)
    with sqlite3.connect(tmp_path / "events.db") as connection:
        assert connection.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_only_changed_files_are_imported_again(folder: Path, url: str) -> None:
    open_corpus(url, folder)
    store = store_of(url)
    again = store.import_folder(folder)
    assert again.imported == () and again.unchanged == len(SHIPPED)
    edit(folder / f"{FIRST}.md", 'title: "AI note-taking', 'title: "Revised: AI note-taking')
    changed = store.import_folder(folder)
    assert [a.slug for a in changed.imported] == [FIRST] and changed.unchanged == len(SHIPPED) - 1
    corpus = open_corpus(url, folder)
    article = corpus.get(FIRST)
    assert article is not None and article.title.startswith("Revised: AI note-taking")


def test_a_malformed_file_stops_the_start_naming_file_and_field_and_writes_nothing(folder: Path, url: str) -> None:
    open_corpus(url, folder)
    edit(folder / f"{FIRST}.md", "reading_minutes: 2", "reading_minutes: two")
    edit(folder / f"{SHIPPED[1]}.md", "category: science", "category: Space Science")
    with pytest.raises(CorpusError) as caught:
        open_corpus(url, folder)
    problems = caught.value.problems
    assert f"{FIRST}.md: field 'reading_minutes' must be a positive whole number" in problems
    assert any(p.startswith(f"{SHIPPED[1]}.md: field 'category'") for p in problems)
    assert store_of(url).get(FIRST) is not None and store_of(url).get(FIRST).reading_minutes == 2  # type: ignore[union-attr]


def test_a_new_malformed_file_fails_on_every_start_until_fixed(folder: Path, url: str) -> None:
    open_corpus(url, folder)
    (folder / "half-written.md").write_text("---\nslug: half-written\ntitle: Half\n---\nToo short.\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(CorpusError, match=r"half-written\.md: missing field 'excerpt'"):
            open_corpus(url, folder)


def test_a_story_replaced_through_the_api_survives_a_restart_until_its_file_changes(folder: Path, url: str) -> None:
    corpus = open_corpus(url, folder)
    shipped = corpus.get(FIRST)
    assert shipped is not None
    replaced = dataclasses.replace(
        shipped, title="Replaced by an editor", updated=dt.datetime(2026, 11, 2, 8, 30, tzinfo=dt.UTC)
    )
    store_of(url).save(replaced, "api")
    after_restart = open_corpus(url, folder).get(FIRST)
    assert after_restart == replaced
    assert after_restart is not None and after_restart.updated == replaced.updated  # aware, UTC
    edit(folder / f"{FIRST}.md", 'title: "AI note-taking', 'title: "Edited file: AI note-taking')
    from_file = open_corpus(url, folder).get(FIRST)
    assert from_file is not None and from_file.title.startswith("Edited file:")
    assert store_of(url).source(FIRST) == f"file:{FIRST}.md"


def test_a_withdrawn_story_stays_withdrawn_across_restarts_and_file_edits(folder: Path, url: str) -> None:
    corpus = open_corpus(url, folder)
    shipped = corpus.get(FIRST)
    assert shipped is not None
    at = dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC)
    store_of(url).withdraw(shipped, at)
    restarted = open_corpus(url, folder)
    assert FIRST not in restarted and restarted.withdrawn(FIRST) == shipped
    assert store_of(url).withdrawn_at(FIRST) == at
    edit(folder / f"{FIRST}.md", 'title: "AI note-taking', 'title: "Corrected: AI note-taking')
    edited = open_corpus(url, folder)
    assert FIRST not in edited  # republishing is an editor's act, through the API
    withdrawn = edited.withdrawn(FIRST)
    assert withdrawn is not None and withdrawn.title.startswith("Corrected:")


def test_saving_a_withdrawn_story_publishes_it_again(folder: Path, url: str) -> None:
    corpus = open_corpus(url, folder)
    shipped = corpus.get(FIRST)
    assert shipped is not None
    store = store_of(url)
    store.withdraw(shipped, dt.datetime(2026, 11, 3, tzinfo=dt.UTC))
    store.save(shipped, "api")
    assert FIRST in open_corpus(url, folder) and store.withdrawn_at(FIRST) is None


def test_a_story_never_stored_can_be_withdrawn(folder: Path, url: str) -> None:
    corpus = open_corpus(url, folder)
    shipped = corpus.get(FIRST)
    assert shipped is not None
    other = dataclasses.replace(shipped, slug="never-stored-before")
    store_of(url).withdraw(other, dt.datetime(2026, 11, 3, tzinfo=dt.UTC))
    assert open_corpus(url, folder).withdrawn("never-stored-before") == other


def test_times_must_be_aware(folder: Path, url: str) -> None:
    shipped = open_corpus(url, folder).get(FIRST)
    assert shipped is not None
    with pytest.raises(ValueError, match="aware"):
        store_of(url).save(dataclasses.replace(shipped, updated=dt.datetime(2026, 1, 1)), "api")


def test_a_missing_or_empty_folder_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(CorpusError, match="articles folder does not exist"):
        open_corpus(url, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no articles found"):
        open_corpus(url, tmp_path / "empty")


def test_the_content_hash_ignores_only_the_update_time(folder: Path, url: str) -> None:
    shipped = open_corpus(url, folder).get(FIRST)
    assert shipped is not None
    later = dataclasses.replace(shipped, updated=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert story_hash(later) == story_hash(shipped)
    assert story_hash(dataclasses.replace(shipped, breaking=True)) != story_hash(shipped)
    assert story_hash(dataclasses.replace(shipped, tags=(*shipped.tags, "more"))) != story_hash(shipped)


def test_covers_are_kept_with_their_key_and_etag(url: str, folder: Path) -> None:
    open_corpus(url, folder)
    store = store_of(url)
    assert store.cover(FIRST) is None and store.cover_keys() == {}
    first = store.save_cover(FIRST, "k1", "<svg>one</svg>")
    second = store.save_cover(FIRST, "k2", "<svg>two</svg>")
    assert first.etag != second.etag
    assert store.cover(FIRST) == second and store.cover_keys() == {FIRST: "k2"}
