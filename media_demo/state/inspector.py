"""The inspector ("Your data"): the current reader's own attributes, segment, events and interventions, live.

The reader is always the one of this browser's `dc_duid` cookie (held by
`ReaderState`), never one named in the URL: nobody can inspect someone else.
`inspect_reader` (plain Python) gathers what the newsroom knows; the state
shows it and keeps it fresh with one background task per open tab, woken by
the reader views' change feed (the page never polls).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import reflex as rx

from media_demo import routes
from media_demo.articles import section_label
from media_demo.definitions import READER_GROUP
from media_demo.newsroom import get_newsroom
from media_demo.personalise import SessionFacts, segment_for
from media_demo.recommend import ReaderProfile
from media_demo.services.reader_views import ReaderViews
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.engine.timestamps import as_utc, iso_seconds
from media_demo.signals.storage.event_log import BadEventRow
from media_demo.state.reader import ReaderState
from media_demo.tracking import ReaderSession, is_domain_userid
from media_demo.tracking.identity import is_signed_domain_userid

logger = logging.getLogger(__name__)


EVENT_LIMIT = 50
EMPTY = "—"
CHECK_SECONDS = 3.0  # how often a waiting task checks that its tab still shows the inspector
SETTLE_SECONDS = 0.15  # a page visit is two events: refresh once for both
IDLE_SECONDS = 10 * 60  # a task with nothing to show for this long stops (a reload restarts it)
FIRST_ID_SECONDS = 0.2  # how often a task checks for the reader id of a tab's very first visit
FIRST_ID_WAIT_SECONDS = 30.0
# The fields worth a column for each kind of self-describing event (others: all of their fields).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "article_detail": ("slug", "category"),
    "intervention_interaction": ("intervention", "action"),
}
TRACKER_EVENT_TYPES = {"pv": "page_view", "pp": "page_ping", "ue": "self-describing", "se": "structured"}


# ----------------------------------------------------------------- what the page shows (strings only)


@dataclasses.dataclass
class AttributeView:
    name: str = ""
    value: str = ""


@dataclasses.dataclass
class GroupView:
    """One attribute group evaluated for one of the reader's ids."""

    name: str = ""
    version: str = ""
    key: str = ""  # domain_userid or domain_sessionid
    description: str = ""
    kind: str = "streaming"  # or "batch": computed on a schedule, see `computed_at`
    computed_at: str = ""  # ISO 8601, UTC: when a batch group's values were computed ("" for streaming ones)
    attributes: list[AttributeView] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class EventView:
    """One event as the engine saw it: good, or bad with the reason."""

    event_id: str = ""
    status: str = "good"  # good | bad
    time: str = ""  # ISO 8601, UTC (shown in the reader's local time)
    name: str = ""
    page: str = ""
    details: str = ""


@dataclasses.dataclass
class InterventionView:
    name: str = ""
    time: str = ""
    attributes: str = ""


@dataclasses.dataclass
class ReaderSnapshot:
    """Everything the inspector shows about one reader, at one moment."""

    domain_userid: str
    session_id: str
    visit: str
    segment_label: str
    segment_why: str
    segment_topic: str
    groups: list[GroupView]
    events: list[EventView]
    interventions: list[InterventionView]


# ----------------------------------------------------------------- plain Python: gathering and formatting


