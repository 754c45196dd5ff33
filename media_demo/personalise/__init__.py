"""Micro-segments, contextual cold start and the personalised home layout (no Reflex imports).

The layout lives in `media_demo.personalise.layout` (import it from there); `variant_cover_art` is a build tool.
The reader's profile, which all of them read, is `media_demo.recommend.ReaderProfile`.
"""

from media_demo.personalise.context import ReaderContext, contextual_picks, describe_context
from media_demo.personalise.segments import Segment, SegmentMatch, SessionFacts, segment_for

__all__ = [
    "ReaderContext",
    "Segment",
    "SegmentMatch",
    "SessionFacts",
    "contextual_picks",
    "describe_context",
    "segment_for",
]
