"""Simulated readers: who they are and how they behave in front of a page and its "Recommended for you" panel.

The model is fixed before any strategy is compared, from plausible reading behaviour:

- **topic preferences**: each reader's taste over the sections is drawn from a Dirichlet
  (concentration `topic_concentration`, small = a few favourite sections); an article's
  interest is its section's weight over the reader's favourite section's (so in [0, 1]);
- **subjects**: each reader follows `subjects_per_reader` tags (drawn by how many articles
  carry them); an article with a followed tag is `1 + subject_boost` times as attractive,
  whatever its section (AI stories in Business and in Health);
- **appeal**: each article has a quality drawn once per seed (log-normal, `quality_sigma`),
  the same for every reader: some stories are simply better;
- **a taste for recency**: each reader's weight rho ~ Beta(2, 2) on freshness,
  (1 - rho) + rho · 2^(-age in days / `recency_half_life_days`);
- **position bias**: slot k of the panel is examined with probability 1 / log2(1 + k);
- **clicks**: each examined slot is clicked with the article's attraction,
  `click_scale` x interest x subject x appeal x recency (capped at `max_click`), independently
  of the other slots (the position-based click model; a reader may open several in tabs);
- **a chance to leave**: clicked stories are read in slot order; after a read with nothing
  left to read the reader leaves with probability `leave_without_click`, else finds another
  story on the front page or a section (chosen in proportion to its attraction); with stories
  still queued they leave with probability `fatigue`; no visit reads more than `max_reads`.

Nothing here knows which strategy is on trial. Every draw comes from a seeded
`random.Random`, so one seed gives one population, and the same one for every strategy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import typing
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from media_demo.articles import Article, Corpus

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ReaderModel:
    """The behaviour's parameters (see the module's docstring); the defaults are the replay's."""

    topic_concentration: float = 0.5
    subjects_per_reader: int = 2
    subject_boost: float = 1.5
    quality_sigma: float = 0.5
    recency_half_life_days: float = 14.0
    click_scale: float = 0.3
    max_click: float = 0.9
    leave_without_click: float = 0.5
    fatigue: float = 0.1
    max_reads: int = 12

    def with_overrides(self, overrides: Mapping[str, str]) -> ReaderModel:
        """This model with some parameters replaced, each given as text (the replay's `--model NAME=VALUE`).

        Strict, so that a sensitivity run with a typo fails instead of quietly measuring another model than
        the one asked for: an unknown name, a value that does not parse as the field's type (an int field
        needs an int) or one outside the range the behaviour is defined on (`PARAMETER_RANGES`) raises a
        `ValueError` whose message starts with the field's name.
        """
        types = typing.get_type_hints(ReaderModel)
        changes: dict[str, typing.Any] = {}  # of each field's type (mypy cannot check a field named at run time)
        for name, text in overrides.items():
            if name not in PARAMETER_RANGES:
                raise ValueError(f"{name!r}: not a reader model parameter (one of {', '.join(PARAMETER_RANGES)})")
            kind = types[name]
            expected = "an integer" if kind is int else "a finite number"
            try:
                value = kind(text)
            except ValueError:
                raise ValueError(f"{name}: expects {expected}, got {text!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"{name}: expects {expected}, got {text!r}")
            low, high, low_allowed = PARAMETER_RANGES[name]
            inside = (value >= low if low_allowed else value > low) and value <= high
            if not inside:
                bound = f"{'>=' if low_allowed else '>'} {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
                raise ValueError(f"{name}: must be {bound}, got {text!r}")
            changes[name] = value
        return dataclasses.replace(self, **changes)

    def changed(self) -> dict[str, int | float]:
        """The parameters that differ from the defaults (the model fixed before the comparison), in field order."""
        default = ReaderModel()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


# Where each parameter of `ReaderModel` keeps the behaviour defined: (lowest, highest, whether the lowest itself is
# allowed). A Dirichlet needs a positive concentration, a half-life of 0 days would divide by zero, the
# probabilities stay in [0, 1], and a visit reads at least its first story.
PARAMETER_RANGES: dict[str, tuple[float, float, bool]] = {
    "topic_concentration": (0.0, math.inf, False),
    "subjects_per_reader": (0, math.inf, True),
    "subject_boost": (0.0, math.inf, True),
    "quality_sigma": (0.0, math.inf, True),
    "recency_half_life_days": (0.0, math.inf, False),
    "click_scale": (0.0, math.inf, True),
    "max_click": (0.0, 1.0, True),
    "leave_without_click": (0.0, 1.0, True),
    "fatigue": (0.0, 1.0, True),
    "max_reads": (1, math.inf, True),
}


def parse_model_overrides(items: Sequence[str]) -> ReaderModel:
    """The default `ReaderModel` with `NAME=VALUE` overrides applied (the replay's repeated `--model` option).

    A separate step from the replay so that a malformed option fails before minutes of simulation, with a
    `ValueError` naming the field (see `ReaderModel.with_overrides`); a name given twice is an error too.
    """
    overrides: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ValueError(f"expects NAME=VALUE, got {item!r}")
        if name in overrides:
            raise ValueError(f"{name}: given twice ({overrides[name]!r} and {value!r})")
        overrides[name] = value.strip()
    return ReaderModel().with_overrides(overrides)


@dataclass(frozen=True)
class SimulatedReader:
    """One reader: their id, what they like, and how much they care about freshness."""

    domain_userid: str
    sections: dict[str, float]  # section -> interest in [0, 1] (1: their favourite)
    subjects: frozenset[str]  # tags they follow
    recency_taste: float  # rho in [0, 1]


def position_bias(position: int) -> float:
    """The chance that a reader examines slot `position` (1-based) of a panel: 1 / log2(1 + position)."""
    if position < 1:
        raise ValueError(f"position: must be >= 1, got {position}")
    return 1.0 / math.log2(1 + position)


def simulated_today(corpus: Corpus) -> float:
    """The replay's "now" (epoch seconds): midnight UTC after the newest article's publication day."""
    newest = max(article.published for article in corpus)
    return dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp()


class Population:
    """The seed's readers and articles' appeal, and the behaviour of both (`attraction`, `choose`, `clicks`)."""

    def __init__(self, corpus: Corpus, readers: int, seed: int, model: ReaderModel | None = None) -> None:
        if readers < 1:
            raise ValueError(f"readers: must be >= 1, got {readers}")
        self.model = model or ReaderModel()
        self.corpus = corpus
        self.now = simulated_today(corpus)
        rng = random.Random(seed)
        gen = np.random.default_rng(seed)
        self.quality = {
            a.slug: float(q)
            for a, q in zip(corpus, gen.lognormal(0.0, self.model.quality_sigma, len(corpus)), strict=True)
        }
        sections = sorted(corpus.categories)
        tag_counts = Counter(tag for article in corpus for tag in article.tags)
        tags = sorted(tag_counts)
        tag_weights = np.array([tag_counts[t] for t in tags], dtype=float)
        tag_weights /= tag_weights.sum()
        self.readers: list[SimulatedReader] = []
        for _ in range(readers):
            weights = gen.dirichlet([self.model.topic_concentration] * len(sections))
            top = float(weights.max())
            picked = gen.choice(
                len(tags), size=min(self.model.subjects_per_reader, len(tags)), replace=False, p=tag_weights
            )
            self.readers.append(
                SimulatedReader(
                    domain_userid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    sections={s: float(w) / top for s, w in zip(sections, weights, strict=True)},
                    subjects=frozenset(tags[i] for i in picked),
                    recency_taste=float(gen.beta(2.0, 2.0)),
                )
            )
        self._freshness = {
            a.slug: 2.0
            ** (-max(0.0, (self.now - _midnight(a.published)) / SECONDS_PER_DAY) / self.model.recency_half_life_days)
            for a in corpus
        }
        self._attraction: dict[tuple[str, str], float] = {}

    def attraction(self, reader: SimulatedReader, article: Article) -> float:
        """The probability that `reader` clicks `article` once they look at it (in [0, `max_click`])."""
        key = (reader.domain_userid, article.slug)
        found = self._attraction.get(key)
        if found is None:
            model = self.model
            subject = 1.0 + model.subject_boost if reader.subjects.intersection(article.tags) else 1.0
            rho = reader.recency_taste
            recency = (1.0 - rho) + rho * self._freshness[article.slug]
            value = (
                model.click_scale * reader.sections.get(article.category, 0.0) * subject * self.quality[article.slug]
            )
            found = self._attraction[key] = min(model.max_click, value * recency)
        return found

    def choose(self, reader: SimulatedReader, read: set[str], rng: random.Random) -> Article | None:
        """A story the reader finds on their own (front page, sections): in proportion to its attraction."""
        candidates = [a for a in self.corpus if a.slug not in read]
        weights = [self.attraction(reader, a) for a in candidates]
        if not candidates or sum(weights) <= 0.0:
            return None
        return rng.choices(candidates, weights)[0]

    def clicks(self, reader: SimulatedReader, panel: Sequence[Article], rng: random.Random) -> list[bool]:
        """Which slots of a panel the reader clicks: each examined (position bias), then clicked (attraction)."""
        return [rng.random() < position_bias(k) * self.attraction(reader, a) for k, a in enumerate(panel, start=1)]

    def expected_clicks(self, reader: SimulatedReader, panel: Sequence[Article]) -> float:
        """The clicks the reader makes on `panel` on average (the truth the off-policy estimates aim at)."""
        return sum(position_bias(k) * self.attraction(reader, a) for k, a in enumerate(panel, start=1))


def _midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()
