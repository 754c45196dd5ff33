"""The README's "Hosting an export", followed as written, then read in headless Chromium.

`make export` runs in a copy of this checkout with `REFLEX_API_URL` set to the backend's address; the
unzipped frontend.zip is served by nginx and the backend runs from the unzipped backend.zip with its own
database, each on a free port. The browser may not reach anything on the default ports 3000 and 8000,
and every websocket it opens must go to the chosen backend port: the export works only as documented.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, WebSocketRoute, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from media_demo.newsroom import get_corpus
from media_demo.settings import Settings
from tests.e2e.conftest import PROJECT_ROOT, TIMEOUT_MS, accept_all, missing_tool
from tests.e2e.test_live_recommendations import PANEL_SETTLED, open_section, read_article_from_listing
from tests.integration.conftest import free_port, stop

SECTION = "Sport"
# What a developer's data/ holds after `make run`: none of it may reach backend.zip.
LOCAL_DATA = ("media_demo.db", "media_demo.db-wal", "media_demo.db-shm", "signals_token", "cookie_secret")
# Reflex's defaults: a frontend still built for them would talk to whatever listens there.
DEFAULT_PORTS = re.compile(r"^(https?|wss?)://[^/]+:(3000|8000)(/|$)")
REFLEX = str(Path(sys.executable).parent / "reflex")
LOOPBACK = ("--backend-host", "127.0.0.1")  # added to the README's command: the test listens on loopback only
CLEANUPS: list[threading.Thread] = []
SCREENSHOT = PROJECT_ROOT / "test-results" / "hosted-export-front-page.png"
# Not copied: version control, the venv, build output, caches, and this machine's own runtime data.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".web", ".states", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".hypothesis", "*.egg-info", "test-results", "frontend.zip", "backend.zip",
    "*.db", "*.db-*", "signals_token", "cookie_secret",
)  # fmt: skip


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        missing_tool("nginx not found (apt-get install nginx): the exported frontend is served by it")
    return found


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any Reflex or app setting (an AppHarness in this session sets some), plus `settings`."""
    app_settings = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFLEX_") and k not in app_settings}
    return {**env, **settings}


