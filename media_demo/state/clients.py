"""Which browser tabs each reader has open, so the server can push to them.

Connections belong to the process that serves them, so this map is per
process by nature (with several workers, each pushes to its own tabs). Tabs
are dropped when they disconnect (`prune`, run periodically and before each
push), so the map holds the open tabs, not every tab ever opened.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection

TABS_PER_READER = 5
MAX_TRACKED_TABS = 10_000


class OpenTabs:
    """domain_userid -> the Reflex client tokens of that reader's most recent tabs,
    and which page each tab shows (indexed both ways, so a push about a page finds its tabs at once)."""

    def __init__(self) -> None:
        self._tokens: dict[str, deque[str]] = {}
        self._path_of: dict[str, str] = {}  # oldest first
        self._on_path: dict[str, set[str]] = {}

    def on_page(self, client_token: str, path: str) -> None:
        """Remember the page a tab shows now (for pushes about that page)."""
        if not client_token:
            return
        self._drop_page(client_token)
        self._path_of[client_token] = path
        self._on_path.setdefault(path, set()).add(client_token)
        if len(self._path_of) > MAX_TRACKED_TABS:
            self._drop_page(next(iter(self._path_of)))

    def _drop_page(self, client_token: str) -> None:
        path = self._path_of.pop(client_token, None)
        if path is not None:
            tokens = self._on_path[path]
            tokens.discard(client_token)
            if not tokens:
                del self._on_path[path]

    def showing(self, path: str) -> list[str]:
        return list(self._on_path.get(path, ()))

    def add(self, domain_userid: str, client_token: str) -> None:
        tokens = self._tokens.setdefault(domain_userid, deque(maxlen=TABS_PER_READER))
        if client_token and client_token not in tokens:
            tokens.append(client_token)

    def tokens(self, domain_userid: str) -> list[str]:
        return list(self._tokens.get(domain_userid, ()))

    def prune(self, connected: Collection[str]) -> int:
        """Drop every tab not in `connected` (closed, or gone without a word); returns how many went."""
        gone = {token for token in self._path_of if token not in connected}
        for token in gone:
            self._drop_page(token)
        for reader, tokens in list(self._tokens.items()):
            closed = [token for token in tokens if token not in connected]
            if closed:
                gone.update(closed)
                alive = [token for token in tokens if token in connected]
                if alive:
                    self._tokens[reader] = deque(alive, maxlen=TABS_PER_READER)
                else:
                    del self._tokens[reader]
        return len(gone)

    def __len__(self) -> int:
        """How many tabs are registered (by page or by reader)."""
        return len(set(self._path_of).union(*self._tokens.values()))

    def forget(self, domain_userid: str) -> None:
        """A deleted reader: drop their id and the pages their tabs showed."""
        for token in self._tokens.pop(domain_userid, ()):
            self._drop_page(token)


OPEN_TABS = OpenTabs()
