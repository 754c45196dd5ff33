"""TF-IDF similarity between articles, sparse from end to end so that it holds a 100,000-story archive."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from media_demo.articles import Article
from media_demo.recommend import tfidf

DEFAULT_NEIGHBOURS = 50  # neighbours kept per story once asked for: what `similar` answers without a scan
RESCORED_CANDIDATES = 200  # candidates scored exactly when a story's neighbours are found
CANDIDATE_POSTINGS = 20_000  # postings read to find a story's candidates (all of them when they fit)
REFRESH_FRACTION = 0.10  # `needs_refresh` once this share of the stories was added since the last fit
_TIE_DECIMALS = 12  # scores equal to this many decimals are ties, ranked by position (corpus order)


@dataclass(frozen=True)
class _Rows:
    """Document vectors: CSR rows (float32, ascending int32 columns) and, per column, the rows holding it."""

    matrix: sparse.csr_matrix
    postings_indptr: np.ndarray
    postings_rows: np.ndarray

    @classmethod
    def of(cls, matrix: sparse.csr_matrix) -> _Rows:
        pattern = sparse.csr_matrix(
            (np.ones(matrix.nnz, dtype=bool), matrix.indices, matrix.indptr), shape=matrix.shape, copy=False
        )
        by_column = pattern.tocsc()  # a counting sort: rows ascending within each column
        return cls(matrix, by_column.indptr, by_column.indices)


@dataclass(frozen=True)
class _Added:
    """Stories added since the fit: their rows (CSR) and, sorted by column then row, every (column, row) pair."""

    matrix: sparse.csr_matrix
    columns: np.ndarray  # int32, ascending
    rows: np.ndarray  # int32, the row within `matrix`

    @classmethod
    def empty(cls, width: int) -> _Added:
        nothing = np.zeros(0, dtype=np.int32)
        return cls(sparse.csr_matrix((0, width), dtype=np.float32), nothing, nothing)

    def plus(self, row: sparse.csr_matrix) -> _Added:
        """A copy with one more row (the arrays are new: readers of this one are undisturbed)."""
        new_row = self.matrix.shape[0]
        matrix = sparse.vstack([self.matrix, row], format="csr", dtype=np.float32)
        at = np.searchsorted(self.columns, row.indices, side="right")  # after equal columns: rows stay ascending
        columns = np.insert(self.columns, at, row.indices)
        rows = np.insert(self.rows, at, np.full(len(row.indices), new_row, dtype=np.int32))
        return _Added(matrix, columns, rows)


@dataclass(frozen=True)
class _Block:
    """Some stories' rows with their columns renumbered 0..m-1 (`columns` holds the original ones, ascending).

    A vector is then matched against the block with one search of its columns and scored with one
    sparse matrix-vector product, instead of one search per entry of every row.
    """

    present: np.ndarray  # bool per candidate: known to the index
    matrix: sparse.csr_matrix
    columns: np.ndarray

    @classmethod
    def of(cls, state: _Snapshot, candidates: Sequence[str]) -> _Block:
        present = np.array([c in state.position for c in candidates], dtype=bool)
        slots = np.array([state.position[c] for c in candidates if c in state.position], dtype=np.int64)
        owner, columns, values = state.rows(slots)
        if len(owner) and np.any(np.diff(owner) < 0):  # fitted and added rows come back apart: regroup them
            order = np.argsort(owner, kind="stable")
            owner, columns, values = owner[order], columns[order], values[order]
        local, renumbered = np.unique(columns, return_inverse=True)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=len(slots)))))
        matrix = sparse.csr_matrix((values, renumbered, indptr), shape=(len(slots), len(local)))
        return cls(present, matrix, local)

    def scores(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Each candidate's dot product with the vector (0 for candidates the index does not know)."""
        out = np.zeros(len(self.present), dtype=np.float64)
        if not len(self.columns) or not len(columns):
            return out
        at = np.minimum(np.searchsorted(self.columns, columns), len(self.columns) - 1)
        shared = self.columns[at] == columns
        dense = np.zeros(len(self.columns), dtype=np.float64)
        dense[at[shared]] = values[shared]
        out[self.present] = self.matrix @ dense
        return out


