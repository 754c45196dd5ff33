"""Shared pieces of the benchmarks: synthetic events, the plain-dict baseline, timing helpers."""

from __future__ import annotations

import gc
import math
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from media_demo.definitions import ARTICLE_SCHEMA, category_read_count
from media_demo.newsroom import get_corpus
from media_demo.settings import Settings
from media_demo.signals.engine.events import CanonicalEvent
from tests.factories import article_view, page_view

BENCH_TOKEN = "bench-token"  # a fixed Signals API token: no generated-token file, no log line


def bench_settings(folder: str | Path, name: str = "bench", database_url: str | None = None) -> Settings:
    """Settings for a throwaway newsroom whose event log lives in `folder` (or at `database_url`)."""
    database = Path(folder) / f"{name}.db"
    url = database_url or f"sqlite:///{database}"
    return Settings(
        media_demo_db=database, database_url=url, signals_api_token=BENCH_TOKEN, **scratch_batch(Path(folder))
    )


def scratch_batch(folder: Path) -> dict[str, Any]:
    """Settings that keep a throwaway newsroom's batch export and models in `folder`, out of the project's `data/`,
    with the batch schedule off (a benchmark times its own work, not a batch run that happened to start)."""
    return {"batch_dir": folder / "batch", "models_dir": folder / "models", "batch_schedule": False}


def synthetic_events(count: int, readers: int, seed: int = 7) -> list[CanonicalEvent]:
    """Half page views, half article views of the real corpus, spread over readers (via tests/factories)."""
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


def reader_ids(count: int, seed: int) -> list[str]:
    """`count` distinct UUID v4 strings, like the `domain_userid` cookie, reproducibly."""
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def _fresh(text: str) -> str:
    """A new copy of `text`: after JSON decoding, every event holds its own strings."""
    return text.encode().decode()


def reader_visits(readers: Sequence[str], seed: int = 11) -> Iterator[CanonicalEvent]:
    """Each reader's realistic history, reader after reader, built lazily.

    1-3 home page views, then 5-15 distinct articles, each a page view plus an
    `article_detail` event (what `ReaderState.visit` tracks). Events have the
    fields of `tests/factories.py` but a cheaper event id, so millions can be made.
    """
    rng = random.Random(seed)
    articles = get_corpus().articles
    page_fields = page_view().atomic
    article_fields = article_view("slug", "category").atomic
    seq = 0

    def atomic(fields: dict[str, Any], user: str) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        return {**fields, "event_id": f"00000000-0000-4000-8000-{seq:012x}", "domain_userid": user}

    for user in readers:
        moment = 1.7e9 + rng.random() * 86_400
        for _ in range(rng.randint(1, 3)):
            moment += rng.random() * 120
            yield CanonicalEvent(atomic(page_fields, user), moment)
        for article in rng.sample(articles, rng.randint(5, 15)):
            moment += rng.random() * 300
            yield CanonicalEvent(atomic(page_fields, user), moment)
            data = {"slug": _fresh(article.slug), "title": article.title, "category": _fresh(article.category)}
            yield CanonicalEvent(atomic(article_fields, user), moment, ARTICLE_SCHEMA, data)


class PlainDictProfiles:
    """Baseline: the same reader attributes, hand-written with dicts (no definitions)."""

    def __init__(self, categories: list[str]) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.categories = categories

    def ingest(self, event: CanonicalEvent) -> None:
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
            data = event.event_data or {}
            p["article_read_count"] += 1
            p["articles_read"].pop(data["slug"], None)
            p["articles_read"][data["slug"]] = event.timestamp
            if p["last"] is None or event.timestamp >= p["last"][0]:
                p["last"] = (event.timestamp, data["slug"])
            p["categories_read"].pop(data["category"], None)
            p["categories_read"][data["category"]] = event.timestamp
            p["category_counts"][data["category"]] += 1

    def attributes(self, user: str) -> dict[str, Any]:
        """The reader's attributes as the engine names them (read after the timed run, to check both agree)."""
        p = self.profiles[user]
        counts = p["category_counts"]
        return {
            "page_view_count": p["page_view_count"],
            "article_read_count": p["article_read_count"],
            "articles_read": list(p["articles_read"]),
            "article_last_read": None if p["last"] is None else p["last"][1],
            "categories_read": list(p["categories_read"]),
            "most_read_category": max(counts, key=counts.__getitem__) if counts else None,
            **{category_read_count(c): counts.get(c, 0) for c in sorted(set(self.categories))},
        }


def rate(fn: Callable[[CanonicalEvent], Any], events: Sequence[CanonicalEvent]) -> float:
    """Events per second through `fn`, with the garbage collector paused."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for event in events:
            fn(event)
        return len(events) / (time.perf_counter() - start)
    finally:
        gc.enable()


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q <= 1)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def latency_line(label: str, samples: Sequence[float], unit: str = "ms") -> str:
    """`label: p50 … p99 … max …` for samples already in `unit`."""
    p50, p99 = statistics.median(samples), percentile(samples, 0.99)
    return f"  {label}: p50 {p50:9.3f} {unit}   p99 {p99:9.3f} {unit}   max {max(samples):9.3f} {unit}"
