"""Micro-segments, contextual cold start and the personalised home layout (no Reflex imports).

The layout lives in `media_demo.personalise.layout` (import it from there: it is also a command).
"""

from media_demo.personalise.context import ReaderContext, contextual_picks, describe_context
from media_demo.personalise.segments import ReaderFacts, Segment, SegmentMatch, segment_for

__all__ = [
    "ReaderContext",
    "ReaderFacts",
    "Segment",
    "SegmentMatch",
    "contextual_picks",
    "describe_context",
    "segment_for",
]
