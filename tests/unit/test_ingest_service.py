"""Ingest on its own: a Memory, an event log and a tracker, no newsroom."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from media_demo.definitions import READER_GROUP, app_groups
from media_demo.newsroom import get_corpus
from media_demo.services.ingest import Ingest
from media_demo.services.memory import Memory
from media_demo.settings import DATA_DIR
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.interventions import InterventionBus
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.signals.storage.checkpoints import Checkpoints
from media_demo.signals.storage.event_log import EventLog
from media_demo.tracking import InProcessEmitter, NewsroomTracker, Page, Reader, new_domain_userid, touch_session

APP_ID = "daily-current"
HOME = Page(url="http://localhost:3000/", title="Home")
POLICY = "http://localhost:3000/privacy"


@dataclass
class Parts:
    memory: Memory
    log: EventLog
    ingest: Ingest
    tracker: NewsroomTracker

    def reader(self, consent: bool = True) -> Reader:
        reader = Reader(new_domain_userid(), touch_session(None, time.time()))
        if consent:
            self.tracker.consent(reader, HOME, {BEHAVIOURAL, CONTEXTUAL}, POLICY)
        return reader

    def page_views(self, reader: Reader) -> int:
        return self.memory.engine.get_attributes(READER_GROUP, reader.domain_userid)["page_view_count"]


def build(path: Path) -> Parts:
    memory = Memory(app_groups(get_corpus().categories), {}, APP_ID)
    log = EventLog(f"sqlite:///{path}", flush_interval=0.01)
    schemas = SchemaRegistry.from_folder(DATA_DIR / "schemas")
    ingest = Ingest(memory, log, schemas, Checkpoints(log.engine), InterventionBus(), checkpoint_interval=60)
    return Parts(memory, log, ingest, NewsroomTracker(InProcessEmitter(ingest.collect), app_id=APP_ID))


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    built = build(tmp_path / "events.db")
    built.ingest.restore()
    yield built
    built.ingest.close()
    built.log.close()


def test_collect_applies_a_consented_readers_event_and_logs_it(parts: Parts) -> None:
    reader = parts.reader()
    parts.tracker.page_view(reader, HOME)
    parts.log.flush()
    assert parts.page_views(reader) == 1
    assert parts.log.counts() == {"good": 2, "bad": 0}  # the consent event and the page view


def test_without_consent_the_event_is_kept_anonymised(parts: Parts) -> None:
    reader = parts.reader(consent=False)
    parts.tracker.page_view(reader, HOME)
    parts.log.flush()
    assert parts.page_views(reader) == 0
    (kept,) = parts.log.recent_events(1)
    assert "domain_userid" not in kept.atomic


def test_listeners_hear_live_events_and_the_withdrawal_handler_the_withdrawals(parts: Parts) -> None:
    heard: list[CanonicalEvent] = []
    withdrawn: list[tuple[str, bool]] = []
    unsubscribe = parts.ingest.on_event(heard.append)
    parts.ingest.on_withdrawal(lambda reader, replaying: withdrawn.append((reader, replaying)))
    reader = parts.reader()
    parts.tracker.page_view(reader, HOME)
    parts.tracker.withdraw(reader, HOME, POLICY)
    unsubscribe()
    parts.tracker.page_view(reader, HOME)
    assert [e.atomic["event_name"] for e in heard] == ["consent_preferences", "page_view", "consent_preferences"]
    assert withdrawn == [(reader.domain_userid, False)]


def test_a_checkpoint_and_the_logs_tail_restore_the_same_state(tmp_path: Path) -> None:
    first = build(tmp_path / "events.db")
    first.ingest.restore()
    reader = first.reader()
    first.tracker.page_view(reader, HOME)
    first.ingest.checkpoint()
    first.tracker.page_view(reader, HOME)
    first.ingest.stop()  # a crash: the second view is only in the log
    first.log.close()

    second = build(tmp_path / "events.db")
    try:
        assert second.ingest.restore() == 1
        assert second.page_views(reader) == 2
    finally:
        second.ingest.close()
        second.log.close()


def test_forget_drops_an_entitys_state_and_its_checkpointed_rows(parts: Parts) -> None:
    reader = parts.reader()
    parts.tracker.page_view(reader, HOME)
    parts.ingest.checkpoint()
    assert parts.ingest.forget({reader.domain_userid}, {reader.domain_userid}, parts.ingest.last_seq) >= 1
    assert parts.page_views(reader) == 0
    assert parts.ingest.checkpoints.forget([reader.domain_userid]) == 0  # already gone


def test_reset_forgets_every_event(parts: Parts) -> None:
    reader = parts.reader()
    parts.tracker.page_view(reader, HOME)
    engine = parts.memory.engine
    parts.ingest.reset()
    assert parts.memory.engine is not engine and parts.memory.engine.groups == engine.groups
    assert parts.page_views(reader) == 0 and parts.log.counts() == {"good": 0, "bad": 0}
