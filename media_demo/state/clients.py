"""Which browser tabs each reader has open, so the server can push to them.

Connections belong to the process that serves them, so this map is per
process by nature (with several workers, each pushes to its own tabs).
"""

from __future__ import annotations

from collections import deque

TABS_PER_READER = 5
MAX_TRACKED_TABS = 10_000


class OpenTabs:
    """domain_userid -> the Reflex client tokens of that reader's most recent tabs,
    and which page each tab shows."""

    def __init__(self) -> None:
        self._tokens: dict[str, deque[str]] = {}
        self._path_of: dict[str, str] = {}

    def on_page(self, client_token: str, path: str) -> None:
        """Remember the page a tab shows now (for pushes about that page)."""
        if client_token:
            self._path_of.pop(client_token, None)  # re-insert: the dict stays oldest-first
            self._path_of[client_token] = path
            if len(self._path_of) > MAX_TRACKED_TABS:
                del self._path_of[next(iter(self._path_of))]

    def showing(self, path: str) -> list[str]:
        return [token for token, shown in self._path_of.items() if shown == path]

    def add(self, domain_userid: str, client_token: str) -> None:
        tokens = self._tokens.setdefault(domain_userid, deque(maxlen=TABS_PER_READER))
        if client_token and client_token not in tokens:
            tokens.append(client_token)

    def tokens(self, domain_userid: str) -> list[str]:
        return list(self._tokens.get(domain_userid, ()))

    def forget(self, domain_userid: str) -> None:
        """A deleted reader: drop their id and the pages their tabs showed."""
        for token in self._tokens.pop(domain_userid, ()):
            self._path_of.pop(token, None)


OPEN_TABS = OpenTabs()
