"""Sending mail over SMTP (`SMTP_URL`), with the failures sorted into "try again later" and "never".

`smtp://host:port` talks plain SMTP (a local relay, or the test's server), `?starttls=true`
upgrades it with STARTTLS before anything else is said, `smtps://` is TLS from the first byte;
a user and password in the URL log in. The standard library's `smtplib` does the protocol.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TIMEOUT_SECONDS = 20.0
TRUE = ("1", "true", "yes", "on")


class SendError(RuntimeError):
    """A message the server did not take; `temporary` says whether trying again later may work."""

    def __init__(self, message: str, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to send, from `SMTP_URL`."""

    host: str
    port: int
    tls: bool = False  # TLS from the start (smtps://)
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse `SMTP_URL`; ValueError naming what is wrong."""
        parts = urlsplit(url.strip())
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"SMTP_URL: use smtp://host:port or smtps://host:port, got {url[:80]!r}")
        if not parts.hostname:
            raise ValueError(f"SMTP_URL: no host in {url[:80]!r}")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ValueError(f"SMTP_URL: the port is not a number in {url[:80]!r}") from None
        options = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
        unknown = set(options) - {"starttls"}
        if unknown:
            raise ValueError(f"SMTP_URL: unknown option {sorted(unknown)[0]!r} (only starttls=true is understood)")
        starttls = options.get("starttls", "false") in TRUE
        if starttls and parts.scheme == "smtps":
            raise ValueError("SMTP_URL: smtps:// is TLS already; starttls=true is for smtp://")
        return cls(
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "smtps",
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class MailSender(Protocol):
    """Hands a message on: to an SMTP server, or to a folder."""

    def send(self, message: EmailMessage) -> None:
        """Send `message`, or raise `SendError`."""


class SmtpSender:
    """Sends one message per connection (a digest run is a few messages a minute, not a blast)."""

    def __init__(self, config: SmtpConfig, timeout: float = TIMEOUT_SECONDS) -> None:
        self.config = config
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        """Hand `message` to the server; `SendError` when it did not take it (blocking)."""
        config = self.config
        try:
            client: smtplib.SMTP
            if config.tls:
                client = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=self.timeout)
            with client:
                if config.starttls:
                    client.starttls(context=ssl.create_default_context())
                if config.username:
                    client.login(config.username, config.password or "")
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise SendError(
                f"the server refused the recipient: {exc.recipients}", temporary=all(400 <= c < 500 for c in codes)
            ) from exc
        except smtplib.SMTPResponseException as exc:  # a refused login (535) too: permanent
            text = (
                exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            )
            raise SendError(
                f"the server answered {exc.smtp_code}: {text}", temporary=400 <= exc.smtp_code < 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # unreachable, disconnected, timed out, TLS failed
            raise SendError(
                f"could not reach {config.host}:{config.port}: {exc or type(exc).__name__}", temporary=True
            ) from exc
        if refused:
            raise SendError(f"the server refused some recipients: {refused}", temporary=False)


class OutboxSender:
    """Without `SMTP_URL`: each message is written to a folder as an `.eml` file instead of being sent.

    So a laptop running `make run` can subscribe, confirm and read its digests (any mail program opens
    the files) without a mail server, and nothing pretends a mail went out.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write `message` as `<time>-<message id>.eml` (blocking)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9.@-]", "_", str(message["Message-ID"] or "mail").strip("<>"))
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.eml"
        try:
            path.write_bytes(bytes(message))
        except OSError as exc:
            raise SendError(f"could not write {path}: {exc}", temporary=True) from exc
