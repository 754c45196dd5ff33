"""The batch features: affinity, engagement, subscription propensity, the pipeline and its group."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from media_demo.articles import load_corpus
from media_demo.definitions import INTERACTION_SCHEMA, QUESTION_SCHEMA, SUBSCRIPTION_OFFER
from media_demo.features.affinity import as_json_maps, section_affinity, tag_affinity
from media_demo.features.definitions import reader_features_group
from media_demo.features.engagement import WEIGHTS, engagement_scores
from media_demo.features.frames import stories_frame
from media_demo.features.pipeline import OUTPUT_SCHEMA, compute_features, write_features
from media_demo.features.propensity import (
    FEATURES,
    VERSION,
    PropensityModel,
    TooFewLabelsError,
    feature_frame,
    labels,
    load_latest,
    save_model,
    train_propensity,
    training_frame,
)
from media_demo.features.synthetic import History, simulated_history
from media_demo.settings import ARTICLES_DIR
from media_demo.signals.batch.events import frame_of
from media_demo.signals.engine.events import CanonicalEvent
from tests.factories import article_view, page_view, self_describing

DAY = 86_400.0
NOW = 100 * DAY
STORIES = pl.DataFrame(
    {
        "slug": ["goal", "opera", "chip"],
        "section": ["sport", "culture", "technology"],
        "tags": [["football", "records"], ["music"], ["chips", "records"]],
    }
)


def frame(events: list[CanonicalEvent]) -> pl.LazyFrame:
    return frame_of((seq, event.to_json()) for seq, event in enumerate(events, start=1)).lazy()


def read(slug: str, days_ago: float, user: str | None = "u1", session: str = "s1") -> CanonicalEvent:
    section = STORIES.filter(pl.col("slug") == slug)["section"][0]
    event = article_view(slug, section, user=user or "", timestamp=NOW - days_ago * DAY)
    event.atomic.update(domain_sessionid=session, page_urlpath=f"/article/{slug}")
    if user is None:
        del event.atomic["domain_userid"]  # stored anonymised: no behavioural consent
    return event


def accept(user: str, ts: float, action: str = "click") -> CanonicalEvent:
    data = {"intervention": SUBSCRIPTION_OFFER, "action": action, "intervention_id": None}
    return self_describing(INTERACTION_SCHEMA, data, user=user, timestamp=ts, domain_sessionid=f"{user}-late")


# --- affinity ---------------------------------------------------------------------------------------------------


def test_affinity_decays_with_the_half_life_and_sums_to_one() -> None:
    events = [
        read("goal", 28),  # two half-lives old: weight 0.25
        read("opera", 14),  # one: 0.5
        read("opera", 0.0, user=None),  # an anonymised reader: no features
        read("chip", -1),  # after `now`: not yet
    ]
    sections = section_affinity(frame(events), STORIES, NOW, half_life_days=14.0)
    assert sections.rows() == [
        ("u1", "culture", pytest.approx(0.5 / 0.75)),
        ("u1", "sport", pytest.approx(0.25 / 0.75)),
    ]
    tags = tag_affinity(frame(events), STORIES, NOW, half_life_days=14.0)
    assert dict(zip(tags["tag"], tags["affinity"], strict=True)) == pytest.approx(
        {"music": 0.5 / 1.0, "football": 0.25 / 1.0, "records": 0.25 / 1.0}
    )
    # Only the top tag kept: it takes the whole share.
    assert tag_affinity(frame(events), STORIES, NOW, top_n=1).rows() == [("u1", "music", 1.0)]
    # A shorter half-life forgets the old read faster: 2^-4 against 2^-2.
    faster = section_affinity(frame(events), STORIES, NOW, half_life_days=7.0)
    assert faster.filter(pl.col("section") == "culture")["affinity"][0] == pytest.approx(0.25 / (0.25 + 0.0625))


def test_a_read_seen_being_read_weighs_more() -> None:
    ping = page_view("u1", NOW - 1 * DAY + 30, domain_sessionid="s2", page_urlpath="/article/goal")
    ping.atomic.update(event_name="page_ping", event="page_ping")
    events = [read("goal", 1, session="s2"), ping, read("opera", 1, session="s2")]
    sections = section_affinity(frame(events), STORIES, NOW, full_read_weight=3.0)
    assert sections.rows() == [("u1", "sport", pytest.approx(0.75)), ("u1", "culture", pytest.approx(0.25))]


def test_affinity_as_json_text_per_reader() -> None:
    events = [read("goal", 0.5), read("goal", 0.5, user="u2"), read("opera", 0.5, user="u2")]
    maps = as_json_maps(section_affinity(frame(events), STORIES, NOW), "section", "section_affinity")
    parsed = {user: json.loads(text) for user, text in maps.iter_rows()}
    assert parsed == {"u1": {"sport": 1.0}, "u2": {"culture": 0.5, "sport": 0.5}}


# --- engagement -------------------------------------------------------------------------------------------------


def test_engagement_is_in_bounds_and_orders_a_heavy_reader_above_a_light_one() -> None:
    heavy = [
        read(slug, day + 0.01 * i, user="heavy", session=f"h{day}")
        for day in range(1, 20)
        for i, slug in enumerate(("goal", "opera", "chip"))
    ]
    question = {"question_id": "q", "intent": "whats_new", "length": 5, "page_path": "/", "uses_history": False}
    heavy.append(
        self_describing(
            QUESTION_SCHEMA,
            question | {"topic": None, "question": None},
            user="heavy",
            timestamp=NOW - DAY,
            domain_sessionid="h1",
        )
    )
    light = [read("goal", 20, user="light", session="l1")]
    scores = engagement_scores(frame(heavy + light), STORIES, NOW)
    by_reader = {row["domain_userid"]: row for row in scores.iter_rows(named=True)}
    assert set(by_reader) == {"heavy", "light"}
    assert by_reader["heavy"]["engagement_score"] > by_reader["light"]["engagement_score"] + 0.3
    for row in scores.iter_rows(named=True):
        assert 0.0 <= row["engagement_score"] <= 1.0
        assert row["engagement_score"] == pytest.approx(sum(row[name] * w for name, w in WEIGHTS.items()))
    # The light reader's single read, 20 days ago: recency 2^(-20/7), one active day, one read a visit, one section.
    light_row = by_reader["light"]
    assert light_row["recency"] == pytest.approx(2 ** (-20 / 7))
    assert (light_row["frequency"], light_row["depth"], light_row["breadth"]) == pytest.approx((1 / 5, 1 / 3, 1 / 3))
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


# --- propensity -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_stories() -> pl.DataFrame:
    return stories_frame(load_corpus(ARTICLES_DIR))


@pytest.fixture(scope="module")
def history() -> History:
    return simulated_history(load_corpus(ARTICLES_DIR), readers=800, seed=1)


@pytest.fixture(scope="module")
def model(history: History, corpus_stories: pl.DataFrame) -> PropensityModel:
    trained_at = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
    return train_propensity(training_frame(history.events.lazy(), corpus_stories), seed=0, now=trained_at)


def _late_reads(events: pl.DataFrame, users: dict[str, float], stories: pl.DataFrame) -> pl.DataFrame:
    """Events planted after each user's time: a burst of reads and questions that would change every feature."""
    slugs = stories["slug"].to_list()[:6]
    planted = []
    for user, after in users.items():
        for i, slug in enumerate(slugs):
            section = stories.filter(pl.col("slug") == slug)["section"][0]
            event = article_view(slug, section, user=user, timestamp=after + 60.0 * (i + 1))
            event.atomic["domain_sessionid"] = f"{user}-planted"
            planted.append(event)
    top = int(events["seq"].max() or 0)
    extra = frame_of((top + n, e.to_json()) for n, e in enumerate(planted, start=1))
    return pl.concat([events, extra]).sort("ts", "seq")


