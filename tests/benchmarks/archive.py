"""Recommendations at archive scale: the sparse index and the strategy at 10,000 and 100,000 stories.

Beside each number, a baseline from the same run: `DenseArticleIndex`, the index as it was
before (a dense n x n similarity matrix and a ranked list per story) with the strategy as it
was (`dense_recommend`), and the shipped corpus. Each build runs in a fresh process (its peak
RSS is its own): `python -m tests.benchmarks.archive worker sparse|dense <stories>` prints
JSON. Run this section alone with `python -m tests.benchmarks.archive`.

The stories are synthetic and seeded: 500-900 words each, 45% English stop words, the rest
from a Zipf vocabulary of 30,000 made-up words, mixed with the words of the story's section
and of its topic (250 stories per topic), so that neighbours mean something. The texts are
made before the clock starts: a real archive's texts are in memory already (the corpus).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import itertools
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from media_demo.articles import Article, Corpus
from media_demo.articles.store import StoryStore
from media_demo.assistant.passages import PassageIndex, passages_of, terms
from media_demo.newsroom import WARM_STORIES, get_corpus, get_index
from media_demo.recommend import ArticleIndex, ReaderProfile, ReadStats, interests, recommend
from media_demo.recommend.strategy import prepare
from media_demo.services.publishing import ArticleIndexFollower, Publishing
from media_demo.settings import PROJECT_ROOT
from media_demo.signals.storage.database import open_database
from tests.benchmarks.common import percentile

SPARSE_SIZES = (10_000, 100_000)
# The dense index at 10,000 stories takes over a minute and several GB (scikit-learn's fit alone
# takes about a minute on these texts), so its baseline runs at these sizes instead.
DENSE_SIZES = (2_000, 5_000)
PASSAGE_BASELINE_SIZE = 5_000  # the passage index before: a refit per change (about 12 s here)
VOCABULARY = 30_000
SECTIONS = ("business", "culture", "health", "science", "sport", "technology", "travel", "world")
STORIES_PER_TOPIC = 250
SEED = 41
READERS = 400  # distinct reader profiles; each recommendation call takes the next one
RECOMMENDATION_CALLS = 1_200
SIMILAR_CALLS = 600
ADDED_STORIES = 30
PUBLISHED_STORIES = 10  # publishes timed to the moment the story is recommended
RECALL_SAMPLE = 12
WORKER_TIMEOUT_SECONDS = 600

_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_COMMON_FIRST = ("the", "of", "and", "to", "in", "is", "that", "for", "it", "was", "on", "with", "as", "be", "at")


def _inverse_cdf(weights: np.ndarray, grid: int) -> np.ndarray:
    """A table turning a uniform draw (times `grid`) into an index drawn with these weights."""
    cdf = np.cumsum(weights) / weights.sum()
    return np.searchsorted(cdf, (np.arange(grid) + 0.5) / grid).astype(np.int32)


class SyntheticStories(Sequence[str]):
    """`count` seeded synthetic story texts, made a chunk at a time on demand (see the module docstring)."""

    CHUNK = 512
    GRID = 1 << 20

    def __init__(self, count: int, seed: int = SEED) -> None:
        self.count = count
        self.seed = seed
        rng = np.random.default_rng(seed)
        stop = [*_COMMON_FIRST, *sorted(set(ENGLISH_STOP_WORDS) - set(_COMMON_FIRST))]
        words = self._made_up_words(VOCABULARY, rng)
        self.table = np.array(stop + words, dtype=object)
        offset = len(stop)
        self.stop_draw = _inverse_cdf(1.0 / np.arange(1, len(stop) + 1), self.GRID)
        self.background_draw = offset + _inverse_cdf(1.0 / (np.arange(1, VOCABULARY + 1) + 2.7), self.GRID)
        self.focus_draw = _inverse_cdf(1.0 / np.arange(1, 201) ** 0.8, self.GRID)
        self.topics = max(len(SECTIONS), count // STORIES_PER_TOPIC)
        self.topic_words = (offset + rng.integers(300, VOCABULARY, size=(self.topics, 200))).astype(np.int32)
        self.section_words = (offset + rng.integers(200, VOCABULARY, size=(len(SECTIONS), 200))).astype(np.int32)
        self._chunk = -1
        self._texts: list[str] = []
        self._chunk_topics = np.zeros(0, dtype=np.int64)

    @staticmethod
    def _made_up_words(size: int, rng: np.random.Generator) -> list[str]:
        syllables = np.array([c + v for c in _CONSONANTS for v in _VOWELS], dtype=object)
        seen = set(ENGLISH_STOP_WORDS)
        out: list[str] = []
        while len(out) < size:
            parts = syllables[rng.integers(0, len(syllables), size=(size, 4))].tolist()
            for row, n in zip(parts, rng.integers(1, 5, size).tolist(), strict=True):
                word = "".join(row[:n])
                if len(word) >= 3 and word not in seen:
                    seen.add(word)
                    out.append(word)
                    if len(out) == size:
                        break
        return out

    def __len__(self) -> int:
        return self.count

    def _make(self, chunk: int) -> None:
        rng = np.random.default_rng([self.seed, chunk])
        topics = rng.integers(0, self.topics, self.CHUNK)
        lengths = rng.integers(500, 901, self.CHUNK)
        total = int(lengths.sum())
        kind = rng.random(total)
        draw = (rng.random(total) * self.GRID).astype(np.int32)
        topic = np.repeat(topics, lengths)
        index = np.where(
            kind < 0.45,
            self.stop_draw[draw],
            np.where(
                kind < 0.75,
                self.background_draw[draw],
                np.where(
                    kind < 0.82,
                    self.section_words[topic % len(SECTIONS), self.focus_draw[draw]],
                    self.topic_words[topic, self.focus_draw[draw]],
                ),
            ),
        )
        words = self.table[index].tolist()
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        self._texts = [" ".join(words[a:b]).capitalize() + "." for a, b in zip(starts, ends, strict=True)]
        self._chunk, self._chunk_topics = chunk, topics

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        if not 0 <= i < self.count:
            raise IndexError(i)
        if i // self.CHUNK != self._chunk:
            self._make(i // self.CHUNK)
        return self._texts[i % self.CHUNK]

    def section(self, i: int) -> str:
        """The section of story `i` (its topic's)."""
        if i // self.CHUNK != self._chunk:
            self._make(i // self.CHUNK)
        return SECTIONS[int(self._chunk_topics[i % self.CHUNK]) % len(SECTIONS)]

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self.count))


