"""The reader features, computed in each batch run and served as the `reader_features` external batch group.

`ReaderFeatures` is a step of the batch run (`Batch.before_sync`): over the run's
events it computes every reader's content affinity, engagement score and
subscription propensity (`media_demo.features.pipeline`) and writes the table the
`reader_features` group syncs, as a warehouse job would for Signals. The
propensity model is the newest in `models_dir`; it is retrained on the event log
when that model is older than `retrain_after` and the log holds enough labelled
readers (the subscription offer accepted, and not), else kept. Without any model
(`make train` makes one; `make run` does it on a first start) the propensity is
null and the offer falls back to its behavioural rule.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import polars as pl

from media_demo.features.pipeline import compute_features, write_features
from media_demo.features.propensity import (
    PropensityModel,
    TooFewLabelsError,
    load_latest,
    save_model,
    train_propensity,
    training_frame,
)

logger = logging.getLogger(__name__)

FEATURES_TABLE = ("features", "reader_features")  # (schema, table) of the group's batch source


class ReaderFeatures:
    """Computes the features table in each batch run, keeping the propensity model fresh."""

    def __init__(
        self,
        stories: Callable[[], pl.DataFrame],
        table: Path,
        models_dir: Path,
        retrain_after: dt.timedelta,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._stories, self.table, self.models_dir = stories, table, models_dir
        self._retrain_after, self._clock = retrain_after, clock
        self._lock = threading.Lock()
        self._model: PropensityModel | None = None
        self._tried: dt.datetime | None = None  # the last retraining attempt (at most one per `retrain_after`)

    @property
    def model(self) -> PropensityModel | None:
        """The model that scored the last run (None before one exists)."""
        return self._model

    def __call__(self, events: pl.LazyFrame, now: float) -> None:
        """One run: refresh the model if due, compute every reader's features, write the table."""
        with self._lock:
            stories = self._stories()
            model = self._current_model(events, stories)
            frame = compute_features(events, stories, model, now)
            write_features(frame, self.table)
            logger.info("features: %d readers, model %s", frame.height, model.version if model else "none")

    def _current_model(self, events: pl.LazyFrame, stories: pl.DataFrame) -> PropensityModel | None:
        latest = load_latest(self.models_dir)  # (another process, or `make train`, may have saved a newer one)
        if latest is not None and (self._model is None or latest.version != self._model.version):
            self._model = latest
        due = self._model is None or self._age(self._model) >= self._retrain_after
        if due and (self._tried is None or self._clock() - self._tried >= self._retrain_after):
            self._tried = self._clock()
            self._retrain(events, stories)
        return self._model

    def _age(self, model: PropensityModel) -> dt.timedelta:
        try:
            trained = dt.datetime.fromisoformat(str(model.metadata["trained_at"]))
        except (KeyError, ValueError):
            return self._retrain_after
        return self._clock() - trained

    def _retrain(self, events: pl.LazyFrame, stories: pl.DataFrame) -> None:
        """Train on the event log when it has enough labels (the model in use stays otherwise)."""
        try:
            model = train_propensity(training_frame(events, stories), source="event log", now=self._clock())
        except TooFewLabelsError as exc:
            logger.info("features: the propensity model is not retrained: %s", exc)
            return
        save_model(model, self.models_dir)
        self._model = model
        logger.info("features: propensity model %s trained on the event log", model.version)
