"""What every feature reads from the events frame (`media_demo.signals.batch.events.SCHEMA`), as polars expressions.

Only readers with a `domain_userid` have features: a reader without behavioural
consent is stored anonymised (no `domain_userid`), and `known` drops those events
before anything is computed, so they never get a row.

Everything is "as of" an anchor time per reader (`anchors`: `domain_userid`,
`anchor`): only events strictly before it count. Scoring uses one anchor, `now`,
for everyone; training uses each reader's label time, so a feature can never see
the future it is meant to predict.
"""

from __future__ import annotations

import polars as pl

from media_demo.articles import Corpus
from media_demo.definitions import (
    ARTICLE_EVENT,
    ARTICLE_VENDOR,
    EMAIL_LINK_ENTITY,
    INTERACTION_EVENT,
    QUESTION_EVENT,
    SUBSCRIPTION_OFFER,
)

DAY = 86_400.0
WINDOW_DAYS = 28  # "recent": the window of the frequency, depth and breadth counts
BODY = pl.col("body")
STORIES_SCHEMA: dict[str, pl.DataType] = {"slug": pl.String(), "section": pl.String(), "tags": pl.List(pl.String())}
ANCHORS_SCHEMA: dict[str, pl.DataType] = {"domain_userid": pl.String(), "anchor": pl.Float64()}


def stories_frame(corpus: Corpus) -> pl.DataFrame:
    """The corpus as the features read it: slug -> section and tags (a frame, so the features need no Corpus)."""
    return pl.DataFrame([(a.slug, a.category, list(a.tags)) for a in corpus], schema=STORIES_SCHEMA, orient="row")


def is_event(vendor: str, name: str) -> pl.Expr:
    """Whether an event is of this kind (false, never null)."""
    return ((pl.col("event_vendor") == vendor) & (pl.col("event_name") == name)).fill_null(False)


def data_field(path: str) -> pl.Expr:
    """A field of the self-describing event's data, as text."""
    return BODY.str.json_path_match(f"$.event_data.{path}")


IS_READ = is_event(ARTICLE_VENDOR, ARTICLE_EVENT)
IS_INTERACTION = is_event(ARTICLE_VENDOR, INTERACTION_EVENT)
IS_QUESTION = is_event(ARTICLE_VENDOR, QUESTION_EVENT)
IS_PING = (pl.col("event_name") == "page_ping").fill_null(False)
IS_EMAIL_CLICK = (pl.col("event_name") == "uri_redirect").fill_null(False) & BODY.str.contains(
    f"{ARTICLE_VENDOR}/{EMAIL_LINK_ENTITY}/", literal=True
)
# Accepting the subscription offer: its card's button is tracked as a `click` interaction (OfferState.accept).
# Anything about the subscription offer is kept out of the features: it is what the label is made of.
IS_SUBSCRIPTION_INTERACTION = IS_INTERACTION & (data_field("intervention") == SUBSCRIPTION_OFFER).fill_null(False)
IS_SUBSCRIPTION_CLICK = IS_SUBSCRIPTION_INTERACTION & (data_field("action") == "click").fill_null(False)
IS_SUBSCRIPTION_IMPRESSION = IS_SUBSCRIPTION_INTERACTION & (data_field("action") == "impression").fill_null(False)


def known(events: pl.LazyFrame) -> pl.LazyFrame:
    """Events of identified readers only (anonymised readers have no `domain_userid`)."""
    return events.filter(pl.col("domain_userid").is_not_null() & (pl.col("domain_userid") != ""))


def anchors_at(events: pl.LazyFrame, now: float) -> pl.LazyFrame:
    """Every identified reader seen before `now`, anchored at `now`."""
    return (
        known(events)
        .filter(pl.col("ts") < now)
        .select("domain_userid")
        .unique()
        .with_columns(pl.lit(float(now)).alias("anchor"))
    )


def before_anchor(events: pl.LazyFrame, anchors: pl.LazyFrame) -> pl.LazyFrame:
    """Each reader's events strictly before their anchor, with the `anchor` column."""
    return known(events).join(anchors, on="domain_userid", how="inner").filter(pl.col("ts") < pl.col("anchor"))


