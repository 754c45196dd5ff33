"""Reader features in the running app: computed in the batch run, served through the official SDK beside
streaming attributes (with the model's version), and used by the subscription offer."""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path

import pytest
from snowplow_signals import SignalsSandbox

from media_demo.articles import Corpus
from media_demo.definitions import PROPENSITY_THRESHOLD, SUBSCRIPTION_OFFER
from media_demo.features.frames import stories_frame
from media_demo.features.propensity import save_model, train_propensity, training_frame
from media_demo.features.synthetic import simulated_history
from media_demo.newsroom import Newsroom
from media_demo.settings import Settings
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.integration.conftest import read, running

TOKEN = "test-token-" + uuid.uuid4().hex
FEATURES = "reader_features"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    """A propensity model trained on simulated readers, as `make train` makes one on a new newsroom."""
    history = simulated_history(corpus, readers=600, seed=3)
    frame = training_frame(history.events.lazy(), stories_frame(corpus), history.now)
    folder = tmp_path_factory.mktemp("models")
    save_model(train_propensity(frame, source="simulated"), folder)
    return folder


def settings_for(tmp_path: Path, models: Path) -> Settings:
    return Settings(
        media_demo_db=tmp_path / "events.db",
        flush_interval_seconds=0.01,
        signals_api_token=TOKEN,
        batch_dir=tmp_path / "batch",
        models_dir=models,
        batch_schedule=False,
    )


def new_reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()))


def test_features_are_served_with_streaming_attributes_and_the_model_version(
    tmp_path: Path, corpus: Corpus, model_folder: Path
) -> None:
    with running(settings_for(tmp_path, model_folder), corpus) as (room, url):
        reader = new_reader()
        sport = [a.slug for a in room.corpus.in_category("sport")][:3]
        science = [a.slug for a in room.corpus.in_category("science")][:1]
        for slug in sport + science:
            read(room, reader, slug)
        room.log.flush()
        runs = {r.group_id: r for r in room.batch.run()}
        assert "error" not in runs["reader_features_v1"].detail, runs["reader_features_v1"].detail
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        got = sandbox.get_group_attributes(
            FEATURES,
            1,
            ["section_affinity", "engagement_score", "subscription_propensity", "propensity_model_version"],
            "domain_userid",
            reader.domain_userid,
        )
        affinity = got["section_affinity"]
        assert set(affinity) == {"sport", "science"} and affinity["sport"] > affinity["science"]
        assert sum(affinity.values()) == pytest.approx(1.0)
        assert 0.0 < got["engagement_score"] <= 1.0
        assert 0.0 <= got["subscription_propensity"] <= 1.0
        assert got["propensity_model_version"] == room.features.model.version  # type: ignore[union-attr]
        # One call reads batch and streaming attributes together.
        both = sandbox.get_group_attributes(
            "reader_profile", 1, ["article_read_count"], "domain_userid", reader.domain_userid
        )
        assert both["article_read_count"] == 4
        # A reader without behavioural consent has no features at all.
        anonymous = new_reader()
        read(room, anonymous, sport[0], consent=False)
        room.log.flush()
        room.batch.run(only=["reader_features_v1"])
        assert room.batch.values.get("reader_features_v1", anonymous.domain_userid) is None


def offer_fired(room: Newsroom, reader: Reader) -> bool:
    return any(f.name == SUBSCRIPTION_OFFER for f in room.views.reader_interventions(reader.domain_userid))


def test_the_subscription_offer_goes_only_to_readers_the_model_rates_likely(
    tmp_path: Path, corpus: Corpus, model_folder: Path
) -> None:
    settings = settings_for(tmp_path, model_folder)
    room = Newsroom(settings, corpus)
    try:
        slugs = [a.slug for a in room.corpus.articles][:10]
        readers = []
        for _ in range(2):
            reader = new_reader()
            for slug in slugs[:7]:
                read(room, reader, slug)
            # A second visit (the session of a reader back after hours), so the rule's two visits are met.
            readers.append(dataclasses.replace(reader, session=touch_session(reader.session, time.time() + 3 * 3600)))
        room.log.flush()
        room.batch.run()
        scores = {
            r.domain_userid: room.batch.value("reader_features_v1", r.domain_userid, "subscription_propensity")
            for r in readers
        }
        assert all(isinstance(s, float) for s in scores.values())
        # Force one reader above the bar and one below (the model's own scores for both may sit on one side).
        high, low = readers
        room.batch.values.replace(
            room.batch.values.run("reader_features_v1"),  # type: ignore[arg-type]
            {
                high.domain_userid: {"subscription_propensity": PROPENSITY_THRESHOLD + 0.1},
                low.domain_userid: {"subscription_propensity": PROPENSITY_THRESHOLD / 3},
            },
            time.time(),
        )
        for reader in readers:
            read(room, reader, slugs[8])  # the eighth story, in the second visit: the rule is evaluated
        assert offer_fired(room, high)
        assert not offer_fired(room, low)
    finally:
        room.close()
