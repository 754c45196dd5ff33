"""A month of reading history, pre-loaded fast: `python -m tests.benchmarks.history --page-views 1000000`.

The load test runs a backend "after 1,000,000 page views of history". Simulating a month is
out of the question, so the history is built here, once, through the app's own ingest path:
each reader's page views, story views and consent choice are tracked by the newsroom's
Snowplow tracker (`NewsroomTracker`, as the pages track them) into `Newsroom.collect`, the
collector's entry point (enrichment, consent, the attribute engine, the event log's group
commits). The only liberty: each payload carries a true timestamp (`ttm`, a tracker protocol
field) spread over the past 30 days, so windows and trends see a month, not one minute.
Closing the newsroom writes the engine's checkpoint, so a backend started on the result
restores it without replaying the log, as after any restart.

Readers: `--readers` (default 50,000), each with a few visits (sessions) of front page,
section and story views, the same mix as the load test's readers; half of them accepted the
consent banner on their first visit (the others' events are kept anonymised, as the app does).
Their ids are signed with the load test's cookie secret, so the load test can bring some of
them back as returning readers.

The result is cached under `.loadtest/history/<key>/` (`media_demo.db` and `manifest.json`),
the key a hash of the parameters and of what the app would compute from them (attribute
definitions, articles), so it is built once and reused until one of those changes.

Every import of the app's internals is in the section "The app's ingest path" below: the
attribute engine's modules are being reorganised, and that section is all there is to update.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE = PROJECT_ROOT / ".loadtest" / "history"
FORMAT = 2  # bump when what is built changes
DAYS = 30
COOKIE_SECRET = "loadtest-cookie-secret"  # the backend under load uses it too (COOKIE_SECRET)
API_TOKEN = "loadtest-token"  # SIGNALS_API_TOKEN of the backend under load
SITE = "http://localhost:3000"
HOME_SHARE, SECTION_SHARE = 0.25, 0.15  # the rest are stories, as the load test's readers read
CONSENT_RATE = 0.5
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)


@dataclass(frozen=True)
class HistoryParams:
    page_views: int
    readers: int
    seed: int = 1
    consent_rate: float = CONSENT_RATE


@dataclass(frozen=True)
class History:
    """A built history: the folder holding the database, and who is in it."""

    folder: Path
    params: HistoryParams
    events: int  # tracker events collected (page views, story views, consent choices)
    build_seconds: float
    database_bytes: int

    @property
    def database(self) -> Path:
        return self.folder / "media_demo.db"

    def returning_readers(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """`count` readers of the history as the load test brings them back: their cookies and consent."""
        readers = json.loads((self.folder / "readers.json").read_text())
        return random.Random(seed).sample(readers, min(count, len(readers)))

    def copy_to(self, folder: Path) -> Path:
        """A scratch copy of the database for one backend (the cache itself is never served)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "media_demo.db"
        for source in sorted(self.folder.glob("media_demo.db*")):
            shutil.copyfile(source, folder / source.name)
        return target


# ----------------------------------------------------------------------------- The app's ingest path
# The one section that imports media_demo: update it when the modules move.


class AppIngest:
    """A newsroom on a fresh database, fed by the app's own tracker through `Newsroom.collect`."""

    def __init__(self, database: Path | None) -> None:
        from media_demo import routes
        from media_demo.definitions import app_groups
        from media_demo.newsroom import Newsroom, get_corpus, get_index
        from media_demo.settings import Settings
        from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
        from media_demo.signals.storage.checkpoints import fingerprint
        from media_demo.tracking import InProcessEmitter, NewsroomTracker, Page, Reader, ReaderSession
        from media_demo.tracking.identity import sign_domain_userid
        from tests.benchmarks.common import scratch_batch

        corpus = get_corpus()
        self.stories = [(routes.article_url(a.slug), a.title, a) for a in corpus.articles]
        self.sections = [(routes.category_url(c), c.capitalize()) for c in corpus.categories]
        self.home = routes.HOME
        self.fingerprint = fingerprint(app_groups(corpus.categories))
        self.corpus_key = ",".join(sorted(a.slug for a in corpus.articles))
        self._sign = lambda duid: sign_domain_userid(duid, COOKIE_SECRET)
        self._page, self._reader, self._session = Page, Reader, ReaderSession
        self._scopes = {BEHAVIOURAL, CONTEXTUAL}
        self.room: Any = None
        if database is None:
            return
        settings = Settings(
            media_demo_db=database,
            database_url=f"sqlite:///{database}",
            signals_api_token=API_TOKEN,
            cookie_secret=COOKIE_SECRET,
            **scratch_batch(database.parent),
        )
        self.room = Newsroom(settings, corpus, get_index())
        self._moment = 0.0
        collect = self.room.collect

        def sink(payload: dict[str, Any]) -> None:
            payload["ttm"] = str(int(self._moment * 1000))  # the true timestamp: when it happened
            collect(payload)

        self.tracker = NewsroomTracker(InProcessEmitter(sink), app_id=settings.snowplow_app_id)

    def sign(self, domain_userid: str) -> str:
        return self._sign(domain_userid)

    def reader(self, domain_userid: str, session_id: str, index: int, at: float, user_agent: str) -> Any:
        return self._reader(domain_userid, self._session(session_id, index, at), user_agent=user_agent)

    def view(self, reader: Any, at: float, url: str, title: str, referrer: str | None, article: Any = None) -> int:
        """A page view (and the story view on a story), as `ReaderState.visit` tracks them; returns events."""
        self._moment = at
        page = self._page(url=SITE + url, title=title, referrer=referrer)
        self.tracker.page_view(reader, page)
        if article is not None:
            self.tracker.article_view(reader, page, article)
            return 2
        return 1

    def accept_all(self, reader: Any, at: float, url: str, title: str) -> int:
        """The consent banner's "Accept all", as `PrivacyState.accept_all` tracks it."""
        self._moment = at
        self.tracker.consent(reader, self._page(url=SITE + url, title=title), self._scopes, f"{SITE}/privacy")
        return 1

    def close(self) -> None:
        """Commit the log and write the checkpoint (what a backend restores at start)."""
        if self.room is not None:
            self.room.close()


