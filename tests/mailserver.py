"""A real SMTP server for the tests (aiosmtpd, in a thread of the test process): it receives what the app sends.

Optionally with STARTTLS (a throwaway self-signed certificate made by Debian's `openssl`, which the
client is told to trust through `SSL_CERT_FILE`) and a login. Never a mock of smtplib: the mails go
through a real SMTP conversation and are parsed back from the bytes the server received.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass
class Mailbox:
    """What the server received, in order; `refuse` makes it answer the next DATA commands with a status."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)  # e.g. ["451 4.3.0 try later"], used up one per mail
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, _server: Any, _session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return self.refuse.pop(0)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.messages.append(message)
            self.envelopes.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos]))
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until `count` messages arrived; AssertionError after `timeout` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} mails, received {len(self.messages)}")
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received for `address`."""
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class SmtpServer:
    """A running server and its mailbox."""

    host: str
    port: int
    mailbox: Mailbox
    certificate: Path | None = None

    def url(self, *, starttls: bool = False, login: tuple[str, str] | None = None) -> str:
        """The `SMTP_URL` that reaches this server."""
        auth = f"{login[0]}:{login[1]}@" if login else ""
        return f"smtp://{auth}{self.host}:{self.port}" + ("?starttls=true" if starttls else "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (Debian's openssl), valid a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed (Debian: apt-get install openssl)")
    cert, key = folder / "smtp.crt", folder / "smtp.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def smtp_server(
    folder: Path | None = None, *, starttls: bool = False, users: dict[str, str] | None = None
) -> Iterator[SmtpServer]:
    """Run a server on a free loopback port for the duration of the block."""
    mailbox = Mailbox()
    port = _free_port()
    options: dict[str, Any] = {}
    certificate = None
    if starttls:
        if folder is None:
            raise ValueError("starttls needs a folder for the certificate")
        certificate, key = _certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        options |= {"tls_context": context, "require_starttls": True}
    if users is not None:
        options |= {"authenticator": _authenticator(users), "auth_require_tls": starttls}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox, certificate)
    finally:
        controller.stop()


def _authenticator(users: dict[str, str]) -> Callable[..., AuthResult]:
    def check(_server: Any, _session: Session, _envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            ok = users.get(user) == password and mechanism in ("LOGIN", "PLAIN")
            return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself
        return AuthResult(success=False, handled=False)

    return check


def html_links(message: EmailMessage) -> list[str]:
    """Every href of the message's HTML part, in order, unescaped (`&amp;` back to `&`)."""
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', html_of(message))]


def html_of(message: EmailMessage) -> str:
    """The HTML part's text."""
    part = message.get_body(("html",))
    assert part is not None, "no HTML part"
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    """The plain-text part's text."""
    part = message.get_body(("plain",))
    assert part is not None, "no text part"
    return str(part.get_content())


def wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
