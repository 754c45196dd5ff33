"""Server-side Snowplow tracking and reader identity (no Reflex imports)."""

from media_demo.tracking.emitters import CollectorEmitter, InProcessEmitter, http_emitter
from media_demo.tracking.identity import ReaderSession, is_domain_userid, new_domain_userid, touch_session
from media_demo.tracking.tracker import NewsroomTracker, Page, PanelLog, Reader

__all__ = [
    "CollectorEmitter",
    "InProcessEmitter",
    "NewsroomTracker",
    "Page",
    "PanelLog",
    "Reader",
    "ReaderSession",
    "http_emitter",
    "is_domain_userid",
    "new_domain_userid",
    "touch_session",
]
