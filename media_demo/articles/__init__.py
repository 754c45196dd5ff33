"""The article corpus: loading, validation and lookup (no Reflex imports)."""

from media_demo.articles.corpus import Article, Corpus, CorpusError, load_corpus, section_label

__all__ = ["Article", "Corpus", "CorpusError", "load_corpus", "section_label"]
