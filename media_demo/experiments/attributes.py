"""An experiment's metrics as attribute groups, computed by the attribute engine from its events.

Each experiment gets two groups, written with the Signals SDK's classes like every
other attribute of the newsroom, so a team moving to Snowplow Signals takes them
along unchanged:

- per reader (`domain_userid`): the variant, when first exposed, panel impressions
  and clicks (click-through rate), whether they came back within 7 days, and the
  reads before their first exposure (the covariate of CUPED);
- per visit (`domain_sessionid`): panel clicks and stories read, so recirculation,
  stories read per visit after a click, is a ratio over visits with a click.
"""

from __future__ import annotations

from snowplow_signals import (
    AtomicProperty,
    Attribute,
    Criteria,
    Criterion,
    Event,
    EventProperty,
    StreamAttributeGroup,
    domain_sessionid,
    domain_userid,
)

from media_demo.definitions import (
    ARTICLE_EVENT,
    ARTICLE_VENDOR,
    CLICK_EVENT,
    EXPOSURE_EVENT,
    IMPRESSION_EVENT,
    OWNER,
)
from media_demo.experiments.definitions import Experiment

READERS_SUFFIX = ""
VISITS_SUFFIX = "_visits"


def _event(name: str) -> Event:
    return Event(vendor=ARTICLE_VENDOR, name=name, version="1-0-0")


def _field(event: str, path: str) -> EventProperty:
    return EventProperty(vendor=ARTICLE_VENDOR, name=event, major_version=1, path=path)


def _of_experiment(event: str, experiment: Experiment, *more: Criterion) -> Criteria:
    """Only this experiment's events (every experiment's events share the schemas)."""
    return Criteria(all=[Criterion.eq(_field(event, "experiment"), experiment.name), *more])


def group_name(experiment: Experiment, suffix: str = READERS_SUFFIX) -> str:
    """The attribute group of an experiment (`recs-coread` → `experiment_recs_coread`)."""
    return "experiment_" + experiment.name.replace("-", "_") + suffix


def reader_group(experiment: Experiment) -> StreamAttributeGroup:
    """Per reader: what the experiment showed them and what they did."""
    exposure, impression, click = _event(EXPOSURE_EVENT), _event(IMPRESSION_EVENT), _event(CLICK_EVENT)
    exposed = _of_experiment(EXPOSURE_EVENT, experiment)
    return StreamAttributeGroup(
        name=group_name(experiment),
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description=f"Experiment {experiment.name}: each reader's exposures, impressions and clicks.",
        attributes=[
            Attribute(
                name="variant",
                type="string",
                events=[exposure],
                aggregation="first",
                property=_field(EXPOSURE_EVENT, "variant"),
                criteria=exposed,
            ),
            Attribute(
                name="variants_seen",
                type="string_list",
                events=[exposure],
                aggregation="unique_list",
                property=_field(EXPOSURE_EVENT, "variant"),
                criteria=exposed,
            ),
            Attribute(name="exposures", type="int32", events=[exposure], aggregation="counter", criteria=exposed),
            Attribute(
                name="first_session",
                type="int32",
                events=[exposure],
                aggregation="first",
                property=AtomicProperty(name="domain_sessionidx"),
                criteria=exposed,
            ),
            Attribute(
                name="since_first_exposure",
                type="float",
                events=[exposure],
                aggregation="time_since_first",
                time_unit="s",
                criteria=exposed,
            ),
            Attribute(
                name="reads_before",
                type="int32",
                events=[exposure],
                aggregation="first",
                property=_field(EXPOSURE_EVENT, "reads_before"),
                criteria=exposed,
            ),
            Attribute(
                name="returns",
                type="int32",
                events=[exposure],
                aggregation="counter",
                criteria=_of_experiment(
                    EXPOSURE_EVENT, experiment, Criterion.eq(_field(EXPOSURE_EVENT, "returning"), True)
                ),
            ),
            Attribute(
                name="impressions",
                type="int32",
                events=[impression],
                aggregation="counter",
                criteria=_of_experiment(IMPRESSION_EVENT, experiment),
            ),
            Attribute(
                name="clicks",
                type="int32",
                events=[click],
                aggregation="counter",
                criteria=_of_experiment(CLICK_EVENT, experiment),
            ),
        ],
    )


def visit_group(experiment: Experiment) -> StreamAttributeGroup:
    """Per visit: panel clicks of this experiment and the stories read (for recirculation)."""
    click = _event(CLICK_EVENT)
    return StreamAttributeGroup(
        name=group_name(experiment, VISITS_SUFFIX),
        version=1,
        attribute_key=domain_sessionid,
        owner=OWNER,
        description=f"Experiment {experiment.name}: clicks and stories read per visit.",
        attributes=[
            Attribute(
                name="variant",
                type="string",
                events=[click],
                aggregation="first",
                property=_field(CLICK_EVENT, "variant"),
                criteria=_of_experiment(CLICK_EVENT, experiment),
            ),
            Attribute(
                name="clicks",
                type="int32",
                events=[click],
                aggregation="counter",
                criteria=_of_experiment(CLICK_EVENT, experiment),
            ),
            Attribute(name="reads", type="int32", events=[_event(ARTICLE_EVENT)], aggregation="counter"),
        ],
    )


def experiment_groups(experiment: Experiment) -> list[StreamAttributeGroup]:
    """Both groups of an experiment, as the newsroom publishes them."""
    return [reader_group(experiment), visit_group(experiment)]
