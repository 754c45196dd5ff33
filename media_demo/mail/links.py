"""Signed links in mails: confirming a subscription (expires) and unsubscribing (works without signing in).

A link carries the account's id and the subscription's generation, signed with the app's secret
(itsdangerous: HMAC-SHA1 over a URL-safe payload, with a timestamp for the expiring kind). Nothing
is looked up to trust it, and a new request or an unsubscribe moves the generation on, so an old
link cannot undo a newer choice. Each purpose has its own salt: a confirmation link is no
unsubscribe link and the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

CONFIRM_SALT = "daily-current/email/confirm"
UNSUBSCRIBE_SALT = "daily-current/email/unsubscribe"
CONFIRM_MAX_AGE = 3 * 86_400  # three days to click the confirmation link
MAX_TOKEN = 512  # longer than anything we issue: refused before any work


class LinkError(ValueError):
    """A link we refuse, with a message fit to show the reader."""


@dataclass(frozen=True, slots=True)
class LinkSubject:
    """Whom a link is for, and which request it belongs to."""

    user_id: str
    generation: int


class MailLinks:
    """Issues and checks the tokens of confirmation and unsubscribe links."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("e-mail links need a secret to be signed with")
        self._confirm = URLSafeTimedSerializer(secret, salt=CONFIRM_SALT)
        self._unsubscribe = URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT)

    def confirm_token(self, subject: LinkSubject) -> str:
        """The token of a confirmation link (valid `CONFIRM_MAX_AGE` seconds)."""
        return str(self._confirm.dumps([subject.user_id, subject.generation]))

    def unsubscribe_token(self, subject: LinkSubject) -> str:
        """The token of an unsubscribe link (valid until the subscription's generation moves on)."""
        return str(self._unsubscribe.dumps([subject.user_id, subject.generation]))

    def check_confirm(self, token: str, max_age: int = CONFIRM_MAX_AGE) -> LinkSubject:
        """Whom a confirmation token is for; `LinkError` when it is expired, altered or not one of ours."""
        try:
            return _subject(self._confirm.loads(_bounded(token), max_age=max_age))
        except SignatureExpired:
            raise LinkError("This confirmation link has expired: subscribe again from your account.") from None
        except BadData:
            raise LinkError("This confirmation link is not valid.") from None

    def check_unsubscribe(self, token: str) -> LinkSubject:
        """Whom an unsubscribe token is for; `LinkError` when it is altered or not one of ours."""
        try:
            return _subject(self._unsubscribe.loads(_bounded(token)))
        except BadData:
            raise LinkError("This unsubscribe link is not valid.") from None


def _bounded(token: str) -> str:
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
        raise BadData("no token")
    return token


def _subject(payload: object) -> LinkSubject:
    match payload:
        case [str() as user_id, int() as generation] if user_id:
            return LinkSubject(user_id, generation)
    raise BadData("not a link payload")
