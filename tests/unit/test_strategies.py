"""The strategies as policies: the registry, their rankings, and `serve`'s exact propensities."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from media_demo.articles import Corpus
from media_demo.evaluation.offpolicy import LoggedPanel, ips, snips
from media_demo.newsroom import get_corpus, get_index
from media_demo.recommend import ArticleIndex, CoReads, ReaderProfile, ReadStats, Recommendation, recommend
from media_demo.recommend.strategies import (
    MAX_EXPLORED_SLOTS,
    STRATEGIES,
    Strategy,
    StrategyInputs,
    build_strategy,
    propensity_of,
    serve,
    slot_marginals,
)

NOW = 1_795_000_000.0  # late November 2026


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return get_corpus()


@pytest.fixture(scope="module")
def index() -> ArticleIndex:
    return get_index()


def profile_of(corpus: Corpus, slugs: list[str]) -> ReaderProfile:
    articles = [corpus.get(s) for s in slugs]
    categories = Counter(a.category for a in articles if a is not None)
    return ReaderProfile(
        article_read_count=len(slugs),
        articles_read=tuple(slugs),
        last_read=slugs[-1] if slugs else None,
        category_reads={c: categories.get(c, 0) for c in corpus.categories},
        categories_by_recency=tuple(dict.fromkeys(a.category for a in articles if a is not None)),
    )


@pytest.fixture(scope="module")
def inputs(corpus: Corpus, index: ArticleIndex) -> StrategyInputs:
    """Some readers' reads and co-reads: everyone reads a few stories of one section and one more."""
    stats, coreads = ReadStats(), CoReads()
    rng = random.Random(11)
    articles = list(corpus)
    for r in range(60):
        reader = f"reader-{r}"
        section = sorted(corpus.categories)[r % len(corpus.categories)]
        picks = [*rng.sample(corpus.in_category(section), 3), rng.choice(articles)]
        for i, article in enumerate(picks):
            stats.observe(article.slug, reader, 1_000.0 + r * 10 + i)
            coreads.observe(article.slug, reader)
    return StrategyInputs(corpus, index, stats, coreads, NOW)


def profiles(corpus: Corpus) -> list[ReaderProfile]:
    articles = list(corpus)
    rng = random.Random(3)
    return [profile_of(corpus, [a.slug for a in rng.sample(articles, n)]) for n in (0, 1, 2, 5, 12, 30)]


# --- the registry -----------------------------------------------------------------------------------------------


def test_the_registry_has_the_three_strategies_by_name() -> None:
    assert {"popular", "current", "coread"} <= set(STRATEGIES)
    for name in STRATEGIES:
        assert build_strategy(name).name == name


def test_parameters_are_validated_and_the_error_names_the_parameter() -> None:
    strategy = build_strategy("coread", {"coread": 2, "content": 0.0, "half_life_days": 7.5, "recent": 3})
    assert (strategy.coread, strategy.content, strategy.half_life_days, strategy.recent) == (2.0, 0.0, 7.5, 3)  # type: ignore[attr-defined]
    for params, name in [
        ({"coread": -1}, "coread"),
        ({"content": "much"}, "content"),
        ({"affinity": True}, "affinity"),
        ({"recency": float("nan")}, "recency"),
        ({"half_life_days": 0}, "half_life_days"),
        ({"recent": 0}, "recent"),
        ({"recent": 2.5}, "recent"),
        ({"weight": 1}, "weight"),
    ]:
        with pytest.raises(ValueError, match=f"^{name}: "):
            build_strategy("coread", params)
    for name in ("popular", "current"):
        with pytest.raises(ValueError, match=r"^anything: not a parameter"):
            build_strategy(name, {"anything": 1})
    with pytest.raises(ValueError, match=r"^strategy: unknown name 'nope'"):
        build_strategy("nope")


# --- rankings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["popular", "current", "coread"])
def test_a_ranking_is_deterministic_unread_and_without_duplicates(
    name: str, corpus: Corpus, inputs: StrategyInputs
) -> None:
    strategy = build_strategy(name)
    for profile in profiles(corpus):
        for count in (1, 3, 10):
            ranked = strategy.rank(profile, inputs, count)
            slugs = [r.article.slug for r in ranked]
            assert 1 <= len(slugs) <= count
            assert len(set(slugs)) == len(slugs)
            assert not set(slugs) & profile.read
            assert [r.article.slug for r in strategy.rank(profile, inputs, count)] == slugs
        with pytest.raises(ValueError, match="count"):
            strategy.rank(profile, inputs, 0)


