"""Recommendation strategies as swappable policies, and `serve`, the logging policy that records propensities.

A strategy ranks deterministically: `rank(profile, inputs, count)` is its best `count`
unread articles, best first. `serve` shows a strategy's ranking to a reader, optionally
exploring (`exploration` = ε), and records for every article shown its position and the
**propensity**: the probability that this policy, for this reader and these inputs, put
this article in this position. Logs with propensities allow off-policy estimates (IPS) of
any other strategy's click-through rate (`media_demo.evaluation.offpolicy`).

The registry `STRATEGIES` maps a name to a factory taking a parameter mapping:

- `popular`: the most-read articles (distinct readers), the newest ones after those;
- `current`: today's strategy, exactly `media_demo.recommend.strategy.recommend`;
- `coread`: "readers who read this also read" from co-reads (`CoReads`), blended with
  TF-IDF similarity to the reader's recent reads, their section affinity and recency.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from media_demo.articles import Article, Corpus
from media_demo.recommend.coreads import AlsoRead
from media_demo.recommend.index import ArticleIndex
from media_demo.recommend.popularity import Popularity
from media_demo.recommend.profile import ReaderProfile
from media_demo.recommend.strategy import (
    DEFAULT_RECENCY_WINDOW,
    POPULAR_REASON,
    Recommendation,
    popular,
    recommend,
)

SECONDS_PER_DAY = 86_400.0
EXPLORE_REASON = "You might also like"
# `serve` computes exact propensities by a walk over what earlier slots may have shown: its cost
# doubles with each slot, so exploring panels are limited to this many slots.
MAX_EXPLORED_SLOTS = 10


@dataclass(frozen=True)
class Shown:
    """One recommendation as `serve` showed it: where, and how likely the policy was to put it there."""

    recommendation: Recommendation
    position: int  # 1-based
    propensity: float  # P(this article in this position | the reader's profile and the inputs), see `serve`


@dataclass(frozen=True)
class StrategyInputs:
    """What a strategy may look at besides the reader: the archive and what every reader has read.

    `stats` and `coreads` are live views: rank (and serve) under the lock that guards them.
    `now` is epoch seconds (for the articles' ages).
    """

    corpus: Corpus
    index: ArticleIndex
    stats: Popularity
    coreads: AlsoRead
    now: float
    recency_window: int = DEFAULT_RECENCY_WINDOW  # see `recommend`


class Strategy(Protocol):
    """A recommendation policy: a deterministic ranking of unread articles."""

    @property
    def name(self) -> str:
        """The strategy's registry name (what logs and experiments call it)."""
        ...

    def rank(self, profile: ReaderProfile, inputs: StrategyInputs, count: int) -> list[Recommendation]:
        """Up to `count` recommendations, best first: never an article already read, never one twice."""
        ...


# --- the strategies ---------------------------------------------------------------------------------------------


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count: must be >= 1, got {count}")


@functools.lru_cache(maxsize=4096)
def _midnight(day: dt.date) -> float:
    """Epoch seconds of the day's midnight UTC (a few hundred distinct days, asked once per article per panel)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()


def _age_days(article: Article, now: float) -> float:
    """Days from the article's publication (midnight UTC) to `now`; 0 for one "from the future"."""
    return max(0.0, (now - _midnight(article.published)) / SECONDS_PER_DAY)


@dataclass(frozen=True)
class Popular:
    """The most-read articles (by distinct readers), then the newest: the baseline everyone can beat."""

    name: str = "popular"

    def rank(self, profile: ReaderProfile, inputs: StrategyInputs, count: int) -> list[Recommendation]:
        """The reader's unread most-read articles; the newest fill what popularity cannot."""
        _check_count(count)
        picks = popular(inputs.corpus, inputs.stats, count, exclude=profile.read)
        taken = profile.read | {p.article.slug for p in picks}
        for article in inputs.corpus:  # newest first
            if len(picks) >= count:
                break
            if article.slug not in taken:
                picks.append(Recommendation(article, POPULAR_REASON, "popular"))
        return picks


@dataclass(frozen=True)
class Current:
    """Today's strategy: the reader's sections, then similar to the last read, then popular (`recommend`)."""

    name: str = "current"

    def rank(self, profile: ReaderProfile, inputs: StrategyInputs, count: int) -> list[Recommendation]:
        """Exactly what `recommend` answers."""
        return recommend(profile, inputs.corpus, inputs.index, inputs.stats, count, inputs.recency_window)


@dataclass(frozen=True)
class CoRead:
    """Readers who read this also read, blended with content similarity, section affinity and recency.

    Each unread article `a` scores

        coread * C(a) + content * S(a) + affinity * A(a) + recency * R(a)

    over the reader's last `recent` reads r₁ … r_k (newest first, weighted 1, ½, ¼, ...):
    C(a) is the weighted mean co-read cosine of `a` with them (`CoReads.also_read`),
    S(a) the weighted mean TF-IDF similarity, A(a) the share of the reader's reads in
    `a`'s section, and R(a) = 2^(-age in days / `half_life_days`). Each term is in [0, 1].
    Ties go to corpus order (newest first). Before any co-reads it is a content-and-section
    strategy; a reader with no history gets `popular`. At archive scale only a pool of
    likely articles is scored (`_pool`); on a corpus of at most `pool` articles, every one.
    """

    coread: float = 1.0
    content: float = 0.5
    affinity: float = 0.3
    recency: float = 0.1
    half_life_days: float = 14.0
    recent: int = 5
    pool: int = 500  # articles scored beyond those co-read or similar: the newest, and the newest per read section
    name: str = "coread"

    def rank(self, profile: ReaderProfile, inputs: StrategyInputs, count: int) -> list[Recommendation]:
        """The best-scoring unread articles, each with the reason that weighed most."""
        _check_count(count)
        if not profile.has_history:
            return Popular().rank(profile, inputs, count)
        corpus, index = inputs.corpus, inputs.index
        recent = [slug for slug in reversed(profile.articles_read) if slug in corpus][: self.recent]
        if not recent and profile.last_read is not None and profile.last_read in corpus:
            recent = [profile.last_read]
        weights = [0.5**i for i in range(len(recent))]
        total_weight = sum(weights) or 1.0
        # C(a): the co-read cosine, and which recent read gave the most of it (for the reason).
        co: dict[str, float] = {}
        because: dict[str, tuple[float, str]] = {}
        for weight, slug in zip(weights, recent, strict=True):
            for other, score in inputs.coreads.also_read(slug):
                part = weight * score / total_weight
                co[other] = co.get(other, 0.0) + part
                if part > because.get(other, (0.0, ""))[0]:
                    because[other] = (part, slug)
        reads_total = sum(profile.category_reads.values())
        pool = self._pool(profile, corpus, index, recent, co)
        anchors = [(r, w / total_weight) for w, r in zip(weights, recent, strict=True)]
        if len(corpus) <= self.pool:
            # The whole corpus is the same candidate set for every reader, so the index keeps it compacted;
            # the reader's own unread pool would be a new set (and a new block) on every call.
            everything = index.similarity_to([a.slug for a in corpus], anchors).tolist()
            contents = [everything[position] for position, _ in pool]
        else:
            contents = index.similarity_to([a.slug for _, a in pool], anchors, keep=False).tolist()
        scored: list[tuple[float, int, Article, tuple[float, float, float]]] = []
        for (position, article), content in zip(pool, contents, strict=True):
            share = profile.category_reads.get(article.category, 0) / reads_total if reads_total else 0.0
            fresh = 2.0 ** (-_age_days(article, inputs.now) / self.half_life_days)
            parts = (self.coread * co.get(article.slug, 0.0), self.content * content, self.affinity * share)
            scored.append((sum(parts) + self.recency * fresh, position, article, parts))
        scored.sort(key=lambda item: (-round(item[0], 12), item[1]))
        picks = []
        for _score, _position, article, parts in scored[:count]:  # the reasons of the shown picks only
            terms = dict(zip(("coread", "content", "affinity"), parts, strict=True))
            best = max(terms, key=terms.__getitem__)
            reason, kind = self._reason(best, terms, article, because.get(article.slug), corpus)
            picks.append(Recommendation(article, reason, kind))
        return picks

    def _pool(
        self,
        profile: ReaderProfile,
        corpus: Corpus,
        index: ArticleIndex,
        recent: Sequence[str],
        co: Mapping[str, float],
    ) -> list[tuple[int, Article]]:
        """The unread articles worth scoring, with their corpus position (the tie-break), in corpus order.

        Every article when the corpus has at most `pool` of them. Otherwise: the newest `pool`,
        the newest `pool` of each section the reader has read, everything co-read with the
        recent reads, and the recent reads' kept content neighbours: an article outside scores
        no co-read, less content than those neighbours, and less recency than the newest.
        """
        read = profile.read
        if len(corpus) <= self.pool:
            return [(i, a) for i, a in enumerate(corpus) if a.slug not in read]
        wanted = set(co)
        for slug in recent:
            if slug in index:
                wanted.update(other for other, _ in index.similar(slug, index.neighbours))
        sections = {c for c, n in profile.category_reads.items() if n > 0}
        per_section = dict.fromkeys(sections, 0)
        pool: list[tuple[int, Article]] = []
        for position, article in enumerate(corpus):  # newest first; stops once nothing more can join
            in_section = per_section.get(article.category, self.pool) < self.pool
            if position < self.pool or in_section or article.slug in wanted:
                if in_section:
                    per_section[article.category] += 1
                wanted.discard(article.slug)
                if article.slug not in read:
                    pool.append((position, article))
            elif not wanted and all(n >= self.pool for n in per_section.values()):
                break
        return pool

    @staticmethod
    def _reason(
        best: str, terms: Mapping[str, float], article: Article, because: tuple[float, str] | None, corpus: Corpus
    ) -> tuple[str, str]:
        if terms[best] <= 0.0:
            return POPULAR_REASON, "popular"
        if best == "coread" and because is not None and (source := corpus.get(because[1])) is not None:
            return f"Readers of “{source.title}” also read", "coread"
        if best == "affinity":
            return f"More in {article.category_label}", "category"
        return "Similar to what you read", "similar"


# --- the registry -----------------------------------------------------------------------------------------------

StrategyFactory = Callable[[Mapping[str, Any]], Strategy]


def _number(params: Mapping[str, Any], name: str, default: float, *, positive: bool = False) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _whole(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: must be a whole number >= 1, got {value!r}")
    return value


def _no_unknown(params: Mapping[str, Any], known: Sequence[str], strategy: str) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise ValueError(f"{unknown[0]}: not a parameter of strategy {strategy!r} (parameters: {allowed})")


def _popular(params: Mapping[str, Any]) -> Strategy:
    _no_unknown(params, (), "popular")
    return Popular()


def _current(params: Mapping[str, Any]) -> Strategy:
    _no_unknown(params, (), "current")
    return Current()


COREAD_PARAMETERS = ("coread", "content", "affinity", "recency", "half_life_days", "recent", "pool")


def _coread(params: Mapping[str, Any]) -> Strategy:
    _no_unknown(params, COREAD_PARAMETERS, "coread")
    defaults = CoRead()
    return CoRead(
        coread=_number(params, "coread", defaults.coread),
        content=_number(params, "content", defaults.content),
        affinity=_number(params, "affinity", defaults.affinity),
        recency=_number(params, "recency", defaults.recency),
        half_life_days=_number(params, "half_life_days", defaults.half_life_days, positive=True),
        recent=_whole(params, "recent", defaults.recent),
        pool=_whole(params, "pool", defaults.pool),
    )


STRATEGIES: dict[str, StrategyFactory] = {"popular": _popular, "current": _current, "coread": _coread}


def build_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """The strategy registered as `name`, with `params` (ValueError naming an unknown name or a bad parameter)."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise ValueError(f"strategy: unknown name {name!r} (known: {', '.join(sorted(STRATEGIES))})")
    return factory(params or {})


# --- serving with exploration -----------------------------------------------------------------------------------


def serve(
    strategy: Strategy,
    profile: ReaderProfile,
    inputs: StrategyInputs,
    count: int,
    exploration: float,
    rng: random.Random,
) -> list[Shown]:
    """Show a strategy's picks, exploring with probability `exploration` (ε) per slot, with exact propensities.

    The panel has as many slots as the strategy's ranking R = `rank(profile, inputs, count)`
    has articles (so with ε = 0 it is exactly R, each with propensity 1.0). The eligible
    articles E are every article of the corpus the reader has not read, n = |E|. Slot k
    (1-based) shows, independently of the other slots' coins:

    - with probability 1 - ε, the strategy's next choice: the first article of R not shown yet;
    - with probability ε, an article drawn uniformly from the n - (k - 1) eligible ones not shown yet
      (which may be the next choice too).

    The recorded propensity of the article `a` shown at slot k is its marginal probability
    there, P(slot k = a | profile, inputs), summed over everything the earlier slots may have
    shown: an exact walk over which articles of R they took and how many others (the articles
    outside R are interchangeable, so each gets the same share). Summed over the articles of E,
    the propensities of one slot are 1; each article of E has a positive propensity at every
    slot when ε > 0. That is what the item-position IPS estimator needs to be unbiased
    (`media_demo.evaluation.offpolicy`).

    `rng` draws the coins and the explored articles (pass a seeded one for reproducible logs).
    """
    if not 0.0 <= exploration <= 1.0 or math.isnan(exploration):
        raise ValueError(f"exploration: must be in [0, 1], got {exploration}")
    ranked = strategy.rank(profile, inputs, count)
    if exploration == 0.0 or not ranked:
        return [Shown(rec, position, 1.0) for position, rec in enumerate(ranked, start=1)]
    if len(ranked) > MAX_EXPLORED_SLOTS:
        raise ValueError(f"count: at most {MAX_EXPLORED_SLOTS} slots can be explored, got {len(ranked)}")
    read = profile.read
    eligible = [a for a in inputs.corpus if a.slug not in read]  # corpus order: draws are reproducible
    ranked_slugs = [r.article.slug for r in ranked]
    marginals = slot_marginals(len(ranked), len(eligible), exploration)
    shown: list[Shown] = []
    taken: set[str] = set()
    for k in range(len(ranked)):
        if rng.random() < exploration:
            article = rng.choice([a for a in eligible if a.slug not in taken])
        else:
            article = next(r.article for r in ranked if r.article.slug not in taken)
        slug = article.slug
        position = ranked_slugs.index(slug) if slug in ranked_slugs else None
        rec = ranked[position] if position is not None else Recommendation(article, EXPLORE_REASON, "explore")
        propensity = marginals[k][position] if position is not None else marginals[k][-1]
        shown.append(Shown(rec, k + 1, propensity))
        taken.add(slug)
    return shown


def propensity_of(
    strategy: Strategy, profile: ReaderProfile, inputs: StrategyInputs, count: int, exploration: float
) -> Callable[[str, int], float]:
    """`(slug, position) -> P(serve shows slug there)` for this reader: what `serve` would record for it.

    0 for an article the reader has read or that is not in the corpus.
    """
    ranked = [r.article.slug for r in strategy.rank(profile, inputs, count)]
    read = profile.read
    n = sum(1 for a in inputs.corpus if a.slug not in read)
    if exploration == 0.0:
        return lambda slug, position: 1.0 if 1 <= position <= len(ranked) and ranked[position - 1] == slug else 0.0
    marginals = slot_marginals(len(ranked), n, exploration)

    def propensity(slug: str, position: int) -> float:
        if not 1 <= position <= len(ranked) or slug in read or slug not in inputs.corpus:
            return 0.0
        row = marginals[position - 1]
        return row[ranked.index(slug)] if slug in ranked else row[-1]

    return propensity


@functools.lru_cache(maxsize=1024)
def slot_marginals(m: int, n: int, exploration: float) -> tuple[tuple[float, ...], ...]:
    """P(slot k shows the strategy's j-th choice), and that of any one other eligible article, per slot.

    The same for every reader with as many eligible articles: worked out once per (m, n, ε), kept.

    `m` slots (the ranking's length), `n` eligible articles (m ≤ n), ε = `exploration`.
    Row k (0-based) has m + 1 entries: j = 0 … m - 1 for the ranked articles, then the
    probability of each one of the n - m others (0 when there are none). The walk's state
    after some slots is (which ranked articles were shown, how many others), each with its
    probability; the next slot's greedy pick is the first ranked article not shown.
    """
    if m > n:
        raise ValueError(f"m: a ranking of {m} articles among {n} eligible ones")
    others = n - m
    states: dict[tuple[frozenset[int], int], float] = {(frozenset(), 0): 1.0}
    rows: list[tuple[float, ...]] = []
    for k in range(m):
        row = [0.0] * (m + 1)
        following: dict[tuple[frozenset[int], int], float] = {}
        unshown = n - k
        explore_each = exploration / unshown
        for (taken, other_count), p in states.items():
            greedy = next(j for j in range(m) if j not in taken)
            for j in range(m):
                if j in taken:
                    continue
                q = p * (explore_each + (1.0 - exploration if j == greedy else 0.0))
                if q:
                    row[j] += q
                    key = (taken | {j}, other_count)
                    following[key] = following.get(key, 0.0) + q
            left = others - other_count
            if left:
                q = p * explore_each * left
                row[m] += q
                key = (taken, other_count + 1)
                following[key] = following.get(key, 0.0) + q
        if others:
            row[m] /= others
        rows.append(tuple(row))
        states = following
    return tuple(rows)
