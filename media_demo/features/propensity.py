"""Subscription propensity: the chance a reader accepts the subscription offer, from what they did before.

Label: the reader clicked the `subscription_offer` card's button (an
`intervention_interaction` with `intervention = subscription_offer`, `action =
click`: `OfferState.accept` tracks it). Features are point-in-time: for a
positive, only events strictly before their first acceptance; for a negative,
only events before a comparable moment of theirs (`training_frame` says which and why).
The subscription offer's own impressions, clicks and dismissals never enter the
features: they are what the label is made of (an impression always precedes an
acceptance, so it would give the answer away). Readers without a
`domain_userid` (no behavioural consent) have no features, so no label either.

| feature                 | meaning (all before the anchor)                                        |
|-------------------------|------------------------------------------------------------------------|
| log_reads_total         | log(1 + article reads ever)                                            |
| log_reads_28d           | log(1 + article reads in the last 28 days)                             |
| active_days_28d         | distinct UTC days with an event in the last 28 days                    |
| reads_per_session_28d   | article reads per session in the last 28 days                          |
| tenure_days             | days since the first event (capped at 120)                             |
| sections_28d            | distinct sections read in the last 28 days                             |
| top_section_share       | share of reads in the reader's most read section (0 with no reads)     |
| log_questions_28d       | log(1 + questions to the assistant in the last 28 days)                |
| log_email_clicks_28d    | log(1 + digest clicks in the last 28 days, through the reader's account)|
| offer_clicks            | other interventions accepted (newsletter, assistant catch-up, ...)     |
| offers_dismissed        | other interventions dismissed                                          |
| engagement_score        | the composite of `engagement` (recency, frequency, depth, breadth, extras) |

No "time since the last visit": every training anchor is mid-visit (see `training_frame`), where the last
event is seconds old and how many seconds depends on the tracking's timing (the offer comes a few seconds
after a read), not on the reader. Given it, the model separated the simulated classes on those seconds
alone (AUC 1.0); in whole days it is 0 for every row and teaches nothing. Recency still enters through
`engagement_score`, where it is one small part.

Model: a logistic regression on standardised features, in one `Pipeline`. Chosen
over gradient boosting because the labelled set is small (hundreds of readers,
tens of positives): a linear model on a dozen monotone features does not overfit
it, its log-loss fit gives calibrated probabilities without a separate
calibration fold (which would take positives from a set that has few), it trains
in milliseconds, and its coefficients say what drives the score. No class
weighting: it would shift every probability away from the true rate.

Evaluation: a stratified hold-out (25 %) scored by a model fitted on the rest:
ROC AUC, Brier score, log loss and a 10-bin calibration table; then, as a check
on the hold-out's luck with few positives, a 5-fold cross-validated ROC AUC over
every row (fewer folds with fewer than 5 of a class). The model saved is refitted
on every row. A version is `<UTC yyyymmddThhmmssZ>-<10 hex of the SHA-256 of the
training rows and the parameters>`: the same data and parameters give the same
hash, and versions sort by time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import polars as pl
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from media_demo.features.engagement import components
from media_demo.features.frames import (
    DAY,
    IS_SUBSCRIPTION_CLICK,
    IS_SUBSCRIPTION_IMPRESSION,
    activity,
    anchors_at,
    known,
)

FEATURES: tuple[str, ...] = (
    "log_reads_total",
    "log_reads_28d",
    "active_days_28d",
    "reads_per_session_28d",
    "tenure_days",
    "sections_28d",
    "top_section_share",
    "log_questions_28d",
    "log_email_clicks_28d",
    "offer_clicks",
    "offers_dismissed",
    "engagement_score",
)
MIN_PER_CLASS = 20  # below this, a held-out AUC of a handful of positives says nothing
CALIBRATION_BINS = 10
VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{10}$")
SUFFIX = ".joblib"


class TooFewLabelsError(ValueError):
    """The training set holds too few positives or negatives to fit and evaluate a model."""


def feature_frame(events: pl.LazyFrame, stories: pl.DataFrame, anchors: pl.LazyFrame) -> pl.DataFrame:
    """`domain_userid`, `anchor` and `FEATURES`, from each reader's events strictly before their anchor."""
    base = components(activity(events, stories, anchors))
    sessions = pl.max_horizontal(pl.col("sessions_28d"), pl.lit(1))
    return (
        base.select(
            "domain_userid",
            "anchor",
            pl.col("reads_total").cast(pl.Float64).log1p().alias("log_reads_total"),
            pl.col("reads_28d").cast(pl.Float64).log1p().alias("log_reads_28d"),
            pl.col("active_days_28d").cast(pl.Float64),
            (pl.col("reads_28d") / sessions).cast(pl.Float64).alias("reads_per_session_28d"),
            ((pl.col("anchor") - pl.col("first_ts")) / DAY).clip(0.0, 120.0).alias("tenure_days"),
            pl.col("sections_28d").cast(pl.Float64),
            pl.col("top_section_share").cast(pl.Float64),
            pl.col("questions_28d").cast(pl.Float64).log1p().alias("log_questions_28d"),
            pl.col("email_clicks_28d").cast(pl.Float64).log1p().alias("log_email_clicks_28d"),
            pl.col("offer_clicks").cast(pl.Float64),
            pl.col("offers_dismissed").cast(pl.Float64),
            pl.col("engagement_score"),
        )
        .sort("domain_userid")
        .collect()
    )


