"""Keep the browser's cookies out of Reflex's per-tab state.

Reflex copies the websocket handshake's HTTP headers into every tab's router
data, so the raw `Cookie` header (the reader's id, session and sign-in token)
would live in each tab state for as long as the tab does, beyond the reach of
"delete my data". The app never needs it there: `rx.Cookie` values reach the
state through the events' client storage, which the app signs and checks.
So the header is dropped from the websocket's requests before Reflex sees them.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

EVENT_PATH = "/_event"


def without_websocket_cookies(app: ASGIApp) -> ASGIApp:
    """Wrap `app` so requests to Reflex's event endpoint arrive without a `Cookie` header."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(EVENT_PATH):
            headers = [(name, value) for name, value in scope.get("headers", ()) if name.lower() != b"cookie"]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped
