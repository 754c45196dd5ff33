"""The index's TF-IDF model, exactly as scikit-learn's TfidfVectorizer computes it, at archive scale.

The model (the quality floor of every recommendation) is

    TfidfVectorizer(stop_words="english", sublinear_tf=True, strip_accents="unicode", ngram_range=(1, 2))

text lowercased, accents stripped (NFKD, combining marks dropped), tokens of two or more word
characters, English stop words dropped, the unigrams and bigrams of the words left,
tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1, each row scaled to unit length.

Why not TfidfVectorizer itself: its vocabulary is a dict of term strings, sorted after the fit,
and it tokenises in Python, word by word. 100,000 stories of 500-900 words hold some 20 million
distinct unigrams and bigrams: the dict alone takes gigabytes and the fit many minutes. Here a
term is a 63-bit key (a tabulation hash of its bytes; a bigram's key mixes its two words' keys),
the vocabulary a sorted array of keys with their document frequencies, and tokens are found and
keyed by numpy over many documents at once. Tokens, counts and weights are TfidfVectorizer's
(tests/unit/test_index.py compares the two on the real corpus and awkward text); columns are in
key order rather than term order, which changes no dot product. Two distinct terms could share
a key: among 20 million terms the chance that any two do is about 1 in 40,000, and the effect
would be one merged feature.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, strip_accents_unicode

# TfidfVectorizer's default token pattern: runs of two or more word characters.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
STOP_WORDS = ENGLISH_STOP_WORDS
DOCUMENTS_PER_CHUNK = 4_096  # documents counted together: bounds the temporary arrays of a fit
_DOCUMENTS_PER_SCAN = 1_024  # documents tokenised together (their bytes side by side)

# For ASCII text the token pattern means "maximal runs of [A-Za-z0-9_] of length >= 2": one
# bytes.translate lowercases the text and turns every other byte into a space, and numpy finds
# the runs. (For ASCII text, str.lower() is exactly this lowercasing.)
_ASCII_WORD = frozenset(string.ascii_letters + string.digits + "_")
_SPACE = ord(" ")
_LOWER_WORDS_ELSE_SPACE = bytes(ord(chr(c).lower()) if chr(c) in _ASCII_WORD else _SPACE for c in range(256))

# A token's key is a tabulation hash of its UTF-8 bytes: the XOR over its positions of a random
# 64-bit entry for (position, byte); computed for every token at once with numpy. Keys are 63-bit,
# which scipy's int64 column indices hold. Bytes past the table's rows wrap around (tokens that long
# are not words).
KEY_SPACE = (1 << 63) - 1
_KEY_MASK = np.uint64(KEY_SPACE)
_TABLE_ROWS = 64
_TABLE = np.random.default_rng(20_141_014).integers(0, 1 << 63, size=(_TABLE_ROWS, 256), dtype=np.uint64)
_TABLE[:, _SPACE] = 0
_TABLE = _TABLE.ravel()
_MIX_A = np.uint64(0x9E3779B97F4A7C15)
_MIX_B = np.uint64(0xBF58476D1CE4E5B9)
_MIX_C = np.uint64(0x94D049BB133111EB)


def _token_bytes(text: str) -> bytes:
    """The text's tokens as TfidfVectorizer finds them, as UTF-8 separated by spaces (stop words still in).

    Lowercased, accents stripped when the text is not ASCII (NFKD, combining marks dropped), then
    the token pattern: for ASCII text a translation does it, otherwise the regular expression.
    """
    if not text.isascii():
        text = strip_accents_unicode(text.lower())
        if not text.isascii():
            return " ".join(TOKEN_PATTERN.findall(text)).encode()
    return text.encode().translate(_LOWER_WORDS_ELSE_SPACE)


def token_keys(tokens: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The key of every run of two or more non-space bytes, in order, and where each run starts."""
    buffer = np.frombuffer(tokens, dtype=np.uint8)
    inside = np.zeros(len(buffer) + 1, dtype=bool)
    inside[:-1] = buffer != _SPACE
    starts = np.flatnonzero(inside[:-1] & ~np.roll(inside, 1)[:-1])
    ends = np.flatnonzero(inside[:-1] & ~inside[1:]) + 1
    if not len(starts):
        return np.zeros(0, dtype=np.uint64), starts
    # Each byte's position in its run (the spaces after it too: their entries are 0), its entry, XOR per run.
    bases = np.concatenate(([0], starts))
    index = np.arange(len(buffer), dtype=np.int64)
    index -= np.repeat(bases, np.diff(bases, append=len(buffer)))
    index &= _TABLE_ROWS - 1
    index <<= 8
    index |= buffer
    keys = np.bitwise_xor.reduceat(np.take(_TABLE, index), starts)
    del index
    long_enough = ends - starts >= 2
    return keys[long_enough] & _KEY_MASK, starts[long_enough]


