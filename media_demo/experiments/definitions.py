"""Experiments as data: which strategies compete for a slot, for whom, and from when to when.

An experiment is a TOML file in `data/experiments/`. It is validated when it is
loaded, and every error names the file and the field (`variants[1].weight: ...`),
so an editor can fix a definition without reading code. Two experiments that
would decide the same slot at the same time are refused: a reader's panel must
have exactly one author.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SLOTS = ("recommendations",)  # the parts of a page an experiment may decide
CONSENT_REQUIREMENTS = ("behavioural", "any")
DEVICE_CLASSES = ("any", "Computer", "Mobile", "Tablet")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ExperimentError(ValueError):
    """A definition that cannot run, with the file and field it is about."""


class Audience(BaseModel):
    """Who may enter: readers of a segment (any when empty), with a consent and on a device class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: str = ""
    consent: Literal["behavioural", "any"] = "behavioural"
    device: Literal["any", "Computer", "Mobile", "Tablet"] = "any"


class Variant(BaseModel):
    """One arm: a recommendation strategy with its parameters and its share of the experiment's readers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    strategy: str = Field(min_length=1)
    weight: float = Field(gt=0, le=1)
    params: dict[str, Any] = Field(default_factory=dict)


class Experiment(BaseModel):
    """A running comparison of strategies for one slot; the first variant is the control."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    hypothesis: str = Field(min_length=10)
    slot: Literal["recommendations"] = "recommendations"
    salt: str = ""  # hashed with the reader's id; defaults to the name (change it to re-randomise)
    traffic: float = Field(default=1.0, gt=0, le=1)  # share of the audience that enters
    audience: Audience = Field(default_factory=Audience)
    variants: tuple[Variant, ...] = Field(min_length=2)
    start: datetime
    stop: datetime | None = None
    minimum_sample: int = Field(default=100, ge=10)  # exposed readers per variant before any verdict
    primary_metric: Literal["ctr"] = "ctr"

    @field_validator("start", "stop")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-01T00:00:00Z)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variants: names must be unique, got {names}")
        total = sum(v.weight for v in self.variants)
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"variants: weights must add up to 1, got {total:g}")
        if self.stop is not None and self.stop <= self.start:
            raise ValueError("stop: must be after start")
        return self

    @property
    def control(self) -> Variant:
        """The variant every other is compared with."""
        return self.variants[0]

    @property
    def hash_salt(self) -> str:
        """What assignment hashes with the reader's id."""
        return self.salt or self.name

    def running(self, at: datetime) -> bool:
        """Whether the experiment assigns readers at `at`."""
        return self.start <= at and (self.stop is None or at < self.stop)

    def variant(self, name: str) -> Variant | None:
        """The variant called `name`, if any."""
        return next((v for v in self.variants if v.name == name), None)


def _field_path(location: Sequence[int | str]) -> str:
    """`('variants', 1, 'weight')` as `variants[1].weight`."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def parse_experiment(
    document: Mapping[str, Any],
    source: str,
    strategies: Mapping[str, Callable[[Mapping[str, Any]], object]],
    segments: Iterable[str],
) -> Experiment:
    """One experiment from its parsed document; `ExperimentError` naming `source` and the field otherwise.

    `strategies` are the strategy factories by name (each validates its own parameters),
    `segments` the segment names an audience may name.
    """
    try:
        experiment = Experiment.model_validate(dict(document))
    except ValidationError as exc:
        problems = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ExperimentError(f"{source}: {problems}") from None
    known_segments = set(segments)
    if experiment.audience.segment and experiment.audience.segment not in known_segments:
        raise ExperimentError(
            f"{source}: audience.segment: unknown segment {experiment.audience.segment!r}"
            f" (known: {', '.join(sorted(known_segments))})"
        )
    for i, variant in enumerate(experiment.variants):
        factory = strategies.get(variant.strategy)
        if factory is None:
            raise ExperimentError(
                f"{source}: variants[{i}].strategy: unknown strategy {variant.strategy!r}"
                f" (known: {', '.join(sorted(strategies))})"
            )
        try:
            factory(variant.params)
        except (TypeError, ValueError) as exc:
            raise ExperimentError(f"{source}: variants[{i}].params: {exc}") from None
    return experiment


def refuse_overlaps(experiments: Sequence[Experiment]) -> None:
    """`ExperimentError` when two experiments would decide the same slot at the same time."""
    far = datetime.max.replace(tzinfo=UTC)
    for i, a in enumerate(experiments):
        for b in experiments[i + 1 :]:
            if a.name == b.name:
                raise ExperimentError(f"experiment {a.name!r} is defined twice")
            if a.slot == b.slot and a.start < (b.stop or far) and b.start < (a.stop or far):
                raise ExperimentError(
                    f"experiments {a.name!r} and {b.name!r} both decide the {a.slot!r} slot"
                    " in overlapping periods: give one a stop before the other's start"
                )


def load_experiments(
    folder: Path,
    strategies: Mapping[str, Callable[[Mapping[str, Any]], object]],
    segments: Iterable[str],
) -> list[Experiment]:
    """Every `*.toml` experiment in `folder` (none when it is missing), validated and free of overlaps."""
    if not folder.is_dir():
        return []
    segment_names = list(segments)
    experiments = []
    for path in sorted(folder.glob("*.toml")):
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ExperimentError(f"{path}: not valid TOML: {exc}") from None
        experiments.append(parse_experiment(document, str(path), strategies, segment_names))
    refuse_overlaps(experiments)
    return experiments
