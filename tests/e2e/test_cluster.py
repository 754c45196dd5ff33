"""`make cluster` as the README runs it, read in headless Chromium: the engine service, three UI workers
sharing tab states through Redis, PostgreSQL underneath (private servers, started here).

The cluster runs from a copy of this checkout (its production frontend is built there, away from the app
the other browser tests share). The reading, consent, two-device and intervention journeys run against
it with full page loads, so a reader's pages open websockets that land on any of the workers; then the
faults: a worker killed under a reader's tab, and the engine killed (kill -9) and started again by the
cluster, with no acknowledged event lost.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from playwright.sync_api import Browser, Page, expect

from media_demo.definitions import ARTICLE_EVENT
from media_demo.newsroom import get_corpus
from media_demo.services.reader_views import ENGINE_DOWN
from tests.e2e.conftest import PROJECT_ROOT, TIMEOUT_MS, ConsoleErrors, accept_all, cookie, missing_tool
from tests.e2e.test_accounts import sign_in
from tests.e2e.test_hosted_export import NOT_COPIED, clean_env, stop_group, tail
from tests.e2e.test_privacy import sign_up
from tests.integration.conftest import free_port
from tests.servers import PostgresServer, RedisServer, postgres_bin, start_postgres, start_redis

WORKERS = 3
TOKEN = "cluster-test-" + uuid.uuid4().hex
START_SECONDS = 600  # the production frontend is built on start (npm from its cache)


@dataclass
class Cluster:
    """The running `make cluster`, its addresses, and its processes found by what they run."""

    process: subprocess.Popen[bytes]
    frontend_url: str
    backend_url: str
    engine_url: str
    log: Path

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def engine_processes(self) -> list[psutil.Process]:
        """The engine service: its granian supervisor and worker."""
        found = []
        for child in self._descendants():
            try:
                if "media_demo.engine_service" in " ".join(child.cmdline()) or any(
                    "media_demo.engine_service" in " ".join(p.cmdline()) for p in child.parents()
                ):
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    def ui_workers(self) -> list[psutil.Process]:
        """The Reflex backend's granian workers (the children of granian serving `media_demo.media_demo:app`)."""
        for child in self._descendants():
            try:
                if "media_demo.media_demo:app" in child.cmdline():
                    return [w for w in child.children() if w.is_running()]
            except psutil.NoSuchProcess:
                continue
        return []

    def worker_serving(self, local_ports: set[int]) -> set[int]:
        """The pids of the UI workers holding a connection from one of these browser ports."""
        backend_port = int(self.backend_url.rsplit(":", 1)[1])
        pids = set()
        for worker in self.ui_workers():
            try:
                for connection in worker.net_connections(kind="tcp"):
                    if (
                        connection.laddr.port == backend_port
                        and connection.raddr
                        and connection.raddr.port in local_ports
                    ):
                        pids.add(worker.pid)
            except psutil.NoSuchProcess:
                continue
        return pids

    def reader_events(self, domain_userid: str) -> list[dict]:
        answer = httpx.get(
            f"{self.engine_url}/api/engine/readers/{domain_userid}/events",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        answer.raise_for_status()
        return list(answer.json()["events"])


def _wait_up(url: str, cluster: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while True:
        if cluster.poll() is not None:
            raise RuntimeError(f"make cluster exited ({cluster.returncode}):\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer:\n{tail(log)}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PostgresServer, RedisServer]]:
    if postgres_bin() is None or shutil.which("redis-server") is None:
        missing_tool("make cluster needs PostgreSQL and redis-server (apt-get install postgresql redis-server)")
    postgres = start_postgres()
    try:
        redis = start_redis()
        try:
            yield postgres, redis
        finally:
            redis.stop()
    finally:
        postgres.stop()


@pytest.fixture(scope="module")
def cluster(browser: Browser, servers: tuple[PostgresServer, RedisServer]) -> Iterator[Cluster]:
    """`make cluster` with WORKERS=3 in a copy of the project, on private PostgreSQL and Redis."""
    postgres, redis = servers
    scratch = Path(tempfile.mkdtemp(prefix="cluster_"))
    project = scratch / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=NOT_COPIED)
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    ports = {name: free_port() for name in ("ENGINE_PORT", "BACKEND_PORT", "FRONTEND_PORT")}
    log = scratch / "cluster.log"
    with postgres.database() as database_url, log.open("wb") as out:
        env = clean_env(
            DATABASE_URL=database_url,
            REFLEX_REDIS_URL=redis.url,
            WORKERS=str(WORKERS),
            BACKEND_HOST="127.0.0.1",
            REFLEX_API_URL=f"http://127.0.0.1:{ports['BACKEND_PORT']}",
            SIGNALS_API_TOKEN=TOKEN,
            MEDIA_DEMO_DB=str(scratch / "data" / "media_demo.db"),  # the cookie secret's folder
            EXPERIMENTS_DIR=str(scratch / "no-experiments"),
            npm_config_prefer_offline="true",
            **{name: str(port) for name, port in ports.items()},
        )
        process = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "cluster"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            found = Cluster(
                process,
                f"http://127.0.0.1:{ports['FRONTEND_PORT']}",
                f"http://127.0.0.1:{ports['BACKEND_PORT']}",
                f"http://127.0.0.1:{ports['ENGINE_PORT']}",
                log,
            )
            deadline = time.monotonic() + START_SECONDS
            _wait_up(f"{found.engine_url}/api/health", process, log, deadline)
            _wait_up(f"{found.backend_url}/api/health", process, log, deadline)
            _wait_up(f"{found.frontend_url}/", process, log, deadline)
            assert len(found.ui_workers()) == WORKERS, tail(log)
            yield found
        finally:
            stop_group(process, timeout=60)
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def reader(browser: Browser, cluster: Cluster) -> Iterator[tuple[Page, ConsoleErrors]]:
    """A new browser (no cookies) on the cluster's frontend."""
    context = browser.new_context(base_url=cluster.frontend_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors = ConsoleErrors()
    tab.on("console", errors.record)
    tab.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield tab, errors
    context.close()


TRACKED = "() => !!window.__dcTrackedView"  # the page marks itself once the server has tracked its view


def read(tab: Page, slug: str) -> None:
    """Open a story with a full page load (a new websocket: any worker may take it); wait until it is tracked."""
    tab.goto(f"/article/{slug}")
    expect(tab.get_by_test_id("article")).to_be_visible()
    tab.wait_for_function(TRACKED)


def home(tab: Page) -> None:
    tab.goto("/")
    expect(tab.get_by_test_id("latest")).to_be_visible()
    tab.wait_for_function(TRACKED)


def browser_ports(tab: Page) -> set[int]:
    """The local ports of this browser's open connections to the backend (its websocket among them)."""
    ports = set()
    for process in psutil.process_iter(["name"]):
        if "chrom" not in (process.info["name"] or ""):
            continue
        try:
            ports |= {c.laddr.port for c in process.net_connections(kind="tcp") if c.raddr}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return ports


def section_slugs(section: str, count: int) -> list[str]:
    return [a.slug for a in get_corpus().in_category(section)[:count]]


def test_reading_journey_across_workers(cluster: Cluster, reader: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = reader
    home(tab)
    accept_all(tab)
    served_by: set[int] = set()
    slugs = section_slugs("sport", 3)
    for slug in slugs:
        read(tab, slug)
        served_by |= cluster.worker_serving(browser_ports(tab))
    home(tab)
    panel = tab.get_by_test_id("recommendations")
    expect(panel).to_contain_text("More in Sport")
    expect(panel).to_contain_text(f"Because you read “{get_corpus().get(slugs[-1]).title}”")
    shown = tab.get_by_test_id("recommendation").evaluate_all("els => els.map(e => e.dataset.slug)")
    assert shown and not set(shown) & set(slugs)
    expect(tab.get_by_test_id("trending")).to_contain_text(get_corpus().get(slugs[0]).title)
    duid = cookie(tab, "dc_duid")
    assert duid
    names = [e["atomic"].get("event_name") for e in cluster.reader_events(duid)]
    assert names.count(ARTICLE_EVENT) == len(slugs), names
    assert served_by, "no UI worker was seen holding the reader's connection"
    print(f"the reader's pages were served by {len(served_by)} of {WORKERS} workers: {sorted(served_by)}")
    assert errors == []


def test_consent_journey(cluster: Cluster, reader: tuple[Page, ConsoleErrors]) -> None:
    tab, errors = reader
    home(tab)
    banner = tab.get_by_test_id("consent-banner")
    banner.get_by_test_id("consent-reject-all").click()
    expect(banner).to_have_count(0)
    for slug in section_slugs("health", 2):
        read(tab, slug)
    home(tab)
    expect(tab.get_by_test_id("recommendations")).not_to_contain_text("More in Health")
    expect(tab.get_by_test_id("consent-banner")).to_have_count(0)  # the choice is the engine's, on any worker
    duid = cookie(tab, "dc_duid")
    assert duid
    answer = httpx.get(
        f"{cluster.engine_url}/api/engine/readers/{duid}/consent", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.json()["consent"]["event_type"] == "deny_all"
    assert errors == []


def test_two_devices_share_one_history(cluster: Cluster, browser: Browser) -> None:
    tabs = []
    for _ in range(2):
        context = browser.new_context(base_url=cluster.frontend_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        tab = context.new_page()
        home(tab)
        accept_all(tab)
        tabs.append(tab)
    laptop, phone = tabs
    try:
        email, password = f"reader-{uuid.uuid4().hex[:12]}@example.org", "a long enough secret"
        sign_up(laptop, "Ada", email, password)
        slugs = section_slugs("business", 3)
        for slug in slugs[:2]:
            read(laptop, slug)
        phone.goto("/account")
        sign_in(phone, email, password)
        phone.wait_for_url(re.compile(r"/$"))
        expect(phone.get_by_test_id("masthead-account")).to_have_text("Ada")
        read(phone, slugs[2])
        for tab in (laptop, phone):
            home(tab)
            panel = tab.get_by_test_id("recommendations")
            expect(panel).to_contain_text(f"Because you read “{get_corpus().get(slugs[2]).title}”")
            shown = tab.get_by_test_id("recommendation").evaluate_all("els => els.map(e => e.dataset.slug)")
            assert shown and not set(shown) & set(slugs), shown
    finally:
        for tab in tabs:
            tab.context.close()


def test_an_intervention_reaches_the_tab_on_whichever_worker_holds_it(
    cluster: Cluster, reader: tuple[Page, ConsoleErrors]
) -> None:
    tab, errors = reader
    home(tab)
    accept_all(tab)
    slugs = section_slugs("culture", 3)
    for slug in slugs[:2]:
        read(tab, slug)
    read(tab, slugs[2])  # the third story of the section in this visit fires the briefing offer, live
    offer = tab.get_by_test_id("intervention")
    expect(offer).to_be_visible(timeout=15_000)
    expect(offer).to_have_attribute("data-name", "topic_newsletter")
    expect(offer).to_contain_text("The Culture briefing")
    assert errors == []


def test_a_killed_worker_loses_nothing_and_the_tab_carries_on(
    cluster: Cluster, reader: tuple[Page, ConsoleErrors]
) -> None:
    tab, _errors = reader
    home(tab)
    accept_all(tab)
    slugs = section_slugs("science", 3)
    read(tab, slugs[0])
    duid = cookie(tab, "dc_duid")
    assert duid
    before = len(cluster.reader_events(duid))
    serving = cluster.worker_serving(browser_ports(tab))
    assert serving, "no UI worker holds the reader's websocket"
    for victim in serving:
        os.kill(victim, signal.SIGKILL)
    # The same tab, no reload: it reconnects to a live worker and goes on reading.
    expect(tab.get_by_test_id("article")).to_be_visible()
    tab.get_by_test_id("nav-link").filter(has_text="Science").click()
    tab.wait_for_url("**/category/science")
    card = tab.locator(f"[data-testid=article-card][data-slug='{slugs[1]}'] .card-title-link").first
    card.click()
    tab.wait_for_url(f"**/article/{slugs[1]}")
    expect(tab.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()
    now_serving = cluster.worker_serving(browser_ports(tab))
    assert now_serving and not now_serving & serving

    def tracked_reads() -> list[str]:
        events = cluster.reader_events(duid)
        assert len(events) > before  # every event acknowledged before the kill is there, and the new ones
        return [
            e["atomic"].get("page_url", "").rsplit("/", 1)[-1]
            for e in events
            if e["atomic"].get("event_name") == ARTICLE_EVENT
        ]

    # At least once, not exactly once: a tab state the killed worker had not yet written to Redis is lost with
    # it, and the reconnected tab may track the story on screen a second time. Nothing acknowledged is lost.
    # The new story's event may still be on its way: a worker keeps a payload the engine did not take in time
    # (a 2 s timeout on a loaded machine) and sends it again (seen once in CI: the page marked, the log not yet).
    deadline = time.monotonic() + 30
    while set(read_slugs := tracked_reads()) != {slugs[0], slugs[1]} and time.monotonic() < deadline:
        time.sleep(0.5)
    assert set(read_slugs) == {slugs[0], slugs[1]}, read_slugs
    deadline = time.monotonic() + 60  # granian starts a new worker in its place
    while len(cluster.ui_workers()) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(cluster.ui_workers()) == WORKERS


def test_a_killed_engine_degrades_the_pages_then_they_recover(
    cluster: Cluster, reader: tuple[Page, ConsoleErrors]
) -> None:
    tab, _errors = reader
    home(tab)
    accept_all(tab)
    slugs = section_slugs("technology", 2)
    for slug in slugs:
        read(tab, slug)
    duid = cookie(tab, "dc_duid")
    assert duid
    acknowledged = len(cluster.reader_events(duid))
    for process in cluster.engine_processes():
        process.kill()  # kill -9: no final checkpoint, no last commit
    home(tab)
    expect(tab.get_by_test_id("engine-note")).to_contain_text(ENGINE_DOWN, ignore_case=True)
    expect(tab.get_by_test_id("recommendation").first).to_be_visible()  # the most-read stories, still
    expect(tab.get_by_test_id("consent-banner")).to_have_count(0)  # nobody is asked again meanwhile
    # The cluster starts the engine again; it replays its log and the pages are themselves again.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{cluster.engine_url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    home(tab)
    expect(tab.get_by_test_id("recommendations")).to_contain_text("More in Technology")
    expect(tab.get_by_test_id("engine-note")).to_have_count(0)
    # Nothing lost, and the new page views: the one tracked while the engine was away waits in the worker's
    # queue, the one after it behind it, until the retrier's next try (its back-off grows while the engine is down).
    deadline = time.monotonic() + 30
    while len(cluster.reader_events(duid)) < acknowledged + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(cluster.reader_events(duid)) >= acknowledged + 2
    assert "starting it again" in tail(cluster.log, 20_000)
