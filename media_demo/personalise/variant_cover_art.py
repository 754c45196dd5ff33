"""Build-time tool: draw the featured story's cover once per segment variant (`make covers`).

`python -m media_demo.personalise.variant_cover_art [slug ...]` draws the variant
covers (default: the newest stories', which are the ones featured) into
`assets/covers/variants/`. The front page (`media_demo.personalise.layout`) only
links to what this drew; it never imports this module or the drawing code.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from media_demo.articles import Article, load_corpus
from media_demo.articles.cover_art import FALLBACK_PALETTES, PALETTES, ArticleInfo, palette_index, write_cover
from media_demo.articles.cover_urls import VARIANT_COVERS_DIR, cover_path, variant_name
from media_demo.personalise.layout import VARIANT_SEGMENTS
from media_demo.settings import get_settings

VARIANT_STORIES = 8  # the featured story is the newest one a reader has not read: cover the newest few


def write_variant_covers(article: Article, covers_dir: Path = VARIANT_COVERS_DIR) -> list[Path]:
    """Draw one cover per segment variant of `article`: shapes from its own seed, and a palette of its
    category other than the default cover's (alternating between the others)."""
    count = len(PALETTES.get(article.category, FALLBACK_PALETTES))
    default = palette_index(ArticleInfo.of(article))
    paths = []
    for i, variant in enumerate(VARIANT_SEGMENTS):
        name = variant_name(article.slug, variant)
        palette = (default + 1 + i % (count - 1)) % count if count > 1 else None
        write_cover(ArticleInfo.of(article, seed_name=name), covers_dir, palette)
        paths.append(cover_path(name, covers_dir))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the variant covers of the given stories (default: the newest ones, which are featured)."""
    parser = argparse.ArgumentParser(
        prog="python -m media_demo.personalise.variant_cover_art", description=main.__doc__
    )
    parser.add_argument(
        "slugs", nargs="*", help=f"stories to draw variants for (default: the {VARIANT_STORIES} newest)"
    )
    args = parser.parse_args(argv)
    corpus = load_corpus(get_settings().articles_dir)
    slugs = args.slugs or [a.slug for a in corpus.articles[:VARIANT_STORIES]]
    for slug in slugs:
        article = corpus.get(slug)
        if article is None:
            parser.error(f"no article named {slug!r}")
        for path in write_variant_covers(article):
            print(f"covers: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
