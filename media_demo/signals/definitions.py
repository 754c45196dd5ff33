"""The app's attribute groups, written with the official `snowplow-signals` classes.

The same objects could be published unchanged to a real Signals deployment;
the embedded engine compiles them into evaluators.
"""

from __future__ import annotations

from collections.abc import Iterable

from snowplow_signals import (
    Attribute,
    Criteria,
    Criterion,
    Event,
    EventProperty,
    PageView,
    StreamAttributeGroup,
    domain_userid,
)

ARTICLE_VENDOR = "com.dailycurrent"
ARTICLE_EVENT = "article_detail"
ARTICLE_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{ARTICLE_EVENT}/jsonschema/1-0-0"
READER_GROUP = "reader_profile"
OWNER = "newsroom@dailycurrent.example"


def ArticleDetail() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """The self-describing event tracked when a reader opens an article."""
    return Event(vendor=ARTICLE_VENDOR, name=ARTICLE_EVENT, version="1-0-0")


def article_property(path: str) -> EventProperty:
    return EventProperty(vendor=ARTICLE_VENDOR, name=ARTICLE_EVENT, major_version=1, path=path)


def category_read_count(category: str) -> str:
    """Name of the per-category read counter, e.g. `technology_read_count`."""
    return f"{category.replace('-', '_')}_read_count"


def reader_profile_group(categories: Iterable[str]) -> StreamAttributeGroup:
    """Per-reader attributes keyed by `domain_userid`; one read counter per corpus category."""
    category = article_property("category")
    per_category = [
        Attribute(
            name=category_read_count(name),
            description=f"Articles read in {name}.",
            type="int32",
            events=[ArticleDetail()],
            aggregation="counter",
            criteria=Criteria(all=[Criterion.eq(category, name)]),
        )
        for name in sorted(set(categories))
    ]
    return StreamAttributeGroup(
        name=READER_GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description="What each reader has read, updated with every event.",
        attributes=[
            Attribute(name="page_view_count", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(name="article_read_count", type="int32", events=[ArticleDetail()], aggregation="counter"),
            Attribute(
                name="articles_read",
                description="Slugs read, oldest to most recent.",
                type="string_list",
                events=[ArticleDetail()],
                aggregation="unique_list",
                property=article_property("slug"),
            ),
            Attribute(
                name="article_last_read",
                type="string",
                events=[ArticleDetail()],
                aggregation="last",
                property=article_property("slug"),
            ),
            Attribute(
                name="categories_read",
                description="Categories read, ordered by when each was last read.",
                type="string_list",
                events=[ArticleDetail()],
                aggregation="unique_list",
                property=category,
            ),
            Attribute(
                name="most_read_category",
                type="string",
                events=[ArticleDetail()],
                aggregation="most_frequent",
                property=category,
            ),
            *per_category,
        ],
    )
