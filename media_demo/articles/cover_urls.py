"""The cover illustrations at request time: where they are, their URLs, which variants were drawn.

Drawing them is build-time work (`make covers`: `media_demo.articles.cover_art` and
`media_demo.personalise.variant_cover_art`), which writes the files this module names;
nothing here draws, and nothing that serves a page imports the drawing code. Which
covers and variant covers exist is read from their folders once per process, not on every page.

A story published at run time has no shipped file: its cover is drawn when it is published,
kept in the database and served by the backend at `/api/covers/<slug>.svg` (`stored_cover_url`),
which a page built apart from the backend (dev mode, an export) reaches through the backend's origin.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from media_demo.settings import PROJECT_ROOT

COVERS_DIR = PROJECT_ROOT / "assets" / "covers"  # served as /covers/
VARIANT_COVERS_DIR = COVERS_DIR / "variants"  # served as /covers/variants/
STORED_COVERS_PATH = "/api/covers"  # the backend's route for the covers drawn at publish time


def cover_url(slug: str) -> str:
    """The cover illustration shipped in `assets/covers/`."""
    return f"/covers/{slug}.svg"


@cache
def shipped_covers(covers_dir: Path = COVERS_DIR) -> frozenset[str]:
    """The slugs of the covers shipped in `covers_dir`, listed once per process (a restart sees new ones)."""
    return frozenset(path.stem for path in covers_dir.glob("*.svg") if path.is_file())


def has_shipped_cover(slug: str, covers_dir: Path = COVERS_DIR) -> bool:
    """Whether `slug` has a cover file in `assets/covers/` (`make covers`); if not, one is drawn when published."""
    return slug in shipped_covers(covers_dir)


def stored_cover_url(slug: str, backend: str = "") -> str:
    """The URL of a cover drawn at publish time: the backend's `/api/covers/<slug>.svg`, after its origin `backend`."""
    return f"{backend.rstrip('/')}{STORED_COVERS_PATH}/{slug}.svg"


def cover_src(slug: str, backend: str | Callable[[], str]) -> str:
    """Where a page finds `slug`'s cover: the shipped file when there is one, else the drawn one at the backend.

    `backend` is the backend's origin, or a function that gives it, asked only for a drawn cover.
    """
    if has_shipped_cover(slug):
        return cover_url(slug)
    return stored_cover_url(slug, backend if isinstance(backend, str) else backend())


def cover_path(name: str, covers_dir: Path = COVERS_DIR) -> Path:
    """Where the cover called `name` (a slug, or a variant's name) lives."""
    return covers_dir / f"{name}.svg"


def variant_name(slug: str, variant: str) -> str:
    """The file name (without `.svg`) of a segment's cover of `slug`: `<slug>--<variant>`."""
    return f"{slug}--{variant.replace('_', '-')}"


def variant_cover_url(slug: str, variant: str) -> str:
    """The URL a page shows a segment's cover of `slug` at (check `has_variant_cover` first)."""
    return f"/covers/variants/{variant_name(slug, variant)}.svg"


@cache
def drawn_variants(covers_dir: Path = VARIANT_COVERS_DIR) -> frozenset[str]:
    """The names of the variant covers in `covers_dir`, listed once per process (a restart sees new ones)."""
    return frozenset(path.stem for path in covers_dir.glob("*.svg") if path.is_file())


def has_variant_cover(slug: str, variant: str, covers_dir: Path = VARIANT_COVERS_DIR) -> bool:
    """Whether a segment's cover of `slug` was drawn: not every article has one for every segment."""
    return variant_name(slug, variant) in drawn_variants(covers_dir)