def with_sections(events: pl.LazyFrame, stories: pl.DataFrame) -> pl.LazyFrame:
    """`slug`, `section` and `tags` of article reads (null on other events); the section falls back to the
    event's own `category` for a story no longer in `stories`."""
    slug = pl.when(IS_READ).then(data_field("slug"))
    category = pl.when(IS_READ).then(data_field("category"))
    return (
        events.with_columns(slug.alias("slug"), category.alias("_category"))
        .join(stories.lazy().select("slug", "section", "tags"), on="slug", how="left")
        .with_columns(pl.coalesce("section", "_category").alias("section"))
        .drop("_category")
    )


def email_clicks(events: pl.LazyFrame, anchors: pl.LazyFrame) -> pl.LazyFrame:
    """Digest clicks (`uri_redirect` with the `email_link` entity) per device before its anchor.

    A click reaches an account (`user_id`), not a device: it counts for each device seen signed in to that
    account before the anchor (both the link and the click must precede it).
    """
    links = (
        known(events)
        .filter(pl.col("user_id").is_not_null())
        .group_by("domain_userid", "user_id")
        .agg(pl.col("ts").min().alias("linked_at"))
    )
    clicks = events.filter(IS_EMAIL_CLICK & pl.col("user_id").is_not_null()).select("user_id", "ts")
    return (
        links.join(clicks, on="user_id", how="inner")
        .join(anchors, on="domain_userid", how="inner")
        .filter((pl.col("ts") < pl.col("anchor")) & (pl.col("linked_at") < pl.col("anchor")))
        .select("domain_userid", "ts", "anchor")
    )


def activity(events: pl.LazyFrame, stories: pl.DataFrame, anchors: pl.LazyFrame) -> pl.LazyFrame:
    """Per anchored reader, raw counts of what they did before the anchor (one row per reader with events).

    Columns: `anchor`, `first_ts`, `last_ts`, `reads_total`, `reads_28d`, `sessions_28d`, `active_days_28d`,
    `sections_28d`, `top_section_share`, `questions_28d`, `email_clicks_28d`, `offer_clicks`,
    `offers_dismissed`. Nothing about the subscription offer counts (it is the label).
    """
    seen = with_sections(before_anchor(events, anchors).filter(~IS_SUBSCRIPTION_INTERACTION), stories)
    recent = pl.col("ts") >= pl.col("anchor") - WINDOW_DAYS * DAY
    action = data_field("action")
    counts = seen.group_by("domain_userid").agg(
        pl.col("anchor").first(),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        IS_READ.sum().alias("reads_total"),
        (IS_READ & recent).sum().alias("reads_28d"),
        pl.col("domain_sessionid").filter(recent).drop_nulls().n_unique().alias("sessions_28d"),
        (pl.col("ts") // DAY).filter(recent).n_unique().alias("active_days_28d"),
        pl.col("section").filter(IS_READ & recent).drop_nulls().n_unique().alias("sections_28d"),
        (IS_QUESTION & recent).sum().alias("questions_28d"),
        (IS_INTERACTION & (action == "click").fill_null(False)).sum().alias("offer_clicks"),
        (IS_INTERACTION & (action == "dismiss").fill_null(False)).sum().alias("offers_dismissed"),
    )
    top_share = (
        seen.filter(IS_READ & pl.col("section").is_not_null())
        .group_by("domain_userid", "section")
        .len()
        .group_by("domain_userid")
        .agg((pl.col("len").max() / pl.col("len").sum()).alias("top_section_share"))
    )
    mail = (
        email_clicks(events, anchors)
        .filter(pl.col("ts") >= pl.col("anchor") - WINDOW_DAYS * DAY)
        .group_by("domain_userid")
        .agg(pl.len().alias("email_clicks_28d"))
    )
    return (
        counts.join(top_share, on="domain_userid", how="left")
        .join(mail, on="domain_userid", how="left")
        .with_columns(
            pl.col("top_section_share").fill_null(0.0),
            pl.col("email_clicks_28d").fill_null(0).cast(pl.UInt32),
        )
    )
