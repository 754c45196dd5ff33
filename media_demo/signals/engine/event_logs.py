"""Event logs (the SDK's `EventLog`, read back as "agentic context"): a session's recent matching events.

An event log selects events by schema and projects a few properties of each; reading it
for a `domain_sessionid` gives that session's newest matching events, oldest first, as JSON
entries or as a plain-text narrative for an LLM prompt.

`SessionBuffers` keeps, per session and published event log, the last `max_events` projected
entries, fed event by event. It is bounded whatever the traffic: at most `max_sessions`
sessions and `max_entries` entries in all (the least recently active sessions go first), and a
session whose newest event is older than `HORIZON` (the longest `max_age_seconds` the model
allows) is dropped. Where the model is silent, this module decides:

- the window: an entry is returned while `now - its timestamp <= max_age_seconds`, the timestamp
  being the event's derived timestamp; of those, the newest `max_events`, oldest first;
- an entry is `{"event_name": ..., "tstamp": <ISO 8601 UTC, ms>, <output key>: value, ...}`;
  a property's output key is its `output_name`, else the atomic name, else the last named step
  of its path; `tstamp` is reserved, and `event_name` too unless it is the atomic field itself;
- `started_at_ms` is the oldest returned entry's time, or the window's start when there is none;
- events match a selection by vendor and name (either may be left out), and by `version`
  exactly or `major_version` as the version's first number; `event_specification_id` is refused
  (this engine has no tracking plans to resolve it against).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from snowplow_signals import (
    AtomicProperty,
    EntityProperty,
    EventLog,
    EventLogAtomicProperty,
    EventLogEntityProperty,
    EventLogEventProperty,
    EventProperty,
)

from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.properties import Getter, compile_property, parse_path

ATTRIBUTE_KEY = "domain_sessionid"  # the only key v1 event logs may use (the SDK's documented limit)
MAX_SELECTIONS = 20
MAX_PROPERTIES = 50
HORIZON = 3600.0  # seconds: the model's largest `max_age_seconds`; older events are never read
EVENT_NAME, TSTAMP = "event_name", "tstamp"
DEFAULT_MAX_SESSIONS = 5_000
DEFAULT_MAX_ENTRIES = 100_000

Entry = dict[str, Any]


class InvalidEventLogError(ValueError):
    """An event log this engine cannot serve; `field` names the offending part (e.g. `events.0.event`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def output_key(prop: EventLogAtomicProperty | EventLogEventProperty | EventLogEntityProperty) -> str:
    """The key a property's value is written under in an entry."""
    if prop.output_name:
        return prop.output_name
    if isinstance(prop, EventLogAtomicProperty):
        return prop.name
    named = [step for step in parse_path(prop.path) if isinstance(step, str)]
    return named[-1] if named else prop.name


def _getter(prop: EventLogAtomicProperty | EventLogEventProperty | EventLogEntityProperty) -> Getter:
    """The streaming engine's own getter for the same property, so both read values alike."""
    if isinstance(prop, EventLogAtomicProperty):
        # model_construct: the event-log list of atomic names is not the attribute list's.
        return compile_property(AtomicProperty.model_construct(name=prop.name, type="atomic"))
    if isinstance(prop, EventLogEventProperty):
        return compile_property(
            EventProperty(vendor=prop.vendor, name=prop.name, major_version=prop.major_version, path=prop.path)
        )
    return compile_property(
        EntityProperty(
            vendor=prop.vendor, name=prop.name, major_version=prop.major_version, path=prop.path, index=prop.index
        )
    )


@dataclass(frozen=True, slots=True)
class _Selection:
    vendor: str | None
    name: str | None
    version: str | None
    major: str | None  # "2-": the version's prefix for a major-version pin
    projections: tuple[tuple[str, Getter], ...]

    def matches(self, event: CanonicalEvent) -> bool:
        atomic = event.atomic
        if self.name is not None and atomic.get("event_name") != self.name:
            return False
        if self.vendor is not None and atomic.get("event_vendor") != self.vendor:
            return False
        version = atomic.get("event_version")
        if self.version is not None and version != self.version:
            return False
        return self.major is None or (isinstance(version, str) and version.startswith(self.major))


@dataclass(frozen=True, slots=True)
class CompiledEventLog:
    """An event log ready to match and project events."""

    definition: EventLog
    selections: tuple[_Selection, ...]

    @property
    def name(self) -> str:
        """The log's name (unique in the registry)."""
        return self.definition.name

    @property
    def max_events(self) -> int:
        """Entries kept per session (the newest)."""
        return int(self.definition.max_events)

    @property
    def max_age_seconds(self) -> float:
        """How old an entry may be and still be read."""
        return float(self.definition.max_age_seconds)

    def entry(self, event: CanonicalEvent) -> Entry | None:
        """The event projected by the first selection it matches; None when none does."""
        for selection in self.selections:
            if selection.matches(event):
                entry: Entry = {EVENT_NAME: event.atomic.get("event_name"), TSTAMP: iso_millis(event.timestamp)}
                for key, get in selection.projections:
                    entry[key] = get(event)
                return entry
        return None


def iso_millis(timestamp: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (`2024-05-01T10:00:00.123Z`)."""
    moment = dt.datetime.fromtimestamp(round(timestamp, 3), dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_event_log(log: EventLog) -> None:
    """Refuse what the model accepts but this engine cannot serve as asked (`InvalidEventLogError`)."""
    if log.attribute_key.name != ATTRIBUTE_KEY:
        raise InvalidEventLogError(
            "attribute_key.name",
            f"must be {ATTRIBUTE_KEY!r} (v1 event logs are per session), got {log.attribute_key.name!r}",
        )
    if len(log.events) > MAX_SELECTIONS:
        raise InvalidEventLogError("events", f"at most {MAX_SELECTIONS} event selections, got {len(log.events)}")
    for i, selection in enumerate(log.events):
        where, event = f"events.{i}", selection.event
        if len(selection.properties) > MAX_PROPERTIES:
            raise InvalidEventLogError(
                f"{where}.properties", f"at most {MAX_PROPERTIES} properties, got {len(selection.properties)}"
            )
        if event.event_specification_id is not None:
            raise InvalidEventLogError(
                f"{where}.event.event_specification_id", "not supported here: select by vendor, name and version"
            )
        if event.name is None and event.vendor is None:
            raise InvalidEventLogError(f"{where}.event", "give the event's name (and vendor)")
        if event.version is not None and event.major_version is not None:
            raise InvalidEventLogError(f"{where}.event.major_version", "give version or major_version, not both")
        seen: dict[str, int] = {}
        for j, prop in enumerate(selection.properties):
            key = output_key(prop)
            place = f"{where}.properties.{j}.output_name"
            atomic_name = isinstance(prop, EventLogAtomicProperty) and prop.name == EVENT_NAME
            if key == TSTAMP or (key == EVENT_NAME and not atomic_name):
                raise InvalidEventLogError(place, f"{key!r} is reserved for the entry's own field; set another")
            if key in seen:
                raise InvalidEventLogError(
                    place, f"{key!r} is also the output of property {seen[key]}; set a unique output_name"
                )
            seen[key] = j


def compile_event_log(log: EventLog) -> CompiledEventLog:
    """Check `log` (`InvalidEventLogError`) and compile its selections."""
    check_event_log(log)
    selections = []
    for selection in log.events:
        event = selection.event
        projections = tuple((output_key(p), _getter(p)) for p in selection.properties)
        major = f"{event.major_version}-" if event.major_version is not None else None
        selections.append(_Selection(event.vendor, event.name, event.version, major, projections))
    return CompiledEventLog(log, tuple(selections))


@dataclass(slots=True)
class _Session:
    """One session's buffers, with who it belongs to (so deleting a reader finds it)."""

    reader: str | None
    user: str | None
    newest: float  # the newest buffered event's timestamp
    buffers: dict[str, deque[tuple[float, Entry]]] = field(default_factory=dict)

    def size(self) -> int:
        return sum(len(b) for b in self.buffers.values())


@dataclass(frozen=True, slots=True)
class Window:
    """What reading an event log for one session gives: the entries (oldest first) and where the window starts."""

    log: CompiledEventLog
    identifier: str
    entries: list[Entry]
    times: list[float]  # each entry's timestamp (epoch seconds)
    started_at_ms: int


class SessionBuffers:
    """Bounded per-session buffers of the published event logs' entries (thread-safe)."""

    def __init__(
        self,
        logs: Iterable[CompiledEventLog] = (),
        *,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, CompiledEventLog] = {log.name: log for log in logs}
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently fed first
        self._entries = 0
        self._forgotten: set[str] | None = None  # ids deleted while a replacement is being built
        self.max_sessions, self.max_entries = max_sessions, max_entries
        self.clock = clock or time.time

    @property
    def logs(self) -> dict[str, CompiledEventLog]:
        """The event logs buffered, by name."""
        return dict(self._logs)

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def entry_count(self) -> int:
        """Entries buffered over every session and log (bounded by `max_entries`)."""
        return self._entries

    def fresh(self, logs: Iterable[CompiledEventLog]) -> SessionBuffers:
        """An empty replacement for these logs (same bounds); ids forgotten from now on are noted for `adopt`."""
        with self._lock:
            self._forgotten = set()
        return SessionBuffers(logs, max_sessions=self.max_sessions, max_entries=self.max_entries, clock=self.clock)

    def abandon(self, _other: SessionBuffers) -> None:
        """A replacement from `fresh` will not be adopted (its rebuild failed): stop noting forgotten ids."""
        with self._lock:
            self._forgotten = None

    def adopt(self, other: SessionBuffers) -> None:
        """Take `other`'s logs and buffers (built by `fresh`), less the readers forgotten since."""
        with self._lock:
            forgotten, self._forgotten = self._forgotten or set(), None
            other.forget(forgotten)
            with other._lock:
                self._logs, self._sessions, self._entries = other._logs, other._sessions, other._entries

    def observe(self, event: CanonicalEvent) -> None:
        """Buffer the event in each log it matches (events without a session, e.g. anonymised ones, never are)."""
        session_id = event.atomic.get(ATTRIBUTE_KEY)
        if not session_id or not self._logs:
            return
        matched = [(log, entry) for log in self._logs.values() if (entry := log.entry(event)) is not None]
        if not matched or event.timestamp < self.clock() - HORIZON:
            return
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = _Session(None, None, event.timestamp)
            else:
                self._sessions.move_to_end(session_id)
            session.reader = event.atomic.get("domain_userid") or session.reader
            session.user = event.atomic.get("user_id") or session.user
            session.newest = max(session.newest, event.timestamp)
            for log, entry in matched:
                buffer = session.buffers.get(log.name)
                if buffer is None:
                    buffer = session.buffers[log.name] = deque(maxlen=log.max_events)
                self._entries += 1 - (len(buffer) == buffer.maxlen)
                buffer.append((event.timestamp, entry))
            self._evict()

    def _evict(self) -> None:
        """Drop expired sessions from the least recently fed end, then any over the bounds (lock held)."""
        horizon = self.clock() - HORIZON
        sessions = self._sessions
        while sessions:
            oldest_id, oldest = next(iter(sessions.items()))
            over = len(sessions) > self.max_sessions or self._entries > self.max_entries
            if not over and oldest.newest >= horizon:
                return
            del sessions[oldest_id]
            self._entries -= oldest.size()

    def forget(self, ids: Iterable[str]) -> int:
        """Drop every session that is, or belongs to, one of these ids (sessions, devices, users);
        returns how many went."""
        wanted = set(ids)
        if not wanted:
            return 0
        with self._lock:
            if self._forgotten is not None:
                self._forgotten |= wanted
            gone = [sid for sid, s in self._sessions.items() if sid in wanted or s.reader in wanted or s.user in wanted]
            for sid in gone:
                self._entries -= self._sessions.pop(sid).size()
            return len(gone)

    def clear(self) -> None:
        """Forget every buffered event (keeping the logs)."""
        with self._lock:
            self._sessions.clear()
            self._entries = 0

    def window(self, name: str, identifier: str) -> Window | None:
        """The session's newest entries of log `name` within its age window; None when `name` is not buffered."""
        now = self.clock()
        with self._lock:
            log = self._logs.get(name)
            if log is None:
                return None
            session = self._sessions.get(identifier)
            buffered = list(session.buffers.get(name, ())) if session is not None else []
        return make_window(log, identifier, buffered, now)


def make_window(log: CompiledEventLog, identifier: str, buffered: Sequence[tuple[float, Entry]], now: float) -> Window:
    """The newest `max_events` of `buffered` no older than `max_age_seconds` at `now`, oldest first."""
    cutoff = now - log.max_age_seconds
    recent = sorted((item for item in buffered if item[0] >= cutoff), key=lambda item: item[0])[-log.max_events :]
    start = recent[0][0] if recent else cutoff
    entries, times = [dict(entry) for _t, entry in recent], [t for t, _entry in recent]
    return Window(log, identifier, entries, times, round(start * 1000))


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def summary(window: Window) -> str:
    """One line: how many events, over how long, of which kinds (most frequent first, then by name)."""
    entries = window.entries
    if not entries:
        return f"No matching events in the last {_duration(window.log.max_age_seconds)}."
    counts = Counter(str(e[EVENT_NAME]) for e in entries)
    kinds = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    first, last = window.times[0], window.times[-1]
    noun = "event" if len(entries) == 1 else "events"
    return f"{len(entries)} {noun} over {_duration(last - first)}: {kinds}."


def _value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def response_document(window: Window) -> dict[str, Any]:
    """The window in the shape of the SDK's `AgenticContextResponse`."""
    definition = window.log.definition
    return {
        "name": definition.name,
        "version": definition.version,
        "attribute_key": ATTRIBUTE_KEY,
        "identifier": window.identifier,
        "prompt": definition.prompt,
        "started_at_ms": window.started_at_ms,
        "summary": summary(window),
        "events": window.entries,
    }


def narrative(window: Window) -> str:
    """The same events as an LLM-ready text block: a header, the prompt, then one line per event, oldest first.

    Properties whose value is missing (null) are left out of a line; the rest keep the log's order.
    """
    definition = window.log.definition
    lines = [f"Recent activity in session {window.identifier} (event log {definition.name} v{definition.version or 1})"]
    if definition.prompt:
        lines.append(f"Instructions: {definition.prompt.strip()}")
    lines.append(f"Summary: {summary(window)}")
    for i, entry in enumerate(window.entries, 1):
        details = [f"{k}={_value(v)}" for k, v in entry.items() if k not in (EVENT_NAME, TSTAMP) and v is not None]
        when = entry[TSTAMP].replace("T", " ").replace("Z", " UTC")
        lines.append(f"{i}. {when} {entry[EVENT_NAME]}" + (": " + ", ".join(details) if details else ""))
    return "\n".join(lines) + "\n"
