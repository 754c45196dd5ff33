"""TF-IDF similarity between articles, precomputed once for the whole corpus."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from media_demo.articles import Article


class ArticleIndex:
    """Cosine similarity between documents under a TF-IDF model.

    The corpus is small (tens to a few thousand articles), so the full
    similarity matrix is computed at build time and every query is an
    array lookup: recommendations stay well under a millisecond.
    """

    def __init__(
        self,
        ids: Sequence[str],
        similarity: np.ndarray,
        vectorizer: TfidfVectorizer | None = None,
        matrix: sparse.csr_matrix | None = None,
    ) -> None:
        if len(set(ids)) != len(ids):
            raise ValueError("ids: every id must be unique")
        if similarity.shape != (len(ids), len(ids)):
            raise ValueError(f"similarity: expected shape {(len(ids), len(ids))}, got {similarity.shape}")
        self.ids: tuple[str, ...] = tuple(ids)
        self._position = {id_: i for i, id_ in enumerate(self.ids)}
        self._similarity = similarity
        # Each row's other documents, best first; ties keep corpus order.
        order = np.argsort(-similarity, axis=1, kind="stable")
        self._ranked = [[j for j in row if j != i] for i, row in enumerate(order.tolist())]
        # The fitted model and document vectors, kept so free text (a search term) can be scored too.
        self._vectorizer = vectorizer
        self._matrix = matrix

    @classmethod
    def from_texts(cls, ids: Sequence[str], texts: Sequence[str]) -> ArticleIndex:
        """Fit TF-IDF on `texts` (title and body of each article) keyed by `ids`."""
        if len(ids) != len(texts):
            raise ValueError(f"ids and texts: lengths differ ({len(ids)} != {len(texts)})")
        if not ids:
            raise ValueError("ids: at least one document is needed")
        vectorizer = TfidfVectorizer(
            stop_words="english",
            sublinear_tf=True,
            strip_accents="unicode",
            min_df=1,
            ngram_range=(1, 2),
        )
        matrix = vectorizer.fit_transform(texts)  # rows are L2-normalised
        similarity = (matrix @ matrix.T).toarray()
        np.clip(similarity, 0.0, 1.0, out=similarity)  # rounding can step just past 1
        return cls(ids, similarity, vectorizer, matrix.tocsr())

    @classmethod
    def for_corpus(cls, articles: Iterable[Article]) -> ArticleIndex:
        """Index articles on their title and body."""
        articles = list(articles)
        return cls.from_texts([a.slug for a in articles], [a.text for a in articles])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._position

    def _index_of(self, id_: str) -> int:
        try:
            return self._position[id_]
        except KeyError:
            raise KeyError(f"unknown document id {id_!r}") from None

    def similarity(self, id_a: str, id_b: str) -> float:
        """Cosine similarity of two documents, in [0, 1]."""
        return float(self._similarity[self._index_of(id_a), self._index_of(id_b)])

    def similar(self, id_: str, k: int = 5) -> list[tuple[str, float]]:
        """The `k` documents most similar to `id_`, best first, excluding itself."""
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        i = self._index_of(id_)
        row = self._similarity[i]
        return [(self.ids[j], float(row[j])) for j in self._ranked[i][:k]]

    def ranked(self, id_: str) -> list[str]:
        """Every other document id, most similar to `id_` first."""
        return [self.ids[j] for j in self._ranked[self._index_of(id_)]]

    def query(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """Up to `k` documents matching free `text` (e.g. a search term), best first; only scores above 0.

        Needs the fitted model: an index built from a bare similarity matrix cannot answer.
        """
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        if self._vectorizer is None or self._matrix is None:
            raise ValueError("query: this index was built without its TF-IDF model (use from_texts)")
        scores = (self._matrix @ self._vectorizer.transform([text]).T).toarray().ravel()
        order = np.argsort(-scores, kind="stable")  # ties keep corpus order
        return [(self.ids[j], float(scores[j])) for j in order[:k] if scores[j] > 0.0]
