"""Which browser tabs each reader has open, so the server can push to them.

Connections belong to the process that serves them, so this map is per
process by nature (with several workers, each pushes to its own tabs).
"""

from __future__ import annotations

from collections import deque

TABS_PER_READER = 5


class OpenTabs:
    """domain_userid -> the Reflex client tokens of that reader's most recent tabs."""

    def __init__(self) -> None:
        self._tokens: dict[str, deque[str]] = {}

    def add(self, domain_userid: str, client_token: str) -> None:
        tokens = self._tokens.setdefault(domain_userid, deque(maxlen=TABS_PER_READER))
        if client_token and client_token not in tokens:
            tokens.append(client_token)

    def tokens(self, domain_userid: str) -> list[str]:
        return list(self._tokens.get(domain_userid, ()))


OPEN_TABS = OpenTabs()
