"""Recommendation latency beside a per-request pure-Python cosine baseline."""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections import Counter

from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.benchmarks.common import bench_settings, latency_line

RECOMMENDATION_CALLS = 5_000


def naive_similar(vectors: list[dict[str, float]], i: int) -> list[int]:
    """Baseline: cosine similarity computed per request in pure Python."""

    def cosine(a: dict[str, float], b: dict[str, float]) -> float:
        dot = sum(w * b.get(t, 0.0) for t, w in a.items())
        return dot / (math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values())) or 1)

    scores = [(cosine(vectors[i], v), j) for j, v in enumerate(vectors) if j != i]
    return [j for _, j in sorted(scores, reverse=True)]


def bench_recommendations() -> None:
    """`ReaderViews.recommendations` for 200 tracked readers, and the naive similarity baseline."""
    corpus = get_corpus()
    with tempfile.TemporaryDirectory() as folder:
        room = Newsroom(bench_settings(folder), corpus, get_index())
        rng = random.Random(3)
        readers = []
        for _ in range(200):
            reader = Reader(new_domain_userid(), touch_session(None, time.time()))
            for article in rng.sample(corpus.articles, rng.randint(0, 8)):
                page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
                room.tracker.article_view(reader, page, article)
            readers.append(reader.domain_userid)
        samples = []
        for i in range(RECOMMENDATION_CALLS):
            user = readers[i % len(readers)]
            start = time.perf_counter()
            room.views.recommendations(user)
            samples.append((time.perf_counter() - start) * 1000)
        room.close()

    words = [Counter(a.text.lower().split()) for a in corpus]
    document_frequency = Counter(t for w in words for t in w)
    vectors = [{t: c * math.log(len(words) / document_frequency[t]) for t, c in w.items()} for w in words]
    baseline = []
    for i in range(200):
        start = time.perf_counter()
        naive_similar(vectors, i % len(vectors))
        baseline.append((time.perf_counter() - start) * 1000)

    print(f"\n## Recommendation latency ({RECOMMENDATION_CALLS:,} calls, {len(corpus)} articles, 200 readers)")
    print(latency_line("views.recommendations()     ", samples))
    print(latency_line("baseline, per-request cosine", baseline))
    print("  (the baseline computes similarity only, in pure Python, per request)")