def labels(events: pl.LazyFrame, cutoff: float) -> pl.DataFrame:
    """`domain_userid`, `label_ts`: each identified reader's first acceptance of the subscription offer before
    `cutoff`."""
    return (
        known(events)
        .filter(IS_SUBSCRIPTION_CLICK & (pl.col("ts") < cutoff))
        .group_by("domain_userid")
        .agg(pl.col("ts").min().alias("label_ts"))
        .sort("domain_userid")
        .collect()
    )


def training_frame(events: pl.LazyFrame, stories: pl.DataFrame, cutoff: float | None = None) -> pl.DataFrame:
    """One row per identified reader: `domain_userid`, `anchor`, `label` (1 accepted, 0 not) and `FEATURES`.

    Only events before `cutoff` (default: one second after the last event) exist for training. A positive is
    anchored at their first acceptance. A negative is anchored at a comparable moment, one when they were on
    the site: their last subscription-offer impression (the last time they said no), else one second after
    their last event. Anchoring every negative at the cutoff instead would let the model tell the classes
    apart by the anchor alone (a positive is always mid-visit at their anchor, a negative weeks away): it
    measured an AUC of 0.98 on the simulated history that way, most of it from "days since last visit".
    """
    if cutoff is None:
        last = events.select(pl.col("ts").max()).collect().item()
        cutoff = (last or 0.0) + 1.0
    positives = labels(events, cutoff)
    past = known(events).filter(pl.col("ts") < cutoff)
    offered = past.filter(IS_SUBSCRIPTION_IMPRESSION).group_by("domain_userid").agg(pl.col("ts").max().alias("shown"))
    readers = (
        past.group_by("domain_userid")
        .agg((pl.col("ts").max() + 1.0).alias("seen"))
        .join(offered, on="domain_userid", how="left")
        .collect()
    )
    anchors = readers.join(positives, on="domain_userid", how="left").select(
        "domain_userid", pl.coalesce("label_ts", "shown", "seen").alias("anchor")
    )
    frame = feature_frame(events, stories, anchors.lazy())
    is_positive = pl.col("domain_userid").is_in(positives["domain_userid"].implode())
    return frame.with_columns(is_positive.cast(pl.Int8).alias("label")).select(
        "domain_userid", "anchor", "label", *FEATURES
    )


def model_version(trained_at: dt.datetime, digest: str) -> str:
    """`<UTC yyyymmddThhmmssZ>-<first 10 hex of digest>`."""
    return f"{trained_at.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{digest[:10]}"


def data_digest(frame: pl.DataFrame, params: dict[str, Any]) -> str:
    """SHA-256 of the training rows (sorted, as CSV) and the parameters (as sorted JSON)."""
    rows = frame.select("domain_userid", "label", *FEATURES).sort("domain_userid").write_csv()
    text = rows + json.dumps(params, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """`bins` equal-width bins of predicted probability: `low`, `high`, `count`, `mean_predicted`,
    `observed_rate` (None in an empty bin), from `calibration_curve` and the same bin edges."""
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], p)  # how calibration_curve bins
    counts = np.bincount(ids, minlength=bins)
    table, filled = [], iter(zip(predicted, observed, strict=True))
    for i in range(bins):
        row: dict[str, Any] = {"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(counts[i])}
        mean_p, rate = next(filled) if counts[i] else (None, None)
        row["mean_predicted"] = None if mean_p is None else float(mean_p)
        row["observed_rate"] = None if rate is None else float(rate)
        table.append(row)
    return table


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """ROC AUC, Brier score, log loss, expected calibration error and the calibration table of predictions."""
    table = calibration_table(y, p)
    ece = sum(r["count"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in table if r["count"]) / len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": float(ece),
        "base_rate": float(np.mean(y)),
        "rows": len(y),
        "calibration": table,
    }


@dataclass
class PropensityModel:
    """A fitted pipeline and what describes it (`version`, `trained_at`, `features`, `params`, `metrics`, `rows`)."""

    pipeline: Pipeline
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The model's version (`<UTC date-time>-<hash>`)."""
        return str(self.metadata["version"])

    def predict(self, features: pl.DataFrame) -> np.ndarray:
        """P(accepts) for each row of a frame holding `FEATURES`."""
        if features.height == 0:
            return np.zeros(0)
        matrix = features.select(self.metadata.get("features", FEATURES)).to_numpy()
        return np.asarray(self.pipeline.predict_proba(matrix)[:, 1], dtype=float)

    def score(self, events: pl.LazyFrame, stories: pl.DataFrame, now: float) -> pl.DataFrame:
        """`domain_userid`, `subscription_propensity`, `propensity_model_version` for every reader seen before
        `now`, from their events before `now`."""
        frame = feature_frame(events, stories, anchors_at(events, now))
        return frame.select(
            "domain_userid",
            pl.Series("subscription_propensity", self.predict(frame), dtype=pl.Float64),
            pl.lit(self.version, dtype=pl.String).alias("propensity_model_version"),
        )

    def scores(self, events: pl.LazyFrame, stories: pl.DataFrame, now: float) -> dict[str, tuple[float, str]]:
        """Each reader's (score, model version)."""
        frame = self.score(events, stories, now)
        return {row[0]: (row[1], row[2]) for row in frame.iter_rows()}


def _pipeline(c: float) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=c, max_iter=2000))])