def story_ids(count: int) -> list[str]:
    return [f"story-{i:06d}" for i in range(count)]


def synthetic_corpus(stories: SyntheticStories, texts: Sequence[str] = ()) -> Corpus:
    """Articles for the stories (newest first: story 0 is today's, 40 a day), with `texts` as bodies if given
    (the same strings: no copy), which a refit after a publish reads."""
    today = dt.date(2026, 11, 30)
    articles = [
        Article(
            slug=slug,
            title=f"Story {i}",
            excerpt="",
            category=stories.section(i),
            author="Bench",
            published=today - dt.timedelta(days=i // 40),
            reading_minutes=4,
            tags=(stories.section(i),),
            body=texts[i] if texts else "",
        )
        for i, slug in enumerate(story_ids(len(stories)))
    ]
    return Corpus(articles)


# --- the baseline: the index and the strategy as they were ------------------------------------------------------


class DenseArticleIndex:
    """The index before issue 14: the full similarity matrix and each story's ranked list, built at once."""

    def __init__(self, ids: Sequence[str], similarity: np.ndarray) -> None:
        self.ids = tuple(ids)
        self._position = {id_: i for i, id_ in enumerate(self.ids)}
        self._similarity = similarity
        order = np.argsort(-similarity, axis=1, kind="stable")
        self._ranked = [[j for j in row if j != i] for i, row in enumerate(order.tolist())]

    @classmethod
    def from_texts(cls, ids: Sequence[str], texts: Sequence[str]) -> DenseArticleIndex:
        vectorizer = TfidfVectorizer(
            stop_words="english", sublinear_tf=True, strip_accents="unicode", min_df=1, ngram_range=(1, 2)
        )
        matrix = vectorizer.fit_transform(texts)
        similarity = (matrix @ matrix.T).toarray()
        np.clip(similarity, 0.0, 1.0, out=similarity)
        return cls(ids, similarity)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._position

    def similarity(self, id_a: str, id_b: str) -> float:
        return float(self._similarity[self._position[id_a], self._position[id_b]])

    def similar(self, id_: str, k: int = 5) -> list[tuple[str, float]]:
        i = self._position[id_]
        row = self._similarity[i]
        return [(self.ids[j], float(row[j])) for j in self._ranked[i][:k]]


def dense_recommend(
    profile: ReaderProfile, corpus: Corpus, index: DenseArticleIndex, stats: ReadStats, count: int = 3
) -> list[str]:
    """`recommend` as it was: every unread story of a section scored pair by pair, then the full ranking."""
    read, chosen = profile.read, []

    def available(slug: str) -> bool:
        return slug not in read and slug not in chosen and slug in corpus

    recent = [slug for slug in list(profile.articles_read)[-5:] if slug in index]

    def taste(slug: str) -> float:
        return sum(index.similarity(slug, r) for r in recent) / len(recent) if recent else 0.0

    for category in interests(profile):
        candidates = [a for a in corpus.in_category(category) if available(a.slug)]
        if candidates and len(chosen) < count:
            chosen.append(max(candidates, key=lambda a: taste(a.slug)).slug)
    if profile.last_read in index:
        for slug, score in index.similar(profile.last_read, len(index)):
            if len(chosen) >= count or score <= 0.0:
                break
            if available(slug):
                chosen.append(slug)
    return chosen


class RefitPassageIndex:
    """The assistant's passage index before issue 14 (its build and its `add`): TfidfVectorizer's fit over every
    passage's words and pairs, kept per story, and a refit of the whole model on each change."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.stories = {a.slug: self._features(a) for a in articles}
        self._fit()

    @staticmethod
    def _features(article: Article) -> list[tuple[str, ...]]:
        context = " ".join([article.title] * 2 + [t.replace("-", " ") for t in article.tags])
        features = []
        for passage in passages_of(article):
            words = terms(f"{context} {passage.text}")
            features.append(tuple(words + [f"{a} {b}" for a, b in itertools.pairwise(words)]))
        return features

    def _fit(self) -> None:
        documents = [f for features in self.stories.values() for f in features]
        self.matrix = TfidfVectorizer(analyzer=lambda d: list(d), sublinear_tf=True).fit_transform(documents)

    def add(self, article: Article) -> None:
        self.stories[article.slug] = self._features(article)
        self._fit()


# --- readers ----------------------------------------------------------------------------------------------------


def reader_profiles(corpus: Corpus, count: int, seed: int = 5) -> list[ReaderProfile]:
    """Readers with 3-30 reads, two thirds of them in one favourite section, mostly among the newest stories."""
    rng = random.Random(seed)
    articles = corpus.articles
    recent = articles[: min(len(articles), 4_000)]
    by_section: dict[str, list[Article]] = {}
    for article in recent:
        by_section.setdefault(article.category, []).append(article)
    sections = sorted(by_section)
    profiles = []
    for _ in range(count):
        favourite = rng.choice(sections)
        reads: list[Article] = []
        for _ in range(rng.randint(3, 30)):
            pool = by_section[favourite] if rng.random() < 2 / 3 else recent
            reads.append(rng.choice(pool))
        slugs = list(dict.fromkeys(a.slug for a in reads))
        category_reads: dict[str, int] = {}
        for article in reads:
            category_reads[article.category] = category_reads.get(article.category, 0) + 1
        profiles.append(
            ReaderProfile(
                article_read_count=len(reads),
                articles_read=tuple(slugs),
                last_read=slugs[-1],
                category_reads=category_reads,
                categories_by_recency=tuple(dict.fromkeys(a.category for a in reads)),
            )
        )
    return profiles


def read_stats(corpus: Corpus, readers: int = 2_000, seed: int = 6) -> ReadStats:
    """Popularity skewed to the newest stories, for the popular fill."""
    rng = random.Random(seed)
    stats = ReadStats()
    newest = corpus.articles[:500]
    for r in range(readers):
        for article in rng.sample(newest, 3):
            stats.observe(article.slug, f"reader-{r}", 1_000.0 + r)
    return stats


def timed_ms(calls: Sequence[Callable[[], Any]]) -> list[float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {"p50": statistics.median(samples), "p99": percentile(samples, 0.99), "max": max(samples)}


# --- the worker: one build, one process -------------------------------------------------------------------------


def measure(kind: str, count: int) -> dict[str, Any]:
    """Build one index of `count` synthetic stories in this (fresh) process; time its answers."""
    stories = SyntheticStories(count)
    ids = story_ids(count)
    texts = list(stories)  # made before the clock starts: an archive's texts are in memory already
    corpus = synthetic_corpus(stories, texts)
    profiles = reader_profiles(corpus, READERS)
    stats = read_stats(corpus)
    gc.collect()
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    index: Any = ArticleIndex.from_texts(ids, texts) if kind == "sparse" else DenseArticleIndex.from_texts(ids, texts)
    build_seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    after = psutil.Process().memory_info().rss
    result: dict[str, Any] = {
        "kind": kind,
        "stories": count,
        "build_seconds": build_seconds,
        "rss_before": before,
        "rss_peak": peak,
        "rss_after": after,
    }
    rng = random.Random(9)
    asked = [rng.choice(ids) for _ in range(SIMILAR_CALLS)]
    # Cold: the first time each story is asked for (a sparse index finds its neighbours then).
    result["similar_first"] = summary(timed_ms([lambda s=s: index.similar(s, 10) for s in asked]))
    result["similar_again"] = summary(timed_ms([lambda s=s: index.similar(s, 10) for s in asked]))
    calls = [profiles[i % len(profiles)] for i in range(RECOMMENDATION_CALLS)]
    if kind == "sparse":
        prepare(corpus, index)  # as the newsroom does at start: the sections' windows compacted
        run = [lambda p=p: recommend(p, corpus, index, stats) for p in calls]
    else:
        run = [lambda p=p: dense_recommend(p, corpus, index, stats) for p in calls]
    first, rest = run[: len(profiles)], run[len(profiles) :]
    result["recommend_first"] = summary(timed_ms(first))  # each reader's first answer: cold neighbour lists
    result["recommend_again"] = summary(timed_ms(rest))
    if kind == "sparse":
        result["recall_at_10"] = _recall(index, ids, rng)
        query_terms = [" ".join(texts[rng.randrange(count)].split()[5:7]) for _ in range(50)]
        result["query"] = summary(timed_ms([lambda t=t: index.query(t, 10) for t in query_terms]))
        fresh = SyntheticStories(ADDED_STORIES, seed=SEED + 1)
        result["add"] = summary(timed_ms([lambda i=i: index.add(f"new-{i}", fresh[i]) for i in range(ADDED_STORIES)]))
        # As the newsroom runs: the newest stories' neighbours found in the background at start.
        start = time.perf_counter()
        index.warm(a.slug for a in corpus.latest(WARM_STORIES))
        result["warm_seconds"] = time.perf_counter() - start
        warmed = reader_profiles(corpus, READERS, seed=7)  # readers not seen yet: their reads' lists not asked for
        result["recommend_warm"] = summary(timed_ms([lambda p=p: recommend(p, corpus, index, stats) for p in warmed]))
        result["publish_to_recommendable"] = summary(publish_to_recommendable(corpus, index, stories, stats))
    return result


def publish_to_recommendable(
    corpus: Corpus, index: ArticleIndex, stories: SyntheticStories, stats: ReadStats
) -> list[float]:
    """Milliseconds from `Publishing.create` (store, cover, index, corpus) to the story in a reader's picks.

    The reader has just read a story of the archive; the new story is a rewrite of it (its
    words shuffled), so it should come first among that reader's recommendations. Its title
    brings words the archive lacks, so a refit starts in the background, as in the newsroom,
    and the publishes after the first are timed while it runs.
    """
    samples = []
    with tempfile.TemporaryDirectory() as folder:
        store = StoryStore(open_database(f"sqlite:///{Path(folder) / 'stories.db'}"))
        service = Publishing(store, corpus, corpus.categories, [ArticleIndexFollower(index, corpus)])
        rng = random.Random(11)
        for n in range(PUBLISHED_STORIES):
            source = corpus.articles[rng.randrange(min(200, len(corpus) // 2), min(4_000, len(corpus)))]
            words = stories[int(source.slug.rsplit("-", 1)[1])].split()
            rng.shuffle(words)
            reader = ReaderProfile(
                article_read_count=1,
                articles_read=(source.slug,),
                last_read=source.slug,
                category_reads={source.category: 1},
                categories_by_recency=(source.category,),
            )
            fields = {
                "slug": f"published-{n}",
                "title": f"Published story {n}",
                "excerpt": "A story published while the archive is read.",
                "category": source.category,
                "author": "Bench",
                "published": "2026-12-01",
                "reading_minutes": 4,
                "tags": [source.category],
                "body": " ".join(words),
            }
            start = time.perf_counter()
            service.create(fields, "bench")
            while fields["slug"] not in {r.article.slug for r in recommend(reader, corpus, index, stats)}:
                if time.perf_counter() - start > 30:
                    raise RuntimeError(f"story {fields['slug']} not recommended 30 s after it was published")
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def measure_passages(kind: str, count: int) -> dict[str, Any]:
    """Build the assistant's passage index (`kind` "sparse": today's, "refit": before) of `count` stories."""
    stories = SyntheticStories(count)
    corpus = synthetic_corpus(stories)
    articles = [dataclasses.replace(a, body=stories[i]) for i, a in enumerate(corpus.articles)]
    questions = [" ".join(stories[i].split()[10:16]) + "?" for i in random.Random(4).sample(range(count), 60)]
    fresh = SyntheticStories(ADDED_STORIES, seed=SEED + 2)
    added = [dataclasses.replace(articles[i], slug=f"new-{i}", body=fresh[i]) for i in range(ADDED_STORIES)]
    gc.collect()
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    index: Any = PassageIndex.from_articles(articles) if kind == "sparse" else RefitPassageIndex(articles)
    result: dict[str, Any] = {"kind": kind, "stories": count, "build_seconds": time.perf_counter() - start}
    result["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["rss_before"], result["rss_after"] = before, psutil.Process().memory_info().rss
    adds = added if kind == "sparse" else added[:3]  # a refit each: a few are enough
    result["add"] = summary(timed_ms([lambda a=a: index.add(a) for a in adds]))
    if kind == "sparse":
        result["stories_query"] = summary(timed_ms([lambda q=q: index.stories(q, 4) for q in questions]))
    return result


def _recall(index: ArticleIndex, ids: Sequence[str], rng: random.Random) -> float:
    """Share of the exact top 10 (a scan of the archive) that the kept neighbours hold."""
    found = 0
    for slug in rng.sample(list(ids), RECALL_SAMPLE):
        exact = {other for other, _ in index.similar(slug, index.neighbours + 1)[:10]}
        kept = {other for other, _ in index.similar(slug, 10)}
        found += len(exact & kept)
    return found / (10 * RECALL_SAMPLE)


def run_worker(kind: str, count: int) -> dict[str, Any]:
    """One measurement in a fresh process: `sparse`/`dense` (the article index), `passages`/`passages-refit`."""
    worker = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.archive", "worker", kind, str(count)],
        capture_output=True,
        cwd=PROJECT_ROOT,
        text=True,
        timeout=WORKER_TIMEOUT_SECONDS,
        check=False,
    )
    if worker.returncode != 0:
        raise RuntimeError(f"archive worker {kind} {count} failed ({worker.returncode}):\n{worker.stderr[-2000:]}")
    return json.loads(worker.stdout)


# --- the section ------------------------------------------------------------------------------------------------


def _shipped() -> dict[str, Any]:
    """The shipped corpus, in this process: the same answers, timed."""
    corpus, index = get_corpus(), get_index()
    start = time.perf_counter()
    ArticleIndex.for_corpus(corpus)
    build = time.perf_counter() - start
    profiles = reader_profiles(corpus, 60)
    stats = read_stats(corpus, 200)
    calls = [profiles[i % len(profiles)] for i in range(RECOMMENDATION_CALLS)]
    slugs = [a.slug for a in corpus]
    return {
        "stories": len(corpus),
        "build_seconds": build,
        "similar": summary(timed_ms([lambda s=s: index.similar(s, 10) for s in slugs * 10])),
        "recommend": summary(timed_ms([lambda p=p: recommend(p, corpus, index, stats) for p in calls])),
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _line(label: str, stats: dict[str, float]) -> str:
    return f"  {label}: p50 {stats['p50']:8.3f} ms   p99 {stats['p99']:8.3f} ms   max {stats['max']:8.3f} ms"


def bench_archive() -> None:
    """Build time and memory at 10k/100k beside the dense index; similar, recommend and add latency at 100k."""
    shipped = _shipped()
    dense = {n: run_worker("dense", n) for n in DENSE_SIZES}
    sparse_runs = {n: run_worker("sparse", n) for n in SPARSE_SIZES}
    big = sparse_runs[SPARSE_SIZES[-1]]
    print(f"\n## Recommendations at archive scale (synthetic stories of 500-900 words; {READERS} reader profiles)")
    print("  index build, fresh process per size (peak RSS of the process; growth = peak - RSS before the build):")
    for label, run in [
        *(("sparse", r) for r in sparse_runs.values()),
        *(("dense baseline", r) for r in dense.values()),
    ]:
        print(
            f"    {label:<15}{run['stories']:>8,} stories: {run['build_seconds']:7.1f} s   peak {_mib(run['rss_peak'])}"
            f" (growth {_mib(run['rss_peak'] - run['rss_before'])}, kept {_mib(run['rss_after'] - run['rss_before'])})"
        )
    print(f"    sparse, shipped corpus ({shipped['stories']} stories): {shipped['build_seconds'] * 1000:.0f} ms")
    print("  (the dense baseline runs at 2,000 and 5,000: at 10,000 it needs over a minute and several GB)")
    print(f"  similar(id, 10) at {big['stories']:,} stories, {SIMILAR_CALLS:,} random stories:")
    print(_line("first ask (finds the kept list)  ", big["similar_first"]))
    print(_line("asked again                      ", big["similar_again"]))
    biggest_dense = dense[DENSE_SIZES[-1]]
    print(_line(f"dense baseline, {biggest_dense['stories']:,} stories     ", biggest_dense["similar_again"]))
    print(_line(f"shipped corpus ({shipped['stories']} stories)     ", shipped["similar"]))
    print(f"    recall@10 of the kept neighbours against an exact scan: {big['recall_at_10']:.3f}")
    print(f"  recommend() (3 picks) at {big['stories']:,} stories:")
    print(_line("each reader's first answer       ", big["recommend_first"]))
    print(_line("later answers                    ", big["recommend_again"]))
    print(_line(f"dense baseline, {biggest_dense['stories']:,}, first answers", biggest_dense["recommend_first"]))
    print(_line(f"dense baseline, {biggest_dense['stories']:,}, later answers", biggest_dense["recommend_again"]))
    print(_line(f"shipped corpus ({shipped['stories']} stories)     ", shipped["recommend"]))
    print(
        f"    as the newsroom runs (the newest {WARM_STORIES:,} stories' neighbours found at start,"
        f" in {big['warm_seconds']:.1f} s):"
    )
    print(_line("new readers, after the warm-up   ", big["recommend_warm"]))
    print(f"  publishing at {big['stories']:,} stories:")
    print(_line(f"add() per story ({ADDED_STORIES} stories)      ", big["add"]))
    print(f"    baseline, a full refit (from_texts):          {big['build_seconds'] * 1000:10,.0f} ms")
    print(_line(f"publish to recommended ({PUBLISHED_STORIES} stories)", big["publish_to_recommendable"]))
    print(_line("query(2 words, 10)               ", big["query"]))
    passages = {n: run_worker("passages", n) for n in SPARSE_SIZES}
    refit = run_worker("passages-refit", PASSAGE_BASELINE_SIZE)
    print("  the assistant's passage index (one passage per synthetic story), fresh process per size:")
    for label, run in [*(("sparse", r) for r in passages.values()), ("refit baseline", refit)]:
        print(
            f"    {label:<15}{run['stories']:>8,} stories: {run['build_seconds']:7.1f} s   peak {_mib(run['rss_peak'])}"
            f" (growth {_mib(run['rss_peak'] - run['rss_before'])}, kept {_mib(run['rss_after'] - run['rss_before'])})"
        )
    big_passages = passages[SPARSE_SIZES[-1]]
    print(_line(f"add() at {big_passages['stories']:,} stories            ", big_passages["add"]))
    print(_line(f"refit baseline add(), {refit['stories']:,} stories", refit["add"]))
    print(_line(f"stories(question, 4) at {big_passages['stories']:,}  ", big_passages["stories_query"]))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        kind, count = sys.argv[2], int(sys.argv[3])
        if kind.startswith("passages"):
            json.dump(measure_passages("refit" if kind == "passages-refit" else "sparse", count), sys.stdout)
        else:
            json.dump(measure(kind, count), sys.stdout)
        return
    if len(sys.argv) != 1:
        raise SystemExit(
            "usage: python -m tests.benchmarks.archive [worker sparse|dense|passages|passages-refit <stories>]"
        )
    start = time.perf_counter()
    bench_archive()
    print(f"  [{time.perf_counter() - start:.0f} s]")


if __name__ == "__main__":
    main()
