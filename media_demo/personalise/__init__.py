"""Micro-segments, contextual cold start and the personalised home layout (no Reflex imports)."""

from media_demo.personalise.context import ReaderContext, contextual_picks, describe_context
from media_demo.personalise.layout import FeaturedVariant, HomeLayout, home_layout
from media_demo.personalise.segments import ReaderFacts, Segment, SegmentMatch, segment_for

__all__ = [
    "FeaturedVariant",
    "HomeLayout",
    "ReaderContext",
    "ReaderFacts",
    "Segment",
    "SegmentMatch",
    "contextual_picks",
    "describe_context",
    "home_layout",
    "segment_for",
]
