"""A digest and a confirmation as e-mail: HTML with its CSS inlined, a plain-text alternative, and the headers.

The templates (`templates/`) are Jinja2, escaped for HTML. Mail clients that drop `<style>`
(several webmail clients do) still see the newspaper's look because css-inline copies every rule
into the elements' `style` attributes; the `@media` rules for phones are kept in `<style>` for the
clients that honour them. Every link and image is absolute (`DigestLinks` builds them): a mail has no
base address. The one-click unsubscribe follows RFC 8058.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from media_demo.mail.digest import Digest, DigestItem

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a missing value is a bug, never an empty gap in a mail
    keep_trailing_newline=True,
)
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


class DigestLinks(Protocol):
    """Where a digest's links go (absolute URLs)."""

    def story(self, item: DigestItem) -> str:
        """The story's link (through the collector's click redirect when tracked)."""

    @property
    def home(self) -> str:
        """The front page."""

    @property
    def account(self) -> str:
        """The reader's account page, where the frequency is changed."""

    @property
    def unsubscribe_page(self) -> str:
        """The visible unsubscribe link: a page with one button, no sign-in."""

    @property
    def unsubscribe_post(self) -> str:
        """The RFC 8058 one-click address the mail client POSTs to."""

    @property
    def pixel(self) -> str:
        """The open pixel ("" for none, as in a preview)."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A mail's parts, before it is addressed."""

    subject: str
    html: str
    text: str
    headers: tuple[tuple[str, str], ...] = ()


def subject_of(digest: Digest, today: dt.date) -> str:
    """The digest's subject: the period (or the briefing) and its first story, so the inbox line says what is in it."""
    lead = digest.items[0].article.title if digest.items else "The news"
    if digest.is_briefing:
        return f"The {digest.name}: {lead}"
    when = "This week" if digest.frequency == "weekly" else today.strftime("%A %-d %B")
    return f"{when} in The Daily Current: {lead}"


def render_digest(digest: Digest, links: DigestLinks, today: dt.date) -> RenderedMail:
    """The digest as HTML (CSS inlined) and text, with its List-Unsubscribe headers."""
    subject = subject_of(digest, today)
    sections = [
        {
            "heading": section.heading,
            "why": section.why,
            "stories": [_item(item, links) for item in section.items],
        }
        for section in digest.sections
    ]
    name = digest.greeting_name.strip()
    greeting = f"Hello {name}." if name else "Hello."
    if digest.intro:
        greeting += f" {digest.intro}"
    elif digest.personalised:
        greeting += " Here is what is new in the sections you read most."
    else:
        greeting += " Here is what readers are reading most."
    values: dict[str, Any] = {
        "subject": subject,
        "preheader": ", ".join(item.article.title for item in digest.items[:3]),
        "dateline": today.strftime("%A %-d %B %Y"),
        "greeting": greeting,
        "note": digest.note,
        "sections": sections,
        "what": digest.name,
        "home_url": links.home,
        "account_url": links.account,
        "unsubscribe_url": links.unsubscribe_page,
        "pixel_url": links.pixel,
    }
    html = _INLINER.inline(_ENV.get_template("digest.html").render(values))
    text = _ENV.get_template("digest.txt").render(values)
    headers = (
        ("List-Unsubscribe", f"<{links.unsubscribe_post}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )
    return RenderedMail(subject, html, text, headers)


def render_confirmation(greeting_name: str, frequency: str, confirm_url: str) -> RenderedMail:
    """The double opt-in mail: one link, nothing else sent until it is followed."""
    name = greeting_name.strip()
    values = {
        "greeting": f"Hello {name}," if name else "Hello,",
        "frequency": frequency,
        "confirm_url": confirm_url,
    }
    html = _INLINER.inline(_ENV.get_template("confirm.html").render(values))
    text = _ENV.get_template("confirm.txt").render(values)
    return RenderedMail("Confirm your Daily Current digest", html, text)


def compose(
    mail: RenderedMail, sender: str, recipient: str, recipient_name: str, message_id_domain: str, now: dt.datetime
) -> EmailMessage:
    """An addressed MIME message: text first, HTML as the preferred alternative."""
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = sender
    message["To"] = Address(display_name=recipient_name.strip(), addr_spec=recipient)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=message_id_domain)
    for name, value in mail.headers:
        message[name] = value
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def _item(item: DigestItem, links: DigestLinks) -> dict[str, Any]:
    article = item.article
    return {
        "href": links.story(item),
        "title": article.title,
        "excerpt": article.excerpt,
        "label": article.category_label,
        "minutes": article.reading_minutes,
        "note": item.note,
        "new": item.new,
    }
