"""kill -9 mid-ingest: every acknowledged event survives, and the state equals a full replay (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson, Subject, Tracker

from media_demo.definitions import ARTICLE_SCHEMA, READER_GROUP
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import Settings
from media_demo.signals.engine.attribute_engine import AttributeEngine
from tests.integration.conftest import free_port

SERVER = (
    "import uvicorn; from media_demo.api import build_api; from media_demo.newsroom import get_newsroom; "
    "uvicorn.run(build_api(get_newsroom), host='127.0.0.1', port={port}, log_level='warning')"
)
TP2 = "/com.snowplowanalytics.snowplow/tp2"
ENVELOPE = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"


class Collecting:
    """A tracker emitter that keeps payloads, to send them ourselves in batches."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []

    def input(self, payload: dict) -> None:
        self.payloads.append({k: str(v) for k, v in payload.items()})

    def flush(self) -> None: ...


def payloads(count: int) -> list[dict]:
    emitter = Collecting()
    tracker = Tracker(namespace="kill9", emitters=emitter, app_id="kill9")
    articles = get_corpus().articles
    for i in range(count):
        subject = (
            Subject()
            .set_domain_user_id(f"00000000-0000-4000-8000-{i % 20:012d}")
            .set_domain_session_id("11111111-1111-4111-8111-111111111111")
        )
        article = articles[i % len(articles)]
        if i % 2:
            data = {"slug": article.slug, "title": article.title, "category": article.category}
            event = SelfDescribing(SelfDescribingJson(ARTICLE_SCHEMA, data), event_subject=subject)
        else:
            event = PageView(page_url=f"http://localhost/article/{article.slug}", event_subject=subject)
        tracker.track(event)
    return emitter.payloads


def wait_for_health(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited"
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not start")


@pytest.mark.each_database
def test_kill_9_loses_no_acknowledged_event(database_url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CHECKPOINT_INTERVAL_SECONDS": "0.2", "SIGNALS_API_TOKEN": "t"}
    process = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)], env=env)
    url = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    try:
        wait_for_health(url, process)
        all_payloads = payloads(3000)
        batches = [all_payloads[i : i + 10] for i in range(0, len(all_payloads), 10)]

        def send() -> None:
            with httpx.Client(timeout=5) as client:
                for batch in batches:
                    try:
                        response = client.post(f"{url}{TP2}", json={"schema": ENVELOPE, "data": batch})
                    except httpx.HTTPError:
                        return  # the server died mid-request: that batch was never acknowledged
                    if response.status_code != 200:
                        return
                    acknowledged.extend(p["eid"] for p in batch)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-ingest: the sender is still posting
        process.wait(timeout=10)
        sender.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert 1000 <= len(acknowledged) < len(all_payloads), "the kill did not land mid-ingest"

    room = Newsroom(Settings(database_url=database_url), get_corpus(), get_index())
    try:
        logged = {event.event_id for event in room.log.events()}
        assert set(acknowledged) <= logged
        assert room.replayed < len(logged), "the restart did not start from a checkpoint"
        scratch = AttributeEngine(room.memory.engine.groups)
        for event in room.log.events():
            scratch.ingest(event)
        for reader in {p["duid"] for p in all_payloads}:
            assert room.views.attributes(reader) == scratch.get_attributes(READER_GROUP, reader)
    finally:
        room.close()