def train_propensity(
    frame: pl.DataFrame,
    *,
    c: float = 1.0,
    test_size: float = 0.25,
    seed: int = 0,
    min_per_class: int = MIN_PER_CLASS,
    source: str = "",
    now: dt.datetime | None = None,
) -> PropensityModel:
    """Evaluate on a stratified hold-out, then fit on every row of a `training_frame`.

    Raises `TooFewLabelsError` naming the counts when either class has fewer than `min_per_class` rows.
    """
    y = frame["label"].to_numpy().astype(int)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives < min_per_class or negatives < min_per_class:
        raise TooFewLabelsError(
            f"propensity: too few labelled readers to train: {positives} positive(s) and {negatives} "
            f"negative(s), at least {min_per_class} of each needed"
        )
    x = frame.select(FEATURES).to_numpy()
    params = {"model": "StandardScaler+LogisticRegression", "C": c, "test_size": test_size, "seed": seed}
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    held_out = _pipeline(c).fit(x_train, y_train)
    metrics = evaluate(y_test, held_out.predict_proba(x_test)[:, 1])
    folds = StratifiedKFold(n_splits=min(5, positives, negatives), shuffle=True, random_state=seed)
    cv = cross_val_score(_pipeline(c), x, y, cv=folds, scoring="roc_auc")
    metrics["cv_roc_auc_mean"], metrics["cv_roc_auc_std"] = float(cv.mean()), float(cv.std())
    metrics["cv_folds"] = folds.get_n_splits()
    final = _pipeline(c).fit(x, y)
    trained_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    version = model_version(trained_at, data_digest(frame, params))
    coefficients = final.named_steps["model"].coef_[0]
    metadata = {
        "version": version,
        "trained_at": trained_at.isoformat(),
        "features": list(FEATURES),
        "coefficients": {name: float(v) for name, v in zip(FEATURES, coefficients, strict=True)},
        "params": params,
        "metrics": metrics,
        "rows": {"total": len(y), "positives": positives, "negatives": negatives, "test": len(y_test)},
        "source": source,
    }
    return PropensityModel(final, metadata)


def save_model(model: PropensityModel, folder: Path) -> Path:
    """Write `propensity-<version>.joblib` (pipeline and metadata) and its metadata as `.json` beside it,
    each through a temporary file renamed into place (a reader never loads half a model)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"propensity-{model.version}{SUFFIX}"
    temporary = path.with_name(path.name + ".tmp")
    joblib.dump({"pipeline": model.pipeline, "metadata": model.metadata}, temporary)
    temporary.replace(path)
    side = path.with_suffix(".json")
    temporary = side.with_name(side.name + ".tmp")
    temporary.write_text(json.dumps(model.metadata, indent=2, sort_keys=True))
    temporary.replace(side)
    return path


def load_model(path: Path) -> PropensityModel:
    """The model `save_model` wrote at `path`."""
    bundle = joblib.load(path)
    return PropensityModel(bundle["pipeline"], bundle["metadata"])


def load_latest(folder: Path) -> PropensityModel | None:
    """The newest model in `folder` by its version's time (None when there is none)."""
    if not folder.is_dir():
        return None
    found = sorted(
        p
        for p in folder.glob(f"propensity-*{SUFFIX}")
        if VERSION.match(p.name.removeprefix("propensity-").removesuffix(SUFFIX))
    )
    return load_model(found[-1]) if found else None


def format_metrics(metrics: dict[str, Any]) -> str:
    """The evaluation as text: the scores, then the calibration table."""
    lines = [
        f"held-out rows: {metrics['rows']}  base rate: {metrics['base_rate']:.3f}",
        f"ROC AUC: {metrics['roc_auc']:.3f}  Brier: {metrics['brier']:.4f}  log loss: {metrics['log_loss']:.4f}  "
        f"ECE: {metrics['ece']:.4f}",
        f"{metrics['cv_folds']}-fold ROC AUC over every row: "
        f"{metrics['cv_roc_auc_mean']:.3f} ± {metrics['cv_roc_auc_std']:.3f}",
        "calibration (bin: mean predicted / observed rate, count)",
    ]
    for row in metrics["calibration"]:
        span = f"{row['low']:.1f}-{row['high']:.1f}"
        if row["count"]:
            lines.append(f"  {span}: {row['mean_predicted']:.3f} / {row['observed_rate']:.3f}  n={row['count']}")
        else:
            lines.append(f"  {span}: -  n=0")
    return "\n".join(lines)
