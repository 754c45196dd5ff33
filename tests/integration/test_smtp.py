"""Sending over SMTP to a real server (aiosmtpd): plain, STARTTLS with a login, and the failures sorted into
"try again later" and "never"."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from media_demo.mail.render import compose, render_confirmation
from media_demo.mail.smtp import SendError, SmtpConfig, SmtpSender
from tests.integration.conftest import free_port
from tests.mailserver import smtp_server, text_of


def message(to: str = "ann@example.org"):  # type: ignore[no-untyped-def]
    mail = render_confirmation("Ann", "daily digest", "https://news.example/email/confirm?token=abc")
    return compose(mail, "Daily <d@news.example>", to, "Ann", "news.example", dt.datetime.now(dt.UTC))


def test_a_message_goes_through_starttls_and_a_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("openssl") is None:  # it makes the server's certificate: skip locally, fail in CI
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail("openssl is not installed (Debian: apt-get install openssl)")
        pytest.skip("openssl is not installed (Debian: apt-get install openssl)")
    with smtp_server(tmp_path, starttls=True, users={"digest": "s3cret:pass"}) as server:
        assert server.certificate is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.certificate))  # trust the test's own certificate
        url = f"smtp://digest:s3cret%3Apass@localhost:{server.port}?starttls=true"
        SmtpSender(SmtpConfig.from_url(url)).send(message())
        [received] = server.mailbox.wait_for(1)
        assert "Nothing is sent until you confirm" in text_of(received)
        assert server.mailbox.envelopes[0] == ("d@news.example", ["ann@example.org"])

        wrong = f"smtp://digest:nope@localhost:{server.port}?starttls=true"
        with pytest.raises(SendError) as refused:
            SmtpSender(SmtpConfig.from_url(wrong)).send(message())
        assert not refused.value.temporary, "a refused login will not get better by itself"
        # The server insists on TLS first: a client that does not upgrade is refused.
        with pytest.raises(SendError):
            SmtpSender(SmtpConfig.from_url(f"smtp://localhost:{server.port}")).send(message())
        # A certificate we do not trust is a failure, never a silent downgrade.
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(SendError):
            SmtpSender(SmtpConfig.from_url(url)).send(message())
    assert len(server.mailbox.messages) == 1


def test_refusals_are_temporary_or_permanent_as_the_server_says() -> None:
    with smtp_server() as server:
        sender = SmtpSender(SmtpConfig.from_url(server.url()))
        server.mailbox.refuse.append("451 4.3.0 Try again later")
        with pytest.raises(SendError) as later:
            sender.send(message())
        assert later.value.temporary and "451" in str(later.value)
        server.mailbox.refuse.append("554 5.7.1 Rejected")
        with pytest.raises(SendError) as never:
            sender.send(message())
        assert not never.value.temporary
        sender.send(message())
        assert len(server.mailbox.wait_for(1)) == 1
    with pytest.raises(SendError) as unreachable:
        SmtpSender(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}"), timeout=2).send(message())
    assert unreachable.value.temporary
