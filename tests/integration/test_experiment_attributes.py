"""An experiment's metrics come from its events through the attribute engine, as any other attribute."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from media_demo.experiments.attributes import experiment_groups, group_name, visit_group
from media_demo.experiments.definitions import Experiment
from media_demo.newsroom import Newsroom
from media_demo.tracking import Page, PanelLog, Reader, new_domain_userid, touch_session
from tests.integration.conftest import grant, read

PAGE = Page(url="http://localhost:3000/", title="Home")


def experiment(name: str) -> Experiment:
    return Experiment.model_validate(
        {
            "name": name,
            "hypothesis": "Co-read picks get more clicks.",
            "start": datetime(2026, 1, 1, tzinfo=UTC),
            "variants": [
                {"name": "control", "strategy": "current", "weight": 0.5},
                {"name": "coread", "strategy": "coread", "weight": 0.5},
            ],
        }
    )


def test_exposures_impressions_and_clicks_become_the_readers_metrics(newsroom: Newsroom) -> None:
    mine, other = experiment("recs-a"), experiment("recs-b")
    for group in [*experiment_groups(mine), *experiment_groups(other)]:
        assert newsroom.publish(group)
    reader = Reader(new_domain_userid(), touch_session(None, time.time()))
    grant(newsroom, reader)
    slugs = [a.slug for a in newsroom.corpus.articles[:4]]
    read(newsroom, reader, slugs[0])
    tracker = newsroom.tracker
    tracker.experiment_exposure(reader, PAGE, "recs-a", "coread", "domain_userid", returning=False, reads_before=1)
    panel = PanelLog(str(uuid.uuid4()), "coread", "recs-a", "coread")
    tracker.recommendation_impression(reader, PAGE, panel, [(slugs[1], 1, 0.9), (slugs[2], 2, 0.05)])
    tracker.recommendation_click(reader, PAGE, panel, slugs[1], 1, 0.9)
    read(newsroom, reader, slugs[1])
    tracker.experiment_exposure(reader, PAGE, "recs-a", "coread", "domain_userid", returning=True, reads_before=2)
    tracker.recommendation_impression(reader, PAGE, panel, [(slugs[3], 1, 1.0)])
    # Another experiment's events leave this one's metrics alone.
    tracker.experiment_exposure(reader, PAGE, "recs-b", "control", "domain_userid", returning=False, reads_before=2)
    newsroom.log.flush()

    (row,) = newsroom.read_attributes(
        group_name(mine),
        1,
        [reader.domain_userid],
        ["variant", "variants_seen", "exposures", "reads_before", "returns", "impressions", "clicks"],
    )
    assert row == {
        "variant": "coread",
        "variants_seen": ["coread"],
        "exposures": 2,
        "reads_before": 1,  # at the first exposure
        "returns": 1,
        "impressions": 2,
        "clicks": 1,
    }
    (since,) = newsroom.read_attributes(group_name(mine), 1, [reader.domain_userid], ["since_first_exposure"])
    assert 0 <= since["since_first_exposure"] < 60
    (visit,) = newsroom.read_attributes(
        visit_group(mine).name, 1, [reader.session.session_id], ["variant", "clicks", "reads"]
    )
    assert visit == {"variant": "coread", "clicks": 1, "reads": 2}
    (theirs,) = newsroom.read_attributes(group_name(other), 1, [reader.domain_userid], ["variant", "clicks"])
    assert theirs == {"variant": "control", "clicks": 0}
    assert newsroom.memory.engine.entity_ids(group_name(mine)) == [reader.domain_userid]


def test_an_impression_that_breaks_its_schema_is_kept_as_a_bad_event_with_the_field(newsroom: Newsroom) -> None:
    reader = Reader(new_domain_userid(), touch_session(None, time.time()))
    panel = PanelLog("not-a-uuid", "current")
    newsroom.tracker.recommendation_impression(reader, PAGE, panel, [("a-story", 1, 1.0)])
    newsroom.tracker.recommendation_impression(reader, PAGE, PanelLog(str(uuid.uuid4()), "current"), [("s", 1, 0.0)])
    newsroom.log.flush()
    reasons = [row.reason for row in newsroom.log.bad_events(10)]
    assert any("panel_id" in r for r in reasons), reasons
    assert any("propensity" in r for r in reasons), reasons