# ----------------------------------------------------------------------------- building it


def cache_key(params: HistoryParams, app: AppIngest) -> str:
    """Hash of what decides the history's content: the parameters, the attribute definitions, the articles."""
    text = json.dumps([FORMAT, asdict(params), app.fingerprint, app.corpus_key, COOKIE_SECRET])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def page_view_counts(params: HistoryParams, rng: random.Random) -> list[int]:
    """Page views per reader: spread (1 to ~2x the mean, some readers far more), summing to `page_views`."""
    mean = params.page_views / params.readers
    counts = [max(1, round(rng.expovariate(1 / mean))) for _ in range(params.readers)]
    difference = params.page_views - sum(counts)
    while difference:
        i = rng.randrange(params.readers)
        if difference > 0:
            counts[i] += 1
            difference -= 1
        elif counts[i] > 1:
            counts[i] -= 1
            difference += 1
    return counts


@dataclass(frozen=True)
class HistoryReader:
    domain_userid: str
    consented: bool
    pages: int
    first_visit: float
    user_agent: str
    seed: int


def history_readers(params: HistoryParams, now: float) -> Iterator[HistoryReader]:
    """The readers of the history, reproducibly from the seed; their first visit within the last `DAYS`."""
    rng = random.Random(params.seed)
    for pages in page_view_counts(params, rng):
        yield HistoryReader(
            domain_userid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            consented=rng.random() < params.consent_rate,
            pages=pages,
            first_visit=now - DAYS * 86_400 + rng.random() * (DAYS - 1) * 86_400,
            user_agent=rng.choice(USER_AGENTS),
            seed=rng.getrandbits(64),
        )


def track_reader(app: AppIngest, reader: HistoryReader, now: float) -> int:
    """Track one reader's whole history (visits of a few pages, hours or days apart); returns the events."""
    rng = random.Random(reader.seed)
    events, moment, index, session, previous = 0, reader.first_visit, 0, "", None
    for page in range(reader.pages):
        if page == 0 or rng.random() < 0.2:  # a new visit
            if page:
                moment += rng.uniform(2 * 3600, 4 * 86_400)
            index, session, previous = index + 1, str(uuid.UUID(int=rng.getrandbits(128), version=4)), None
        else:
            moment += rng.uniform(20, 180)
        moment = min(moment, now - 60)
        tab = app.reader(reader.domain_userid, session, index, moment, reader.user_agent)
        roll = rng.random()
        if roll < HOME_SHARE:
            url, title, article = app.home, "The Daily Current", None
        elif roll < HOME_SHARE + SECTION_SHARE:
            (url, title), article = rng.choice(app.sections), None
        else:
            url, title, article = rng.choice(app.stories)
        events += app.view(tab, moment, url, title, previous and SITE + previous, article)
        if page == 0 and reader.consented:
            events += app.accept_all(tab, moment + 5, url, title)
        previous = url
    return events


def build(params: HistoryParams, folder: Path, progress: Callable[[str], None] = print) -> History:
    """Track the whole history into a new database in `folder` (replacing what is there)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    app = AppIngest(folder / "media_demo.db")
    readers, events, now = [], 0, time.time()
    try:
        for done, reader in enumerate(history_readers(params, now), start=1):
            events += track_reader(app, reader, now)
            duid = reader.domain_userid
            readers.append(
                {
                    "cookies": {"dc_duid": duid, "dc_duid_sig": app.sign(duid)},
                    "consented": reader.consented,
                    # what their profile counts: the page views after they accepted (the first was before)
                    "profiled_page_views": reader.pages - 1 if reader.consented else 0,
                }
            )
            if done % 1000 == 0:
                gc.freeze()  # what is built stays: full collections need not rescan it (they slow down as it grows)
            if done % 5000 == 0:
                elapsed = time.perf_counter() - started
                progress(
                    f"  history: {done:,}/{params.readers:,} readers, {events:,} events, {events / elapsed:,.0f}/s"
                )
    finally:
        app.close()
    seconds = time.perf_counter() - started
    (folder / "readers.json").write_text(json.dumps(readers))
    size = sum(path.stat().st_size for path in folder.glob("media_demo.db*"))
    history = History(folder, params, events, seconds, size)
    manifest = {"params": asdict(params), "events": events, "build_seconds": seconds, "database_bytes": size}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return history


def ensure(params: HistoryParams, cache: Path = CACHE, progress: Callable[[str], None] = print) -> History:
    """The cached history for `params`, built first if it is not there yet."""
    key = cache_key(params, AppIngest(None))
    folder = cache / f"{params.page_views}-{key}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        return History(folder, params, saved["events"], saved["build_seconds"], saved["database_bytes"])
    progress(f"building the history ({params.page_views:,} page views, {params.readers:,} readers) into {folder}")
    partial = folder.with_name(folder.name + ".partial")
    history = build(params, partial, progress)
    partial.rename(folder)
    return History(folder, params, history.events, history.build_seconds, history.database_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page-views", type=int, default=1_000_000)
    parser.add_argument("--readers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    history = ensure(HistoryParams(args.page_views, min(args.readers, args.page_views), args.seed))
    print(
        f"history: {history.folder} ({history.events:,} events, {history.database_bytes / 2**20:,.0f} MiB, "
        f"built in {history.build_seconds:,.0f} s)"
    )


if __name__ == "__main__":
    main()