_STOP_KEYS = np.sort(token_keys(" ".join(sorted(STOP_WORDS)).encode())[0])
# A first, cheap test for stop words: is any stop word's key in the same bucket of the top 16 bits?
_STOP_BUCKET_BITS = 16
_STOP_BUCKETS = np.zeros(1 << _STOP_BUCKET_BITS, dtype=bool)
_STOP_BUCKETS[_STOP_KEYS >> np.uint64(63 - _STOP_BUCKET_BITS)] = True


def _is_stop_word(keys: np.ndarray) -> np.ndarray:
    maybe = np.flatnonzero(_STOP_BUCKETS[keys >> np.uint64(63 - _STOP_BUCKET_BITS)])
    at = np.minimum(np.searchsorted(_STOP_KEYS, keys[maybe]), len(_STOP_KEYS) - 1)
    stop = np.zeros(len(keys), dtype=bool)
    stop[maybe] = _STOP_KEYS[at] == keys[maybe]
    return stop


def _bigram_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A key for each bigram from its two words' keys (an order-sensitive mix, then splitmix64's finaliser)."""
    key = first * _MIX_A ^ ((second << np.uint64(29)) | (second >> np.uint64(34)))
    key ^= key >> np.uint64(30)
    key *= _MIX_B
    key ^= key >> np.uint64(27)
    key *= _MIX_C
    key ^= key >> np.uint64(31)
    return key & _KEY_MASK


@dataclass(frozen=True)
class TermCounts:
    """Documents as term counts, CSR-like: document i's keys (distinct, ascending) and counts at indptr[i:i+2]."""

    indptr: np.ndarray  # int64, one more than documents
    keys: np.ndarray  # int64, >= 0
    counts: np.ndarray  # float32, whole numbers

    def __len__(self) -> int:
        return len(self.indptr) - 1


def count_terms(texts: Iterable[str]) -> Iterator[TermCounts]:
    """Each text's unigram and bigram counts, keyed; one chunk of documents at a time (vectorised within)."""
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == DOCUMENTS_PER_CHUNK:
            yield _count_chunk(chunk)
            chunk = []
    if chunk:
        yield _count_chunk(chunk)


def _words_of_scan(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The keys of the words kept (stop words out) of a few texts, in order, and the text of each."""
    pieces = [_token_bytes(text) for text in texts]
    keys, starts = token_keys(b" ".join(pieces))
    text_starts = np.zeros(len(pieces), dtype=np.int64)
    np.cumsum([len(p) + 1 for p in pieces[:-1]], out=text_starts[1:])
    tokens_before = np.searchsorted(starts, text_starts)
    document = np.repeat(np.arange(len(pieces)), np.diff(tokens_before, append=len(starts)))
    kept = ~_is_stop_word(keys)
    return keys[kept], document[kept]


def _count_chunk(texts: Sequence[str]) -> TermCounts:
    scans = [_words_of_scan(texts[i : i + _DOCUMENTS_PER_SCAN]) for i in range(0, len(texts), _DOCUMENTS_PER_SCAN)]
    unigrams = np.concatenate([keys for keys, _ in scans])
    document = np.concatenate([doc + i * _DOCUMENTS_PER_SCAN for i, (_, doc) in enumerate(scans)])
    del scans
    # A bigram pairs each word with the next one of the same document.
    same_document = document[:-1] == document[1:]
    bigrams = _bigram_keys(unigrams[:-1][same_document], unigrams[1:][same_document])
    rows = np.concatenate((document, document[:-1][same_document]))
    keys = np.concatenate((unigrams, bigrams)).view(np.int64)
    # COO to CSR sorts each document's keys and sums the repeats: the counts.
    ones = np.ones(len(keys), dtype=np.float32)
    matrix = sparse.coo_matrix((ones, (rows, keys)), shape=(len(texts), KEY_SPACE)).tocsr()
    return TermCounts(matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), matrix.data)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, ascending (a sort: numpy's hash-based unique is several times slower here)."""
    ordered = np.sort(keys)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first]


