"""The app's attribute groups, written with the official `snowplow-signals` classes.

The same objects could be published unchanged to a real Signals deployment;
the embedded engine compiles them into evaluators.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from snowplow_signals import (
    AtomicProperty,
    Attribute,
    AttributeKey,
    BatchAttributeGroup,
    BatchSource,
    Criteria,
    Criterion,
    EntityProperty,
    Event,
    EventProperty,
    ExternalBatchAttributeGroup,
    Field,
    InterventionCriteriaAll,
    InterventionCriteriaAny,
    InterventionCriterion,
    LinkAttributeKey,
    PageView,
    RuleIntervention,
    Service,
    StreamAttributeGroup,
    domain_sessionid,
    domain_userid,
    user_id,
)

ARTICLE_VENDOR = "com.dailycurrent"
ARTICLE_EVENT = "article_detail"
ARTICLE_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{ARTICLE_EVENT}/jsonschema/1-0-0"
READER_GROUP = "reader_profile"
SESSION_GROUP = "reader_session"
ENGAGEMENT_GROUP = "reader_engagement"
INTERACTION_EVENT = "intervention_interaction"
INTERACTION_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{INTERACTION_EVENT}/jsonschema/1-0-0"
EXPOSURE_EVENT = "experiment_exposure"
EXPOSURE_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{EXPOSURE_EVENT}/jsonschema/1-0-0"
IMPRESSION_EVENT = "recommendation_impression"
IMPRESSION_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{IMPRESSION_EVENT}/jsonschema/1-0-0"
CLICK_EVENT = "recommendation_click"
CLICK_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{CLICK_EVENT}/jsonschema/1-0-0"
QUESTION_EVENT = "assistant_question"
QUESTION_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{QUESTION_EVENT}/jsonschema/1-0-0"
ANSWER_EVENT = "assistant_answer"
ANSWER_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{ANSWER_EVENT}/jsonschema/1-0-0"
SNOWPLOW_VENDOR = "com.snowplowanalytics.snowplow"
SEARCH_EVENT = "site_search"  # Snowplow's own site search event, as the browser tracker sends it
SEARCH_SCHEMA = f"iglu:{SNOWPLOW_VENDOR}/{SEARCH_EVENT}/jsonschema/1-0-0"
SEARCH_GROUP = "reader_search"
EMAIL_SENT_EVENT = "email_sent"
EMAIL_SENT_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{EMAIL_SENT_EVENT}/jsonschema/1-0-0"
EMAIL_OPEN_EVENT = "email_open"
EMAIL_OPEN_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{EMAIL_OPEN_EVENT}/jsonschema/1-0-0"
EMAIL_LINK_ENTITY = "email_link"
EMAIL_LINK_SCHEMA = f"iglu:{ARTICLE_VENDOR}/{EMAIL_LINK_ENTITY}/jsonschema/1-0-0"
REDIRECT_EVENT = "uri_redirect"  # what Snowplow's collector records for a click through `/r/tp2`
REDIRECT_SCHEMA = f"iglu:{SNOWPLOW_VENDOR}/{REDIRECT_EVENT}/jsonschema/1-0-0"
EMAIL_GROUP = "email_engagement"
ASSISTANT_GROUP = "reader_assistant"
READER_CONTEXT_SERVICE = "reader_context"  # what the assistant's tool reads, through the Signals API
ASSISTANT_OFFER = "assistant_catch_up"
ASSISTANT_OFFER_READS = 5  # a deep dive: stories of one section in one visit before the assistant offers a catch-up
TOPIC_NEWSLETTER = "topic_newsletter"
SUBSCRIPTION_OFFER = "subscription_offer"
WELCOME_BACK = "welcome_back"
AUDIENCE_GROUP = "page_audience"
AUDIENCE_CHANGED = "audience_changed"
READING_NOW_MINUTES = 5
# How many times one reader may be shown each intervention, ever (dismissing stops it at once).
IMPRESSION_CAPS = {TOPIC_NEWSLETTER: 3, SUBSCRIPTION_OFFER: 2, WELCOME_BACK: 30, ASSISTANT_OFFER: 3}
OWNER = "newsroom@dailycurrent.example"


def ArticleDetail() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """The self-describing event tracked when a reader opens an article."""
    return Event(vendor=ARTICLE_VENDOR, name=ARTICLE_EVENT, version="1-0-0")


def article_property(path: str) -> EventProperty:
    """A field of the `article_detail` event, for the attributes that read one."""
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


def InterventionInteraction() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """A reader saw, clicked or dismissed an intervention."""
    return Event(vendor=ARTICLE_VENDOR, name=INTERACTION_EVENT, version="1-0-0")


def session_read_count(category: str) -> str:
    """Name of the per-category read counter of the current session."""
    return f"{category.replace('-', '_')}_reads"


def reader_session_group(categories: Iterable[str]) -> StreamAttributeGroup:
    """Per-session attributes keyed by `domain_sessionid`: what this visit is about."""
    category = article_property("category")
    return StreamAttributeGroup(
        name=SESSION_GROUP,
        version=1,
        attribute_key=domain_sessionid,
        owner=OWNER,
        description="What the reader does in the current session.",
        attributes=[
            Attribute(name="session_page_views", type="int32", events=[PageView()], aggregation="counter"),
            Attribute(
                name="session_top_category",
                type="string",
                events=[ArticleDetail()],
                aggregation="most_frequent",
                property=category,
            ),
            *[
                Attribute(
                    name=session_read_count(name),
                    type="int32",
                    events=[ArticleDetail()],
                    aggregation="counter",
                    criteria=Criteria(all=[Criterion.eq(category, name)]),
                )
                for name in sorted(set(categories))
            ],
        ],
    )


def _interactions(
    action: str, aggregation: Literal["category_count", "unique_list"], name: str, kind: Literal["dict", "string_list"]
) -> Attribute:
    return Attribute(
        name=name,
        type=kind,
        events=[InterventionInteraction()],
        aggregation=aggregation,
        property=EventProperty(vendor=ARTICLE_VENDOR, name=INTERACTION_EVENT, major_version=1, path="intervention"),
        criteria=Criteria(
            all=[
                Criterion.eq(
                    EventProperty(vendor=ARTICLE_VENDOR, name=INTERACTION_EVENT, major_version=1, path="action"),
                    action,
                )
            ]
        ),
    )


def reader_engagement_group() -> StreamAttributeGroup:
    """Visits and reactions to interventions, keyed by `domain_userid`."""
    return StreamAttributeGroup(
        name=ENGAGEMENT_GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description="How often the reader comes back and how they answer the site's offers.",
        attributes=[
            Attribute(
                name="session_count",
                type="int32",
                events=[PageView()],
                aggregation="max",
                property=AtomicProperty(name="domain_sessionidx"),
            ),
            Attribute(
                name="page_views_24h",
                type="int32",
                events=[PageView()],
                aggregation="counter",
                period=dt.timedelta(days=1),
            ),
            _interactions("impression", "category_count", "intervention_impressions", "dict"),
            _interactions("click", "category_count", "intervention_clicks", "dict"),
            _interactions("dismiss", "unique_list", "interventions_dismissed", "string_list"),
        ],
    )


def AssistantQuestion() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """The reader asked the assistant something."""
    return Event(vendor=ARTICLE_VENDOR, name=QUESTION_EVENT, version="1-0-0")


def reader_assistant_group() -> StreamAttributeGroup:
    """What each reader asks the assistant, keyed by `domain_userid` (topics only with consent)."""
    question = EventProperty(vendor=ARTICLE_VENDOR, name=QUESTION_EVENT, major_version=1, path="topic")
    return StreamAttributeGroup(
        name=ASSISTANT_GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description="Questions asked of the reading assistant: how many, and about what.",
        attributes=[
            Attribute(name="questions_asked", type="int32", events=[AssistantQuestion()], aggregation="counter"),
            Attribute(
                name="topics_asked",
                description="Topics of the reader's questions, ordered by when each was last asked.",
                type="string_list",
                events=[AssistantQuestion()],
                aggregation="unique_list",
                property=question,
            ),
        ],
    )


def SiteSearch() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """The reader searched the archive (Snowplow's `site_search`)."""
    return Event(vendor=SNOWPLOW_VENDOR, name=SEARCH_EVENT, version="1-0-0")


def reader_search_group() -> StreamAttributeGroup:
    """What each reader searches for, keyed by `domain_userid`: "searched for" as an attribute."""
    return StreamAttributeGroup(
        name=SEARCH_GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description="Searches of the archive: how many, and for what (the query as the reader typed it, lowercased).",
        attributes=[
            Attribute(name="searches", type="int32", events=[SiteSearch()], aggregation="counter"),
            Attribute(
                name="searched_for",
                description="The reader's searches, ordered by when each was last made.",
                type="string_list",
                events=[SiteSearch()],
                aggregation="unique_list",
                property=EventProperty(vendor=SNOWPLOW_VENDOR, name=SEARCH_EVENT, major_version=1, path="terms[0]"),
            ),
            Attribute(
                name="searches_without_results",
                type="int32",
                events=[SiteSearch()],
                aggregation="counter",
                criteria=Criteria(
                    all=[
                        Criterion.eq(
                            EventProperty(
                                vendor=SNOWPLOW_VENDOR, name=SEARCH_EVENT, major_version=1, path="totalResults"
                            ),
                            0,
                        )
                    ]
                ),
            ),
        ],
    )


def EmailSent() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """A digest was handed to the mail server for one subscriber."""
    return Event(vendor=ARTICLE_VENDOR, name=EMAIL_SENT_EVENT, version="1-0-0")


def EmailOpen() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """A subscriber's mail client loaded a digest's open pixel."""
    return Event(vendor=ARTICLE_VENDOR, name=EMAIL_OPEN_EVENT, version="1-0-0")


def UriRedirect() -> Event:  # noqa: N802 - mirrors the SDK's PageView() helper
    """A click through the collector's redirect (Snowplow's `uri_redirect`)."""
    return Event(vendor=SNOWPLOW_VENDOR, name=REDIRECT_EVENT, version="1-0-0")


def email_link_property(path: str) -> EntityProperty:
    """A field of the `email_link` entity a digest's story link attaches to its click."""
    return EntityProperty(vendor=ARTICLE_VENDOR, name=EMAIL_LINK_ENTITY, major_version=1, path=path)


def email_engagement_group() -> StreamAttributeGroup:
    """What a subscriber does with the digests, keyed by `user_id` (mails reach an account, not a device).

    Clicks are `uri_redirect` events that carry the `email_link` entity: any other redirect
    through the collector counts for nothing here.
    """
    from_a_digest = Criteria(all=[Criterion(property=email_link_property("digest_id"), operator="is not null")])
    return StreamAttributeGroup(
        name=EMAIL_GROUP,
        version=1,
        attribute_key=user_id,
        owner=OWNER,
        description="The e-mail digests: how many were sent, opened and clicked, and which sections draw clicks.",
        attributes=[
            Attribute(name="digests_received", type="int32", events=[EmailSent()], aggregation="counter"),
            Attribute(
                name="digests_opened",
                description="Distinct digests opened (one that is opened again counts once; exact below 128).",
                type="int32",
                events=[EmailOpen()],
                aggregation="approx_count_distinct",
                property=EventProperty(vendor=ARTICLE_VENDOR, name=EMAIL_OPEN_EVENT, major_version=1, path="digest_id"),
            ),
            Attribute(
                name="email_clicks",
                type="int32",
                events=[UriRedirect()],
                aggregation="counter",
                criteria=from_a_digest,
            ),
            Attribute(
                name="last_email_click",
                description="The story last clicked in a digest (its slug).",
                type="string",
                events=[UriRedirect()],
                aggregation="last",
                property=email_link_property("slug"),
                criteria=from_a_digest,
            ),
            Attribute(
                name="favourite_email_section",
                description="The section whose stories the reader clicks most in the digests.",
                type="string",
                events=[UriRedirect()],
                aggregation="most_frequent",
                property=email_link_property("section"),
                criteria=from_a_digest,
            ),
        ],
    )


def reader_context_service(categories: Iterable[str]) -> Service:
    """The reader's attributes as the assistant's tool reads them (as the tutorial's agent calls Signals)."""
    categories = sorted(set(categories))
    return Service(
        name=READER_CONTEXT_SERVICE,
        description="Everything the reading assistant may know about the current reader.",
        owner=OWNER,
        is_published=True,
        attribute_groups=[
            reader_profile_group(categories),
            reader_engagement_group(),
            reader_assistant_group(),
        ],
    )


def page_audience_group() -> StreamAttributeGroup:
    """Per page (keyed by its path): how many distinct readers viewed it in the last few minutes."""
    return StreamAttributeGroup(
        name=AUDIENCE_GROUP,
        version=1,
        attribute_key=AttributeKey(name="page_urlpath"),
        owner=OWNER,
        description="Real readers on each page right now: the 'N reading now' line.",
        attributes=[
            Attribute(
                name="readers_now",
                type="int32",
                events=[PageView()],
                aggregation="approx_count_distinct",
                property=AtomicProperty(name="domain_userid"),
                period=dt.timedelta(minutes=READING_NOW_MINUTES),
            )
        ],
    )


def app_groups(categories: Iterable[str]) -> list[StreamAttributeGroup]:
    """Every attribute group the newsroom evaluates."""
    categories = sorted(set(categories))
    return [
        reader_profile_group(categories),
        reader_session_group(categories),
        reader_engagement_group(),
        page_audience_group(),
        reader_assistant_group(),
        reader_search_group(),
        email_engagement_group(),
    ]


READING_HISTORY_GROUP = "reading_history"
FEATURES_GROUP = "reader_features"  # the batch features (media_demo.features.definitions)
# The subscription offer goes to readers the propensity model rates at least this likely to accept (its
# calibrated probability; about 1.6 times the simulated base rate of 9 %), or to all engaged readers while
# there is no model yet (the propensity is then null).
PROPENSITY_THRESHOLD = 0.15


def reading_history_group() -> BatchAttributeGroup:
    """Each reader's whole reading history, computed in batch over the event log.

    What streaming would hold for ever (a month's window, every visit ever) is cheaper
    recomputed on a schedule; Signals computes such groups in the warehouse.
    """
    category = article_property("category")
    return BatchAttributeGroup(
        name=READING_HISTORY_GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description="Lifetime and 30-day reading, recomputed in batch.",
        attributes=[
            Attribute(name="stories_read", type="int32", events=[ArticleDetail()], aggregation="counter"),
            Attribute(
                name="stories_read_30d",
                type="int32",
                events=[ArticleDetail()],
                aggregation="counter",
                period=dt.timedelta(days=30),
            ),
            Attribute(
                name="distinct_stories",
                type="int32",
                events=[ArticleDetail()],
                aggregation="approx_count_distinct",
                property=article_property("slug"),
            ),
            Attribute(
                name="sections_read",
                description="Stories read per section, ever.",
                type="dict",
                events=[ArticleDetail()],
                aggregation="category_count",
                property=category,
            ),
            Attribute(
                name="favourite_section",
                type="string",
                events=[ArticleDetail()],
                aggregation="most_frequent",
                property=category,
            ),
            Attribute(
                name="visits",
                type="int32",
                events=[PageView()],
                aggregation="approx_count_distinct",
                property=AtomicProperty(name="domain_sessionid"),
            ),
            Attribute(
                name="days_since_first_visit",
                type="double",
                events=[PageView()],
                aggregation="time_since_first",
                time_unit="d",
            ),
        ],
    )


def app_interventions(categories: Iterable[str]) -> list[RuleIntervention]:
    """What the site does unprompted, each useful to a publisher."""
    reader = [LinkAttributeKey(name="domain_userid")]
    session_reads = [
        InterventionCriterion(attribute=f"{SESSION_GROUP}:{session_read_count(c)}", operator=">=", value=3)
        for c in sorted(set(categories))
    ]
    return [
        RuleIntervention(
            name=TOPIC_NEWSLETTER,
            version=1,
            owner=OWNER,
            description="Offer the newsletter of a topic after three of its articles in one visit.",
            criteria=InterventionCriteriaAny(any=list(session_reads)),  # list(): typed as the SDK's wider union
            target_attribute_keys=reader,
        ),
        RuleIntervention(
            name=ASSISTANT_OFFER,
            version=1,
            owner=OWNER,
            description="Offer the reading assistant's catch-up after five stories of one section in one visit.",
            criteria=InterventionCriteriaAny(
                any=[
                    InterventionCriterion(
                        attribute=f"{SESSION_GROUP}:{session_read_count(c)}", operator=">=", value=ASSISTANT_OFFER_READS
                    )
                    for c in sorted(set(categories))
                ]
            ),
            target_attribute_keys=reader,
        ),
        RuleIntervention(
            name=SUBSCRIPTION_OFFER,
            version=1,
            owner=OWNER,
            description="Offer a subscription to engaged readers likely to accept: eight articles over at least "
            "two visits, and a subscription propensity of at least 0.15 when a model scores them.",
            criteria=InterventionCriteriaAll(
                all=[
                    InterventionCriterion(attribute=f"{READER_GROUP}:article_read_count", operator=">=", value=8),
                    InterventionCriterion(attribute=f"{ENGAGEMENT_GROUP}:session_count", operator=">=", value=2),
                    InterventionCriteriaAny(
                        any=[
                            InterventionCriterion(
                                attribute=f"{FEATURES_GROUP}:subscription_propensity",
                                operator=">=",
                                value=PROPENSITY_THRESHOLD,
                            ),
                            InterventionCriterion(
                                attribute=f"{FEATURES_GROUP}:subscription_propensity", operator="is null"
                            ),
                        ]
                    ),
                ]
            ),
            target_attribute_keys=reader,
        ),
        RuleIntervention(
            name=AUDIENCE_CHANGED,
            version=1,
            owner=OWNER,
            description="Tell the readers of a page that its live audience changed (the 'reading now' line).",
            criteria=InterventionCriterion(attribute=f"{AUDIENCE_GROUP}:readers_now", operator="changed"),
            target_attribute_keys=[LinkAttributeKey(name="page_urlpath")],
        ),
        RuleIntervention(
            name=WELCOME_BACK,
            version=1,
            owner=OWNER,
            description="Welcome a reader back after a day or more away with what they missed.",
            criteria=InterventionCriteriaAll(
                all=[
                    InterventionCriterion(attribute=f"{ENGAGEMENT_GROUP}:page_views_24h", operator="=", value=1),
                    InterventionCriterion(attribute=f"{READER_GROUP}:page_view_count", operator=">=", value=2),
                ]
            ),
            target_attribute_keys=reader,
        ),
    ]


CRM_GROUP = "crm_subscription"


def crm_subscription_group() -> ExternalBatchAttributeGroup:
    """Each account's subscription as the CRM knows it, synced from its export (newest `updated_at` wins).

    Read from `data/sources/crm/subscriptions.csv` locally (`media_demo.signals.batch.external`).
    """
    return ExternalBatchAttributeGroup(
        name=CRM_GROUP,
        version=1,
        attribute_key=user_id,
        owner=OWNER,
        description="The reader's subscription: plan, status, start and monthly price, from the CRM.",
        fields=[
            Field(name="plan", type="string", description="free, digital or premium."),
            Field(name="status", type="string", description="active, trialing, cancelled or past_due."),
            Field(name="started_at", type="timestamp", description="When the subscription began."),
            Field(name="monthly_price", type="double", description="What the reader pays a month."),
        ],
        batch_source=BatchSource(
            name="crm_export",
            description="The CRM's nightly export of subscriptions.",
            database="files",
            schema="crm",
            table="subscriptions",
            timestamp_field="updated_at",
        ),
    )