def test_training_features_are_point_in_time(history: History, corpus_stories: pl.DataFrame) -> None:
    events = history.events
    cutoff = float(events["ts"].max()) + 1.0  # type: ignore[arg-type]
    before = training_frame(events.lazy(), corpus_stories, cutoff=cutoff)
    positives = labels(events.lazy(), cutoff)
    assert positives.height >= 20
    # Late events: after each positive's acceptance, and after the cutoff for a few negatives.
    late = dict(zip(positives["domain_userid"], positives["label_ts"], strict=True))
    negatives = before.filter(pl.col("label") == 0)["domain_userid"].to_list()[:10]
    planted = _late_reads(events, late | dict.fromkeys(negatives, cutoff + 10.0), corpus_stories)
    after = training_frame(planted.lazy(), corpus_stories, cutoff=cutoff)
    assert after.equals(before)
    # The plant is not inert: as of a later time, every planted reader's features do change.
    users = [*late, *negatives]
    anchors = pl.LazyFrame({"domain_userid": users, "anchor": [cutoff + 10 * DAY] * len(users)})
    without = feature_frame(events.lazy(), corpus_stories, anchors)
    with_plant = feature_frame(planted.lazy(), corpus_stories, anchors)
    changed = with_plant.join(without, on="domain_userid", suffix="_without").filter(
        pl.col("log_reads_total") > pl.col("log_reads_total_without")
    )
    assert changed.height == len(users)


def test_the_subscription_offer_itself_is_no_feature(corpus_stories: pl.DataFrame) -> None:
    """As of the same anchor, an impression or dismissal of the offer changes no feature (an impression precedes
    every acceptance: as a feature it would give the label away); another offer's dismissal does count."""
    base = [read("goal", 3, user="u1"), read("opera", 2, user="u1")]
    offered = [*base, accept("u1", NOW - 2 * DAY + 10, "impression"), accept("u1", NOW - 2 * DAY + 20, "dismiss")]
    anchors = pl.LazyFrame({"domain_userid": ["u1"], "anchor": [NOW]})
    plain = feature_frame(frame(base), STORIES, anchors)
    assert feature_frame(frame(offered), STORIES, anchors).equals(plain)
    other = self_describing(
        INTERACTION_SCHEMA, {"intervention": "topic_newsletter", "action": "dismiss"}, timestamp=NOW - DAY
    )
    assert feature_frame(frame([*base, other]), STORIES, anchors)["offers_dismissed"].to_list() == [1.0]