_BLOCKS_KEPT = 64  # candidate sets kept compacted per snapshot (a few per section)


@dataclass
class _Snapshot:
    """One consistent state of the index. Writers build a new one and swap it in; readers keep the one they took.

    A story's slot is its position: slots below `fitted` are rows of `base`, the others rows of
    `added`. Removed and replaced stories keep their slot (`alive` False) until the next refresh.
    """

    vocabulary: tfidf.Vocabulary
    base: _Rows
    added: _Added
    ids: list[str]  # per slot; shared between snapshots, only ever appended to (see `slots`)
    slots: int
    position: dict[str, int]
    alive: np.ndarray  # bool per slot
    neighbours: int
    # Neighbour lists found so far: slot -> (slots, scores), best first. Readers fill it; a writer copies it.
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    alive_ids: tuple[str, ...] | None = None
    # Candidate sets scored again and again (a section's newest stories), compacted: see `similarity_to`.
    blocks: dict[tuple[str, ...], _Block] = field(default_factory=dict)

    @property
    def fitted(self) -> int:
        return self.base.matrix.shape[0]

    def row(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """A story's columns (ascending) and weights (float64)."""
        matrix, local = (self.base.matrix, slot) if slot < self.fitted else (self.added.matrix, slot - self.fitted)
        start, end = matrix.indptr[local], matrix.indptr[local + 1]
        return matrix.indices[start:end], matrix.data[start:end].astype(np.float64)

    def rows(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of many stories: (index into `slots`, column, weight as float32) for each."""
        fitted = self.fitted
        if not len(slots) or slots.max() < fitted:
            return _entries(self.base.matrix, slots)
        base = np.flatnonzero(slots < fitted)
        added = np.flatnonzero(slots >= fitted)
        owner_b, columns_b, values_b = _entries(self.base.matrix, slots[base])
        owner_a, columns_a, values_a = _entries(self.added.matrix, slots[added] - fitted)
        return (
            np.concatenate((base[owner_b], added[owner_a])),
            np.concatenate((columns_b, columns_a)),
            np.concatenate((values_b, values_a)),
        )

    def holders(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (index into `columns`, slot) with the slot's story holding that column."""
        indptr = self.base.postings_indptr
        starts = indptr[columns].astype(np.int64)
        lengths = indptr[columns + 1] - starts
        term_b = np.repeat(np.arange(len(columns)), lengths)
        slots_b = self.base.postings_rows[_ranges(starts, lengths)]
        first = np.searchsorted(self.added.columns, columns, side="left")
        last = np.searchsorted(self.added.columns, columns, side="right")
        term_a = np.repeat(np.arange(len(columns)), last - first)
        slots_a = self.added.rows[_ranges(first, last - first)].astype(np.int64) + self.fitted
        return np.concatenate((term_b, term_a)), np.concatenate((slots_b.astype(np.int64), slots_a))

    def postings_count(self, columns: np.ndarray) -> np.ndarray:
        """How many stories hold each column (the fit's and the added ones)."""
        indptr = self.base.postings_indptr
        added = np.searchsorted(self.added.columns, columns, side="right") - np.searchsorted(
            self.added.columns, columns, side="left"
        )
        return (indptr[columns + 1] - indptr[columns]).astype(np.int64) + added

    def values_at(self, slots: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The weight of each column in the matching slot's story (0 where absent), by binary search in the rows."""
        fitted = self.fitted
        out = np.zeros(len(slots), dtype=np.float64)
        base = slots < fitted
        out[base] = _lookup(self.base.matrix, slots[base], columns[base])
        out[~base] = _lookup(self.added.matrix, slots[~base] - fitted, columns[~base])
        return out


# A bit table of a vector's columns (by their low bits: columns are positions among uniform
# keys, so low bits are uniform) drops most entries that cannot be shared before any search.
_FILTER_MASK = (1 << 18) - 1


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions start .. start + length - 1 of every range, concatenated."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


def _entries(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index into `rows`, column, weight) of every entry of the rows, read straight off the CSR arrays."""
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1] - starts
    at = _ranges(starts, lengths)
    return np.repeat(np.arange(len(rows)), lengths), matrix.indices[at], matrix.data[at]


def _lookup(matrix: sparse.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """matrix[rows[i], columns[i]] for every i: a vectorised lower-bound search in each (ascending) row."""
    low = matrix.indptr[rows].astype(np.int64)
    end = matrix.indptr[rows + 1].astype(np.int64)
    size = end - low
    last = max(matrix.nnz - 1, 0)
    while len(size) and size.max() > 0:
        half = size // 2
        middle = low + half
        right = (size > 0) & (matrix.indices[np.minimum(middle, last)] < columns)
        low = np.where(right, middle + 1, low)
        size = np.where(right, size - half - 1, half)
    found = low < end
    found[found] = matrix.indices[low[found]] == columns[found]
    values = np.zeros(len(rows), dtype=np.float64)
    values[found] = matrix.data[low[found]]
    return values


_FLOAT32_SLACK = 1e-5  # how far a float32 scan's score can be from the exact one, and then some


def _top_approximate(scores: np.ndarray, k: int) -> np.ndarray:
    """The slots (ascending) whose float32 score may be among the `k` best exact ones; never a -inf one."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) <= k:
        return finite
    kth = np.partition(scores[finite], len(finite) - k)[len(finite) - k]
    return finite[scores[finite] >= kth - _FLOAT32_SLACK]


def _best(slots: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best (slot, score) pairs, best first; equal scores (to 12 decimals) in slot order."""
    if k <= 0:
        return slots[:0], scores[:0]
    if len(slots) > k:
        rounded = np.round(scores, _TIE_DECIMALS)
        kth = np.partition(-rounded, k - 1)[k - 1]
        keep = -rounded <= kth  # the k best and whatever ties the k-th
        slots, scores = slots[keep], scores[keep]
    order = np.lexsort((slots, -np.round(scores, _TIE_DECIMALS)))[:k]
    return slots[order], scores[order]


class ArticleIndex:
    """Cosine similarity between stories under a TF-IDF model, for an archive that grows while it is read.

    The model is scikit-learn's TfidfVectorizer as configured in `media_demo.recommend.tfidf`
    (word unigrams and bigrams, English stop words, sublinear tf, accents stripped), with
    every story a sparse unit-length row. Nothing is n x n: a 100,000-story archive builds in
    under a minute in about a gigabyte (`make bench`).

    Neighbours are found when first asked for and then kept (`DEFAULT_NEIGHBOURS` per story):
    when the postings of all of a story's terms fit `CANDIDATE_POSTINGS` (every small corpus)
    each story sharing a term is scored exactly. Otherwise the story's highest-weighted terms,
    as many as fit the budget, name the candidates (the stories sharing them); the
    `RESCORED_CANDIDATES` sharing most are scored exactly (dot products of the rows) and the
    best kept: a neighbour sharing none of those rarer terms can be missed (the benchmark
    prints the recall against an exact scan).
    `similarity`, `query` and `similar` beyond the kept neighbours are always exact.
    Scores equal to 12 decimals rank in corpus order (the order of `ids`).

    Publishing: `add` vectorises a story with the fitted vocabulary and idf, finds its
    neighbours and inserts it into their kept lists where it beats the last one
    (milliseconds at 100,000 stories); `remove` retires a story for good
    (it is never returned again); adding an id again replaces the story. Terms the fit never
    saw are ignored (as in TfidfVectorizer.transform), and the idf stays the fit's, so over
    time the model drifts: `needs_refresh` turns true once `REFRESH_FRACTION` of the stories
    were added since the last fit, and `refresh(texts)` refits on every current story (a
    full build, off the request path). Neither readers nor publishers wait for a refresh: it
    fits on the side and replays what was published meanwhile before it swaps the model in.

    Thread safety: readers (`similar`, `similarity`, `query`, ...) take the current snapshot
    once and work on it; a writer builds a new snapshot (new arrays, shared where unchanged)
    under a lock and swaps it in with one assignment, so a reader sees the index before or
    after an update, never half of one.
    """

    def __init__(
        self,
        ids: Sequence[str],
        vocabulary: tfidf.Vocabulary,
        matrix: sparse.csr_matrix,
        neighbours: int = DEFAULT_NEIGHBOURS,
    ) -> None:
        if len(set(ids)) != len(ids):
            raise ValueError("ids: every id must be unique")
        if matrix.shape != (len(ids), len(vocabulary)):
            raise ValueError(f"matrix: expected shape {(len(ids), len(vocabulary))}, got {matrix.shape}")
        if neighbours < 1:
            raise ValueError(f"neighbours: must be >= 1, got {neighbours}")
        self._write = threading.Lock()
        self._refit = threading.Lock()
        self._added_texts: dict[str, str] = {}  # the text of each story added since the fit, for `refresh`
        self._unseen_since_fit = 0  # terms of stories added since the fit that the fit never saw
        self._journal: list[tuple[str, str | None]] | None = None  # writes made while a refresh fits
        base = _Rows.of(matrix)
        vocabulary.count_in(base.postings_indptr)  # the fit's postings give each term's document frequency
        tfidf.release_free_memory()
        self._state = _Snapshot(
            vocabulary=vocabulary,
            base=base,
            added=_Added.empty(len(vocabulary)),
            ids=list(ids),
            slots=len(ids),
            position={id_: i for i, id_ in enumerate(ids)},
            alive=np.ones(len(ids), dtype=bool),
            neighbours=neighbours,
        )

    @classmethod
    def from_texts(cls, ids: Sequence[str], texts: Sequence[str], neighbours: int = DEFAULT_NEIGHBOURS) -> ArticleIndex:
        """Fit TF-IDF on `texts` (title and body of each article) keyed by `ids`."""
        if len(ids) != len(texts):
            raise ValueError(f"ids and texts: lengths differ ({len(ids)} != {len(texts)})")
        if not ids:
            raise ValueError("ids: at least one document is needed")
        if len(set(ids)) != len(ids):
            raise ValueError("ids: every id must be unique")
        vocabulary, matrix = tfidf.fit(texts)
        return cls(ids, vocabulary, matrix, neighbours)

    @classmethod
    def for_corpus(cls, articles: Iterable[Article]) -> ArticleIndex:
        """Index articles on their title and body."""
        articles = list(articles)
        return cls.from_texts([a.slug for a in articles], [a.text for a in articles])

    # --- reading -------------------------------------------------------------------------------------------------

    @property
    def ids(self) -> tuple[str, ...]:
        """Every story's id, in corpus order (stories added later at the end)."""
        state = self._state
        if state.alive_ids is None:
            alive = state.alive
            state.alive_ids = tuple(id_ for slot, id_ in enumerate(state.ids[: state.slots]) if alive[slot])
        return state.alive_ids

    def __len__(self) -> int:
        return len(self._state.position)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._state.position

    @property
    def neighbours(self) -> int:
        """How many neighbours are kept per story (what `similar` answers without scanning)."""
        return self._state.neighbours

    @property
    def added_since_fit(self) -> int:
        """Stories added (or replaced) since the vocabulary and idf were fitted."""
        state = self._state
        return state.slots - state.fitted

    @property
    def unseen_since_fit(self) -> int:
        """Terms of the stories added since the fit that the fit never saw (not searchable until a `refresh`)."""
        return self._unseen_since_fit

    @property
    def needs_refresh(self) -> bool:
        """Whether enough was added since the fit (`REFRESH_FRACTION` of the fit) to call `refresh`."""
        state = self._state
        return state.slots - state.fitted >= max(1, REFRESH_FRACTION * state.fitted)

    def __getstate__(self) -> None:
        raise TypeError("ArticleIndex: not picklable (it holds a lock); build it again in the other process")

    @staticmethod
    def _slot(state: _Snapshot, id_: str) -> int:
        try:
            return state.position[id_]
        except KeyError:
            raise KeyError(f"unknown document id {id_!r}") from None

    def similarity(self, id_a: str, id_b: str) -> float:
        """Cosine similarity of two documents, in [0, 1]."""
        state = self._state
        columns_a, values_a = state.row(self._slot(state, id_a))
        columns_b, values_b = state.row(self._slot(state, id_b))
        _, at_a, at_b = np.intersect1d(columns_a, columns_b, assume_unique=True, return_indices=True)
        return float(np.clip(values_a[at_a] @ values_b[at_b], 0.0, 1.0))

    def similarity_to(
        self, candidates: Sequence[str], anchors: Sequence[tuple[str, float]], keep: bool = True
    ) -> np.ndarray:
        """Σ weight x similarity(candidate, anchor) for each candidate, at once.

        Anchors and candidates unknown to the index count 0. By linearity this is the dot product
        of each candidate with the weighted sum of the anchors' vectors. The same candidates (a
        section's newest stories, for every reader) are compacted once per state of the index and
        kept, so a call costs a search of the anchors' terms and one sparse product. `keep=False`
        for a candidate set that will not come again (one reader's): it is compacted for this call
        only, and pushes none of the kept sets out.
        """
        state = self._state
        scores = np.zeros(len(candidates), dtype=np.float64)
        known = [(state.position[a], w) for a, w in anchors if a in state.position]
        if not known or not candidates:
            return scores
        anchor_slots = np.array([slot for slot, _ in known], dtype=np.int64)
        owner, columns, values = state.rows(anchor_slots)
        values *= np.array([w for _, w in known])[owner]
        centre_columns, inverse = np.unique(columns, return_inverse=True)
        centre_values = np.bincount(inverse, weights=values, minlength=len(centre_columns))
        key = tuple(candidates)
        block = state.blocks.get(key)
        if block is None:
            block = _Block.of(state, key)
            if not keep:
                return block.scores(centre_columns, centre_values)
            if len(state.blocks) >= _BLOCKS_KEPT:
                state.blocks.pop(next(iter(state.blocks)), None)  # the oldest kept
            state.blocks[key] = block
        return block.scores(centre_columns, centre_values)

    @staticmethod
    def _dot(state: _Snapshot, columns: np.ndarray, values: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """The dot product of one sparse vector (ascending columns) with each slot's row."""
        if not len(columns) or not len(slots):
            return np.zeros(len(slots), dtype=np.float64)
        owner, entry_columns, entry_values = state.rows(slots)
        maybe = np.zeros(_FILTER_MASK + 1, dtype=bool)
        maybe[columns & _FILTER_MASK] = True
        hit = np.flatnonzero(maybe[entry_columns & _FILTER_MASK])
        at = np.minimum(np.searchsorted(columns, entry_columns[hit]), len(columns) - 1)
        shared = columns[at] == entry_columns[hit]
        products = entry_values[hit[shared]] * values[at[shared]]
        return np.bincount(owner[hit[shared]], weights=products, minlength=len(slots))

    def similar(self, id_: str, k: int = 5) -> list[tuple[str, float]]:
        """The `k` documents most similar to `id_`, best first, excluding itself.

        Up to `neighbours` come from the kept list; a larger `k` scans the archive (exact, slower).
        """
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        state = self._state
        slot = self._slot(state, id_)
        if k > state.neighbours:
            slots, scores = self._ranking(state, slot, k)
        else:
            slots, scores = self._neighbours_of(state, slot)
            alive = state.alive[slots]
            if not alive.all():
                slots, scores = slots[alive], scores[alive]
                if len(slots) < k:  # removals thinned the list: find it again
                    state.cache.pop(slot, None)
                    slots, scores = self._neighbours_of(state, slot)
        ids = state.ids
        return [(ids[s], float(score)) for s, score in zip(slots[:k].tolist(), scores[:k].tolist(), strict=True)]

    def ranked(self, id_: str) -> list[str]:
        """Every other document id, most similar to `id_` first (a scan of the archive: exact, not for pages)."""
        state = self._state
        slots, _ = self._ranking(state, self._slot(state, id_), len(state.position))
        return [state.ids[s] for s in slots.tolist()]

    def query(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """Up to `k` documents matching free `text` (e.g. a search term), best first; only scores above 0."""
        if k < 0:
            raise ValueError(f"k: must be >= 0, got {k}")
        state = self._state
        vector = tfidf.transform([text], state.vocabulary)
        slots, scores = self._exact_scores(state, vector.indices, vector.data.astype(np.float64))
        positive = scores > 0.0
        slots, scores = _best(slots[positive], scores[positive], k)
        return [(state.ids[s], float(v)) for s, v in zip(slots.tolist(), scores.tolist(), strict=True)]

    def vectors(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Texts under the current model: unit-length rows (all zeros where no term is known).

        Rows of two calls share columns, so their dot products are cosines.
        """
        return tfidf.transform(texts, self._state.vocabulary)

    def query_among(self, text: str, ids: Sequence[str]) -> np.ndarray:
        """The cosine of free `text` with each of `ids` (0 for an id the index does not know), exactly."""
        state = self._state
        vector = tfidf.transform([text], state.vocabulary)
        return np.clip(_Block.of(state, ids).scores(vector.indices, vector.data.astype(np.float64)), 0.0, 1.0)

    def word_weights(self, words: Sequence[str]) -> list[float]:
        """Each word's idf under the current model; a word the model never saw weighs as a term of one document."""
        state = self._state
        vocabulary = state.vocabulary
        unseen = float(np.log((1.0 + vocabulary.documents) / 2.0) + 1.0)
        weights = []
        for word in words:
            keys = next(iter(tfidf.count_terms([word])), None)
            columns = vocabulary.columns(keys.keys) if keys is not None else np.zeros(0, dtype=np.int64)
            known = columns[columns >= 0]
            weights.append(float(vocabulary.idf(known[:1])[0]) if len(known) == 1 and len(columns) == 1 else unseen)
        return weights

    # --- finding neighbours --------------------------------------------------------------------------------------

    @staticmethod
    def _exact_scores(state: _Snapshot, columns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact dot product of a vector with every live story sharing a column with it (slots ascending)."""
        term, slots = state.holders(columns)
        products = values[term] * state.values_at(slots, columns[term])
        unique_slots, inverse = np.unique(slots, return_inverse=True)
        scores = np.bincount(inverse, weights=products, minlength=len(unique_slots))
        alive = state.alive[unique_slots]
        return unique_slots[alive], np.clip(scores[alive], 0.0, 1.0)

    @staticmethod
    def _approximate_scores(state: _Snapshot, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Every slot's dot product with a vector, in float32 (one pass over all rows); -inf for retired slots."""
        dense = np.zeros(len(state.vocabulary), dtype=np.float32)
        dense[columns] = values
        scores = np.concatenate((state.base.matrix @ dense, state.added.matrix @ dense))
        scores[~state.alive] = -np.inf
        return scores

    def _ranking(self, state: _Snapshot, slot: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact `k` best other stories for `slot` (one scan of the rows), those of score 0 last in slot order."""
        columns, values = state.row(slot)
        approximate = self._approximate_scores(state, columns, values)
        approximate[slot] = -np.inf
        slots = _top_approximate(approximate, k)
        slots, scores = _best(slots, np.clip(self._dot(state, columns, values, slots), 0.0, 1.0), k)
        return self._filled(state, slot, slots, scores, k)

    @staticmethod
    def _filled(
        state: _Snapshot, slot: int, slots: np.ndarray, scores: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to `k` (slots, scores), completed with stories of score 0 in slot order, as a full ranking would."""
        missing = k - len(slots)
        if missing <= 0:
            return slots, scores
        listed = set(slots.tolist())
        listed.add(slot)
        extra = []
        for other in np.flatnonzero(state.alive).tolist():
            if other not in listed:
                extra.append(other)
                if len(extra) == missing:
                    break
        keep = scores > 0.0  # a 0 found by the scan ranks with the other zeros: by slot
        zeros = sorted(extra + slots[~keep].tolist())[: k - int(keep.sum())]
        return (
            np.concatenate((slots[keep], np.array(zeros, dtype=np.int64))),
            np.concatenate((scores[keep], np.zeros(len(zeros)))),
        )

    @staticmethod
    def _candidates(
        state: _Snapshot, columns: np.ndarray, values: np.ndarray, slot: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The stories that may be nearest to a story's vector, with their exact scores (see the class docstring)."""
        counts = state.postings_count(columns)
        by_weight = np.argsort(-values, kind="stable")
        within = np.cumsum(counts[by_weight]) <= CANDIDATE_POSTINGS
        if within.all():
            slots, scores = ArticleIndex._exact_scores(state, columns, values)
            mine = slots != slot
            return slots[mine], scores[mine]
        chosen = by_weight[within]
        term, holders = state.holders(columns[chosen])
        shared = np.bincount(holders, weights=values[chosen][term], minlength=state.slots)
        shared[slot] = 0.0
        shared[~state.alive] = 0.0
        candidates = np.flatnonzero(shared)
        if len(candidates) > RESCORED_CANDIDATES:
            top = np.argpartition(-shared[candidates], RESCORED_CANDIDATES - 1)[:RESCORED_CANDIDATES]
            candidates = np.sort(candidates[top])
        return candidates, np.clip(ArticleIndex._dot(state, columns, values, candidates), 0.0, 1.0)

    def _neighbours_of(self, state: _Snapshot, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """The kept neighbour list of `slot`, found now if it was not yet."""
        cached = state.cache.get(slot)
        if cached is not None:
            return cached
        columns, values = state.row(slot)
        slots, scores = _best(*self._candidates(state, columns, values, slot), state.neighbours)
        result = self._filled(state, slot, slots, scores, state.neighbours)
        state.cache[slot] = result
        return result

    def warm(self, ids: Iterable[str]) -> int:
        """Find the kept neighbours of these stories now (those not yet found), so no reader waits for them.

        A first ask costs a few milliseconds at 100,000 stories; the newsroom warms its newest
        stories (where reading concentrates) in the background after a start. Returns how many were found.
        """
        found = 0
        for id_ in ids:
            state = self._state
            slot = state.position.get(id_)
            if slot is not None and slot not in state.cache:
                self._neighbours_of(state, slot)
                found += 1
        return found

    # --- publishing ----------------------------------------------------------------------------------------------

    def add(self, id_: str, text: str) -> int:
        """Index a new story (or replace the story of an existing id) without refitting.

        The text is vectorised with the fitted vocabulary and idf, its neighbours are found as
        any story's are, and it joins the kept list of each of them where it beats the last.
        Returns how many of its terms the fit never saw: they count from the next `refresh`.
        """
        if not isinstance(id_, str) or not id_:
            raise ValueError(f"id_: must be a non-empty string, got {id_!r}")
        with self._write:
            state = self._state
            vector = tfidf.transform([text], state.vocabulary)
            columns, values = vector.indices, vector.data.astype(np.float64)
            state = self._without(state, id_) if id_ in state.position else state
            slot = state.slots
            added = state.added.plus(vector)
            ids = state.ids
            ids.append(id_)  # beyond `slots` of every published snapshot: invisible until the swap
            position = dict(state.position)
            position[id_] = slot
            new = dataclasses.replace(
                state,
                added=added,
                slots=slot + 1,
                position=position,
                alive=np.append(state.alive, True),
                cache={},  # filled below
                blocks=dict(state.blocks),  # a block's rows are unchanged: no kept block holds the new slot
                alive_ids=None,
            )
            # Its candidates (exactly scored) give its own neighbours and the kept lists it enters: a story
            # joins another's list only where it is a candidate of that story too (the same shared terms).
            near, near_scores = self._candidates(new, columns, values, slot)
            cache = dict(state.cache)
            for owner, score in zip(near.tolist(), near_scores.tolist(), strict=True):
                kept = cache.get(owner)
                if kept is not None:
                    cache[owner] = _inserted(kept[0], kept[1], slot, score, new.neighbours)
            best_slots, best_scores = _best(near, near_scores, new.neighbours)
            cache[slot] = self._filled(new, slot, best_slots, best_scores, new.neighbours)
            new.cache = cache
            self._state = new
            self._added_texts[id_] = text
            if self._journal is not None:
                self._journal.append((id_, text))
            unseen = tfidf.unseen_terms(text, state.vocabulary)
            self._unseen_since_fit += unseen
            return unseen

    def remove(self, id_: str) -> None:
        """Retire a story: it is never returned again (KeyError for an unknown id)."""
        with self._write:
            state = self._state
            self._slot(state, id_)
            self._state = self._without(state, id_)
            self._added_texts.pop(id_, None)
            if self._journal is not None:
                self._journal.append((id_, None))

    @staticmethod
    def _without(state: _Snapshot, id_: str) -> _Snapshot:
        slot = state.position[id_]
        position = dict(state.position)
        del position[id_]
        alive = state.alive.copy()
        alive[slot] = False
        cache = {owner: kept for owner, kept in state.cache.items() if owner != slot}
        blocks = {key: block for key, block in state.blocks.items() if id_ not in key}
        return dataclasses.replace(state, position=position, alive=alive, cache=cache, blocks=blocks, alive_ids=None)

    def refresh(self, texts: Mapping[str, str] | Callable[[str], str]) -> None:
        """Refit the vocabulary and idf on every current story, dropping retired rows.

        `texts` gives the text of each story of the last fit; a story added since is refitted on the
        text it was added with. The fit (as long as `from_texts` on the same stories) runs without
        holding the write lock: readers and publishers carry on with the old model, and the stories
        added or removed meanwhile are applied to the new one before it is swapped in. Kept
        neighbour lists are found again on demand. One refresh at a time.
        """
        text_of = texts.__getitem__ if isinstance(texts, Mapping) else texts
        with self._refit:
            with self._write:
                ids = self.ids
                known = dict(self._added_texts)
                neighbours = self._state.neighbours
                self._journal = []
            try:
                fresh = ArticleIndex.from_texts(
                    ids, [known[id_] if id_ in known else text_of(id_) for id_ in ids], neighbours
                )
            except BaseException:
                with self._write:
                    self._journal = None
                raise
            with self._write:
                for id_, text in self._journal:
                    if text is not None:
                        fresh.add(id_, text)
                    elif id_ in fresh:
                        fresh.remove(id_)
                self._state = fresh._state
                self._added_texts = fresh._added_texts
                self._unseen_since_fit = fresh._unseen_since_fit
                self._journal = None


def _inserted(
    slots: np.ndarray, scores: np.ndarray, slot: int, score: float, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """A kept list with (slot, score) in its place if it ranks among the first `limit` (new arrays; else the same)."""
    rounded = round(score, _TIE_DECIMALS)
    if len(slots) >= limit and rounded <= round(float(scores[-1]), _TIE_DECIMALS):
        return slots, scores  # a newcomer has the highest slot: on a tie it ranks after the last
    at = int(np.searchsorted(-np.round(scores, _TIE_DECIMALS), -rounded, side="right"))
    return np.insert(slots, at, slot)[:limit], np.insert(scores, at, score)[:limit]
