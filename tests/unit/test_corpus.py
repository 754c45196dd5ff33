"""The article corpus: the shipped articles load, and malformed files are reported precisely."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from media_demo.articles import Article, Corpus, CorpusError, load_corpus
from media_demo.articles.corpus import MIN_BODY_WORDS, REQUIRED_FIELDS

ROOT = Path(__file__).resolve().parents[2]
ARTICLES_DIR = ROOT / "data" / "articles"
COVERS_DIR = ROOT / "assets" / "covers"

SLUG = "tidal-batteries-orkney"
BODY = " ".join(f"word{i}" for i in range(MIN_BODY_WORDS))


def valid_fields(slug: str = SLUG) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": "Orkney's tidal batteries keep the lights on",
        "excerpt": "One or two sentences shown on cards.",
        "category": "Technology",
        "author": "Maren Holt",
        "published": dt.date(2026, 10, 14),
        "reading_minutes": 3,
        "tags": ["Energy", "storage"],
    }


def write_raw(folder: Path, filename: str, front_matter: str, body: str = BODY) -> Path:
    path = folder / filename
    path.write_text(f"---\n{front_matter.strip()}\n---\n\n{body}\n", encoding="utf-8")
    return path


def write_article(
    folder: Path,
    slug: str = SLUG,
    *,
    filename: str | None = None,
    body: str = BODY,
    drop: tuple[str, ...] = (),
    **overrides: Any,
) -> Path:
    """Write `<slug>.md` with valid front matter, minus `drop`, with `overrides` applied."""
    fields = {**valid_fields(slug), **overrides}
    for name in drop:
        del fields[name]
    return write_raw(folder, filename or f"{slug}.md", yaml.safe_dump(fields, sort_keys=False), body)


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(folder)
    assert str(excinfo.value).startswith("invalid articles:")
    for problem in excinfo.value.problems:
        assert problem in str(excinfo.value)
    return excinfo.value.problems


# ----------------------------------------------------------------- shipped corpus


@pytest.fixture(scope="module")
def shipped() -> Corpus:
    return load_corpus(ARTICLES_DIR)


def test_shipped_corpus_has_at_least_60_articles(shipped: Corpus) -> None:
    assert len(shipped) >= 60
    assert len({a.slug for a in shipped}) == len(shipped)


def test_shipped_corpus_has_six_categories_of_at_least_eight(shipped: Corpus) -> None:
    counts = Counter(a.category for a in shipped)
    assert len(counts) >= 6
    assert min(counts.values()) >= 8, counts
    assert set(shipped.categories) == set(counts)


def test_shipped_articles_have_bodies_of_at_least_150_words(shipped: Corpus) -> None:
    short = {a.slug: len(a.body.split()) for a in shipped if len(a.body.split()) < 150}
    assert short == {}


def test_shipped_articles_each_have_a_cover(shipped: Corpus) -> None:
    missing = [a.slug for a in shipped if not (COVERS_DIR / f"{a.slug}.svg").is_file()]
    assert missing == []


def test_shipped_corpus_is_ordered_newest_first(shipped: Corpus) -> None:
    dates = [a.published for a in shipped]
    assert dates == sorted(dates, reverse=True)


# ------------------------------------------------------------- a valid tmp corpus


def test_valid_article_is_parsed_and_normalised(tmp_path: Path) -> None:
    write_article(tmp_path)
    corpus = load_corpus(tmp_path)
    article = corpus.get(SLUG)
    assert article is not None
    assert len(corpus) == 1
    assert article.category == "technology"
    assert article.category_label == "Technology"
    assert article.published == dt.date(2026, 10, 14)
    assert article.reading_minutes == 3
    assert article.tags == ("energy", "storage")
    assert article.body == BODY
    assert article.text == f"{article.title}\n\n{BODY}"


def test_quoted_iso_date_is_accepted(tmp_path: Path) -> None:
    write_article(tmp_path, published="2026-10-14")
    article = load_corpus(tmp_path).get(SLUG)
    assert article is not None
    assert article.published == dt.date(2026, 10, 14)


def test_format_md_is_not_an_article(tmp_path: Path) -> None:
    write_article(tmp_path)
    (tmp_path / "FORMAT.md").write_text("# Article format\n\nNot front matter.\n", encoding="utf-8")
    assert [a.slug for a in load_corpus(tmp_path)] == [SLUG]


def test_body_of_exactly_the_minimum_word_count_is_accepted(tmp_path: Path) -> None:
    write_article(tmp_path, body=" ".join(["word"] * MIN_BODY_WORDS))
    assert SLUG in load_corpus(tmp_path)


# ---------------------------------------------------------------- malformed files


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_field_names_file_and_field(tmp_path: Path, field: str) -> None:
    write_article(tmp_path, drop=(field,), filename=f"{SLUG}.md")
    assert problems_of(tmp_path) == [f"{SLUG}.md: missing field '{field}'"]


def test_empty_field_counts_as_missing(tmp_path: Path) -> None:
    write_article(tmp_path, author="")
    assert problems_of(tmp_path) == [f"{SLUG}.md: missing field 'author'"]


@pytest.mark.parametrize("slug", ["Bad-Slug", "bad_slug", "bad--slug", "-bad"])
def test_bad_slug_names_file_and_field(tmp_path: Path, slug: str) -> None:
    write_article(tmp_path, slug=slug)
    problems = problems_of(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{slug}.md: field 'slug' must be lowercase words joined by hyphens")
    assert repr(slug) in problems[0]


def test_slug_different_from_filename_names_file_and_field(tmp_path: Path) -> None:
    write_article(tmp_path, filename="other-name.md")
    assert problems_of(tmp_path) == [f"other-name.md: field 'slug' is '{SLUG}' but the file is named 'other-name'"]


def test_short_body_names_file_and_word_count(tmp_path: Path) -> None:
    write_article(tmp_path, body=" ".join(["word"] * (MIN_BODY_WORDS - 1)))
    assert problems_of(tmp_path) == [f"{SLUG}.md: body has 149 words, at least {MIN_BODY_WORDS} are needed"]


@pytest.mark.parametrize("published", ["14/10/2026", "yesterday", "2026-10"])
def test_unparseable_date_string_names_file_and_field(tmp_path: Path, published: str) -> None:
    write_article(tmp_path, published=published)
    problems = problems_of(tmp_path)
    assert f"{SLUG}.md: field 'published' must be an ISO date (YYYY-MM-DD), got {published!r}" in problems
    assert all(p.startswith(f"{SLUG}.md: field 'published'") for p in problems)


def test_date_of_wrong_type_names_file_and_field(tmp_path: Path) -> None:
    write_article(tmp_path, published=20261014)
    assert problems_of(tmp_path) == [f"{SLUG}.md: field 'published' must be an ISO date (YYYY-MM-DD), got 20261014"]


@pytest.mark.parametrize("published", ["2026-02-30", "2026-13-01"])
def test_impossible_unquoted_date_names_file_and_field(tmp_path: Path, published: str) -> None:
    # An editor typing `published: 2026-02-30` gets a YAML date the YAML loader cannot build;
    # the loader promises to name the field, as it does for any other bad date.
    fields = yaml.safe_dump({k: v for k, v in valid_fields().items() if k != "published"}, sort_keys=False)
    write_raw(tmp_path, f"{SLUG}.md", f"{fields}published: {published}\n")
    problems = problems_of(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{SLUG}.md: ")
    assert "'published'" in problems[0]


@pytest.mark.parametrize("minutes", ["three", 2.5, 0, -1, True])
def test_bad_reading_minutes_names_file_and_field(tmp_path: Path, minutes: object) -> None:
    write_article(tmp_path, reading_minutes=minutes)
    assert problems_of(tmp_path) == [f"{SLUG}.md: field 'reading_minutes' must be a positive whole number"]


@pytest.mark.parametrize("tags", ["energy", {"energy": 1}, ["energy", 3], ["energy", ""]])
def test_tags_not_a_list_of_strings_names_file_and_field(tmp_path: Path, tags: object) -> None:
    write_article(tmp_path, tags=tags)
    assert problems_of(tmp_path) == [f"{SLUG}.md: field 'tags' must be a non-empty list of strings"]


def test_title_that_is_not_a_string_names_file_and_field(tmp_path: Path) -> None:
    write_article(tmp_path, title=["a", "list"])
    assert problems_of(tmp_path) == [f"{SLUG}.md: field 'title' must be a non-empty string"]


def test_too_long_excerpt_names_file_and_field(tmp_path: Path) -> None:
    write_article(tmp_path, excerpt="x" * 281)
    assert problems_of(tmp_path) == [f"{SLUG}.md: field 'excerpt' is 281 characters, at most 280"]


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    write_raw(tmp_path, f"{SLUG}.md", 'slug: tidal-batteries-orkney\ntitle: "never closed\ntags: [a, b\n')
    problems = problems_of(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{SLUG}.md: front matter is not valid YAML")


def test_second_file_reusing_a_slug_is_reported(tmp_path: Path) -> None:
    write_article(tmp_path, "first-article")
    write_article(tmp_path, "first-article", filename="second-article.md")
    assert problems_of(tmp_path) == [
        "second-article.md: field 'slug' is 'first-article' but the file is named 'second-article'"
    ]


def test_corpus_rejects_duplicate_slugs() -> None:
    fields = {**valid_fields("same-slug"), "category": "science", "tags": ("a",), "body": BODY}
    older = Article(**{**fields, "published": dt.date(2026, 1, 1)})
    newer = Article(**{**fields, "published": dt.date(2026, 2, 1)})
    unique = Article(**{**fields, "slug": "other-slug"})
    with pytest.raises(CorpusError) as excinfo:
        Corpus([older, unique, newer])
    assert excinfo.value.problems == ["duplicate slug 'same-slug'"]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}: no articles found"]


def test_folder_with_only_format_md_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "FORMAT.md").write_text("# Article format\n", encoding="utf-8")
    assert problems_of(tmp_path) == [f"{tmp_path}: no articles found"]


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    assert problems_of(folder) == [f"{folder}: articles folder does not exist"]


def test_every_bad_file_is_reported_together(tmp_path: Path) -> None:
    write_article(tmp_path, "good-article")
    write_article(tmp_path, "no-author", drop=("author",))
    write_article(tmp_path, "short-body", body="too short")
    write_article(tmp_path, "bad-minutes", reading_minutes="ten", tags="solo")
    problems = problems_of(tmp_path)
    assert sorted(problems) == sorted(
        [
            "no-author.md: missing field 'author'",
            f"short-body.md: body has 2 words, at least {MIN_BODY_WORDS} are needed",
            "bad-minutes.md: field 'reading_minutes' must be a positive whole number",
            "bad-minutes.md: field 'tags' must be a non-empty list of strings",
        ]
    )
    assert not any(p.startswith("good-article.md") for p in problems)
