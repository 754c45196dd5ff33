"""The configured feeds, polled on a schedule: new and changed entries published through `Publishing`.

One daemon thread per newsroom: it polls every feed at start and then every
`FEED_POLL_SECONDS`, and stops when the newsroom closes. An entry that says what its
story already says changes nothing; a story an editor withdrew stays withdrawn; an entry
the newsroom refuses is skipped and logged with its reason (title and field).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from media_demo.articles import CorpusError
from media_demo.articles.feeds import FeedError, fetch_feed, read_feed
from media_demo.articles.store import FEED_SOURCE
from media_demo.services.publishing import Publishing

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0  # seconds `close` waits for a poll in flight (a fetch times out after 20)


class FeedPoller:
    """Publishes the entries of `urls` every `interval` seconds, in a thread of its own."""

    def __init__(
        self,
        publishing: Publishing,
        urls: Sequence[str],
        interval: float,
        default_category: str | None = None,
        fetch: Callable[[str], bytes] = fetch_feed,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval: must be a positive number of seconds, got {interval!r}")
        self._publishing, self._urls, self._interval = publishing, tuple(urls), interval
        self._default, self._fetch = default_category, fetch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0  # completed polls of every feed, for tests and the curious

    def poll(self) -> list[str]:
        """Poll every feed once; one line per entry (`published: <slug>`, `skipped: <reason>`, ...)."""
        lines: list[str] = []
        for url in self._urls:
            if self._stop.is_set():
                break
            try:
                stories = read_feed(self._fetch(url), self._publishing.sections, self._default)
            except FeedError as exc:
                logger.warning("feed %s: %s", url, exc)
                lines.append(f"failed: {exc}")
                continue
            for story in stories:
                if self._stop.is_set():
                    break
                lines.append(self._publish(url, story.slug, story.fields, story.problems))
        for line in lines:
            logger.info("feeds: %s", line)
        self.polls += 1
        return lines

    def _publish(self, url: str, slug: str | None, fields: dict | None, problems: Sequence[str]) -> str:
        if slug is None or fields is None:
            return f"skipped: {'; '.join(problems)}"
        try:
            outcome = self._publishing.submit(slug, fields, f"feed entry {slug!r}", f"{FEED_SOURCE}{url}", revive=False)
        except CorpusError as exc:
            return f"skipped: {'; '.join(exc.problems)}"
        said = {"created": "published", "withdrawn": "skipped (withdrawn by an editor)"}
        return f"{said.get(outcome.status, outcome.status)}: {slug}"

    def start(self) -> None:
        """Poll now and then every interval, until `close`."""
        if self._thread is not None:
            raise RuntimeError("start: the feed poller is already running")
        self._thread = threading.Thread(target=self._run, name="feed-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # a bug in one poll must not end the polling
                logger.exception("feeds: a poll failed")
            self._stop.wait(self._interval)

    @property
    def running(self) -> bool:
        """Whether the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop polling: the poll in flight ends after its current entry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
