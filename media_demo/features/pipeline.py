"""The batch run: every identified reader's features as one frame, written as the Parquet file the app syncs.

One row per `domain_userid` seen before `now`: `section_affinity` and
`tag_affinity` (JSON object text, served as `dict` attributes), `engagement_score`,
`subscription_propensity` and `propensity_model_version` (null without a model),
`computed_at` (epoch seconds, the group's timestamp field).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from media_demo.features.affinity import as_json_maps, section_affinity, tag_affinity
from media_demo.features.engagement import engagement_scores
from media_demo.features.frames import anchors_at
from media_demo.features.propensity import PropensityModel

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "domain_userid": pl.String(),
    "section_affinity": pl.String(),
    "tag_affinity": pl.String(),
    "engagement_score": pl.Float64(),
    "subscription_propensity": pl.Float64(),
    "propensity_model_version": pl.String(),
    "computed_at": pl.Int64(),
}


def compute_features(
    events: pl.LazyFrame, stories: pl.DataFrame, model: PropensityModel | None, now: float
) -> pl.DataFrame:
    """The features of every identified reader with an event before `now` (`OUTPUT_SCHEMA`, by reader)."""
    readers = anchors_at(events, now).select("domain_userid").collect()
    sections = as_json_maps(section_affinity(events, stories, now), "section", "section_affinity")
    tags = as_json_maps(tag_affinity(events, stories, now), "tag", "tag_affinity")
    engagement = engagement_scores(events, stories, now).select("domain_userid", "engagement_score")
    if model is not None:
        propensity = model.score(events, stories, now)
    else:
        propensity = pl.DataFrame(
            schema={
                "domain_userid": pl.String,
                "subscription_propensity": pl.Float64,
                "propensity_model_version": pl.String,
            }
        )
    frame = (
        readers.join(sections, on="domain_userid", how="left")
        .join(tags, on="domain_userid", how="left")
        .join(engagement, on="domain_userid", how="left")
        .join(propensity, on="domain_userid", how="left")
        .with_columns(
            pl.col("section_affinity").fill_null("{}"),
            pl.col("tag_affinity").fill_null("{}"),
            pl.col("engagement_score").fill_null(0.0),
            pl.lit(int(now), dtype=pl.Int64).alias("computed_at"),
        )
    )
    return frame.select(list(OUTPUT_SCHEMA)).cast(OUTPUT_SCHEMA).sort("domain_userid")  # type: ignore[arg-type]


def write_features(frame: pl.DataFrame, path: Path) -> Path:
    """Write `frame` as Parquet at `path` through a temporary file renamed into place: a reader of the file
    (the app's sync) sees the previous run's whole file or this one's, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    frame.write_parquet(temporary, compression="zstd")
    temporary.replace(path)
    return path
