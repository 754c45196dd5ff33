"""Engagement: one score in [0, 1] per reader, a weighted sum of five squashed components.

| component  | raw measure (before the anchor)                           | squash             | weight |
|------------|-----------------------------------------------------------|--------------------|--------|
| recency    | days since the last event                                 | 2^(-days / 7)      | 0.30   |
| frequency  | distinct UTC days active in the last 28                   | d / (d + 4)        | 0.30   |
| depth      | article reads per session in the last 28 days             | r / (r + 2)        | 0.20   |
| breadth    | distinct sections read in the last 28 days                | s / (s + 2)        | 0.10   |
| extras     | assistant questions + digest clicks in the last 28 days   | x / (x + 2)        | 0.10   |

Why these weights: recency and frequency are the two strongest, best-documented
predictors of whether a reader comes back (the R and F of RFM), so they carry
most of the score; depth (how much a visit holds) comes next; breadth and the
extras are sparse (most readers use neither the assistant nor the digests) and
only nudge the score, so a reader is not penalised for skipping an optional
feature. Every squash is 0 at zero, rises monotonically and saturates below 1,
so the score is in [0, 1], and each squash's constant is the value at which the
component is half-way (a week's absence, four active days, two reads a visit,
two sections, two questions or clicks).
"""

from __future__ import annotations

import polars as pl

from media_demo.features.frames import DAY, activity, anchors_at

WEIGHTS: dict[str, float] = {"recency": 0.30, "frequency": 0.30, "depth": 0.20, "breadth": 0.10, "extras": 0.10}
RECENCY_HALF_LIFE_DAYS = 7.0
HALF_WAY = {"frequency": 4.0, "depth": 2.0, "breadth": 2.0, "extras": 2.0}


def _saturating(value: pl.Expr, half_way: float) -> pl.Expr:
    return value / (value + half_way)


def components(activity_frame: pl.LazyFrame) -> pl.LazyFrame:
    """The five squashed components and `engagement_score`, added to a frame of `frames.activity`."""
    days_away = ((pl.col("anchor") - pl.col("last_ts")) / DAY).clip(lower_bound=0.0)
    reads_per_session = pl.col("reads_28d") / pl.max_horizontal(pl.col("sessions_28d"), pl.lit(1))
    extras = (pl.col("questions_28d") + pl.col("email_clicks_28d")).cast(pl.Float64)
    parts = activity_frame.with_columns(
        (0.5 ** (days_away / RECENCY_HALF_LIFE_DAYS)).alias("recency"),
        _saturating(pl.col("active_days_28d").cast(pl.Float64), HALF_WAY["frequency"]).alias("frequency"),
        _saturating(reads_per_session.cast(pl.Float64), HALF_WAY["depth"]).alias("depth"),
        _saturating(pl.col("sections_28d").cast(pl.Float64), HALF_WAY["breadth"]).alias("breadth"),
        _saturating(extras, HALF_WAY["extras"]).alias("extras"),
    )
    score = pl.sum_horizontal(*(pl.col(name) * weight for name, weight in WEIGHTS.items()))
    return parts.with_columns(score.clip(0.0, 1.0).alias("engagement_score"))


def engagement_scores(events: pl.LazyFrame, stories: pl.DataFrame, now: float) -> pl.DataFrame:
    """`domain_userid`, the five components and `engagement_score`, for every identified reader seen before `now`."""
    frame = components(activity(events, stories, anchors_at(events, now)))
    return frame.select("domain_userid", *WEIGHTS, "engagement_score").sort("domain_userid").collect()