def stop_group(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server started in its own session, with every process it started (Reflex runs workers)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@dataclass
class Export:
    """What `make export` produced, in the copy of the project it ran in."""

    project: Path
    api_url: str

    @property
    def frontend_zip(self) -> Path:
        return self.project / "frontend.zip"

    @property
    def backend_zip(self) -> Path:
        return self.project / "backend.zip"


@dataclass
class Hosted:
    """The export running as the README says: nginx serving the frontend, the backend on its own port."""

    frontend_url: str
    api_url: str


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    """One folder for the session's copy, site and backend, removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="hosted_export_"))
    yield root
    for thread in CLEANUPS:
        thread.join()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def export(browser: Browser, scratch: Path) -> Export:
    """`make export` with the backend's address set as the README says (one to two minutes: npm install and build)."""
    nginx_binary()  # fail or skip before the long build
    project = scratch / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=NOT_COPIED)
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    for name in LOCAL_DATA:  # as a developer's checkout has them after `make run`
        (project / "data" / name).write_text(f"{name} of this machine: never shipped\n")
    api_url = f"http://127.0.0.1:{free_port()}"
    log = scratch / "export.log"
    with log.open("w") as out:
        # `-o .venv/.installed`: the copy's venv is this test's own (a symlink); `make` must not reinstall it,
        # which would point the editable install at this temporary copy.
        result = subprocess.run(
            ["make", "-o", ".venv/.installed", "export"],
            cwd=project,
            # prefer-offline: npm installs the lockfile's packages from its cache without asking the registry
            # about each one again (any earlier install, e.g. the app harness's, filled it); the build is the same.
            env=clean_env(REFLEX_API_URL=api_url, npm_config_prefer_offline="true"),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    assert result.returncode == 0, f"make export failed:\n{tail(log)}"
    # The copy's .web (200 MB of node_modules) is done with: remove it while the browser tests run.
    cleanup = threading.Thread(target=shutil.rmtree, args=(project / ".web",), kwargs={"ignore_errors": True})
    cleanup.start()
    CLEANUPS.append(cleanup)
    return Export(project, api_url)


@pytest.fixture(scope="session")
def hosted(export: Export, scratch: Path) -> Iterator[Hosted]:
    """nginx serving the unzipped frontend.zip; the backend started from the unzipped backend.zip."""
    site = scratch / "site"
    with zipfile.ZipFile(export.frontend_zip) as archive:
        archive.extractall(site)
    # Started as root, nginx's workers run as nobody: they must be able to read the site.
    for folder in (scratch, site):
        folder.chmod(0o755)
    port = free_port()
    conf = scratch / "nginx"
    conf.mkdir()
    (conf / "nginx.conf").write_text(nginx_conf(site, port, conf, export.api_url))
    with (conf / "output.log").open("w") as out:
        nginx = subprocess.Popen(
            [nginx_binary(), "-p", str(conf), "-c", str(conf / "nginx.conf"), "-e", str(conf / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    backend = None
    try:
        backend_dir = scratch / "backend"
        with zipfile.ZipFile(export.backend_zip) as archive:
            archive.extractall(backend_dir)
        backend_port = export.api_url.rsplit(":", 1)[1]
        backend_log = scratch / "backend.log"
        with backend_log.open("w") as out:
            backend = subprocess.Popen(
                [REFLEX, "run", "--env", "prod", "--backend-only", "--backend-port", backend_port, *LOOPBACK],
                cwd=backend_dir,
                # No experiment: the shipped one would give this reader either of two strategies (and some
                # explored picks) at random; what this test checks is the hosting, with today's strategy.
                env=clean_env(
                    MEDIA_DEMO_DB=str(scratch / "backend-data" / "media_demo.db"),
                    EXPERIMENTS_DIR=str(scratch / "no-experiments"),
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # reflex starts workers: stop_group stops them all
            )
        frontend_url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{frontend_url}/", nginx, conf / "error.log")
        wait_until_up(f"{export.api_url}/api/health", backend, backend_log)
        yield Hosted(frontend_url, export.api_url)
    finally:
        if backend is not None:
            stop_group(backend)
        stop(nginx)


def nginx_conf(site: Path, port: int, prefix: Path, api_url: str) -> str:
    """The README's server block, in the few lines nginx needs to run in the foreground from the test's folder."""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp_paths = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in kinds)
    return f"""
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"};
events {{ worker_connections 64; }}
http {{
    include {mime_types()};
    access_log {prefix / "access.log"};
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        root {site};
        gzip_static on;
        location / {{
            try_files $uri $uri.html $uri/index.html =404;
        }}
        location ~ ^/(article|category)/ {{
            proxy_pass {api_url};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        error_page 404 /404.html;
    }}
}}
"""


def mime_types() -> Path:
    """The mime.types file installed beside nginx's own configuration."""
    version = subprocess.run([nginx_binary(), "-V"], capture_output=True, text=True, check=True)
    conf_path = re.search(r"--conf-path=(\S+)", version.stderr + version.stdout)
    return Path(conf_path.group(1) if conf_path else "/etc/nginx/nginx.conf").with_name("mime.types")


def wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: the server exited:\n{tail(log)}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s:\n{tail(log)}")


@dataclass
class Network:
    """Where one browser context's requests and websockets went."""

    websockets: list[str] = field(default_factory=list)
    origins: set[str] = field(default_factory=set)
    default_ports: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def request(self, request: Request) -> None:
        if request.url.startswith(("http://", "https://")):
            scheme, _, rest = request.url.partition("://")
            self.origins.add(f"{scheme}://{rest.split('/', 1)[0]}")

    def refuse(self, route: Route) -> None:
        self.default_ports.append(route.request.url)
        route.abort()

    def refuse_websocket(self, ws: WebSocketRoute) -> None:
        self.default_ports.append(ws.url)
        ws.close()


@dataclass
class Reader:
    context: BrowserContext
    tab: Page
    network: Network


@pytest.fixture
def reader(browser: Browser, hosted: Hosted) -> Iterator[Reader]:
    """A new reader on the static host. Nothing on ports 3000 or 8000 is reachable from their browser."""
    network = Network()
    context = browser.new_context(base_url=hosted.frontend_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.route(DEFAULT_PORTS, network.refuse)
    context.route_web_socket(DEFAULT_PORTS, network.refuse_websocket)
    context.on("request", network.request)
    tab = context.new_page()
    tab.on("websocket", lambda ws: network.websockets.append(ws.url))
    tab.on("pageerror", lambda exc: network.page_errors.append(str(exc)))
    yield Reader(context, tab, network)
    context.close()


def assert_talked_only_to(network: Network, hosted: Hosted) -> None:
    assert network.default_ports == [], f"the page tried Reflex's default ports: {network.default_ports}"
    backend_ws = "ws" + hosted.api_url.removeprefix("http") + "/_event"
    assert network.websockets, "the page opened no websocket"
    assert all(url.startswith(backend_ws) for url in network.websockets), network.websockets
    assert network.origins <= {hosted.frontend_url, hosted.api_url}, network.origins
    assert network.page_errors == []


def test_the_archives_hold_what_hosting_needs_and_nothing_of_this_machine(export: Export) -> None:
    with zipfile.ZipFile(export.frontend_zip) as archive:
        frontend = set(archive.namelist())
        bundle = [archive.read(name) for name in frontend if name.endswith(".js")]
    for article in get_corpus():
        assert f"covers/{article.slug}.svg" in frontend
    # One route serves every story: no page per story, so a story published later needs no new export.
    assert not any(name.startswith("article/") for name in frontend), "a story was compiled into the export"
    assert {"index.html", "404.html", "styles.css", "__spa-fallback.html"} <= frontend
    assert any(export.api_url.encode() in js for js in bundle), "the backend address is not in the bundle"
    assert not any(b"localhost:8000" in js for js in bundle), "the bundle still points at localhost:8000"

    with zipfile.ZipFile(export.backend_zip) as archive:
        backend = set(archive.namelist())
    assert {"rxconfig.py", "pyproject.toml", "media_demo/media_demo.py", "data/page_shell.html"} <= backend
    assert {f"data/articles/{article.slug}.md" for article in get_corpus()} <= backend
    assert "data/sources/crm/subscriptions.csv" in backend  # the external batch group's table travels with it
    local = sorted(
        n
        for n in backend
        if n.startswith("data/")
        and not n.startswith(("data/articles/", "data/schemas/", "data/experiments/", "data/sources/"))
        and n != "data/page_shell.html"
    )
    assert local == [], f"backend.zip ships this machine's data: {local}"


def test_a_reader_is_personalised_on_the_static_host(reader: Reader, hosted: Hosted) -> None:
    tab = reader.tab
    # The reader's first click, as early as they could make it: the banner shows once the page is connected.
    tab.goto("/", wait_until="commit")
    accept_all(tab)

    open_section(tab, SECTION)
    slugs = tab.locator(f"[data-testid=article-card][data-category={SECTION.lower()}]").evaluate_all(
        "els => els.map(e => e.dataset.slug)"
    )[:2]
    assert len(slugs) == 2
    for slug in slugs:
        read_article_from_listing(tab, slug, SECTION)
    tab.go_back()
    tab.wait_for_url(re.compile(r"/$"))

    recommendations = tab.get_by_test_id("recommendation")
    expect(recommendations).to_have_count(3)
    expect(recommendations.first).to_have_attribute("data-category", SECTION.lower())
    expect(recommendations.first).to_contain_text(f"More in {SECTION}")
    last_title = get_corpus().get(slugs[-1]).title
    expect(tab.get_by_test_id("recommendations")).to_contain_text(f"Because you read “{last_title}”")
    assert not set(recommendations.evaluate_all("els => els.map(e => e.dataset.slug)")) & set(slugs)
    expect(tab.locator(".masthead-date")).to_be_visible()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    tab.screenshot(path=str(SCREENSHOT))

    # A deep link, loaded as a new page: nginx serves the story's own page and it knows this reader.
    response = tab.goto(f"/article/{slugs[0]}")
    assert response is not None and response.status == 200
    expect(tab.get_by_test_id("article")).to_contain_text(get_corpus().get(slugs[0]).title)
    expect(tab.locator("[data-testid=article] [data-testid=read-indicator]")).to_be_visible()

    assert_talked_only_to(reader.network, hosted)


def test_a_link_preview_reads_the_storys_head_from_a_plain_get(hosted: Hosted) -> None:
    """What a chat app or a crawler fetches: one GET through the static host, no script run."""
    article = get_corpus().articles[0]
    response = httpx.get(f"{hosted.frontend_url}/article/{article.slug}")
    assert response.status_code == 200
    page = response.text
    assert f'<meta property="og:title" content="{html.escape(article.title)} — The Daily Current"/>' in page
    assert f'<meta name="description" content="{html.escape(article.excerpt)}"/>' in page
    assert f'<meta property="og:image" content="{hosted.frontend_url}/covers/{article.slug}.svg"/>' in page
    cover = httpx.get(f"{hosted.frontend_url}/covers/{article.slug}.svg")
    assert cover.status_code == 200 and cover.headers["content-type"].startswith("image/svg")
    section = httpx.get(f"{hosted.frontend_url}/category/{article.category}")
    assert section.status_code == 200 and "<title>" in section.text


def test_unknown_pages_get_the_friendly_404_with_a_404_status(reader: Reader, hosted: Hosted) -> None:
    tab = reader.tab
    for path in ["/article/no-such-story", "/category/astrology"]:
        response = tab.goto(path)
        assert response is not None and response.status == 404, path
        expect(tab.get_by_test_id("not-found")).to_contain_text("We couldn't find that page")
    tab.get_by_role("link", name="Back to the front page").click()
    tab.wait_for_url(re.compile(r"/$"))
    expect(tab.get_by_test_id("article-card").first).to_be_visible()
    assert_talked_only_to(reader.network, hosted)


def test_a_consent_choice_made_while_disconnected_counts(reader: Reader) -> None:
    """The reader answers the banner while the page's websocket is down (a dropped or slow connection).

    Reflex queues the event and sends it once connected, but its "Cannot connect to server" toast used
    to sit right over "Reject all" and "Accept all": the reader's click landed on the toast and was lost.
    """
    tab = reader.tab
    tab.goto("/")
    banner = tab.get_by_test_id("consent-banner")
    expect(banner).to_be_visible()
    reader.context.set_offline(True)
    expect(tab.get_by_text("Cannot connect to server")).to_be_visible()
    try:
        banner.get_by_test_id("consent-accept-all").click(timeout=5_000)
    except PlaywrightTimeoutError as error:
        pytest.fail(f"the reader's click on 'Accept all' did not reach the button while disconnected:\n{error}")
    reader.context.set_offline(False)
    expect(banner).to_have_count(0)  # connected again, and the queued choice applied

    tab.reload()
    tab.wait_for_selector(PANEL_SETTLED)
    expect(banner).to_have_count(0)
    expect(tab.get_by_test_id("consent-note")).to_have_count(0)  # behavioural use is allowed
