"""The `reader_features` attribute group: the batch features as a Signals external batch source.

Kept here rather than in `media_demo.definitions` so the features and their
definition change together; the app registers it beside its stream groups.
"""

from __future__ import annotations

from snowplow_signals import BatchSource, ExternalBatchAttributeGroup, Field, domain_userid

from media_demo.definitions import FEATURES_GROUP, OWNER


def reader_features_group() -> ExternalBatchAttributeGroup:
    """Per-reader batch features (`pipeline.compute_features`), read from the `reader_features` table."""
    return ExternalBatchAttributeGroup(
        name=FEATURES_GROUP,
        version=1,
        attribute_key=domain_userid,
        owner=OWNER,
        description="Content affinity, engagement and subscription propensity, computed in batch.",
        batch_source=BatchSource(
            name="feature_store",
            description="The batch features' Parquet file (`media_demo.features.pipeline.write_features`).",
            database="files",
            schema="features",
            table="reader_features",
            timestamp_field="computed_at",
        ),
        fields=[
            Field(name="section_affinity", type="dict", description="Share of decayed reads per section."),
            Field(name="tag_affinity", type="dict", description="Share of decayed reads per tag (top tags)."),
            Field(name="engagement_score", type="double", description="Engagement in [0, 1]."),
            Field(name="subscription_propensity", type="double", description="P(accepts the subscription offer)."),
            Field(name="propensity_model_version", type="string", description="The model that scored it."),
        ],
    )
