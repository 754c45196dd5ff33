"""`make bench`: engine ingest and recommendation latency, each beside a baseline.

Run with `python -m tests.benchmarks.run`. Numbers are printed, never asserted:
speed is measured here, not in timed unit tests.
"""

from __future__ import annotations

import gc
import math
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import Settings
from media_demo.signals import AttributeEngine
from media_demo.signals.definitions import reader_profile_group
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.factories import article_view, page_view

EVENTS = 200_000
READERS = 10_000
RECOMMENDATION_CALLS = 5_000


def synthetic_events(count: int, readers: int, seed: int = 7) -> list:
    """Half page views, half article views of the real corpus, spread over readers."""
    rng = random.Random(seed)
    articles = get_corpus().articles
    users = [f"reader-{i}" for i in range(readers)]
    events = []
    for i in range(count):
        user = rng.choice(users)
        if i % 2:
            a = rng.choice(articles)
            events.append(article_view(a.slug, a.category, user, float(i), a.title))
        else:
            events.append(page_view(user, float(i)))
    return events


class PlainDictProfiles:
    """Baseline: the same reader attributes, hand-written with dicts (no definitions)."""

    def __init__(self, categories: list[str]) -> None:
        self.profiles: dict[str, dict] = {}
        self.categories = categories

    def ingest(self, event) -> None:
        user = event.atomic.get("domain_userid")
        if user is None:
            return
        p = self.profiles.get(user)
        if p is None:
            p = self.profiles[user] = {
                "page_view_count": 0,
                "article_read_count": 0,
                "articles_read": {},
                "last": None,
                "categories_read": {},
                "category_counts": Counter(),
            }
        name = event.atomic.get("event_name")
        if name == "page_view":
            p["page_view_count"] += 1
        elif name == "article_detail":
            data = event.event_data
            p["article_read_count"] += 1
            p["articles_read"].pop(data["slug"], None)
            p["articles_read"][data["slug"]] = event.timestamp
            if p["last"] is None or event.timestamp >= p["last"][0]:
                p["last"] = (event.timestamp, data["slug"])
            p["categories_read"].pop(data["category"], None)
            p["categories_read"][data["category"]] = event.timestamp
            p["category_counts"][data["category"]] += 1


def rate(fn, events: list) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for event in events:
            fn(event)
        return len(events) / (time.perf_counter() - start)
    finally:
        gc.enable()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def bench_ingest() -> None:
    categories = list(get_corpus().categories)
    events = synthetic_events(EVENTS, READERS)
    engine_rates, baseline_rates = [], []
    for _ in range(3):
        baseline_rates.append(rate(PlainDictProfiles(categories).ingest, events))
        engine_rates.append(rate(AttributeEngine([reader_profile_group(categories)]).ingest, events))
    engine_best, baseline_best = max(engine_rates), max(baseline_rates)
    attributes = len(reader_profile_group(categories).attributes)
    print(f"\n## Engine ingest, in process ({EVENTS:,} events, {READERS:,} readers, {attributes} attributes)")
    print(f"  attribute engine (SDK definitions): {engine_best:>12,.0f} events/s")
    print(f"  baseline, hand-written dicts:       {baseline_best:>12,.0f} events/s")
    print(f"  ratio engine/baseline:              {engine_best / baseline_best:>12.2f}")


def bench_durable_ingest() -> None:
    """Tracker payload -> enrich -> engine -> SQLite group commit, through Newsroom.collect."""
    with tempfile.TemporaryDirectory() as folder:
        room = Newsroom(Settings(media_demo_db=Path(folder) / "bench.db"), get_corpus(), get_index())
        payloads: list[dict] = []
        room.tracker._tracker.emitters = [_Collecting(payloads)]
        reader = Reader(new_domain_userid(), touch_session(None, time.time()))
        for article in get_corpus().articles * 300:
            page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
            room.tracker.article_view(reader, page, article)
        start = time.perf_counter()
        for payload in payloads:
            room.collect(payload)
        room.log.flush()
        elapsed = time.perf_counter() - start
        room.close()
    print(f"\n## Durable ingest: tracker payload -> enrich -> engine -> SQLite ({len(payloads):,} events)")
    print(f"  end to end, committed:              {len(payloads) / elapsed:>12,.0f} events/s")


class _Collecting:
    def __init__(self, sink: list) -> None:
        self.sink = sink

    def input(self, payload: dict) -> None:
        self.sink.append({k: str(v) for k, v in payload.items()})

    def flush(self) -> None: ...


def naive_similar(vectors: list[dict[str, float]], i: int) -> list[int]:
    """Baseline: cosine similarity computed per request in pure Python."""

    def cosine(a: dict[str, float], b: dict[str, float]) -> float:
        dot = sum(w * b.get(t, 0.0) for t, w in a.items())
        return dot / (math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values())) or 1)

    scores = [(cosine(vectors[i], v), j) for j, v in enumerate(vectors) if j != i]
    return [j for _, j in sorted(scores, reverse=True)]


def bench_recommendations() -> None:
    corpus = get_corpus()
    with tempfile.TemporaryDirectory() as folder:
        room = Newsroom(Settings(media_demo_db=Path(folder) / "bench.db"), corpus, get_index())
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
            room.recommendations(user)
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
    for label, latencies in (
        ("newsroom.recommendations()  ", samples),
        ("baseline, per-request cosine", baseline),
    ):
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        print(f"  {label}: p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")
    print("  (the baseline computes similarity only, in pure Python, per request)")


def main() -> None:
    print("media_demo benchmarks (one process, one core)")
    bench_ingest()
    bench_durable_ingest()
    bench_recommendations()


if __name__ == "__main__":
    main()
