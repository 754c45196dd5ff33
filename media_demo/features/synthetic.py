"""A simulated event history with subscriptions, for training and testing the propensity model.

Built on `media_demo.evaluation.simulation`: its `Population` gives each reader
their taste (sections, followed subjects, appeal of stories) and picks the stories
they read. On top of it, each reader has hidden habits that drive both what the
log shows and whether they subscribe:

- **loyalty**: visits per day, log-normal (median 0.1, a visit every ten days);
- **depth**: stories per visit, 1 + Poisson(log-normal mean around 1.5);
- **assistant use** (20 % of readers ask a question in a third of their visits) and
  **a signed-in account with digests** (25 %, who click a digest now and then);
- **consent**: 15 % of readers refuse behavioural tracking: their events carry no
  `domain_userid`, as the app stores them, and they must never get features.

The subscription offer follows the app's rule (eight reads over at least two
visits, shown at most twice, never again once dismissed); a reader shown it
accepts with probability sigmoid(-3.2 + 0.9·z(loyalty) + 0.5·z(depth) + 0.7·assistant
+ 0.5·account), so the label depends on habits the features only see through the
events, with noise. Readers keep visiting after subscribing (late events a
point-in-time feature must ignore). Every draw is seeded.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import orjson
import polars as pl

from media_demo.articles import Corpus
from media_demo.definitions import (
    ARTICLE_SCHEMA,
    EMAIL_LINK_SCHEMA,
    INTERACTION_SCHEMA,
    QUESTION_SCHEMA,
    REDIRECT_SCHEMA,
    SUBSCRIPTION_OFFER,
    TOPIC_NEWSLETTER,
)
from media_demo.evaluation.simulation import Population, SimulatedReader
from media_demo.signals.batch.events import frame_of

DAY = 86_400.0
SNOWPLOW = "com.snowplowanalytics.snowplow"
CONSENT_RATE = 0.85
ASSISTANT_RATE = 0.20
ACCOUNT_RATE = 0.25
OFFER_READS, OFFER_SESSIONS, OFFER_CAP = 8, 2, 2  # the app's `subscription_offer` rule and impression cap


@dataclass(frozen=True)
class History:
    """The simulated events (the export's schema), their `now`, and counts to report."""

    events: pl.DataFrame
    now: float
    readers: int
    identified: int
    subscribers: int
    seed: int


class _Log:
    """Builds canonical event JSON, numbered in order of creation."""

    def __init__(self, rng: random.Random) -> None:
        self.rows: list[tuple[int, bytes]] = []
        self.rng = rng

    def add(
        self,
        ts: float,
        atomic: Mapping[str, object],
        schema: str | None = None,
        data: Mapping[str, object] | None = None,
        entities: list[Mapping[str, object]] | None = None,
    ) -> None:
        if schema is not None:
            _, path = schema.split(":", 1)
            vendor, name, _format, version = path.split("/")
            kind = {"event": "unstruct", "event_vendor": vendor, "event_name": name, "event_version": version}
        else:
            kind = {"event": "page_view", "event_vendor": SNOWPLOW, "event_name": "page_view", "event_version": "1-0-0"}
        fields = {"event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), **kind, **atomic}
        body = {
            "atomic": fields,
            "timestamp": ts,
            "event_schema": schema,
            "event_data": data,
            "entities": entities or [],
        }
        self.rows.append((len(self.rows) + 1, orjson.dumps(body)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def simulated_history(corpus: Corpus, readers: int = 1500, seed: int = 7, days: int = 56) -> History:
    """`readers` simulated readers over the `days` before the simulation's `now` (seeded by `seed`)."""
    population = Population(corpus, readers, seed)
    now = population.now
    rng = random.Random(f"history-{seed}")
    log = _Log(random.Random(f"ids-{seed}"))
    published = {a.slug: dt.datetime.combine(a.published, dt.time(), tzinfo=dt.UTC).timestamp() for a in corpus}
    subscribers = identified = 0
    for sim in population.readers:
        loyalty = rng.gauss(0.0, 0.9)
        depth = rng.gauss(0.0, 0.6)
        assistant = rng.random() < ASSISTANT_RATE
        account = rng.random() < ASSISTANT_RATE + ACCOUNT_RATE - ASSISTANT_RATE
        consent = rng.random() < CONSENT_RATE
        identified += consent
        habits = _Habits(
            rate=min(1.5, 0.1 * math.exp(loyalty)),
            reads=1.5 * math.exp(depth),
            assistant=assistant,
            user_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)) if account else None,
            accept=_sigmoid(-3.2 + 0.9 * loyalty / 0.9 + 0.5 * depth / 0.6 + 0.7 * assistant + 0.5 * account),
        )
        subscribers += _reader_history(log, population, sim, habits, consent, now - days * DAY, now, published, rng)
    events = frame_of(log.rows).sort("ts", "seq").with_columns(pl.int_range(1, pl.len() + 1).alias("seq"))
    return History(events, now, readers, identified, subscribers, seed)


@dataclass(frozen=True)
class _Habits:
    rate: float  # visits per day
    reads: float  # mean extra stories per visit
    assistant: bool
    user_id: str | None
    accept: float  # P(accept | shown the offer)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _visit_times(rng: random.Random, rate: float, start: float, end: float) -> Iterator[float]:
    t = start + rng.expovariate(rate) * DAY
    while t < end - 3600.0:
        yield t
        t += max(0.05, rng.expovariate(rate)) * DAY


def _reader_history(
    log: _Log,
    population: Population,
    sim: SimulatedReader,
    habits: _Habits,
    consent: bool,
    start: float,
    end: float,
    published: dict[str, float],
    rng: random.Random,
) -> int:
    """One reader's visits; returns 1 when they subscribed."""
    read: set[str] = set()
    reads_total = impressions = 0
    dismissed = subscribed = False
    user = sim.domain_userid if consent else None
    for index, t in enumerate(_visit_times(rng, habits.rate, start, end), start=1):
        session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        atomic = {"domain_userid": user, "domain_sessionid": session, "domain_sessionidx": index, "app_id": "web"}
        if habits.user_id and consent:
            atomic["user_id"] = habits.user_id
        log.add(t, {**atomic, "page_urlpath": "/"})
        unpublished = {slug for slug, when in published.items() if when > t}
        sections: dict[str, int] = {}
        for _ in range(min(population.model.max_reads, 1 + _poisson(rng, habits.reads))):
            article = population.choose(sim, read | unpublished, rng)
            if article is None:
                break
            t += rng.uniform(60.0, 300.0)
            read.add(article.slug)
            reads_total += 1
            sections[article.category] = sections.get(article.category, 0) + 1
            page = {**atomic, "page_urlpath": f"/article/{article.slug}"}
            log.add(t, page)
            data = {"slug": article.slug, "title": article.title, "category": article.category}
            log.add(t + 0.5, page, ARTICLE_SCHEMA, data)
        if habits.assistant and rng.random() < 1 / 3:
            t += 30.0
            question: dict[str, object] = {"question_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
            question |= {"intent": "whats_new", "length": 20, "page_path": "/", "uses_history": True}
            question |= {"topic": None, "question": None}
            log.add(t, atomic, QUESTION_SCHEMA, question)
        if sections and max(sections.values()) >= 3 and rng.random() < 0.5:
            t += 5.0
            click = rng.random() < 0.2 + 0.2 * habits.accept
            for action in ("impression", "click" if click else "dismiss"):
                log.add(t, atomic, INTERACTION_SCHEMA, {"intervention": TOPIC_NEWSLETTER, "action": action})
        if habits.user_id and rng.random() < 0.15 and read:
            slug = rng.choice(sorted(read))
            story = population.corpus.get(slug)
            entity = {"digest_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "position": 1, "slug": slug}
            entity["section"] = story.category if story else "news"
            redirect = {"user_id": habits.user_id, "app_id": "email"}
            data = {"uri": f"https://dailycurrent.example/article/{slug}"}
            log.add(t + 3600.0, redirect, REDIRECT_SCHEMA, data, [{"schema": EMAIL_LINK_SCHEMA, "data": entity}])
        if subscribed or dismissed or impressions >= OFFER_CAP:
            continue
        if reads_total >= OFFER_READS and index >= OFFER_SESSIONS:
            t += 10.0
            impressions += 1
            log.add(t, atomic, INTERACTION_SCHEMA, {"intervention": SUBSCRIPTION_OFFER, "action": "impression"})
            if rng.random() < habits.accept:
                subscribed = True
                log.add(t + 8.0, atomic, INTERACTION_SCHEMA, {"intervention": SUBSCRIPTION_OFFER, "action": "click"})
            elif rng.random() < 0.4:
                dismissed = True
                log.add(t + 8.0, atomic, INTERACTION_SCHEMA, {"intervention": SUBSCRIPTION_OFFER, "action": "dismiss"})
    return int(subscribed and consent)
