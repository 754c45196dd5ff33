"""First-party reader identity: a long-lived `domain_userid` and rotating sessions.

Like the Snowplow JavaScript tracker's `_sp_id` cookie: the reader keeps one
UUID v4 for years; a session ends after 30 minutes without activity and the
next event starts a new `domain_sessionid` with the session index plus one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from dataclasses import dataclass
from typing import TypeGuard

SESSION_TIMEOUT_SECONDS = 30 * 60
USER_COOKIE = "dc_duid"
SESSION_COOKIE = "dc_session"
SIGNATURE_COOKIE = "dc_duid_sig"
USER_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600


def is_domain_userid(value: object) -> TypeGuard[str]:
    """True for a canonical UUID string (what we issue as `domain_userid`)."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def new_domain_userid() -> str:
    """A new reader's id: a random UUID v4, as the JavaScript tracker's `domain_userid` is."""
    return str(uuid.uuid4())


def sign_domain_userid(domain_userid: str, secret: str) -> str:
    """The signature cookie beside `dc_duid`: proof that this server issued the id.

    The id itself stays a plain UUID (what trackers expect); the signature lets
    the app refuse a cookie edited to someone else's id.
    """
    return hmac.new(secret.encode(), domain_userid.encode(), hashlib.sha256).hexdigest()[:32]


def is_signed_domain_userid(domain_userid: object, signature: object, secret: str) -> bool:
    """True when `domain_userid` is a UUID we issued, i.e. `signature` matches it."""
    if not is_domain_userid(domain_userid) or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign_domain_userid(domain_userid, secret), signature)


@dataclass(frozen=True, slots=True)
class ReaderSession:
    """The current session: its id, its index for this reader, and the last activity."""

    session_id: str
    index: int
    last_activity: float

    def to_cookie(self) -> str:
        """The session cookie's value, `id.index.last_activity` (`from_cookie` reads it back)."""
        return f"{self.session_id}.{self.index}.{int(self.last_activity)}"

    @classmethod
    def from_cookie(cls, value: str | None) -> ReaderSession | None:
        """Parse the cookie; None for a missing or tampered value."""
        if not value:
            return None
        try:
            session_id, index, last = value.split(".")
            session = cls(str(uuid.UUID(session_id)), int(index), float(last))
        except ValueError:
            return None
        if session.index < 1 or not math.isfinite(session.last_activity):
            return None
        return session

    def is_expired(self, now: float) -> bool:
        """Whether `SESSION_TIMEOUT_SECONDS` passed without activity: the next event starts a new session."""
        return now - self.last_activity > SESSION_TIMEOUT_SECONDS


def touch_session(previous: ReaderSession | None, now: float) -> ReaderSession:
    """The session for an event at `now`: the same one while active, else a new one."""
    if previous is None:
        return ReaderSession(str(uuid.uuid4()), 1, now)
    if previous.is_expired(now):
        return ReaderSession(str(uuid.uuid4()), previous.index + 1, now)
    return ReaderSession(previous.session_id, previous.index, max(now, previous.last_activity))