def positions(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The index of each of `keys` in `sorted_keys` (ascending, distinct), -1 where absent.

    Keys are uniform 63-bit values, so their top bits spread them over buckets of about two
    each: one look-up in the bucket starts, then a few vectorised steps through each bucket.
    A binary search over millions of keys would miss the cache at every step.
    """
    bits = max(1, math.ceil(math.log2(max(len(sorted_keys), 2))) - 1)
    shift = np.int64(63 - bits)
    starts = np.zeros((1 << bits) + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_keys >> shift, minlength=1 << bits), out=starts[1:])
    bucket = keys >> shift
    position = starts[bucket]
    end = starts[bucket + 1]
    del bucket, starts
    searching = np.flatnonzero(position < end)
    while searching.size:  # step through each (short) bucket while its key is still smaller
        behind = searching[sorted_keys[position[searching]] < keys[searching]]
        position[behind] += 1
        searching = behind[position[behind] < end[behind]]
    found = position < end
    found[found] = sorted_keys[position[found]] == keys[found]
    position[~found] = -1
    return position


class Vocabulary:
    """The fitted terms as keys (ascending: a key's column is its position) and their document frequencies."""

    def __init__(self, keys: np.ndarray, document_frequency: np.ndarray, documents: int) -> None:
        self.keys = keys
        self.documents = documents
        self._frequency: np.ndarray | None = document_frequency
        self._postings_starts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def count_in(self, postings_starts: np.ndarray) -> None:
        """Read the document frequencies off the fit's postings offsets from now on (and free the array)."""
        if len(postings_starts) != len(self.keys) + 1:
            raise ValueError(f"postings_starts: expected {len(self.keys) + 1} offsets, got {len(postings_starts)}")
        self._postings_starts, self._frequency = postings_starts, None

    def document_frequency(self, columns: np.ndarray) -> np.ndarray:
        """In how many documents of the fit each column's term is."""
        if self._postings_starts is not None:
            return self._postings_starts[columns + 1] - self._postings_starts[columns]
        assert self._frequency is not None
        return self._frequency[columns]

    def columns(self, keys: np.ndarray) -> np.ndarray:
        """The column of each key, -1 for a key the fit never saw (a binary search: for a few documents' keys)."""
        at = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        found = self.keys[at] == keys if len(self.keys) else np.zeros(len(keys), dtype=bool)
        return np.where(found, at, -1)

    def idf(self, columns: np.ndarray) -> np.ndarray:
        """TfidfVectorizer's smooth idf of each column: ln((1 + n) / (1 + df)) + 1."""
        return np.log((1.0 + self.documents) / (1.0 + self.document_frequency(columns))) + 1.0


def release_free_memory() -> None:
    """Hand freed memory back to the system after a build (best effort, glibc only).

    glibc keeps freed blocks of up to 32 MB in its heap for reuse: after a fit, the chunks' temporary
    arrays would otherwise stay in the process's resident memory for good.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class _Part:
    """One chunk of counted documents, its keys replaced by positions among the chunk's own distinct keys."""

    indptr: np.ndarray
    local: np.ndarray  # int32: position in `keys`
    counts: np.ndarray  # uint16 (or float32 for a text repeating a term more than 65,535 times)
    keys: np.ndarray  # int64, the chunk's distinct keys, ascending


_KEY_RANGES = 8  # the vocabulary is sorted one slice of the key space at a time: an eighth of the memory


def _vocabulary_of(parts: list[_Part], documents: int) -> tuple[Vocabulary, list[list[np.ndarray]]]:
    """The vocabulary of all chunks, and each chunk's distinct keys as columns (then the chunks' keys are freed).

    A stable sort of every chunk's distinct keys (ascending runs: a merge) gives the terms, their
    document frequencies (a document holds a key once, so a chunk's frequency is its key count) and
    where each chunk's keys went. Keys are uniform, so slices of the key space are about equal.
    """
    frequencies = [np.bincount(p.local, minlength=len(p.keys)).astype(np.int32) for p in parts]
    bounds = [
        np.searchsorted(p.keys, np.arange(1, _KEY_RANGES, dtype=np.int64) * (KEY_SPACE // _KEY_RANGES)) for p in parts
    ]
    keys_of_ranges, frequency_of_ranges = [], []
    columns_of_parts: list[list[np.ndarray]] = [[] for _ in parts]
    found = 0
    for r in range(_KEY_RANGES):
        slices = [
            slice(0 if r == 0 else int(b[r - 1]), len(p.keys) if r == _KEY_RANGES - 1 else int(b[r]))
            for p, b in zip(parts, bounds, strict=True)
        ]
        every = np.concatenate([p.keys[at] for p, at in zip(parts, slices, strict=True)] or [np.zeros(0, np.int64)])
        order = np.argsort(every, kind="stable")
        every = every[order]
        first = np.ones(len(every), dtype=bool)
        first[1:] = every[1:] != every[:-1]
        keys_of_ranges.append(every[first])
        del every
        # Each term's frequency: the sum over its run in sorted order (running totals at the runs' ends).
        frequency = np.concatenate(
            [f[at] for f, at in zip(frequencies, slices, strict=True)] or [np.zeros(0, np.int32)]
        )
        totals = np.cumsum(frequency[order], dtype=np.int64)
        last = np.ones(len(first), dtype=bool)
        last[:-1] = first[1:]
        frequency_of_ranges.append(np.diff(totals[last], prepend=0).astype(np.int32))
        del frequency, totals, last
        column = np.cumsum(first, dtype=np.int64) + (found - 1)
        found += len(keys_of_ranges[-1])
        columns = np.empty(len(order), dtype=np.int32)
        columns[order] = column
        del order, column, first
        offset = 0
        for part_columns, at in zip(columns_of_parts, slices, strict=True):
            size = at.stop - at.start
            part_columns.append(columns[offset : offset + size])
            offset += size
        release_free_memory()
    if found >= np.iinfo(np.int32).max:
        raise ValueError(f"texts: {found:,} distinct terms do not fit 32-bit columns")
    for part in parts:
        part.keys = np.zeros(0, dtype=np.int64)  # a slice would keep the whole array alive
    del frequencies
    keys = np.concatenate(keys_of_ranges)
    del keys_of_ranges
    document_frequency = np.concatenate(frequency_of_ranges)
    return Vocabulary(keys, document_frequency, documents), columns_of_parts


_LOG_OF_SMALL_COUNTS = np.log(np.maximum(np.arange(1 << 16, dtype=np.float64), 1.0))


def _sublinear_tf(counts: np.ndarray) -> np.ndarray:
    """1 + ln(count), from a table for the usual small counts."""
    if counts.dtype == np.uint16:
        return 1.0 + _LOG_OF_SMALL_COUNTS[counts]
    return 1.0 + np.log(counts, dtype=np.float64)


def weigh(indptr: np.ndarray, tf: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Term frequency times idf, each document scaled to unit length (float64): TfidfVectorizer's values."""
    values = tf * idf
    lengths = np.diff(indptr)
    squares = np.bincount(np.repeat(np.arange(len(lengths)), lengths), weights=values * values, minlength=len(lengths))
    norms = np.sqrt(squares)
    norms[norms == 0.0] = 1.0  # an empty document stays a zero row, as in scikit-learn
    values /= np.repeat(norms, lengths)
    return values


def _compact_counts(counts: np.ndarray) -> np.ndarray:
    return counts.astype(np.uint16) if len(counts) and counts.max() < (1 << 16) else counts


def fit(texts: Iterable[str]) -> tuple[Vocabulary, sparse.csr_matrix]:
    """The vocabulary of `texts` and their TF-IDF rows (float32 CSR; int32 columns, ascending in each row)."""
    parts: list[_Part] = []
    for counted in count_terms(texts):
        distinct = _distinct(counted.keys)
        local = positions(distinct, counted.keys).astype(np.int32)
        parts.append(_Part(counted.indptr, local, _compact_counts(counted.counts), distinct))
        del counted
    documents = sum(len(p.indptr) - 1 for p in parts)
    release_free_memory()
    vocabulary, columns_of_parts = _vocabulary_of(parts, documents)
    release_free_memory()
    indptr = np.zeros(documents + 1, dtype=np.int64)
    np.cumsum(np.concatenate([np.diff(p.indptr) for p in parts] or [np.zeros(0, np.int64)]), out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    at = 0
    parts.reverse()
    columns_of_parts.reverse()
    while parts:
        part = parts.pop()  # each chunk is freed once copied
        # The chunk's keys are ascending, so are their columns: each document's columns stay ascending.
        part_columns = np.concatenate(columns_of_parts.pop())
        size = len(part.local)
        indices[at : at + size] = part_columns[part.local]
        idf = vocabulary.idf(part_columns)[part.local]
        data[at : at + size] = weigh(part.indptr, _sublinear_tf(part.counts), idf)
        at += size
        del part
        release_free_memory()
    return vocabulary, sparse.csr_matrix((data, indices, indptr), shape=(documents, len(vocabulary)))


def transform(texts: Iterable[str], vocabulary: Vocabulary) -> sparse.csr_matrix:
    """TF-IDF rows of new texts under a fitted vocabulary (unseen terms dropped, as TfidfVectorizer.transform)."""
    rows = []
    for part in count_terms(texts):
        columns = vocabulary.columns(part.keys)
        seen = columns >= 0
        document = np.repeat(np.arange(len(part)), np.diff(part.indptr))
        indptr = np.zeros(len(part) + 1, dtype=np.int64)
        np.cumsum(np.bincount(document[seen], minlength=len(part)), out=indptr[1:])
        values = weigh(indptr, _sublinear_tf(part.counts[seen]), vocabulary.idf(columns[seen])).astype(np.float32)
        shape = (len(part), len(vocabulary))
        rows.append(sparse.csr_matrix((values, columns[seen].astype(np.int32), indptr), shape=shape))
    if not rows:
        return sparse.csr_matrix((0, len(vocabulary)), dtype=np.float32)
    return sparse.vstack(rows, format="csr")


def unseen_terms(text: str, vocabulary: Vocabulary) -> int:
    """How many distinct terms of `text` the vocabulary lacks (what `transform` drops until the next fit)."""
    return sum(int(np.count_nonzero(vocabulary.columns(part.keys) < 0)) for part in count_terms([text]))
