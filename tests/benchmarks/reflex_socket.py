"""A browser tab's side of Reflex's websocket event protocol, for the load test (`make loadtest`).

What a page of this app sends and receives, as `reflex_base/.templates/web/utils/state.js`
(the frontend Reflex compiles) and `reflex/app.py` (`EventNamespace`) speak it in Reflex 0.10:

- **Transport**: socket.io over engine.io v4, websocket only (no polling, no upgrade), at
  `ws://<backend>/_event/?token=<tab token>&EIO=4&transport=websocket`, offering the Reflex
  version as the websocket subprotocol (the backend warns on a mismatch). The tab token is a
  UUID the page keeps in `sessionStorage`: one per tab, kept across its reconnects.
- **Connect = hydrate**: the socket.io CONNECT packet to the `/_event` namespace carries
  `{"event": <hydrate_and_load event>, "state_schema": <hash of the compiled state tree>}`.
  The event is `{name: "<root state>.hydrate_and_load", payload: {vars: {<state key>: <cookie>},
  hashes: [<per-state hash of the compiled initialState>]}, router_data: {pathname, asPath[, query]}}`;
  `vars` only when cookies are set, `hashes` only on the first connect of a page load. The backend
  answers with deltas and then runs the page's `on_load` chain (`on_load_internal`).
- **Events**: `42/_event,["event", {name, payload, router_data}]`; `router_data` is the location
  the event happened on. A client-side navigation sends `update_vars_internal` with the cookie
  values (when any are set) and then `on_load_internal`, both with the new location.
- **Updates**: `42/_event,["event", {"delta": {<state>: {<var>: value}}, "events": [...]}]`. The
  page applies `delta`, writes the cookie vars of a hydrated state to `document.cookie`, and runs
  `events`: `_call_script` evaluates JavaScript and sends its `callback` event with the result
  (a script without a callback runs for its effect, e.g. leaving a value on `window`).
  Reflex 0.10 no longer marks an update `final` (`StateUpdate.final` is deprecated and never
  sent), so a page's chain is over when `on_load_internal`'s last queued event,
  `set_is_hydrated(True)`, arrives as `is_hydrated: true` on the root state, and the callback
  events the page sent meanwhile have had their answer.
- **Keep-alive**: the server pings (engine.io `2`), the page answers `3`.

The client: python-socketio's own `AsyncClient` would be the natural choice, but its websocket
transport needs aiohttp, which is no dependency here. So this module uses what Reflex already
installs: **wsproto** (the sans-IO websocket implementation under simple-websocket and uvicorn)
for the websocket handshake, framing and permessage-deflate on asyncio streams, and
**python-engineio / python-socketio's `Packet` classes** to encode and decode the engine.io and
socket.io packets. Only the few lines of session logic (open, namespace connect, ping/pong) are
written here. It is lean on purpose: one generator core drives hundreds of tabs.

What the compiled frontend bakes in (state names, the state schema hash, the initial-state hashes,
which vars are cookies) is read by `FrontendContract.compile`, which renders the app's
`context.js` with Reflex's own compiler in a subprocess, so the generator never imports the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from engineio import packet as eio
from socketio import packet as sio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError

from media_demo import routes

REPOSITORY = Path(__file__).resolve().parents[2]  # holds the `tests` package
NAMESPACE = "/_event"
READ_BYTES = 65_536
CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


class ProtocolError(Exception):
    """The server refused or broke the protocol (rejected handshake, CONNECT_ERROR, bad packet)."""


class DisconnectedError(Exception):
    """The connection closed while the tab was waiting for something."""


# ----------------------------------------------------------------------------- what the frontend bakes in


# The app's dynamic routes (`/article/[slug]`): the page sends each `[name]` segment in `router_data.query`.
DYNAMIC_ROUTES = tuple(
    re.compile("^" + re.sub(r"\\\[(\w+)\\\]", r"(?P<\1>[^/]+)", re.escape(route)) + "/?$")
    for route in (routes.ARTICLE_ROUTE, routes.CATEGORY_ROUTE)
)


def var_key(var: Any) -> str:
    """A state var's key in the page's copy of its state and in a delta (the last part of its JavaScript name)."""
    return var._js_expr.rpartition(".")[2]


def route_params(path: str) -> dict[str, str]:
    """The dynamic route's parameters in `path` (`{"slug": ...}` on a story), or none."""
    for pattern in DYNAMIC_ROUTES:
        if (found := pattern.match(path)) is not None:
            return found.groupdict()
    return {}