def test_training_refuses_too_few_labels() -> None:
    rows = 60
    frame_ = pl.DataFrame(
        {"domain_userid": [f"r{i}" for i in range(rows)], "anchor": [NOW] * rows, "label": [1] * 3 + [0] * 57}
        | {name: np.linspace(0, 1, rows) for name in FEATURES}
    ).with_columns(pl.col("label").cast(pl.Int8))
    with pytest.raises(TooFewLabelsError, match=r"3 positive\(s\) and 57 negative\(s\), at least 20"):
        train_propensity(frame_)
    train_propensity(frame_, min_per_class=3)  # enough for a lower bar


def test_a_model_trained_on_a_simulated_history_ranks_another_one(
    model: PropensityModel, corpus_stories: pl.DataFrame
) -> None:
    """Trained on seed 1, scored on seed 2 (800 readers each): measured AUC 0.81; seed pairs (3, 4) to (11, 12)
    gave 0.67 to 0.73, so the bar is 0.65."""
    other = simulated_history(load_corpus(ARTICLES_DIR), readers=800, seed=2)
    test = training_frame(other.events.lazy(), corpus_stories)
    auc = roc_auc_score(test["label"].to_numpy(), model.predict(test))
    assert auc > 0.65
    metrics = model.metadata["metrics"]
    assert {"roc_auc", "brier", "log_loss", "calibration"} <= set(metrics)
    table = metrics["calibration"]
    assert len(table) == 10 and sum(row["count"] for row in table) == metrics["rows"]
    assert metrics["brier"] < metrics["base_rate"] * (1 - metrics["base_rate"]) + 0.01  # no worse than the base rate


def test_version_save_and_load_latest(model: PropensityModel, tmp_path: Path, corpus_stories: pl.DataFrame) -> None:
    assert re.fullmatch(r"20261122T093000Z-[0-9a-f]{10}", model.version) and VERSION.match(model.version)
    assert load_latest(tmp_path) is None
    older = PropensityModel(model.pipeline, model.metadata | {"version": "20250101T000000Z-0123456789"})
    save_model(older, tmp_path)
    path = save_model(model, tmp_path)
    assert json.loads(path.with_suffix(".json").read_text())["version"] == model.version
    loaded = load_latest(tmp_path)
    assert loaded is not None and loaded.version == model.version
    history = simulated_history(load_corpus(ARTICLES_DIR), readers=60, seed=3)
    scores = loaded.scores(history.events.lazy(), corpus_stories, history.now)
    assert scores == model.scores(history.events.lazy(), corpus_stories, history.now)
    assert scores and all(0 < s < 1 and v == model.version for s, v in scores.values())


# --- pipeline and group -----------------------------------------------------------------------------------------


def test_pipeline_output(model: PropensityModel, tmp_path: Path) -> None:
    events = frame([read("goal", 1, user="u1"), read("opera", 2, user="u2"), read("chip", 1, user=None)])
    without = compute_features(events, STORIES, None, NOW)
    assert dict(without.schema) == OUTPUT_SCHEMA
    assert without["domain_userid"].to_list() == ["u1", "u2"]  # the anonymised reader has no row
    assert without["subscription_propensity"].is_null().all() and without["propensity_model_version"].is_null().all()
    assert json.loads(without["section_affinity"][0]) == {"sport": 1.0}
    assert without["computed_at"].to_list() == [int(NOW)] * 2
    scored = compute_features(events, STORIES, model, NOW)
    assert scored["subscription_propensity"].is_not_null().all()
    assert set(scored["propensity_model_version"]) == {model.version}
    path = write_features(scored, tmp_path / "features" / "reader_features.parquet")
    assert pl.read_parquet(path).equals(scored)
    assert [p.name for p in path.parent.iterdir()] == ["reader_features.parquet"]  # no temporary left


def test_reader_features_group() -> None:
    group = reader_features_group()
    assert (group.name, group.version, group.attribute_key.name) == ("reader_features", 1, "domain_userid")
    source = group.batch_source
    assert (source.name, source.database, source.schema_, source.table, source.timestamp_field) == (
        "feature_store",
        "files",
        "features",
        "reader_features",
        "computed_at",
    )
    types = {field.name: field.type for field in group.fields}
    assert types == {
        "section_affinity": "dict",
        "tag_affinity": "dict",
        "engagement_score": "double",
        "subscription_propensity": "double",
        "propensity_model_version": "string",
    }