def test_current_is_todays_recommend(corpus: Corpus, inputs: StrategyInputs) -> None:
    current = build_strategy("current")
    for profile in profiles(corpus):
        assert current.rank(profile, inputs, 3) == recommend(profile, corpus, inputs.index, inputs.stats, 3)


def test_popular_fills_with_the_newest_when_nothing_was_read(corpus: Corpus, index: ArticleIndex) -> None:
    empty = StrategyInputs(corpus, index, ReadStats(), CoReads(), NOW)
    picks = build_strategy("popular").rank(ReaderProfile(), empty, 3)
    assert [r.article.slug for r in picks] == [a.slug for a in list(corpus)[:3]]


def test_coread_puts_what_readers_of_the_last_story_also_read_first(corpus: Corpus, index: ArticleIndex) -> None:
    a, b, c = list(corpus)[10], list(corpus)[40], list(corpus)[60]
    coreads = CoReads()
    for r in range(5):
        coreads.observe(a.slug, f"r{r}")
        coreads.observe(b.slug, f"r{r}")
    coreads.observe(c.slug, "r0")
    inputs = StrategyInputs(corpus, index, ReadStats(), coreads, NOW)
    picks = build_strategy("coread").rank(profile_of(corpus, [a.slug]), inputs, 3)
    assert picks[0].article == b
    assert picks[0].reason == f"Readers of “{a.title}” also read" and picks[0].kind == "coread"


# --- serve and its propensities ---------------------------------------------------------------------------------


def test_without_exploration_serve_shows_the_ranking_with_propensity_one(
    corpus: Corpus, inputs: StrategyInputs
) -> None:
    for name in STRATEGIES:
        strategy = build_strategy(name)
        for profile in profiles(corpus):
            shown = serve(strategy, profile, inputs, 3, 0.0, random.Random(1))
            assert [s.recommendation for s in shown] == strategy.rank(profile, inputs, 3)
            assert [s.position for s in shown] == list(range(1, len(shown) + 1))
            assert all(s.propensity == 1.0 for s in shown)


@pytest.mark.parametrize(("m", "n", "epsilon"), [(3, 67, 0.2), (3, 3, 0.5), (1, 10, 0.3), (5, 8, 1.0), (4, 40, 0.05)])
def test_each_slots_propensities_are_a_distribution_over_the_eligible_articles(m: int, n: int, epsilon: float) -> None:
    rows = slot_marginals(m, n, epsilon)
    assert len(rows) == m
    for row in rows:
        assert all(p >= 0.0 for p in row)
        assert sum(row[:m]) + (n - m) * row[m] == pytest.approx(1.0)
        if n > m:
            assert row[m] > 0.0  # every eligible article can be in every slot
    for j in range(m):  # an article is in at most one slot: its chances over the slots sum to at most 1
        assert sum(row[j] for row in rows) <= 1.0 + 1e-12
    assert (n == m) or sum(row[m] for row in rows) <= 1.0 + 1e-12
    if epsilon == 1.0:
        assert all(p == pytest.approx(1 / n) for row in rows for p in row)


def test_the_recorded_propensities_are_the_frequencies_of_what_serve_shows(
    corpus: Corpus, inputs: StrategyInputs
) -> None:
    profile = profile_of(corpus, [list(corpus)[3].slug, list(corpus)[30].slug])
    strategy = Remembered(build_strategy("current"))
    rng = random.Random(7)
    runs = 40_000
    seen: Counter[tuple[str, int]] = Counter()
    recorded: dict[tuple[str, int], float] = {}
    for _ in range(runs):
        for s in serve(strategy, profile, inputs, 3, 0.3, rng):
            key = (s.recommendation.article.slug, s.position)
            seen[key] += 1
            recorded[key] = s.propensity
    propensity = propensity_of(strategy, profile, inputs, 3, 0.3)
    for key, p in recorded.items():
        assert propensity(*key) == p
        assert abs(seen[key] / runs - p) < 4 * (p * (1 - p) / runs) ** 0.5 + 1e-3
    assert propensity(profile.articles_read[0], 1) == 0.0 and propensity(next(iter(recorded))[0], 4) == 0.0