@dataclass(frozen=True)
class FrontendContract:
    """The values of the compiled `context.js` (and Reflex's constants) a tab's frames carry."""

    reflex_version: str
    event_path: str  # the websocket's path, "/_event"
    state_name: str  # the root state, "reflex___state____state"
    state_schema: str | None
    initial_state_hashes: list[str]
    cookies: dict[str, str]  # state key ("<state>.<var>") -> cookie name
    hydrate_event: str  # "<root>.hydrate_and_load"
    update_vars_event: str  # "<root>.<update_vars_internal state>.update_vars_internal"
    on_load_event: str  # "<root>.<on_load_internal state>.on_load_internal"
    payload_vars: str  # "vars"
    payload_hashes: str  # "hashes"
    auth_event: str  # "event": the CONNECT auth key of the boot event
    auth_state_schema: str  # "state_schema"
    hydrated_var: str  # "is_hydrated_rx_state_", in the root state's delta
    states: dict[str, str] = field(default_factory=dict)  # app state class name -> its full state name

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FrontendContract:
        return cls(**json.loads(text))

    @classmethod
    def compile(cls, project_root: Path, timeout: float = 120.0) -> FrontendContract:
        """Render the app's `context.js` with Reflex's compiler (in a subprocess run in `project_root`).

        `project_root` is this project's, or the folder of another app (the load test's floor): this module is
        found from there too.
        """
        path = os.pathsep.join(p for p in (str(REPOSITORY), os.environ.get("PYTHONPATH", "")) if p)
        done = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.reflex_socket", "contract"],
            cwd=project_root,
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"compiling the frontend contract failed:\n{done.stderr[-4000:]}")
        return cls.from_json(done.stdout.strip().splitlines()[-1])


def _js_constants(context_js: str) -> dict[str, Any]:
    """The `export const NAME = <JSON>` lines of a compiled context.js."""
    found: dict[str, Any] = {}
    for match in re.finditer(r"^export const (\w+) = (.+?);?$", context_js, re.MULTILINE):
        with contextlib.suppress(ValueError):
            found[match.group(1)] = json.loads(match.group(2))
    return found


def _compile_contract() -> FrontendContract:
    """In the app's folder: load the app as `reflex run` does and render its context.js."""
    from reflex.compiler.compiler import compile_contexts
    from reflex.state import State
    from reflex.utils import prerequisites
    from reflex_base import constants

    app = prerequisites.get_and_validate_app().app
    _, context_js = compile_contexts(State, None)
    js = _js_constants(context_js)
    root = js["state_name"]
    compile_vars = constants.CompileVars
    states = {}
    stack = [State]
    while stack:
        state = stack.pop()
        states[state.__name__] = state.get_full_name()
        stack.extend(state.get_substates())
    del app
    return FrontendContract(
        reflex_version=constants.Reflex.VERSION,
        event_path=urlsplit(str(constants.Endpoint.EVENT.get_url())).path,
        state_name=root,
        state_schema=js.get("stateSchema"),
        initial_state_hashes=list(js.get("initialStateHashes") or []),
        cookies={key: options.get("name") or key for key, options in js["clientStorage"]["cookies"].items()},
        hydrate_event=f"{root}.{compile_vars.HYDRATE_AND_LOAD}",
        update_vars_event=f"{root}.{compile_vars.UPDATE_VARS_INTERNAL}",
        on_load_event=f"{root}.{compile_vars.ON_LOAD_INTERNAL}",
        payload_vars=compile_vars.PAYLOAD_VARS,
        payload_hashes=compile_vars.PAYLOAD_HASHES,
        auth_event=compile_vars.CONNECT_AUTH_EVENT,
        auth_state_schema=compile_vars.CONNECT_AUTH_STATE_SCHEMA,
        hydrated_var=var_key(State.is_hydrated),
        states=states,
    )


