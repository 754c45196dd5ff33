"""The article corpus: loading, validation and lookup (no Reflex imports)."""

from media_demo.articles.corpus import (
    Article,
    Corpus,
    CorpusChange,
    CorpusError,
    article_from_fields,
    load_corpus,
    section_label,
)

__all__ = [
    "Article",
    "Corpus",
    "CorpusChange",
    "CorpusError",
    "article_from_fields",
    "load_corpus",
    "section_label",
]