def test_serve_refuses_a_bad_exploration_and_too_many_explored_slots(corpus: Corpus, inputs: StrategyInputs) -> None:
    strategy = build_strategy("popular")
    for epsilon in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="exploration"):
            serve(strategy, ReaderProfile(), inputs, 3, epsilon, random.Random(1))
    with pytest.raises(ValueError, match="count"):
        serve(strategy, ReaderProfile(), inputs, MAX_EXPLORED_SLOTS + 1, 0.1, random.Random(1))
    assert len(serve(strategy, ReaderProfile(), inputs, MAX_EXPLORED_SLOTS + 1, 0.0, random.Random(1))) == 11


class Remembered:
    """A strategy whose rankings are computed once per profile (the inputs do not change here)."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy, self.name = strategy, strategy.name
        self._ranked: dict[tuple[int, int], list[Recommendation]] = {}

    def rank(self, profile: ReaderProfile, inputs: StrategyInputs, count: int) -> list[Recommendation]:
        key = (id(profile), count)
        if key not in self._ranked:
            self._ranked[key] = self.strategy.rank(profile, inputs, count)
        return self._ranked[key]


def test_ips_with_the_logged_propensities_is_unbiased(corpus: Corpus, inputs: StrategyInputs) -> None:
    """Panels logged by `current` with exploration estimate `coread`'s expected clicks: IPS's error is noise."""
    rng = random.Random(2024)
    attraction = {a.slug: rng.uniform(0.02, 0.6) for a in corpus}
    bias = [1.0, 0.63, 0.5]
    logging, candidate = Remembered(build_strategy("current")), build_strategy("coread")
    readers = profiles(corpus)[1:]
    targets = [[r.article.slug for r in candidate.rank(profile, inputs, 3)] for profile in readers]
    panels, truth = [], []
    for i in range(30_000):
        profile, target = readers[i % len(readers)], targets[i % len(readers)]
        shown = serve(logging, profile, inputs, 3, 0.3, rng)
        logged = [s.recommendation.article.slug for s in shown]
        clicks = [rng.random() < bias[k] * attraction[slug] for k, slug in enumerate(logged)]
        panels.append(LoggedPanel(tuple(logged), tuple(s.propensity for s in shown), tuple(clicks), tuple(target)))
        truth.append(sum(bias[k] * attraction[slug] for k, slug in enumerate(target)))
    expected = sum(truth) / len(truth)
    estimate, normalised = ips(panels), snips(panels)
    assert estimate.contains(expected) and normalised.contains(expected)
    assert abs(estimate.value - expected) < 0.1 * expected
    # The same logs with the propensities of the greedy choice alone (1.0) are biased: the check can fail.
    naive = [LoggedPanel(p.logged, (1.0,) * len(p.logged), p.clicks, p.target) for p in panels]
    assert not ips(naive).contains(expected)


def test_coread_scores_a_bounded_pool_that_keeps_its_answers(corpus: Corpus, inputs: StrategyInputs) -> None:
    # A pool of 5 scores the 5 newest, the 5 newest of each section read, the co-read and the similar
    # stories: on this corpus the first picks are the same as when every story is scored.
    every, pooled = build_strategy("coread"), build_strategy("coread", {"pool": 5})
    assert len(corpus) <= every.pool  # type: ignore[attr-defined]
    for profile in profiles(corpus)[1:]:
        assert pooled.rank(profile, inputs, 3) == every.rank(profile, inputs, 3)


def test_coread_pool_must_be_whole(corpus: Corpus) -> None:
    with pytest.raises(ValueError, match="pool: must be a whole number >= 1"):
        build_strategy("coread", {"pool": 0})


def test_coread_scores_every_reader_against_one_kept_candidate_set(corpus: Corpus, inputs: StrategyInputs) -> None:
    """On a corpus within its pool, each reader's unread stories are picked out of the whole corpus's scores:
    one compacted set for everyone, not one per reader pushing the sections' kept sets out of the index."""
    index = ArticleIndex.for_corpus(list(corpus))
    own = StrategyInputs(corpus, index, inputs.stats, inputs.coreads, NOW)
    strategy = build_strategy("coread")
    for profile in profiles(corpus)[1:]:
        assert strategy.rank(profile, own, 3) == strategy.rank(profile, inputs, 3)
    assert list(index._state.blocks) == [tuple(a.slug for a in corpus)]  # (internal: what is kept)