# ----------------------------------------------------------------------------- socket.io over one websocket


class EventSocket:
    """One socket.io namespace over engine.io v4 on one websocket: connect with auth, emit, receive.

    `on_event(name, data)` is called for each socket.io EVENT the server sends, in order, from
    the connection's reader task; as socket.io-client does, events that arrive before the
    namespace's CONNECT acknowledgement are held until it.
    """

    def __init__(self, url: str, namespace: str, on_event: Callable[[str, Any], None]) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"need ws://host:port/path, not {url!r}")
        self.url = parts
        self.namespace = namespace
        self.on_event = on_event
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[dict[str, Any]] = loop.create_future()  # engine.io OPEN
        self.connected: asyncio.Future[Any] = loop.create_future()  # socket.io CONNECT ack
        self.closed: asyncio.Future[str] = loop.create_future()  # why it closed
        self.bytes_in = 0
        self.bytes_out = 0
        self._fragments: list[str] = []
        self._early: list[tuple[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def connect(
        self,
        auth: Any,
        *,
        query: Mapping[str, str] = {},
        headers: list[tuple[str, str]] | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Open the websocket, then the engine.io session, then the namespace (auth in the CONNECT)."""
        parts = self.url
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, parts.port), timeout
            )
            path = parts.path.rstrip("/") + "/"  # engine.io's path ends with a slash
            target = f"{path}?{urlencode({**query, 'EIO': '4', 'transport': 'websocket'})}"
            request = Request(
                host=parts.netloc,
                target=target,
                subprotocols=subprotocols or [],
                extensions=[PerMessageDeflate()],  # a browser offers it; the server decides
                extra_headers=[(k.encode(), v.encode()) for k, v in headers or []],
            )
            self._send_raw(self.ws.send(request))
            await asyncio.wait_for(self._handshake(), timeout)
            self._task = asyncio.create_task(self._read_loop(), name=f"ws-reader {target[:60]}")
            await asyncio.wait_for(asyncio.shield(self.opened), timeout)
            self._send_socketio(sio.Packet(sio.CONNECT, data=auth, namespace=self.namespace, binary=False))
            await asyncio.wait_for(asyncio.shield(self.connected), timeout)
        except BaseException:
            self.abort()
            raise

    async def _handshake(self) -> None:
        assert self.reader is not None
        while True:
            data = await self.reader.read(READ_BYTES)
            if not data:
                raise DisconnectedError("connection closed during the websocket handshake")
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, (RejectConnection, RejectData)):
                    raise ProtocolError(f"websocket handshake refused: {event!r}")

    def emit(self, name: str, data: Any) -> None:
        """Send one socket.io EVENT `[name, data]` to the namespace."""
        self._send_socketio(sio.Packet(sio.EVENT, data=[name, data], namespace=self.namespace, binary=False))

    def _send_socketio(self, packet: sio.Packet) -> None:
        self._send_text(eio.Packet(eio.MESSAGE, data=packet.encode()).encode())

    def _send_text(self, text: str) -> None:
        if self.closed.done():
            raise DisconnectedError(self.closed.result())
        self._send_raw(self.ws.send(TextMessage(data=text)))

    def _send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.bytes_out += len(data)
        self.writer.write(data)

    async def _read_loop(self) -> None:
        assert self.reader is not None
        reason = "closed by the server"
        try:
            # What came in with the handshake's response (engine.io OPEN, often) is decoded but unread.
            if not self._handle_ws_events():
                return
            while True:
                data = await self.reader.read(READ_BYTES)
                self.bytes_in += len(data)
                self.ws.receive_data(data or None)
                if not data:
                    reason = "connection lost"
                    break
                if not self._handle_ws_events():
                    break
        except (OSError, LocalProtocolError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except ProtocolError as exc:
            reason = str(exc)
        except asyncio.CancelledError:
            reason = "closed by the client"
        finally:
            self._finish(reason)

    def _handle_ws_events(self) -> bool:
        """Process what wsproto decoded; False once the websocket is closed."""
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._fragments.append(event.data)
                if event.message_finished:
                    text = "".join(self._fragments)
                    self._fragments.clear()
                    self._on_engineio(text)
            elif isinstance(event, Ping):
                self._send_raw(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(LocalProtocolError):
                    self._send_raw(self.ws.send(event.response()))
                return False
            elif isinstance(event, BytesMessage):
                raise ProtocolError("unexpected binary frame")
        return True

    def _on_engineio(self, text: str) -> None:
        kind = text[:1]
        if kind == "4":  # MESSAGE: a socket.io packet
            self._on_socketio(sio.Packet(encoded_packet=text[1:]))
        elif kind == "2":  # PING: answer at once, or the server drops the session
            self._send_text("3" + text[1:])
        elif kind == "0":  # OPEN
            if not self.opened.done():
                self.opened.set_result(json.loads(text[1:]))
        elif kind == "1":  # CLOSE
            raise ProtocolError("engine.io session closed by the server")
        elif kind != "6":  # NOOP is fine; anything else is not
            raise ProtocolError(f"unexpected engine.io packet {text[:40]!r}")

    def _on_socketio(self, packet: sio.Packet) -> None:
        if packet.namespace not in (self.namespace, None):
            return
        if packet.packet_type == sio.EVENT and isinstance(packet.data, list) and packet.data:
            event = (packet.data[0], packet.data[1] if len(packet.data) > 1 else None)
            if self.connected.done():
                self.on_event(*event)
            else:
                self._early.append(event)
        elif packet.packet_type == sio.CONNECT:
            if not self.connected.done():
                self.connected.set_result(packet.data)
                early, self._early = self._early, []
                for event in early:
                    self.on_event(*event)
        elif packet.packet_type == sio.CONNECT_ERROR:
            error = ProtocolError(f"namespace connect refused: {packet.data!r}")
            if not self.connected.done():
                self.connected.set_exception(error)
            raise error
        elif packet.packet_type == sio.DISCONNECT:
            raise ProtocolError("disconnected by the server")

    def _finish(self, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)
        for future in (self.opened, self.connected):
            if not future.done():
                future.set_exception(DisconnectedError(reason))
                future.exception()  # retrieved: no "never retrieved" warning when nobody waits
        if self.writer is not None:
            self.writer.close()

    async def close(self) -> None:
        """Leave as a closing tab does: socket.io DISCONNECT, then a websocket close."""
        if self.closed.done():
            return
        with contextlib.suppress(DisconnectedError, LocalProtocolError, OSError, TimeoutError, AssertionError):
            self._send_socketio(sio.Packet(sio.DISCONNECT, namespace=self.namespace))
            self._send_raw(self.ws.send(CloseConnection(code=1000)))
            if self.writer is not None:
                await asyncio.wait_for(self.writer.drain(), 2.0)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self.closed), 2.0)
        self.abort()

    def abort(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._finish("closed by the client")


# ----------------------------------------------------------------------------- one browser tab


Script = Callable[[], Any]  # what a known `rx.call_script` evaluates to in this tab
# A family of scripts (one regex): evaluated with the tab (its `window`, its history entry) and the match.
PatternScript = Callable[["ReflexTab", "re.Match[str]"], Any]


@dataclass
class TabCounters:
    """What one tab saw; summed over tabs by the load generator."""

    updates: int = 0
    events_sent: int = 0
    scripts_answered: int = 0
    unexpected_events: dict[str, int] = field(default_factory=dict)  # frontend events the tab cannot run


class ReflexTab:
    """One browser tab of a Reflex app: its token, its cookies, its location and its copy of the state.

    `open(path)` connects and hydrates as a page load does; `navigate(path)` is a client-side
    route change; `send(name, payload)` is a UI event (a click). Each returns when the
    resulting chain has settled (see the module docstring) or raises TimeoutError.
    Known scripts (`rx.call_script` code -> a function giving its value, or a regex over the code
    -> a function of the tab and the match) are answered as the browser would; any other frontend
    event is counted in `counters.unexpected_events`. What scripts leave on the page lives in
    `window` (gone with a page load); `history_entry` changes with each navigation.
    """

    def __init__(
        self,
        backend_url: str,
        contract: FrontendContract,
        *,
        cookies: Mapping[str, str] | None = None,
        user_agent: str = CHROME_UA,
        accept_language: str = "en-GB,en;q=0.9",
        origin: str = "http://localhost:3000",
        scripts: Mapping[str, Script] | None = None,
        patterns: Mapping[str, PatternScript] | None = None,
        echoes: Mapping[tuple[str, str], tuple[str, str]] | None = None,
        token: str | None = None,
    ) -> None:
        self.backend_url = backend_url.rstrip("/")
        self.contract = contract
        self.cookies: dict[str, str] = dict(cookies or {})
        self.user_agent = user_agent
        self.accept_language = accept_language
        self.origin = origin
        self.scripts = dict(scripts or {})
        self.patterns = [(re.compile(pattern), script) for pattern, script in (patterns or {}).items()]
        self.window: dict[str, Any] = {}
        self.history_entry = 0
        # What the page's own scripts send when a var changes: (state, var) -> (event, argument). The app's
        # panel watcher reports each new recommendations panel it shows (`ReaderState.panel_seen(panel_id)`).
        self.echoes = dict(echoes or {})
        # Echoes whose value arrived before the page was hydrated (a story's panel, filled by its on_load).
        self._pending_echoes: dict[tuple[str, str], tuple[str, str, Any]] = {}
        self.token = token or str(uuid.uuid4())
        self.state: dict[str, dict[str, Any]] = {}
        self.path = "/"
        self.counters = TabCounters()
        self.socket: EventSocket | None = None
        self._hydrated = False
        self._callbacks: list[str] = []  # states of callback events sent and not yet answered
        self._settled: asyncio.Future[None] | None = None
        self._waiting_for: Callable[[dict[str, Any]], bool] | None = None
        self._cookie_states = {key.rpartition(".")[0] for key in contract.cookies}  # states holding cookie vars

    # -- what the page sends

    def _router_data(self) -> dict[str, Any]:
        path, _, search = self.path.partition("?")
        data: dict[str, Any] = {"pathname": path, "asPath": self.path}
        # As the page does: the query string's parameters, then the dynamic route's own (`[slug]`).
        query = {**dict(pair.partition("=")[::2] for pair in search.split("&") if pair), **route_params(path)}
        if query:
            data["query"] = query
        return data

    def _client_storage_vars(self) -> dict[str, str]:
        return {key: self.cookies[name] for key, name in self.contract.cookies.items() if name in self.cookies}

    def _event(self, name: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"name": name}
        if payload:
            event["payload"] = dict(payload)
        event["router_data"] = self._router_data()
        return event

    def _emit(self, event: dict[str, Any]) -> None:
        if self.socket is None:
            raise DisconnectedError("not connected")
        self.counters.events_sent += 1
        self.socket.emit("event", event)

    async def open(self, path: str = "/", timeout: float = 30.0, *, first: bool = True) -> None:
        """Load `path` in this tab: connect with the hydrate event in the CONNECT packet, wait for the chain.

        `first`: a page load (the frontend still holds the compiled defaults, so it sends their
        hashes); False for a reconnect of a loaded page, which rehydrates in full.
        """
        self.path = path
        if first:  # a new document: nothing a script left on the old one survives
            self.window = {}
            self.history_entry += 1
        c = self.contract
        payload: dict[str, Any] = {}
        if storage := self._client_storage_vars():
            payload[c.payload_vars] = storage
        if first and c.initial_state_hashes:
            payload[c.payload_hashes] = c.initial_state_hashes
        auth: dict[str, Any] = {c.auth_event: self._event(c.hydrate_event, payload)}
        if c.state_schema is not None:
            auth[c.auth_state_schema] = c.state_schema
        headers = [
            ("User-Agent", self.user_agent),
            ("Origin", self.origin),
            ("Pragma", "no-cache"),
            ("Cache-Control", "no-cache"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Accept-Language", self.accept_language),
        ]
        if self.cookies:  # a browser sends the site's cookies with the upgrade (the app strips them)
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        self.state.clear()
        settled = self._begin(self._page_settled)
        self.counters.events_sent += 1
        self.socket = EventSocket(self.backend_url + c.event_path, c.event_path, self._on_event)
        await self.socket.connect(
            auth,
            query={"token": self.token},
            headers=headers,
            subprotocols=[c.reflex_version],
            timeout=timeout,
        )
        await self._wait(settled, timeout)

    async def navigate(self, path: str, timeout: float = 30.0) -> None:
        """A client-side route change: cookies (if any) then the page's on_load, with the new location."""
        self.path = path
        self.history_entry += 1
        settled = self._begin(self._page_settled)
        if storage := self._client_storage_vars():
            self._emit(self._event(self.contract.update_vars_event, {self.contract.payload_vars: storage}))
        self._emit(self._event(self.contract.on_load_event))
        await self._wait(settled, timeout)

    async def send(
        self,
        name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        until: Callable[[dict], bool],
        timeout: float = 30.0,
    ) -> None:
        """A UI event on the current page; returns once an update satisfies `until(update)`."""
        settled = self._begin(lambda update: until(update) and not self._callbacks)
        self._emit(self._event(name, payload))
        await self._wait(settled, timeout)

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()

    @property
    def closed(self) -> asyncio.Future[str] | None:
        return self.socket.closed if self.socket is not None else None

    # -- waiting for a chain to settle

    def _begin(self, done: Callable[[dict[str, Any]], bool]) -> asyncio.Future[None]:
        self._hydrated = False  # the page resets it on a route change, as useEventLoop does
        self._pending_echoes.clear()
        self._callbacks.clear()
        self._settled = asyncio.get_running_loop().create_future()
        self._waiting_for = done
        return self._settled

    def _page_settled(self, _update: dict[str, Any]) -> bool:
        return self._hydrated and not self._callbacks

    async def _wait(self, settled: asyncio.Future[None], timeout: float) -> None:
        socket = self.socket
        waits: set[asyncio.Future[Any]] = {settled}
        if socket is not None:
            waits.add(socket.closed)
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if settled in done:
                settled.result()
                return
            if socket is not None and socket.closed.done():
                raise DisconnectedError(socket.closed.result())
            raise TimeoutError(f"no settled update within {timeout} s")
        finally:
            self._waiting_for = None

    # -- what the page receives

    def _on_event(self, name: str, update: Any) -> None:
        if name != "event" or not isinstance(update, dict):
            key = f"socket:{name}"
            self.counters.unexpected_events[key] = self.counters.unexpected_events.get(key, 0) + 1
            return
        self.counters.updates += 1
        delta = update.get("delta") or {}
        for state, values in delta.items():
            self.state.setdefault(state, {}).update(values)
            self._callbacks = [s for s in self._callbacks if s != state]
        root = delta.get(self.contract.state_name)
        if root is not None and self.contract.hydrated_var in root:
            self._hydrated = bool(root[self.contract.hydrated_var])
        self._store_cookies(delta)
        for event in update.get("events") or ():
            self._run_frontend_event(event)
        for (state, var), echo in self.echoes.items():
            value = (delta.get(state) or {}).get(var)
            if value:  # a new non-empty value: the watcher reports it once the page is hydrated
                self._pending_echoes[(state, var)] = (*echo, value)
        if self._hydrated and self._pending_echoes:
            for handler, argument, value in self._pending_echoes.values():
                self._emit(self._event(handler, {argument: value}))
            self._pending_echoes.clear()
        waiting, settled = self._waiting_for, self._settled
        if waiting is not None and settled is not None and not settled.done() and waiting(update):
            settled.set_result(None)

    def _store_cookies(self, delta: dict[str, Any]) -> None:
        """As applyClientStorageDelta: cookie vars are written unless the delta is the unhydrated snapshot."""
        unqualified = [state for state in delta if "." not in state]
        if len(unqualified) == 1 and delta[unqualified[0]].get(self.contract.hydrated_var) is False:
            return
        for state, values in delta.items():
            if state not in self._cookie_states:
                continue
            for var, value in values.items():
                name = self.contract.cookies.get(f"{state}.{var}")
                if name is not None:
                    self.cookies[name] = str(value)

    def _run_frontend_event(self, event: dict[str, Any]) -> None:
        name = event.get("name", "?")
        payload = event.get("payload") or {}
        script = self._script(payload.get("javascript_code", "")) if name == "_call_script" else None
        if script is None:
            self.counters.unexpected_events[name] = self.counters.unexpected_events.get(name, 0) + 1
            return
        self.counters.scripts_answered += 1
        if payload.get("callback") is None:
            script()  # run for its effect, nothing to answer
            return
        callback = _callback_event(payload.get("callback"))
        if callback is None:
            self.counters.unexpected_events[name] = self.counters.unexpected_events.get(name, 0) + 1
            return
        handler, argument = callback
        self._callbacks.append(handler.rpartition(".")[0])
        self._emit(self._event(handler, {argument: script()}))

    def _script(self, code: str) -> Script | None:
        """What the browser would evaluate for `code`, if this tab knows it."""
        if (script := self.scripts.get(code)) is not None:
            return script
        for pattern, family in self.patterns:
            if (match := pattern.fullmatch(code)) is not None:
                return lambda family=family, match=match: family(self, match)
        return None


_CALLBACK = re.compile(r'ReflexEvent\(\s*"([^"]+)"\s*,\s*\(?\{\s*\[?"?(\w+)"?\]?\s*:')


def _callback_event(callback: Any) -> tuple[str, str] | None:
    """(event name, argument name) of a compiled `rx.call_script` callback, e.g.
    `(_result) => {addEvents([ReflexEvent("<state>.client_context", {values:_result})])}`."""
    if not isinstance(callback, str):
        return None
    match = _CALLBACK.search(callback)
    return (match.group(1), match.group(2)) if match else None


# ----------------------------------------------------------------------------- by hand: python -m ... probe


async def _probe(backend_url: str, contract: FrontendContract, paths: list[str]) -> None:
    """Open one tab, visit `paths`, and print every frame's gist (a debugging aid)."""
    referrer_script = "[document.referrer || '', -new Date().getTimezoneOffset()]"
    tab = ReflexTab(backend_url, contract, scripts={referrer_script: lambda: ["", 60]})
    original = tab._on_event

    def show(name: str, update: Any) -> None:
        print(f"  <- {name}: {json.dumps(update)[:400]}")
        original(name, update)

    tab._on_event = show  # type: ignore[method-assign]
    for i, path in enumerate(paths):
        start = time.perf_counter()
        await (tab.open(path) if i == 0 else tab.navigate(path))
        print(f"{path}: settled in {(time.perf_counter() - start) * 1000:.1f} ms; cookies {sorted(tab.cookies)}")
    print(f"counters: {tab.counters}")
    await tab.close()


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "contract":
        print(_compile_contract().to_json())
    elif command == "probe" and len(sys.argv) > 2:
        contract = FrontendContract.compile(Path.cwd())
        asyncio.run(_probe(sys.argv[2], contract, sys.argv[3:] or ["/"]))
    else:
        sys.exit("usage: python -m tests.benchmarks.reflex_socket contract | probe http://127.0.0.1:PORT [PATH ...]")


if __name__ == "__main__":
    main()
