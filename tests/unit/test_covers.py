"""Covers: drawn at build time from the corpus loader's articles, only linked to at request time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from media_demo.articles.cover_art import ArticleInfo, load_articles, render_cover, write_cover
from media_demo.articles.cover_urls import (
    VARIANT_COVERS_DIR,
    cover_src,
    cover_url,
    drawn_variants,
    has_variant_cover,
    variant_cover_url,
    variant_name,
)
from media_demo.settings import ARTICLES_DIR, PROJECT_ROOT
from tests.unit.test_corpus import write_article, write_raw

LEAD = "conservatoire-degree-video-game-music"


def test_request_time_code_never_imports_the_drawing_code() -> None:
    code = (
        "import sys, media_demo.newsroom, media_demo.personalise.layout, media_demo.state.cards;"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('media_demo.'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert "media_demo.articles.cover_urls" in loaded.split(",")
    assert "media_demo.articles.cover_art" not in loaded.split(",")
    assert "media_demo.personalise.variant_cover_art" not in loaded.split(",")


def test_urls_and_file_names() -> None:
    assert cover_url("chip-plant") == "/covers/chip-plant.svg"
    assert variant_name("chip-plant", "topic_loyalist") == "chip-plant--topic-loyalist"
    assert variant_cover_url("chip-plant", "deep_reader") == "/covers/variants/chip-plant--deep-reader.svg"


def test_the_backend_address_is_asked_only_for_a_drawn_cover() -> None:
    """Reading the backend's address (Reflex's configuration) costs more than the rest of a card: a shipped
    cover, the usual case, must not ask for it."""
    asked: list[str] = []

    def backend() -> str:
        asked.append("asked")
        return "http://backend:8000/"

    assert cover_src(LEAD, backend) == cover_url(LEAD) and not asked
    assert cover_src("published-at-run-time", backend) == "http://backend:8000/api/covers/published-at-run-time.svg"
    assert asked == ["asked"]
    assert cover_src("published-at-run-time", "") == "/api/covers/published-at-run-time.svg"


def test_the_drawn_variants_are_listed_once_per_folder(tmp_path: Path) -> None:
    (tmp_path / "chip-plant--deep-reader.svg").write_text("<svg/>")
    (tmp_path / "notes.txt").write_text("not a cover")
    assert drawn_variants(tmp_path) == {"chip-plant--deep-reader"}
    assert has_variant_cover("chip-plant", "deep_reader", tmp_path)
    assert not has_variant_cover("chip-plant", "casual_browser", tmp_path)
    (tmp_path / "chip-plant--casual-browser.svg").write_text("<svg/>")
    assert not has_variant_cover("chip-plant", "casual_browser", tmp_path)  # no file system look-up per page
    assert not has_variant_cover("chip-plant", "deep_reader", tmp_path / "missing")


def test_the_shipped_lead_story_has_its_variants() -> None:
    assert has_variant_cover(LEAD, "returning_reader", VARIANT_COVERS_DIR)


def test_the_cover_tool_reads_the_articles_through_the_corpus_loader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_article(tmp_path, "tidal-batteries", category="Technology", tags=["Energy", "storage"])
    write_raw(tmp_path, "half-written.md", "slug: half-written\ntitle: Half")
    (tmp_path / "FORMAT.md").write_text("# The format of an article\n")
    assert load_articles(tmp_path) == [ArticleInfo("tidal-batteries", "technology", ("energy", "storage"))]
    assert "covers: skipping half-written.md: half-written.md: missing field 'excerpt'" in capsys.readouterr().err


def test_every_shipped_article_is_drawn() -> None:
    drawn = {a.slug for a in load_articles(ARTICLES_DIR)}
    assert LEAD in drawn and len(drawn) >= 60


def test_a_cover_is_written_once_and_left_alone_when_unchanged(tmp_path: Path) -> None:
    article = ArticleInfo("tidal-batteries", "technology", ("energy",))
    assert write_cover(article, tmp_path)
    assert not write_cover(article, tmp_path)
    assert (tmp_path / "tidal-batteries.svg").read_text(encoding="utf-8") == render_cover(article)
