"""Content affinity: how much of a reader's recent reading went to each section and tag, as of `now`.

Each read weighs `2^(-age / half_life)`: a story read today counts fully, one read
a half-life ago half, so a reader whose taste moves on is followed within weeks
without forgetting a steady interest. A read that the tracker saw being read
(a `page_ping` on the story's page in the same session: activity tracking) weighs
`full_read_weight` times more than an open alone; the app's tracker sends no
pings today, so every read counts the same until it does. The weights are
normalised per reader to sum to 1 over sections, and separately over the top
`top_n` tags (the long tail of tags read once says little and would crowd the
attribute). All of it is polars expressions: no Python loop over events.
"""

from __future__ import annotations

import polars as pl

from media_demo.features.frames import DAY, IS_PING, IS_READ, known, with_sections

HALF_LIFE_DAYS = 14.0
FULL_READ_WEIGHT = 2.0
TOP_TAGS = 10
DECIMALS = 6  # affinities are shares: six decimals is finer than anything that uses them


def read_weights(
    events: pl.LazyFrame,
    stories: pl.DataFrame,
    now: float,
    half_life_days: float = HALF_LIFE_DAYS,
    full_read_weight: float = FULL_READ_WEIGHT,
) -> pl.LazyFrame:
    """Each read before `now` by an identified reader: `domain_userid`, `section`, `tags`, decayed `weight`."""
    if half_life_days <= 0:
        raise ValueError(f"half_life_days: must be > 0, got {half_life_days}")
    past = known(events).filter(pl.col("ts") < now)
    path = pl.col("body").str.json_path_match("$.atomic.page_urlpath")
    pings = (
        past.filter(IS_PING)
        .select("domain_sessionid", path.alias("page_urlpath"), pl.col("ts").alias("ping_ts"))
        .group_by("domain_sessionid", "page_urlpath")
        .agg(pl.col("ping_ts").max())
    )
    reads = with_sections(past.filter(IS_READ), stories).with_columns(path.alias("page_urlpath"))
    pinged = (pl.col("ping_ts") >= pl.col("ts")).fill_null(False)
    age_days = (pl.lit(float(now)) - pl.col("ts")) / DAY
    return (
        reads.join(pings, on=["domain_sessionid", "page_urlpath"], how="left", nulls_equal=False)
        .with_columns(
            (pl.when(pinged).then(full_read_weight).otherwise(1.0) * (0.5 ** (age_days / half_life_days))).alias(
                "weight"
            )
        )
        .select("domain_userid", "section", "tags", "weight")
    )


def _normalised(weights: pl.LazyFrame, key: str) -> pl.LazyFrame:
    return (
        weights.group_by("domain_userid", key)
        .agg(pl.col("weight").sum())
        .with_columns((pl.col("weight") / pl.col("weight").sum().over("domain_userid")).alias("affinity"))
        .select("domain_userid", key, "affinity")
        .sort("domain_userid", "affinity", key, descending=[False, True, False])
    )


def section_affinity(
    events: pl.LazyFrame,
    stories: pl.DataFrame,
    now: float,
    half_life_days: float = HALF_LIFE_DAYS,
    full_read_weight: float = FULL_READ_WEIGHT,
) -> pl.DataFrame:
    """Long form: `domain_userid`, `section`, `affinity` (each reader's affinities sum to 1), largest first."""
    weights = read_weights(events, stories, now, half_life_days, full_read_weight).filter(
        pl.col("section").is_not_null()
    )
    return _normalised(weights, "section").collect()


def tag_affinity(
    events: pl.LazyFrame,
    stories: pl.DataFrame,
    now: float,
    half_life_days: float = HALF_LIFE_DAYS,
    full_read_weight: float = FULL_READ_WEIGHT,
    top_n: int = TOP_TAGS,
) -> pl.DataFrame:
    """Long form: `domain_userid`, `tag`, `affinity` over each reader's `top_n` tags (summing to 1 over them).

    Ties at the cut are broken by tag name, so the same history always gives the same tags.
    """
    if top_n < 1:
        raise ValueError(f"top_n: must be >= 1, got {top_n}")
    weights = (
        read_weights(events, stories, now, half_life_days, full_read_weight)
        .explode("tags")
        .rename({"tags": "tag"})
        .filter(pl.col("tag").is_not_null())
    )
    summed = (
        weights.group_by("domain_userid", "tag")
        .agg(pl.col("weight").sum())
        .sort("domain_userid", "weight", "tag", descending=[False, True, False])
        .with_columns(pl.int_range(pl.len()).over("domain_userid").alias("rank"))
        .filter(pl.col("rank") < top_n)
        .drop("rank")
    )
    return _normalised(summed, "tag").collect()


def as_json_maps(long: pl.DataFrame, key: str, name: str) -> pl.DataFrame:
    """Long affinities as one JSON object text per reader (`{"sport": 0.75, "culture": 0.25}`), largest first.

    Keys are escaped by polars' own JSON encoder, values rounded to `DECIMALS`; the app reads the text
    back as a `dict` attribute.
    """
    quoted = pl.struct(pl.col(key).alias("k")).struct.json_encode().str.slice(5).str.strip_suffix("}")
    pair = pl.concat_str(quoted, pl.lit(":"), pl.col("affinity").round(DECIMALS).cast(pl.String))
    return (
        long.sort("domain_userid", "affinity", key, descending=[False, True, False])
        .group_by("domain_userid", maintain_order=True)
        .agg(pair.alias("pairs"))
        .select("domain_userid", pl.concat_str(pl.lit("{"), pl.col("pairs").list.join(","), pl.lit("}")).alias(name))
    )