def show_value(value: Any) -> str:
    """An attribute value for people: lists comma-separated, dicts as `k: v` pairs, empty as a dash."""
    if value is None or (isinstance(value, str | list | tuple | set | dict) and not value):
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {show_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return ", ".join(show_value(v) for v in value)
    return str(value)


def _path(url: Any) -> str:
    try:
        return urlsplit(str(url)).path or "/"
    except ValueError:
        return ""


def _pairs(data: Mapping[str, Any], keys: tuple[str, ...] | None = None) -> str:
    names = keys if keys is not None else tuple(data)
    return " · ".join(f"{k}: {show_value(data[k])}" for k in names if data.get(k) not in (None, ""))


def _good_view(event: CanonicalEvent) -> tuple[float, EventView]:
    atomic = event.atomic
    name = str(atomic.get("event_name") or "event")
    if event.event_data:
        details = _pairs(event.event_data, KEY_FIELDS.get(name))
    else:
        details = str(atomic.get("page_title") or "")
    page = str(atomic.get("page_urlpath") or "")
    return event.timestamp, EventView(event.event_id, "good", iso_seconds(event.timestamp), name, page, details)


def _bad_view(row: BadEventRow) -> tuple[float, EventView]:
    received = as_utc(row.received_at)
    try:
        payload = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        payload = None
    payload = payload if isinstance(payload, dict) else {}
    kind = TRACKER_EVENT_TYPES.get(str(payload.get("e")), "")
    name = f"bad {kind}" if kind else "bad event"
    page = _path(payload["url"]) if payload.get("url") else ""
    at = received.timestamp()
    return at, EventView(f"bad-{row.id}", "bad", iso_seconds(at), name, page, row.reason)


def _intervention_view(fired: FiredIntervention) -> InterventionView:
    return InterventionView(fired.name, iso_seconds(fired.fired_at), show_value(fired.attributes))


def inspect_reader(
    views: ReaderViews,
    domain_userid: str,
    session_cookie: str,
    days_since_last_visit: float | None = None,
    user_id: str | None = None,
    limit: int = EVENT_LIMIT,
) -> ReaderSnapshot:
    """What the newsroom knows about one reader (blocking: it reads the event log; run it in a thread).

    Attribute groups keyed by `domain_userid` use the reader's id; those keyed by
    `domain_sessionid`, the current session of the `dc_session` cookie; those keyed by
    `user_id` (the e-mail digests'), the signed-in account, when there is one.
    """
    if not is_domain_userid(domain_userid):
        raise ValueError(f"domain_userid: must be a UUID, got {domain_userid!r}")
    session = ReaderSession.from_cookie(session_cookie)
    ids = {"domain_userid": domain_userid}
    if session is not None:
        ids["domain_sessionid"] = session.session_id
    if user_id:
        ids["user_id"] = user_id
    groups: list[GroupView] = []
    reader_attributes: dict[str, Any] = {}
    for definition, values, computed_at in views.reader_groups(ids):
        if definition.name == READER_GROUP:
            reader_attributes = values
        groups.append(
            GroupView(
                name=definition.name,
                version=str(definition.version or 1),
                key=definition.attribute_key.name or "",
                description=definition.description or "",
                kind="batch" if definition.offline else "streaming",
                computed_at=iso_seconds(computed_at) if computed_at is not None else "",
                attributes=[AttributeView(name, show_value(value)) for name, value in values.items()],
            )
        )
    match = segment_for(
        ReaderProfile.from_attributes(reader_attributes, views.corpus.categories),
        SessionFacts(session.index if session is not None else 1, days_since_last_visit),
    )

    timed = [_good_view(e) for e in views.reader_events(domain_userid, limit)]  # those just applied included
    timed += [_bad_view(row) for row in views.reader_bad_events(domain_userid, limit)]
    timed.sort(key=lambda pair: pair[0], reverse=True)
    return ReaderSnapshot(
        domain_userid=domain_userid,
        session_id=session.session_id if session is not None else "",
        visit=str(session.index) if session is not None else "",
        segment_label=match.label,
        segment_why=match.why,
        segment_topic=section_label(match.topic) if match.topic else "",
        groups=groups,
        events=[view for _, view in timed[:limit]],
        interventions=[_intervention_view(f) for f in reversed(views.reader_interventions(domain_userid))],
    )


# ----------------------------------------------------------------- the state


class InspectorState(rx.State):
    """This tab's view of its own reader's data; a background task keeps it live while the page is open."""

    loaded: bool = False
    live: bool = False
    domain_userid: str = ""
    session_id: str = ""
    visit: str = ""
    segment_label: str = ""
    segment_why: str = ""
    segment_topic: str = ""
    groups: list[GroupView] = []
    events: list[EventView] = []
    interventions: list[InterventionView] = []
    updated_at: str = ""
    _generation: str = ""  # the on_load that started the running task; a newer one retires it

    def _show(self, snapshot: ReaderSnapshot) -> None:
        self.domain_userid, self.session_id, self.visit = snapshot.domain_userid, snapshot.session_id, snapshot.visit
        self.segment_label, self.segment_why = snapshot.segment_label, snapshot.segment_why
        self.segment_topic = snapshot.segment_topic
        self.groups, self.events, self.interventions = snapshot.groups, snapshot.events, snapshot.interventions
        self.updated_at = iso_seconds(time.time())
        self.loaded = True

    def _on_inspector(self) -> bool:
        return (self.router.url.path or "").rstrip("/") == routes.INSPECTOR

    @rx.event
    async def open(self):
        """on_load (after `ReaderState.visit`): show this reader's data now, then keep it live."""
        reader = await self.get_state(ReaderState)
        self._generation = uuid.uuid4().hex
        who = _who(reader)
        if who[0]:
            snapshot = await asyncio.to_thread(inspect_reader, get_newsroom().views, *who)
            self._show(snapshot)
        # else: a tab's first visit is tracked after a round trip to the browser; the task waits for the id.
        return InspectorState.watch(self._generation)

    @rx.event(background=True)
    async def watch(self, generation: str):
        """Refresh whenever this reader's events arrive (from any tab), while this tab shows the inspector.

        Stops when a newer on_load of this tab started another task, when the tab shows
        another page, or after `IDLE_SECONDS` without news. Always shows the reader of the
        tab's own cookie: if that changes, it follows.
        """
        views = get_newsroom().views
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        watching = ""
        unwatch: Callable[[], None] | None = None
        last_news = loop.time()
        try:
            while loop.time() - last_news < IDLE_SECONDS:
                async with self:
                    if generation != self._generation or not self._on_inspector():
                        return
                    reader = await self.get_state(ReaderState)
                    who = _who(reader)
                    if not self.live:
                        self.live = True
                if who[0] != watching:
                    if unwatch is not None:
                        unwatch()
                        unwatch, watching = None, ""
                    if is_domain_userid(who[0]):
                        watching = who[0]
                        unwatch = views.watch_reader(watching, lambda: loop.call_soon_threadsafe(changed.set))
                        changed.set()  # show this reader at once
                if not watching and loop.time() - last_news > FIRST_ID_WAIT_SECONDS:
                    return  # the tab's first visit was never tracked
                if changed.is_set() and watching:
                    await asyncio.sleep(SETTLE_SECONDS)
                    changed.clear()
                    snapshot = await asyncio.to_thread(inspect_reader, views, *who)
                    async with self:
                        if generation != self._generation:
                            return
                        self._show(snapshot)
                    last_news = loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), CHECK_SECONDS if watching else FIRST_ID_SECONDS)
        finally:
            if unwatch is not None:
                unwatch()
            with contextlib.suppress(Exception):  # the app may be shutting down
                async with self:
                    if generation == self._generation:
                        self.live = False


def _who(reader: ReaderState) -> tuple[str, str, float | None, str | None]:
    """(domain_userid, session cookie, days since the previous visit, signed-in user_id) of the tab's reader.

    The id only when this server signed it: an event sent straight to this state,
    before `visit` has replaced an edited cookie, must not show another reader.
    """
    signed = is_signed_domain_userid(reader.domain_userid, reader.duid_signature, get_newsroom().cookie_secret)
    return (reader.domain_userid if signed else ""), reader.session, reader._days_away, reader._user_id or None
