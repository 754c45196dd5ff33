"""The engine service (`make engine`) as a process of its own: no Reflex in it, real clients, SIGTERM loses nothing.

The service runs as `make engine` runs it (`python -m media_demo.engine_service`), under
`python -X importtime`, which writes every module the process imports, whenever it does, to
stderr: after real traffic and a shutdown, that record must hold the engine's own modules (so it
is the whole record) and no `reflex`. The official tracker sends events over HTTP and the official
Signals SDK publishes a group and reads it back; then a sender posts tracker payloads while the
service is stopped with SIGTERM, and after a restart every acknowledged event is in the log and
the attributes read through the SDK are what they were.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from snowplow_signals import SignalsSandbox
from snowplow_tracker import PageView, Subject, Tracker

from media_demo.tracking import new_domain_userid
from tests.integration.conftest import eventually, free_port
from tests.integration.test_signals_sdk import read_pages, reading_habits, tracker_for

TOKEN = "engine-service-" + uuid.uuid4().hex
TP2 = "/com.snowplowanalytics.snowplow/tp2"
ENVELOPE = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
START_SECONDS = 120.0


@contextmanager
def engine_service(folder: Path, name: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -X importtime -m media_demo.engine_service` on a free port; yields it and its URL, kills it if left.

    Its log goes to `<name>.log` in `folder`, the import record (stderr) to `<name>.importtime`.
    """
    stderr = folder / f"{name}.importtime"
    port = free_port()
    env = {
        **os.environ,
        "MEDIA_DEMO_DB": str(folder / "media_demo.db"),
        "SIGNALS_API_TOKEN": TOKEN,
        # No periodic checkpoint: a restart that replays nothing shows the SIGTERM's final one was written.
        "CHECKPOINT_INTERVAL_SECONDS": "3600",
        "FLUSH_INTERVAL_SECONDS": "0.01",
    }
    command = [sys.executable, "-X", "importtime", "-m", "media_demo.engine_service", "--port", str(port)]
    with stderr.open("wb") as err, (folder / f"{name}.log").open("wb") as out:
        # Its own session: granian's worker is a child, and must not outlive a failed test.
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, f"the engine service exited:\n{stderr.read_text()[-3000:]}"
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the engine service did not start"
            time.sleep(0.2)
        yield process, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the supervisor and its worker, whatever state they are in
        process.wait()


def imported_modules(importtime_log: str) -> set[str]:
    """Every module named in a `-X importtime` record (`import time: self | cumulative | name`)."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name)
    return names


def tracker_payloads(count: int, reader: str) -> list[dict[str, str]]:
    """Page views built by the real tracker, kept to be posted (and acknowledged) one batch at a time."""
    kept: list[dict[str, str]] = []

    class Keeping:
        def input(self, payload: dict[str, object]) -> None:
            kept.append({k: str(v) for k, v in payload.items()})

        def flush(self) -> None: ...

    tracker = Tracker(namespace="engine-service-test", emitters=Keeping(), app_id="engine-service-test")
    for i in range(count):
        page = PageView(page_url=f"http://localhost:3000/page-{i}", page_title=f"Page {i}")
        page.event_subject = Subject().set_domain_user_id(reader)
        tracker.track(page)
    return kept


def test_the_engine_runs_alone_serves_the_real_clients_and_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    reader, sender_reader = new_domain_userid(), new_domain_userid()
    expected = {"domain_userid": reader, "page_views": 3, "last_page_title": "Chip shortage"}
    acknowledged: list[str] = []
    payloads = tracker_payloads(4000, sender_reader)

    with engine_service(tmp_path, "first") as (process, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        sandbox.publish([reading_habits()])
        read_pages(tracker_for(url), reader, ["Budget day", "Cup final", "Chip shortage"])

        def attributes() -> None:
            assert (
                sandbox.get_group_attributes(
                    "reading_habits", 1, ["page_views", "last_page_title"], "domain_userid", reader
                )
                == expected
            )

        eventually(attributes)
        assert httpx.get(f"{url}/api/recommended-articles").status_code == 404  # the app's routes are not here
        assert httpx.get(f"{url}/nowhere").json() == {"error": "Not Found", "status": 404}

        def send() -> None:
            with httpx.Client(timeout=10) as client:
                for start in range(0, len(payloads), 5):
                    batch = payloads[start : start + 5]
                    try:
                        answer = client.post(f"{url}{TP2}", json={"schema": ENVELOPE, "data": batch})
                    except httpx.HTTPError:
                        return  # the server went away mid-request: that batch was never acknowledged
                    if answer.status_code != 200:
                        return
                    acknowledged.extend(p["eid"] for p in batch)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)  # mid-stream: the sender is still posting
        assert process.wait(timeout=60) == 0
        sender.join(timeout=60)
    assert 500 <= len(acknowledged) < len(payloads), "the SIGTERM did not land mid-stream"

    modules = imported_modules((tmp_path / "first.importtime").read_text(errors="replace"))
    assert {"media_demo.newsroom", "media_demo.engine_api", "granian"} <= modules  # the record is complete
    assert not {m for m in modules if m == "reflex" or m.startswith("reflex.")}

    with engine_service(tmp_path, "second") as (process, url):
        sandbox = SignalsSandbox(api_url=url, sandbox_token=TOKEN)
        attributes()  # as before the stop, at once: restored, not rebuilt by a later event
        auth = {"Authorization": f"Bearer {TOKEN}"}
        logged = {e["atomic"]["event_id"] for e in httpx.get(f"{url}/micro/good?limit=10000", headers=auth).json()}
        assert set(acknowledged) <= logged
        page_views = sandbox.get_group_attributes("reading_habits", 1, ["page_views"], "domain_userid", sender_reader)
        assert page_views["page_views"] >= len(acknowledged)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert "attribute engine open: 0 events replayed" in log, "the SIGTERM wrote no final checkpoint"


def test_the_engine_feed_stays_open_for_every_follower(tmp_path: Path) -> None:
    """Each UI worker follows `/api/engine/feed`: under granian, every stream must stay open once started
    (asking for a disconnect between notices used to end some streams at once), and carry what happens."""
    with engine_service(tmp_path, "feed") as (_process, url):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        timeout = httpx.Timeout(5.0, read=1.5)
        closed_early = 0
        for _ in range(12):
            with (
                httpx.Client(timeout=timeout) as client,
                client.stream("GET", f"{url}/api/engine/feed", headers=headers) as answer,
            ):
                assert answer.status_code == 200
                lines = answer.iter_lines()
                assert next(lines) == ": engine feed"
                try:
                    for _line in lines:
                        pass
                    closed_early += 1  # the server ended the stream: a follower would have to reconnect
                except httpx.ReadTimeout:
                    pass  # still open, as it should be: nothing happened to tell
        assert closed_early == 0
